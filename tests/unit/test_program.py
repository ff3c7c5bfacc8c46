"""The real program under mocks, for the real DEV and PROD stack files: the guarantees by construction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from components.spec import DRIVER_SSL
from render import FAKE_SECRETS, Recorded, Rendering, render_stack

NODES = ("10.0.0.120", "10.0.0.121", "10.0.0.122", "10.0.0.123", "10.0.0.124", "10.0.0.125")
LB_PG = ("10.0.0.10", 5432)
LB_REDIS = ("10.0.0.10", 6379)

PG = "postgresql:index"
ROLE, DATABASE, GRANT = f"{PG}/role:Role", f"{PG}/database:Database", f"{PG}/grant:Grant"
DEFAULT_PRIVS, GRANT_ROLE = f"{PG}/defaultPrivileges:DefaultPrivileges", f"{PG}/grantRole:GrantRole"
MOUNT, POLICY = "vault:index/mount:Mount", "vault:index/policy:Policy"
CONNECTION = "vault:database/secretBackendConnection:SecretBackendConnection"
DYNAMIC = "pulumi-python:dynamic:Resource"
DB_ROLE = "vault:database/secretBackendRole:SecretBackendRole"
AUTH_ROLE = "vault:kubernetes/authBackendRole:AuthBackendRole"
KV = "vault:kv/secretV2:SecretV2"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
GENERATOR = "kubernetes:generators.external-secrets.io/v1alpha1:VaultDynamicSecret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string leaf of a value, with its dotted path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings(v, f"{path}[{i}]")


def _node_in(text: str) -> str | None:
    for node in NODES:
        if re.search(rf"(?<![\d.]){re.escape(node)}(?!\d)", text):
            return node
    return None


def test_no_input_anywhere_contains_a_node_address(rendering: Rendering) -> None:
    hits = [
        (r.type, r.name, path, node)
        for r in rendering.resources
        for path, text in strings(r.inputs)
        if (node := _node_in(text))
    ]
    assert hits == []


def _postgres_endpoints(rendering: Rendering) -> list[tuple[str, tuple[str, int]]]:
    """Every place a PostgreSQL host:port is declared, as (where, (host, port))."""
    found = []
    provider = rendering.one("pulumi:providers:postgresql")
    found.append(("provider", (provider.inputs["host"], int(provider.inputs["port"]))))
    for conn in rendering.of_type(CONNECTION):
        url = urlparse(conn.inputs["postgresql"]["connectionUrl"].replace("{{username}}:{{password}}@", ""))
        found.append((f"vault connection {conn.name}", (url.hostname, url.port)))
    for r in rendering.of_type(DYNAMIC):
        if r.name.endswith("-destroy-guard"):  # connects nowhere (components/decommission.py)
            continue
        found.append((f"adoption SQL {r.name}", (r.inputs["host"], int(r.inputs["port"]))))
    for es in rendering.of_type(EXTERNAL_SECRET):
        data = es.inputs["spec"].get("target", {}).get("template", {}).get("data", {})
        if "PGHOST" in data:
            found.append((f"{es.name} PGHOST/PGPORT", (data["PGHOST"], int(data["PGPORT"]))))
        if "DATABASE_URL" in data:
            url = urlparse(re.sub(r"//.*@", "//", data["DATABASE_URL"]))
            found.append((f"{es.name} DATABASE_URL", (url.hostname, url.port)))
    return found


def test_every_postgres_host_is_the_write_lb(rendering: Rendering) -> None:
    endpoints = _postgres_endpoints(rendering)
    assert len(endpoints) >= 3  # provider, Vault connection, the api's secret at least
    assert {where: hp for where, hp in endpoints if hp != LB_PG} == {}


def test_every_postgres_connection_uses_the_stacks_one_ssl_mode(rendering: Rendering) -> None:
    """Provider, Vault connection URLs, PGSSLMODE and DATABASE_URL agree (keybuzz:postgresSslMode), each in
    its reader's spelling (PGSSLMODE is node-postgres's: `no-verify` is libpq's `require`)."""
    meaning = {spelled: mode for mode, spelled in DRIVER_SSL["node-postgres"].items()}
    modes = {("provider", rendering.one("pulumi:providers:postgresql").inputs["sslmode"])}
    for conn in rendering.of_type(CONNECTION):
        modes.add((conn.name, re.search(r"sslmode=([a-z-]+)", conn.inputs["postgresql"]["connectionUrl"])[1]))
    for r in rendering.of_type(DYNAMIC):  # the adoption's SQL
        if r.name.endswith("-destroy-guard"):  # connects nowhere
            continue
        modes.add((r.name, r.inputs["sslmode"]))
    for es in rendering.of_type(EXTERNAL_SECRET):
        data = es.inputs["spec"].get("target", {}).get("template", {}).get("data", {})
        if "PGHOST" in data:
            modes.add((f"{es.name} PGSSLMODE", meaning[data["PGSSLMODE"]]))
            assert data["PGSSLMODE"] == "no-verify", es.name
        if "DATABASE_URL" in data:
            modes.add((f"{es.name} DATABASE_URL", re.search(r"sslmode=([a-z-]+)", data["DATABASE_URL"])[1]))
    assert len(modes) >= 3  # provider, a Vault connection, an app's Secret or the adoption's SQL at least
    assert {mode for _, mode in modes} == {"require"}, sorted(modes)


