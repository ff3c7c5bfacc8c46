"""The preflight's verdicts (ops/preflight_model.py) on recorded live objects against the real program's.

`fixtures/preflight_estate_api_prod.json` is the api's namespace of a lab estate made like the seeds
(tests/e2e/preflight_divergence.py), read back from the lab's API server: a Deployment selecting
`app: keybuzz-api` with an unnamed port, extra envFrom Secrets, an env var from another Secret, a Secret
volume, a sidecar and pull secrets; its Service on port `web` -> 3001 plus a metrics port; an estate
ExternalSecret under another name. The program's side is the shipped PROD stack rendered under mocks.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ops.preflight_model import (
    DatabaseContext,
    DbObject,
    EsoContext,
    Finding,
    Session,
    VaultLive,
    VaultProgram,
    Verdict,
    compare_database_owners,
    compare_deployment,
    compare_eso,
    compare_namespaces,
    compare_ownership,
    compare_roles,
    compare_service,
    compare_sessions,
    compare_vault,
    consumer_entry,
    covered,
    exit_verdict,
    fix_lines,
)
from render import Rendering
from render.manifests import manifests

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "preflight_estate_api_prod.json").read_text())
NS = "keybuzz-api-prod"


def program(prod: Rendering, kind: str, namespace: str = NS) -> dict[str, Any]:
    found = [m for m in manifests(prod) if m["kind"] == kind and m["metadata"].get("namespace") == namespace]
    assert len(found) == 1
    return found[0]


def by_what(findings: list[Finding]) -> dict[str, Finding]:
    out = {f.what: f for f in findings}
    assert len(out) == len(findings), "one finding per field"
    return out


def accounts() -> dict[str, Any]:
    return {a["metadata"]["name"]: a for a in FIXTURE["serviceAccounts"]}


# --- Deployment ------------------------------------------------------------------------------------------


def test_an_estate_selector_blocks_as_immutable_and_names_the_selector_key_with_the_live_labels(
    prod: Rendering,
) -> None:
    found = by_what(compare_deployment(FIXTURE["deployment"], program(prod, "Deployment"), "api", accounts()))
    selector = found["spec.selector"]
    assert selector.verdict is Verdict.BLOCKS
    assert selector.reason == "immutable"
    assert selector.label() == "blocks: immutable"
    assert fix_lines([selector], {}) == {
        "keybuzz:apiSelectorLabels": 'keybuzz:apiSelectorLabels: {"app": "keybuzz-api"}'
    }


def test_the_same_selector_is_taken_over(prod: Rendering) -> None:
    live = copy.deepcopy(FIXTURE["deployment"])
    live["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "keybuzz-api"}}
    found = by_what(compare_deployment(live, program(prod, "Deployment"), "api", accounts()))
    assert found["spec.selector"].verdict is Verdict.TAKEN_OVER


def test_match_expressions_cannot_be_kept_by_a_key(prod: Rendering) -> None:
    live = copy.deepcopy(FIXTURE["deployment"])
    live["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["keybuzz-api"]}]}
    selector = by_what(compare_deployment(live, program(prod, "Deployment"), "api", accounts()))["spec.selector"]
    assert selector.verdict is Verdict.BLOCKS
    assert not selector.key
    assert "re-create the Deployment" in selector.fix


def test_envfrom_is_atomic_so_every_extra_secret_would_be_dropped_and_the_database_secret_is_kept(
    prod: Rendering,
) -> None:
    found = by_what(compare_deployment(FIXTURE["deployment"], program(prod, "Deployment"), "api", accounts()))
    smtp = found["containers[keybuzz-api].envFrom secret:keybuzz-api-smtp"]
    assert smtp.verdict is Verdict.DROPPED
    assert smtp.label() == "would be dropped: model it with keybuzz:apiExtraEnvFrom"
    assert found["containers[keybuzz-api].envFrom secret:keybuzz-api-postgres"].verdict is Verdict.TAKEN_OVER


def test_an_env_var_from_another_secret_is_not_listed_and_joins_the_same_envfrom_line(prod: Rendering) -> None:
    findings = compare_deployment(FIXTURE["deployment"], program(prod, "Deployment"), "api", accounts())
    jwt = by_what(findings)["containers[keybuzz-api].env JWT_SECRET from secret:keybuzz-api-jwt"]
    assert jwt.verdict is Verdict.NOT_LISTED
    assert jwt.key == "keybuzz:apiExtraEnvFrom"
    line = fix_lines(findings, {})["keybuzz:apiExtraEnvFrom"]
    assert line == 'keybuzz:apiExtraEnvFrom: ["secret:keybuzz-api-smtp", "secret:keybuzz-api-jwt"]'


def test_sidecars_and_secret_volumes_are_named_as_not_modelled(prod: Rendering) -> None:
    found = by_what(compare_deployment(FIXTURE["deployment"], program(prod, "Deployment"), "api", accounts()))
    sidecar = found["containers[metrics-exporter]"]
    volume = found["volumes[certs] (secret keybuzz-api-certs)"]
    for f in (sidecar, volume):
        assert f.verdict is Verdict.NOT_LISTED
        assert "ops drift" in f.detail
        assert f.fix
    assert found["containers[keybuzz-api]"].verdict is Verdict.TAKEN_OVER


def test_pull_secrets_of_the_pod_and_of_the_service_account_the_pods_leave_go_to_one_line(prod: Rendering) -> None:
    findings = compare_deployment(FIXTURE["deployment"], program(prod, "Deployment"), "api", accounts())
    found = by_what(findings)
    assert found["imagePullSecrets ghcr-pull"].verdict is Verdict.NOT_LISTED
    moved = found["serviceAccountName"]
    assert moved.verdict is Verdict.DROPPED
    assert "keybuzz-api-legacy" in moved.detail
    assert "ghcr-legacy" in moved.detail
    assert fix_lines(findings, {})["keybuzz:apiImagePullSecrets"] == (
        'keybuzz:apiImagePullSecrets: ["ghcr-pull", "ghcr-legacy"]'
    )


def test_moving_to_a_service_account_without_pull_secrets_loses_nothing(prod: Rendering) -> None:
    live = copy.deepcopy(FIXTURE["deployment"])
    live["spec"]["template"]["spec"]["serviceAccountName"] = "default"
    found = by_what(compare_deployment(live, program(prod, "Deployment"), "api", {}))
    assert found["serviceAccountName"].verdict is Verdict.TAKEN_OVER


def test_a_live_container_under_another_name_blocks(prod: Rendering) -> None:
    live = copy.deepcopy(FIXTURE["deployment"])
    live["spec"]["template"]["spec"]["containers"] = [{"name": "api", "image": "x"}]
    found = by_what(compare_deployment(live, program(prod, "Deployment"), "api", {}))
    assert found["containers[keybuzz-api]"].verdict is Verdict.BLOCKS


def test_a_platform_deployment_names_no_app_key(prod: Rendering) -> None:
    findings = compare_deployment(FIXTURE["deployment"], program(prod, "Deployment"), None, accounts())
    assert all(not f.key for f in findings)


# --- Service ---------------------------------------------------------------------------------------------


def test_a_service_on_estate_labels_cuts_traffic_and_its_port_name_is_modelled_by_a_key(prod: Rendering) -> None:
    found = by_what(compare_service(FIXTURE["service"], program(prod, "Service"), "api", [FIXTURE["deployment"]]))
    selector = found["spec.selector"]
    assert selector.verdict is Verdict.BLOCKS
    assert selector.reason == "cuts traffic"
    assert fix_lines([selector], {})["keybuzz:apiSelectorLabels"].endswith('{"app": "keybuzz-api"}')
    # The program targets the container port by number (3001), as the estate does.
    assert found["port 80 targetPort"].verdict is Verdict.TAKEN_OVER
    name = found["port 80 name"]
    assert name.verdict is Verdict.DROPPED
    assert "'web' => 'http'" in name.detail
    assert fix_lines([name], {}) == {"keybuzz:apiServicePortName": 'keybuzz:apiServicePortName: "web"'}
    assert found["port 9102 (metrics)"].verdict is Verdict.NOT_LISTED


def test_a_named_target_port_the_running_pods_do_not_have_cuts_traffic(prod: Rendering) -> None:
    named = copy.deepcopy(program(prod, "Service"))
    named["spec"]["ports"][0]["targetPort"] = "http"
    target = by_what(compare_service(FIXTURE["service"], named, "api", [FIXTURE["deployment"]]))["port 80 targetPort"]
    assert target.verdict is Verdict.BLOCKS
    assert "no container port named 'http'" in target.detail
    deployment = copy.deepcopy(FIXTURE["deployment"])
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 3001, "name": "http"}]
    target = by_what(compare_service(FIXTURE["service"], named, "api", [deployment]))["port 80 targetPort"]
    assert target.verdict is Verdict.TAKEN_OVER


def test_the_estate_facts_as_config_lines_leave_nothing_to_fix(prod: Rendering) -> None:
    """With the config lines the preflight printed for this namespace, the program keeps what the estate has."""
    from render import render_stack

    estate = render_stack(
        "prod",
        overrides={
            "apiSelectorLabels": {"app": "keybuzz-api"},
            "apiServicePortName": "web",
            "apiExtraEnvFrom": ["secret:keybuzz-api-smtp", "secret:keybuzz-api-jwt"],
            "apiImagePullSecrets": ["ghcr-pull", "ghcr-legacy"],
        },
    )
    deployment = compare_deployment(FIXTURE["deployment"], program(estate, "Deployment"), "api", accounts())
    service = compare_service(FIXTURE["service"], program(estate, "Service"), "api", [FIXTURE["deployment"]])
    left = [f for f in deployment + service if f.verdict not in (Verdict.TAKEN_OVER, Verdict.UNTOUCHED)]
    # What no key models remains: the sidecar, the Secret volume, the JWT env entry (kept by server-side apply,
    # reported by `ops drift`), the metrics port.
    assert {f.what for f in left} == {
        "containers[metrics-exporter]",
        "volumes[certs] (secret keybuzz-api-certs)",
        "containers[keybuzz-api].env JWT_SECRET from secret:keybuzz-api-jwt",
        "port 9102 (metrics)",
    }
    assert all(f.verdict is Verdict.NOT_LISTED for f in left)


def test_a_service_whose_pods_carry_the_program_labels_and_port_name_is_taken_over(prod: Rendering) -> None:
    deployment = copy.deepcopy(FIXTURE["deployment"])
    deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "keybuzz-api"
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 3001, "name": "http"}]
    service = copy.deepcopy(FIXTURE["service"])
    service["spec"]["ports"] = [{"name": "http", "port": 80, "targetPort": 3001, "protocol": "TCP"}]
    found = by_what(compare_service(service, program(prod, "Service"), "api", [deployment]))
    assert found["spec.selector"].verdict is Verdict.TAKEN_OVER
    assert found["port 80 targetPort"].verdict is Verdict.TAKEN_OVER
    assert exit_verdict(list(found.values())) is Verdict.TAKEN_OVER


# --- namespaces, ESO -------------------------------------------------------------------------------------


def test_namespaces_existing_unlisted_and_listed_missing() -> None:
    found = {f.subject: f for f in compare_namespaces(["a", "b", "c"], ["a", "b"], ["a", "c"])}
    assert found["Namespace a"].verdict is Verdict.TAKEN_OVER
    assert found["Namespace b"].verdict is Verdict.NOT_LISTED
    assert found["Namespace b"].key == "keybuzz:adoptNamespaces"
    assert found["Namespace c"].verdict is Verdict.BLOCKS


def eso_context(prod: Rendering, estate: str = "") -> EsoContext:
    objs = [m for m in manifests(prod) if m["metadata"].get("namespace") == NS]
    return EsoContext(
        namespace=NS,
        app="api",
        db_secret="keybuzz-api-postgres",
        estate_external_secret=estate,
        kv_prefix="keybuzz/prod/api/",
        program_external_secrets={m["metadata"]["name"]: m for m in objs if m["kind"] == "ExternalSecret"},
        program_stores={m["metadata"]["name"]: m for m in objs if m["kind"] == "SecretStore"},
    )


def test_an_estate_external_secret_under_another_name_owning_the_database_secret_is_not_listed(
    prod: Rendering,
) -> None:
    findings = compare_eso(eso_context(prod), FIXTURE["externalSecrets"], FIXTURE["secretStores"], {})
    es = next(f for f in findings if f.subject.endswith("keybuzz-api-postgres-estate"))
    assert es.verdict is Verdict.NOT_LISTED
    assert "owns Secret keybuzz-api-postgres" in es.detail
    assert fix_lines([es], {})["keybuzz:apiEstateExternalSecret"] == (
        'keybuzz:apiEstateExternalSecret: "keybuzz-api-postgres-estate"'
    )
    store = next(f for f in findings if f.subject.endswith("/vault"))
    assert store.verdict is Verdict.TAKEN_OVER
    assert "role keybuzz-prod-api" in store.detail


def test_the_named_estate_external_secret_is_taken_over(prod: Rendering) -> None:
    findings = compare_eso(
        eso_context(prod, "keybuzz-api-postgres-estate"), FIXTURE["externalSecrets"], FIXTURE["secretStores"], {}
    )
    assert all(f.verdict is Verdict.TAKEN_OVER for f in findings)


def test_a_same_named_external_secret_with_spec_data_blocks_unless_the_program_declares_data(prod: Rendering) -> None:
    es = copy.deepcopy(FIXTURE["externalSecrets"][0])
    es["metadata"]["name"] = "keybuzz-api-env"
    es["spec"]["target"] = {"name": "keybuzz-api-env"}
    found = compare_eso(eso_context(prod), [es], [], {})
    assert [f.verdict for f in found] == [Verdict.BLOCKS]
    assert "/spec/data" in found[0].fix
    ctx = eso_context(prod)
    declared = copy.deepcopy(dict(ctx.program_external_secrets["keybuzz-api-env"]))
    declared["spec"]["data"] = []  # an atomic list the forced apply replaces whole
    ctx = EsoContext(**{**ctx.__dict__, "program_external_secrets": {"keybuzz-api-env": declared}})
    assert [f.verdict for f in compare_eso(ctx, [es], [], {})] == [Verdict.TAKEN_OVER]


def test_an_unrelated_external_secret_through_the_taken_over_store_would_lose_its_path(prod: Rendering) -> None:
    es = copy.deepcopy(FIXTURE["externalSecrets"][0])
    es["metadata"]["name"] = "smtp"
    es["spec"]["target"] = {"name": "keybuzz-api-smtp"}
    es["spec"]["data"][0]["remoteRef"]["key"] = "keybuzz/prod/smtp"
    (found,) = compare_eso(eso_context(prod), [es], [], {"keybuzz-api-smtp": "smtp"})
    assert found.verdict is Verdict.DROPPED
    assert "keybuzz/prod/smtp denied" in found.detail
    es["spec"]["data"][0]["remoteRef"]["key"] = "keybuzz/prod/api/smtp"
    (allowed,) = compare_eso(eso_context(prod), [es], [], {"keybuzz-api-smtp": "smtp"})
    assert allowed.verdict is Verdict.UNTOUCHED
    assert "owns Secret keybuzz-api-smtp;" in allowed.detail


# --- PostgreSQL ------------------------------------------------------------------------------------------

CTX = DatabaseContext("keybuzz_prod", "api", "keybuzz_api_prod_owner", ("keybuzz_api_prod",), "postgres", True)


def test_objects_of_every_kind_by_owner() -> None:
    objects = [
        DbObject("TABLE", "public.tenants", "keybuzz_api_prod"),
        DbObject("SCHEMA", "public", "pg_database_owner"),
        DbObject("TYPE", "public.ticket_status", "postgres"),
        DbObject("SEQUENCE", "public.invoice_number", "postgres"),
        DbObject("FUNCTION", "public.tenant_count()", "postgres"),
        DbObject("VIEW", "public.report", "analyst"),
    ]
    found = {f.what: f for f in compare_ownership(CTX, objects, "keybuzz_api_prod")}
    assert found["owner"].verdict is Verdict.TAKEN_OVER
    assert found["objects owned by keybuzz_api_prod"].verdict is Verdict.TAKEN_OVER
    admin = found["objects owned by postgres"]
    assert admin.verdict is Verdict.BLOCKS
    assert admin.reason == "foreign owner"
    assert "1 function, 1 sequence, 1 type" in admin.detail
    for statement in (
        "ALTER TYPE public.ticket_status OWNER TO keybuzz_api_prod;",
        "ALTER SEQUENCE public.invoice_number OWNER TO keybuzz_api_prod;",
        "ALTER FUNCTION public.tenant_count() OWNER TO keybuzz_api_prod;",
        "lock_timeout",
        "which the transfer then moves to keybuzz_api_prod_owner",
    ):
        assert statement in admin.fix
    without_legacy = DatabaseContext("keybuzz_prod", "api", "keybuzz_api_prod_owner", (), "postgres", True)
    (admin,) = [f for f in compare_ownership(without_legacy, objects[2:3], "postgres") if "postgres" in f.what]
    assert "ALTER TYPE public.ticket_status OWNER TO keybuzz_api_prod_owner;" in admin.fix
    other = found["objects owned by analyst"]
    assert other.verdict is Verdict.NOT_LISTED
    assert fix_lines([other], {"keybuzz:apiLegacyRoles": '["keybuzz_api_prod"]'})["keybuzz:apiLegacyRoles"] == (
        'keybuzz:apiLegacyRoles: ["keybuzz_api_prod", "analyst"]'
    )


def test_a_database_owned_by_an_unnamed_login_and_databases_absent_or_unlisted() -> None:
    (owner, *_) = compare_ownership(CTX, [], "someone")
    assert owner.verdict is Verdict.NOT_LISTED
    assert owner.items == ("someone",)
    (missing,) = compare_ownership(CTX, [], None)
    assert missing.verdict is Verdict.BLOCKS
    unlisted = DatabaseContext("keybuzz_prod", "api", "g", (), "postgres", adopted=False)
    assert compare_ownership(unlisted, [], "postgres")[0].key == "keybuzz:adoptDatabases"


def test_a_legacy_role_owning_another_database_blocks_only_phase_dropped() -> None:
    owned = {"keybuzz_api_prod": ["keybuzz_prod", "keybuzz_reports"], "postgres": ["postgres"]}
    (kept,) = compare_database_owners(owned, ["keybuzz_prod"], {"keybuzz_api_prod": "api"}, "kept")
    assert kept.verdict is Verdict.UNTOUCHED
    assert "keybuzz_reports" in kept.what
    (dropped,) = compare_database_owners(owned, ["keybuzz_prod"], {"keybuzz_api_prod": "api"}, "dropped")
    assert dropped.verdict is Verdict.BLOCKS
    assert "ALTER DATABASE keybuzz_reports OWNER TO" in dropped.fix


def test_sessions_of_unknown_consumers_are_not_listed_with_their_login_or_vault_prefix() -> None:
    vault_user = "v-token-keybuzz--AbCdEfGhIjKlMnOpQrSt-1765000000"
    sessions = [
        Session("keybuzz_api_prod", "keybuzz_prod", "keybuzz-api", "10.0.0.31", False),
        Session("estate_monitor", "keybuzz_prod", "prometheus", "10.0.0.40", False),
        Session(vault_user, "keybuzz_prod", "", "10.0.0.31", False),
        Session("reporting", "keybuzz_prod", "", "10.0.0.50", True),
    ]
    found = {f.subject: f for f in compare_sessions(sessions, {"keybuzz_api_prod", "postgres"}, [])}
    assert found["login keybuzz_api_prod"].verdict is Verdict.TAKEN_OVER
    assert found["login estate_monitor"].verdict is Verdict.NOT_LISTED
    assert found[f"login {vault_user}"].items == ("v-token-keybuzz--",)
    assert found["login reporting"].verdict is Verdict.UNTOUCHED
    line = fix_lines(found.values(), {})["keybuzz:databaseConsumers"]
    assert line == 'keybuzz:databaseConsumers: ["estate_monitor", "v-token-keybuzz--"]'
    again = compare_sessions(sessions, {"keybuzz_api_prod"}, ["estate_monitor", "v-token-keybuzz--"])
    assert all(f.verdict is not Verdict.NOT_LISTED for f in again)


@pytest.mark.parametrize(
    ("login", "consumers", "expected"),
    [
        ("estate_monitor", ["estate_monitor"], True),
        ("estate_monitor2", ["estate_monitor"], False),
        ("v-token-x-abc", ["v-token-"], True),
        ("v-token-x-abc", ["v-tok*"], True),
        ("v-kubernet-x", ["v-token-"], False),
    ],
)
def test_database_consumers_match_logins_or_prefixes(login: str, consumers: list[str], expected: bool) -> None:
    assert covered(login, consumers) is expected


def test_consumer_entry_is_the_vault_prefix_or_the_login() -> None:
    assert consumer_entry("v-kubernet-keybuzz--Q1w2E3r4T5y6U7i8O9p0-1765000000") == "v-kubernet-keybuzz--"
    assert consumer_entry("estate_monitor") == "estate_monitor"


def test_roles_the_program_declares_must_be_adopted_and_legacy_roles_must_exist() -> None:
    found = {f.subject: f for f in compare_roles(["g_owner", "g_reader"], ["old"], ["g_owner", "postgres"], [])}
    assert found["role g_owner"].verdict is Verdict.NOT_LISTED
    assert found["role g_owner"].key == "keybuzz:adoptRoles"
    assert "role g_reader" not in found
    assert found["role old"].verdict is Verdict.BLOCKS


# --- Vault -----------------------------------------------------------------------------------------------

VAULT_PROGRAM = VaultProgram(
    database_mount="database-prod",
    adopted_mounts=(),
    connections=("keybuzz-prod",),
    roles=("keybuzz-api-prod",),
    auth_mount="kubernetes",
    auth_roles=("keybuzz-prod-api",),
    policies=("keybuzz-prod-api",),
    databases=("keybuzz_prod",),
)


def test_vault_collisions_and_an_old_connection_to_the_stack_database() -> None:
    live = VaultLive(
        mounts={"database": "database", "database-prod": "database", "secret": "kv"},
        connections={
            "database": {
                "keybuzz-postgres": (
                    "postgresql://{{username}}:{{password}}@10.0.0.10:5432/keybuzz_prod",
                    ("keybuzz-api",),
                )
            },
            "database-prod": {
                "keybuzz-prod": (
                    "postgresql://{{username}}:{{password}}@10.0.0.10:5432/keybuzz_prod",
                    ("keybuzz-api-prod",),
                )
            },
        },
        roles={"database-prod": ("keybuzz-api-prod", "estate-reader")},
        auth_roles=("keybuzz-prod-api", "keybuzz-api"),
        policies=("default", "keybuzz-prod-api"),
    )
    found = {f.subject: f for f in compare_vault(VAULT_PROGRAM, live)}
    mount = found["mount database-prod"]
    assert mount.verdict is Verdict.NOT_LISTED
    assert fix_lines([mount], {})["keybuzz:adoptVaultMounts"] == 'keybuzz:adoptVaultMounts: ["database-prod"]'
    old = found["connection database/config/keybuzz-postgres"]
    assert old.verdict is Verdict.UNTOUCHED
    assert "keybuzz_prod" in old.detail
    assert found["connection database-prod/config/keybuzz-prod"].verdict is Verdict.TAKEN_OVER
    assert found["role database-prod/roles/estate-reader"].verdict is Verdict.UNTOUCHED
    assert found["auth role kubernetes/role/keybuzz-prod-api"].verdict is Verdict.TAKEN_OVER
    assert "auth role kubernetes/role/keybuzz-api" not in found
    assert found["policy keybuzz-prod-api"].verdict is Verdict.TAKEN_OVER


def test_an_old_connection_to_another_database_on_the_same_postgresql_is_named_too() -> None:
    url = "postgresql://{{username}}:{{password}}@10.0.0.10:5432/postgres?sslmode=require"
    live = VaultLive({"database": "database"}, {"database": {"keybuzz-postgres": (url, ("keybuzz-api",))}}, {}, (), ())
    assert compare_vault(VAULT_PROGRAM, live) == []
    on_lb = VaultProgram(**{**VAULT_PROGRAM.__dict__, "endpoint": "10.0.0.10:5432"})
    (found,) = compare_vault(on_lb, live)
    assert found.verdict is Verdict.UNTOUCHED
    assert found.subject == "connection database/config/keybuzz-postgres"


def test_a_mount_of_another_type_at_the_engine_path_blocks_and_a_listed_missing_one_too() -> None:
    live = VaultLive({"database-prod": "kv"}, {}, {}, (), ())
    (found,) = compare_vault(VAULT_PROGRAM, live)
    assert found.verdict is Verdict.BLOCKS
    adopted = VaultProgram(**{**VAULT_PROGRAM.__dict__, "adopted_mounts": ("database-prod",)})
    (missing,) = compare_vault(adopted, VaultLive({}, {}, {}, (), ()))
    assert missing.verdict is Verdict.BLOCKS


# --- the whole ---------------------------------------------------------------------------------------------


def test_the_worst_verdict_decides_and_fixes_merge_with_the_current_value() -> None:
    taken = Finding("a", "s", "w", Verdict.TAKEN_OVER, "")
    dropped = Finding("a", "s", "x", Verdict.DROPPED, "", key="keybuzz:apiExtraEnvFrom", items=("secret:b",))
    blocks = Finding("a", "s", "y", Verdict.BLOCKS, "")
    assert exit_verdict([taken]) is Verdict.TAKEN_OVER
    assert exit_verdict([taken, dropped]) is Verdict.DROPPED
    assert exit_verdict([dropped, blocks, taken]) is Verdict.BLOCKS
    lines = fix_lines([dropped], {"keybuzz:apiExtraEnvFrom": '["secret:a"]'})
    assert lines == {"keybuzz:apiExtraEnvFrom": 'keybuzz:apiExtraEnvFrom: ["secret:a", "secret:b"]'}