def test_a_stacks_other_ssl_mode_reaches_every_connection() -> None:
    """The one choice is the stack's: another value (here `disable`) replaces `require` everywhere. (The lab
    stacks no longer set it: the lab serves TLS and keeps the shipped mode, tests/unit/test_lab_tls.py.)"""
    lab = render_stack("lab-dev", overrides={"postgresSslMode": "disable"})
    assert lab.one("pulumi:providers:postgresql").inputs["sslmode"] == "disable"
    templates = [es.inputs["spec"]["target"].get("template", {}).get("data", {}) for es in lab.of_type(EXTERNAL_SECRET)]
    assert {t["PGSSLMODE"] for t in templates if "PGSSLMODE" in t} == {"disable"}


def test_redis_is_reached_through_its_lb_only(dev: Rendering) -> None:
    env = {
        e["name"]: e["value"]
        for d in dev.of_type(DEPLOYMENT)
        for e in d.inputs["spec"]["template"]["spec"]["containers"][0].get("env", [])
        if e["name"].startswith("REDIS")
    }
    assert env == {"REDIS_HOST": LB_REDIS[0], "REDIS_PORT": str(LB_REDIS[1]), "REDIS_URL": "redis://10.0.0.10:6379"}


# ---- isolation --------------------------------------------------------------------------------------
def _declared(rendering: Rendering) -> dict[str, set[str]]:
    """Physical names a stack *declares* (creates or adopts), by category."""
    res = rendering.resources
    return {
        "database": {r.inputs["name"] for r in res if r.type == DATABASE},
        "role": {r.inputs["name"] for r in res if r.type == ROLE},
        "namespace": {r.inputs["metadata"]["name"] for r in res if r.type == "kubernetes:core/v1:Namespace"},
        "vault mount": {r.inputs["path"] for r in res if r.type == MOUNT},
        "vault role": {f"{r.inputs['backend']}/{r.inputs['name']}" for r in res if r.type == DB_ROLE},
        "policy": {r.inputs["name"] for r in res if r.type == POLICY},
        "auth role": {r.inputs["roleName"] for r in res if r.type == AUTH_ROLE},
        "kv path": {f"{r.inputs['mount']}/{r.inputs['name']}" for r in res if r.type == KV},
    }


def _referenced(rendering: Rendering) -> dict[str, set[str]]:
    """Physical names a stack *references* anywhere in its inputs, by category."""
    refs: dict[str, set[str]] = {k: set() for k in ("database", "role", "namespace", "vault path")}
    for r in rendering.resources:
        i = r.inputs
        if r.type in (GRANT, DEFAULT_PRIVS):
            refs["database"].add(i["database"])
            refs["role"].add(i["role"])
            if "owner" in i:
                refs["role"].add(i["owner"])
        if r.type == GRANT_ROLE:
            refs["role"] |= {i["role"], i["grantRole"]}
        if r.type == CONNECTION:
            refs["database"].add(urlparse(i["postgresql"]["connectionUrl"]).path.strip("/"))
            refs["role"].add(i["postgresql"]["username"])
        if r.type == DB_ROLE:
            for statement in i["creationStatements"] + i["revocationStatements"]:
                refs["role"] |= set(re.findall(r'"([a-z_0-9]+)"', statement)) | set(
                    re.findall(r"'([a-z_0-9]+)'", statement)
                )
            refs["vault path"].add(i["backend"])
        if r.type == POLICY:
            refs["vault path"] |= set(re.findall(r'path "([^"]+)"', i["policy"]))
        if r.type == AUTH_ROLE:
            refs["namespace"] |= set(i["boundServiceAccountNamespaces"])
        if r.type.startswith("kubernetes:") and "metadata" in i and "namespace" in i["metadata"]:
            refs["namespace"].add(i["metadata"]["namespace"])
        if r.type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding":
            refs["namespace"] |= {subject["namespace"] for subject in i["subjects"]}
        if r.type == "kubernetes:apps/v1:Deployment":  # Reloader's --namespaces=a,b: what it watches
            for container in i["spec"]["template"]["spec"]["containers"]:
                for arg in container.get("args", []):
                    if arg.startswith("--namespaces="):
                        refs["namespace"] |= set(arg.split("=", 1)[1].split(","))
        if r.type == GENERATOR:
            refs["vault path"].add(i["spec"]["path"])
        if r.type == EXTERNAL_SECRET:
            data = i["spec"].get("target", {}).get("template", {}).get("data", {})
            if "PGDATABASE" in data:
                refs["database"].add(data["PGDATABASE"])
            for source in i["spec"].get("dataFrom", []):
                if "extract" in source:
                    refs["vault path"].add(source["extract"]["key"])
    return refs


def test_dev_and_prod_declare_no_common_name(dev: Rendering, prod: Rendering) -> None:
    d, p = _declared(dev), _declared(prod)
    assert all(d[k] for k in ("database", "role", "namespace", "vault mount", "policy"))
    assert {k: d[k] & p[k] for k in d if d[k] & p[k]} == {}


@pytest.mark.parametrize(("source", "target"), [("prod", "dev"), ("dev", "prod")])
def test_a_stack_references_nothing_the_other_declares(
    source: str, target: str, dev: Rendering, prod: Rendering
) -> None:
    stacks = {"dev": dev, "prod": prod}
    refs, other = _referenced(stacks[source]), _declared(stacks[target])
    other_paths = other["vault mount"] | other["kv path"] | other["vault role"]
    crossing = {
        "database": refs["database"] & other["database"],
        "role": refs["role"] & other["role"],
        "namespace": refs["namespace"] & other["namespace"],
        "vault path": {
            p
            for p in refs["vault path"]
            if any(p.startswith(o.split("/")[0] + "/") or p == o for o in other["vault mount"])
        }
        | {p for p in refs["vault path"] if any(o in p for o in other_paths if "/" in o)}
        | {p for p in refs["vault path"] if f"/{target}/" in f"/{p}/"},
    }
    assert refs["database"]
    assert refs["role"]
    assert refs["namespace"]
    assert refs["vault path"]
    assert {k: v for k, v in crossing.items() if v} == {}


# ---- secrets --------------------------------------------------------------------------------------
def _fake_secret_values() -> list[str]:
    return [*FAKE_SECRETS.values(), "fake-test-only-jwt"]


def test_secret_values_only_travel_as_secrets(rendering: Rendering) -> None:
    leaks = []
    for r in rendering.resources:
        for path, text in strings(r.inputs):
            if any(secret in text for secret in _fake_secret_values()) and not any(
                path == s or path.startswith(f"{s}.") or path.startswith(f"{s}[") for s in r.secret_paths
            ):
                leaks.append((r.type, r.name, path))
    assert leaks == []
    seen = {text for r in rendering.resources for _, text in strings(r.inputs)}
    assert any("fake-test-only-vault-db-bootstrap" in t for t in seen)  # the check above had work to do


def test_no_kubernetes_secret_is_written_by_the_program(rendering: Rendering) -> None:
    assert rendering.of_type("kubernetes:core/v1:Secret") == []


def test_the_vault_root_password_is_sent_write_only(rendering: Rendering) -> None:
    for conn in rendering.of_type(CONNECTION):
        assert "password" not in conn.inputs["postgresql"]
        assert conn.inputs["postgresql"]["passwordWo"] == FAKE_SECRETS["keybuzz:vaultDbPassword"]
    logins = [r for r in rendering.of_type(ROLE) if r.inputs.get("login")]
    assert len(logins) == len(rendering.of_type(CONNECTION)) >= 1
    for login in logins:
        assert "password" not in login.inputs
        assert "passwordWo" in login.inputs


def test_each_vault_connection_has_a_login_of_its_own(rendering: Rendering) -> None:
    """A rotate-root changes the password of the connection's login: shared, it would break the other
    connection (issue 12, item 5). Each login is a member of its own database's owner group only."""
    connections = rendering.of_type(CONNECTION)
    users = [c.inputs["postgresql"]["username"] for c in connections]
    assert len(set(users)) == len(users) == len(rendering.of_type(DATABASE))
    groups = {r.inputs["name"]: r.inputs.get("roles") for r in rendering.of_type(ROLE)}
    for conn in connections:
        login = conn.inputs["postgresql"]["username"]
        database = urlparse(conn.inputs["postgresql"]["connectionUrl"].replace("{{username}}:{{password}}@", ""))
        owner = {r.inputs["name"]: r.inputs["owner"] for r in rendering.of_type(DATABASE)}[database.path.strip("/")]
        assert groups[login] == [owner]


def test_root_rotation_is_scheduled_for_every_connection_and_nothing_else(rendering: Rendering) -> None:
    env = rendering.stack
    policy = rendering.one("vault:index/policy:Policy", name=f"keybuzz-{env}-rotate-root")
    connections = sorted(c.inputs["name"] for c in rendering.of_type(CONNECTION))
    paths = re.findall(r'path "([^"]+)"', policy.inputs["policy"])
    assert paths == [f"database-{env}/rotate-root/{c}" for c in connections]
    assert '"update"' in policy.inputs["policy"]
    assert '"read"' not in policy.inputs["policy"]
    cron = rendering.one("kubernetes:batch/v1:CronJob")
    assert cron.inputs["metadata"]["namespace"] == f"keybuzz-ops-{env}"
    script = cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert re.findall(r'vault write -f "([^"]+)"', script) == paths
    auth = [r for r in rendering.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
            if r.inputs["roleName"] == f"keybuzz-{env}-rotate-root"]  # fmt: skip
    assert len(auth) == 1
    assert auth[0].inputs["boundServiceAccountNamespaces"] == [f"keybuzz-ops-{env}"]


def test_every_token_presented_to_a_kubernetes_auth_role_is_issued_for_its_audience(rendering: Rendering) -> None:
    """Issue 17 item 9: each role checks an `audience`, and whoever logs in with it asks the API server for a
    token of exactly that audience: ESO's stores and generators (`serviceAccountRef.audiences`, which ESO 1.3.2
    hands to the TokenRequest API), the rotate-root job (a projected token, the file its script sends)."""
    roles = {
        r.inputs["roleName"]: r.inputs for r in rendering.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
    }
    assert all(role.get("audience") for role in roles.values())
    logins = 0
    for obj in rendering.resources:
        vault = obj.inputs.get("spec", {}).get("provider", {}) if isinstance(obj.inputs.get("spec"), dict) else {}
        kubernetes = vault.get("vault", vault).get("auth", {}).get("kubernetes")
        if kubernetes:
            assert roles[kubernetes["role"]]["audience"] in kubernetes["serviceAccountRef"]["audiences"], obj.name
            logins += 1
    assert logins >= 1
    pod = rendering.one("kubernetes:batch/v1:CronJob").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if "projected" in v]
    [token] = [s["serviceAccountToken"] for s in volume["projected"]["sources"]]
    assert token["audience"] == roles[f"keybuzz-{rendering.stack}-rotate-root"]["audience"]
    [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    assert f'jwt="$(cat {mount["mountPath"]}/{token["path"]})"' in pod["containers"][0]["command"][2]
    assert pod["automountServiceAccountToken"] is False  # the job never calls the Kubernetes API


# ---- protection, structure, providers ------------------------------------------------------------
def test_prod_data_is_protected(prod: Rendering) -> None:
    data = prod.of_type(DATABASE) + prod.of_type(MOUNT)
    assert data
    assert all(r.protect for r in data)


def test_every_database_is_protected_in_every_environment(dev: Rendering, prod: Rendering) -> None:
    """DEV's `keybuzz` holds 13 tenants and 8,400+ conversations: a destroy of DEV must not drop it."""
    for rendering in (dev, prod):
        assert rendering.of_type(DATABASE)
        assert all(r.protect for r in rendering.of_type(DATABASE))
    # DEV's Vault mount holds no data (leases are re-issued): it is not protected.
    assert not any(r.protect for r in dev.of_type(MOUNT))


def test_every_resource_sits_inside_a_component(rendering: Rendering) -> None:
    by_urn = rendering.by_urn()
    roots = [r for r in rendering.resources if r.parent not in by_urn]
    assert [r.type for r in roots] == ["keybuzz:environment:Environment"]
    orphans = [
        (r.type, r.name)
        for r in rendering.resources
        if r.parent in by_urn and not by_urn[r.parent].type.startswith("keybuzz:")
    ]
    assert orphans == []


def test_every_custom_resource_uses_an_explicit_provider_of_its_package(rendering: Rendering) -> None:
    providers = {
        r.urn: r.type.removeprefix("pulumi:providers:")
        for r in rendering.resources
        if r.type.startswith("pulumi:providers:")
    }
    assert sorted(providers.values()) == ["kubernetes", "postgresql", "vault"]
    wrong = []
    for r in rendering.custom():
        if r.type == DYNAMIC:  # the adoption's SQL: its own provider, connecting like the postgresql one
            continue
        urn = r.provider.rsplit("::", 1)[0]
        if providers.get(urn) != r.package:
            wrong.append((r.type, r.name, r.provider))
    assert wrong == []


def test_component_type_tokens_have_three_parts(rendering: Rendering) -> None:
    components = {r.type for r in rendering.resources if not r.custom}
    assert components <= {
        "keybuzz:environment:Environment",
        "keybuzz:postgres:Databases",
        "keybuzz:vault:DatabaseEngine",
        "keybuzz:vault:RootRotation",
        "keybuzz:vault:Access",
        "keybuzz:eso:AppSecrets",
        "keybuzz:app:Service",
        "keybuzz:app:Migrations",
        "keybuzz:namespace:AppNamespace",
        "keybuzz:reloader:Reloader",
    }
    assert "keybuzz:environment:Environment" in components


def test_dev_adopts_its_legacy_databases_and_namespaces(dev: Rendering) -> None:
    imported = {r.inputs.get("name") or r.inputs["metadata"]["name"]: r.import_id for r in dev.resources if r.import_id}
    # Only what a seed names (PH15, PH16, PH28.2); keybuzz-client-dev and keybuzz-worker-dev are created.
    assert imported == {
        "keybuzz": "keybuzz",
        "keybuzz_backend": "keybuzz_backend",
        "keybuzz-api-dev": "keybuzz-api-dev",
        "keybuzz-backend-dev": "keybuzz-backend-dev",
    }


def test_refresh_is_below_half_of_every_credential_ttl(rendering: Rendering) -> None:
    ttls = {r.inputs["name"]: int(r.inputs["defaultTtl"]) for r in rendering.of_type(DB_ROLE)}
    refresh = {es.inputs["spec"]["refreshInterval"] for es in rendering.of_type(EXTERNAL_SECRET)}
    assert ttls
    # The stacks' figures (TTL 24 h, refresh 8 h: three new users and rollouts a day per app).
    assert refresh == {"8h0m0s"}
    assert set(ttls.values()) == {86400}
    assert all(ttl / 2 > 8 * 3600 for ttl in ttls.values())


def test_outputs_name_the_environment(rendering: Rendering) -> None:
    env = rendering.stack
    assert rendering.outputs["environment"] == env
    assert rendering.outputs["vault_mount"] == f"database-{env}"
    assert rendering.outputs["postgres_endpoint"] == "10.0.0.10:5432"


def _deployment(rendering: Rendering, app: str) -> Recorded:
    return next(d for d in rendering.of_type(DEPLOYMENT) if d.inputs["metadata"]["name"] == f"keybuzz-{app}")


def test_no_app_gets_next_public_settings_at_runtime(rendering: Rendering) -> None:
    """Next.js bakes NEXT_PUBLIC_* into the image at build (PH28.2 §5.1): a runtime value would do nothing."""
    names = {
        e["name"]
        for d in rendering.of_type(DEPLOYMENT)
        for c in d.inputs["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
    }
    assert not {n for n in names if n.startswith("NEXT_PUBLIC_")}
    client = _deployment(rendering, "client").inputs["spec"]["template"]["spec"]["containers"][0]
    expected = {"dev": "v0.5.33-replacement", "prod": "prod-2026-02-01"}[rendering.stack]
    assert client["image"] == f"ghcr.io/keybuzzio/keybuzz-client:{expected}"


# ---- network isolation --------------------------------------------------------------------------------
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def _selected_namespaces(policy: Recorded) -> set[str]:
    spec = policy.inputs["spec"]
    names: set[str] = set()
    for rule in spec.get("ingress", []) + spec.get("egress", []):
        for peer in rule.get("from", rule.get("to", [])):
            for expression in peer.get("namespaceSelector", {}).get("matchExpressions", []):
                names |= set(expression["values"])
    return names


def test_every_app_namespace_denies_by_default(rendering: Rendering) -> None:
    namespaces = {n.inputs["metadata"]["name"] for n in rendering.of_type("kubernetes:core/v1:Namespace")}
    denied = {
        p.inputs["metadata"]["namespace"]
        for p in rendering.of_type(NETWORK_POLICY)
        if p.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    }
    # The platform's own namespaces too: the scheduled rotate-root's and Reloader's.
    platform = {f"keybuzz-ops-{rendering.stack}", f"keybuzz-reloader-{rendering.stack}"}
    assert namespaces == denied == set(rendering.outputs["namespaces"]) | platform


@pytest.mark.parametrize(("source", "target"), [("prod", "dev"), ("dev", "prod")])
def test_no_network_policy_lets_one_environment_reach_the_other(
    source: str, target: str, dev: Rendering, prod: Rendering
) -> None:
    stacks = {"dev": dev, "prod": prod}
    allowed = set().union(*(_selected_namespaces(p) for p in stacks[source].of_type(NETWORK_POLICY)))
    assert allowed >= set(stacks[source].outputs["namespaces"])
    assert allowed & set(stacks[target].outputs["namespaces"]) == set()
    assert allowed - set(stacks[source].outputs["namespaces"]) == {"kube-system", "ingress-nginx"}


def test_apps_reach_only_the_lb_ports_they_use(dev: Rendering) -> None:
    def lb_ports(namespace: str) -> set[tuple[str, int]]:
        return {
            (peer["ipBlock"]["cidr"], port["port"])
            for p in dev.of_type(NETWORK_POLICY)
            if p.inputs["metadata"]["namespace"] == namespace
            for rule in p.inputs["spec"].get("egress", [])
            for peer in rule["to"]
            if "ipBlock" in peer
            for port in rule["ports"]
        }

    pg, redis = ("10.0.0.10/32", 5432), ("10.0.0.10/32", 6379)
    # The LBs each app uses, and the stack's egress list (keybuzz:<app>Egress): public addresses only.
    assert lb_ports("keybuzz-api-dev") == {pg, redis, ("0.0.0.0/0", 587)}  # SMTP (PH28.2 OTP mail)
    assert lb_ports("keybuzz-backend-dev") == {pg, ("0.0.0.0/0", 443)}  # backend and its migrations; Amazon
    assert lb_ports("keybuzz-worker-dev") == {pg, redis, ("0.0.0.0/0", 443)}
    assert lb_ports("keybuzz-client-dev") == {("0.0.0.0/0", 443)}
    public = [
        peer["ipBlock"]
        for p in dev.of_type(NETWORK_POLICY)
        for rule in p.inputs["spec"].get("egress", [])
        for peer in rule["to"]
        if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
    ]
    assert public
    # The nodes (10.0.0.120-125) and every private range stay out of "public", whatever the stack allows.
    assert all({"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(block["except"]) for block in public)


def test_prod_replicated_apps_have_budgets_and_dev_singletons_none(dev: Rendering, prod: Rendering) -> None:
    pdb = "kubernetes:policy/v1:PodDisruptionBudget"
    assert sorted(p.inputs["metadata"]["name"] for p in prod.of_type(pdb)) == ["keybuzz-api", "keybuzz-client"]
    assert dev.of_type(pdb) == []
