"""The platform applied for real: `pulumi up` of lab-dev and lab-prod with the real engine, providers, ESO
controller and state backend, then checks on the real servers (PostgreSQL through the LB, OpenBao, the
Kubernetes API). The tests run in file order on one lab: up from nothing, what exists, isolation, what
Vault's database users can do (share, revoke, be read), no-op and one-change previews, locking, rollback,
drift, faults during apply, protection, destroy, and last the search for a leaked secret."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lab import bao
from lab.cluster import Lab
from lab.http import HttpError, Vault
from lab.kube import ready_condition
from lab.node_pg import probe
from lab.procs import wait_for
from lab.program import database_access
from render import Rendering
from tests.e2e.lab_support import (
    CAPTURED,
    commit,
    k8s,
    lab_env,
    ops,
    pulumi,
)

pytestmark = pytest.mark.e2e

ENVS = ("dev", "prod")
#: The platform once the estate is adopted and the apps run on Vault's credentials (cutover phase `dynamic`;
#: the phases themselves are test_lab_adoption.py's): every app database Secret is then ESO's.
PHASE = {"legacyLoginPhase": "dynamic"}
ESO = "/apis/external-secrets.io/v1"
KV = "vault:kv/secretV2:SecretV2"
DATABASE = "postgresql:index/database:Database"
DEFAULT_PRIVILEGES = "postgresql:index/defaultPrivileges:DefaultPrivileges"


@pytest.fixture(scope="module")
def rendered(lab: Lab) -> dict[str, Rendering]:
    """The program rendered under mocks with the lab's endpoints: every name the checks look for."""
    from lab.program import lab_overrides
    from render import render_stack

    return {env: render_stack(f"lab-{env}", lab_overrides(lab, **PHASE)) for env in ENVS}


def lb(lab: Lab) -> str:
    return f"127.0.0.1:{lab.ports.lb_write}"


def sql(lab: Lab, query: str, params: tuple[Any, ...] = (), dbname: str = "postgres") -> list[tuple[Any, ...]]:
    with psycopg.connect(**lab.conninfo(dbname=dbname)) as conn:
        return list(conn.execute(query, params).fetchall())


def table_owner(lab: Lab, database: str, table: str) -> str | None:
    rows = sql(lab, "SELECT tableowner FROM pg_tables WHERE tablename = %s", (table,), dbname=database)
    return str(rows[0][0]) if rows else None


def names(rendering: Rendering, type_: str, key: str = "name") -> list[str]:
    return [r.inputs[key] for r in rendering.of_type(type_)]


def meta(rendering: Rendering, type_: str) -> list[tuple[str, str]]:
    """(namespace, name) of each object of `type_`; an auto-named one (the migrations Job: a new Job per
    change) as (namespace, "?labelSelector=app.kubernetes.io/name=<its name label>")."""
    found = []
    for r in rendering.of_type(type_):
        md = r.inputs["metadata"]
        name = md.get("name") or f"?labelSelector=app.kubernetes.io/name={md['labels']['app.kubernetes.io/name']}"
        found.append((md.get("namespace", ""), name))
    return found


def pg_secrets(rendering: Rendering) -> list[tuple[str, str]]:
    """(namespace, Secret name) of every ExternalSecret that carries database credentials."""
    found = []
    for es in rendering.of_type("kubernetes:external-secrets.io/v1:ExternalSecret"):
        data = (es.inputs["spec"]["target"].get("template") or {}).get("data") or {}
        if "PGHOST" in data:
            found.append((es.inputs["metadata"]["namespace"], es.inputs["spec"]["target"]["name"]))
    return found


class TestPlatformOnTheLab:
    def test_up_of_both_lab_stacks_from_nothing(self, lab: Lab, prog: Path) -> None:
        for env in ENVS:
            for key, value in PHASE.items():
                pulumi(lab, prog, "config", "set", f"keybuzz:{key}", value, "--stack", f"lab-{env}")
            proc = ops(lab, prog, "up", "--stack", f"lab-{env}")
            assert "recorded deployment #1" in proc.stdout

    def test_databases_owner_groups_and_grants(self, lab: Lab, prog: Path, rendered: dict[str, Rendering]) -> None:
        for env, rendering in rendered.items():
            for db in rendering.of_type("postgresql:index/database:Database"):
                name, owner = db.inputs["name"], db.inputs["owner"]
                assert sql(lab, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)) == [
                    (owner,)
                ], f"{env}: {name} not owned by {owner}"
                # PUBLIC may not connect: only the environment's own groups (PH28.2).
                assert sql(lab, "SELECT has_database_privilege('public', %s, 'CONNECT')", (name,)) == [(False,)]
            for dp in rendering.of_type("postgresql:index/defaultPrivileges:DefaultPrivileges"):
                rows = sql(
                    lab,
                    "SELECT count(*) FROM pg_default_acl d JOIN pg_roles r ON r.oid = d.defaclrole "
                    "WHERE r.rolname = %s",
                    (dp.inputs["owner"],),
                    dbname=dp.inputs["database"],
                )
                assert rows[0][0] >= 1, f"no default privileges of {dp.inputs['owner']} in {dp.inputs['database']}"

    def test_vault_mounts_connections_roles_policies_and_auth_roles(
        self, lab: Lab, prog: Path, rendered: dict[str, Rendering]
    ) -> None:
        vault = lab.vault()
        mounts = vault.read("sys/mounts")["data"]
        for env, rendering in rendered.items():
            for path in names(rendering, "vault:index/mount:Mount", "path"):
                assert f"{path}/" in mounts, f"{env}: mount {path}"
            for conn in rendering.of_type("vault:database/secretBackendConnection:SecretBackendConnection"):
                config = vault.read(f"{conn.inputs['backend']}/config/{conn.inputs['name']}")["data"]
                url = config["connection_details"]["connection_url"]
                assert f"@{lb(lab)}/" in url, f"{env}: {url} is not through the LB"
                assert "password" not in config["connection_details"], "the root password is readable"
            for role in rendering.of_type("vault:database/secretBackendRole:SecretBackendRole"):
                vault.read(f"{role.inputs['backend']}/roles/{role.inputs['name']}")
            for policy in names(rendering, "vault:index/policy:Policy"):
                vault.read(f"sys/policies/acl/{policy}")
            for role in names(rendering, "vault:kubernetes/authBackendRole:AuthBackendRole", "roleName"):
                vault.read(f"auth/kubernetes/role/{role}")

    def test_kubernetes_objects_exist(self, lab: Lab, prog: Path, rendered: dict[str, Rendering]) -> None:
        paths = {
            "kubernetes:core/v1:Namespace": "/api/v1/namespaces/{name}",
            "kubernetes:core/v1:ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts/{name}",
            "kubernetes:core/v1:Service": "/api/v1/namespaces/{ns}/services/{name}",
            "kubernetes:apps/v1:Deployment": "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
            "kubernetes:batch/v1:Job": "/apis/batch/v1/namespaces/{ns}/jobs{name}",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy": (
                "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}"
            ),
            "kubernetes:policy/v1:PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}",
            "kubernetes:external-secrets.io/v1:SecretStore": f"{ESO}/namespaces/{{ns}}/secretstores/{{name}}",
            "kubernetes:external-secrets.io/v1:ExternalSecret": f"{ESO}/namespaces/{{ns}}/externalsecrets/{{name}}",
            "kubernetes:generators.external-secrets.io/v1alpha1:VaultDynamicSecret": (
                "/apis/generators.external-secrets.io/v1alpha1/namespaces/{ns}/vaultdynamicsecrets/{name}"
            ),
        }  # fmt: skip
        for rendering in rendered.values():
            for type_, template in paths.items():
                for ns, name in meta(rendering, type_):
                    if type_.endswith(":Job"):
                        assert k8s(lab, template.format(ns=ns, name=name))["items"], f"no Job {name} in {ns}"
                    else:
                        k8s(lab, template.format(ns=ns, name=name))

    def test_every_external_secret_is_ready_and_its_credentials_work_through_the_lb(
        self, lab: Lab, prog: Path, rendered: dict[str, Rendering]
    ) -> None:
        lab.kube.wait_external_secrets_ready()
        for env, rendering in rendered.items():
            for ns, name in pg_secrets(rendering):
                data = lab.kube.secret_data(ns, name)
                assert f"{data['PGHOST']}:{data['PGPORT']}" == lb(lab), f"{ns}/{name} does not point at the LB"
                with psycopg.connect(
                    host=data["PGHOST"], port=data["PGPORT"], dbname=data["PGDATABASE"],
                    user=data["PGUSER"], password=data["PGPASSWORD"], connect_timeout=5,
                ) as conn:  # fmt: skip
                    conn.execute("CREATE TABLE IF NOT EXISTS e2e_probe (env text, at timestamptz DEFAULT now())")
                    conn.execute("INSERT INTO e2e_probe (env) VALUES (%s)", (env,))
                if "DATABASE_URL" in data:
                    with psycopg.connect(data["DATABASE_URL"], connect_timeout=5) as conn:
                        conn.execute("SELECT 1")

    def test_the_apis_own_driver_connects_with_exactly_the_variables_eso_synced(
        self, lab: Lab, prog: Path, rendered: dict[str, Rendering]
    ) -> None:
        """lab-prod's api is a Node app. node-postgres, its driver, given exactly the keys of the Secret ESO
        synced as its environment (`new pg.Client()` with no arguments: lab/node/probe.js), reaches the
        database through the LB over TLS. Issue 18: the lab serves TLS and the stack keeps the shipped
        `postgresSslMode`, so this holds only if the program writes the mode as this driver understands it."""
        [(ns, name)] = [(ns, name) for ns, name in pg_secrets(rendered["prod"]) if ns == "keybuzz-api-prod"]
        data = lab.kube.secret_data(ns, name)
        result = probe(data)
        where = f"{ns}/{name} as the api's environment (PGSSLMODE={data.get('PGSSLMODE')})"
        assert result.ok, f"{where}: {result.describe()}"
        assert (result.session_user, result.database, result.ssl) == (data["PGUSER"], data["PGDATABASE"], True)

    def test_dev_and_prod_credentials_cannot_cross(self, lab: Lab, prog: Path, rendered: dict[str, Rendering]) -> None:
        creds = {
            env: [lab.kube.secret_data(ns, name) for ns, name in pg_secrets(rendering)]
            for env, rendering in rendered.items()
        }
        for env, other in (("dev", "prod"), ("prod", "dev")):
            for mine in creds[env]:
                for theirs in creds[other]:
                    with pytest.raises(psycopg.OperationalError, match=r"CONNECT privilege|permission denied"):
                        psycopg.connect(
                            host=mine["PGHOST"], port=mine["PGPORT"], dbname=theirs["PGDATABASE"],
                            user=mine["PGUSER"], password=mine["PGPASSWORD"], connect_timeout=5,
                        )  # fmt: skip

    def test_every_service_accounts_vault_login_reads_only_its_own_environment(
        self, lab: Lab, prog: Path, rendered: dict[str, Rendering]
    ) -> None:
        """Each Kubernetes auth role, logged in with its service account's token: 403 on every credentials and
        KV path of the other environment; the api's own credentials are readable (the control)."""
        vault = lab.vault()

        def login(role: Any) -> Vault:
            ns = role.inputs["boundServiceAccountNamespaces"][0]
            sa = role.inputs["boundServiceAccountNames"][0]
            # A token for the API server's own audience (what ESO got before it asked for one) is refused: the
            # role checks its `audience` (issue 17 item 9); a token for Vault's audience, as ESO asks, logs in.
            with pytest.raises(HttpError):
                vault.write("auth/kubernetes/login", {"role": role.inputs["roleName"],
                                                      "jwt": lab.kube.service_account_token(ns, sa)})  # fmt: skip
            jwt = lab.kube.service_account_token(ns, sa, audiences=[role.inputs["audience"]])
            auth = vault.write("auth/kubernetes/login", {"role": role.inputs["roleName"], "jwt": jwt})
            return vault.with_token(auth["auth"]["client_token"])

        def paths(rendering: Rendering) -> list[str]:
            creds = [g.inputs["spec"]["path"] for g in rendering.of_type(
                "kubernetes:generators.external-secrets.io/v1alpha1:VaultDynamicSecret")]  # fmt: skip
            kv = [f"{s.inputs['mount']}/data/{s.inputs['name']}" for s in rendering.of_type(KV)]
            return creds + kv

        for env, other in (("dev", "prod"), ("prod", "dev")):
            foreign = paths(rendered[other])
            assert foreign, f"no {other} path in the rendering"
            roles = rendered[env].of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
            for role in roles:
                client = login(role)
                if role.inputs["roleName"].endswith("-api"):
                    own = [p for p in paths(rendered[env]) if f"-{env}/creds/" in p and p.endswith(f"api-{env}")]
                    assert own, f"no {env} api credentials path in the rendering"
                    client.read(own[0])  # the control: its own credentials are readable
                for path in foreign:
                    with pytest.raises(HttpError) as denied:
                        client.read(path)
                    assert denied.value.status == 403, f"{role.inputs['roleName']} read {path}: {denied.value}"
            assert any(r.inputs["roleName"].endswith("-api") for r in roles), f"{env} has no api auth role"

    def test_vault_users_share_what_they_create_and_are_revoked_cleanly(
        self, lab: Lab, prog: Path, rendered: dict[str, Rendering]
    ) -> None:
        """Every Vault database role, as the engine applied it: what one user creates belongs to the database's
        owner group, so a later user of the role writes to it; revoking a user drops it and leaves the objects
        and the other users working, even a table it created as itself after RESET ROLE (vault#1857)."""
        vault = lab.vault()
        for env, rendering in rendered.items():
            accesses = database_access(rendering)
            assert accesses, f"the {env} rendering declares no app database access"
            for access in accesses:
                owner = rendering.one(DATABASE, name=access.database).inputs["owner"]
                table = f"shared_{uuid.uuid4().hex[:10]}"
                first = bao.issue(vault, access.mount, access.role)
                assert first.lease_duration == access.default_ttl
                with first.connect(access.port, access.database, autocommit=True) as conn:
                    # No serial column: a sequence an app creates gets the reader group's SELECT (default
                    # privileges) and nothing revokes it, so the destroy test below could not drop the group.
                    conn.execute(f"CREATE TABLE {table} (n int PRIMARY KEY, by_user text)")
                    conn.execute(f"INSERT INTO {table} VALUES (1, session_user)")
                    conn.execute("RESET ROLE")
                    conn.execute(f"CREATE TABLE {table}_own (v int)")  # owned by the user itself
                later = bao.issue(vault, access.mount, access.role)
                with later.connect(access.port, access.database, autocommit=True) as conn:
                    conn.execute(f"INSERT INTO {table} VALUES (2, session_user)")
                    users = [r[0] for r in conn.execute(f"SELECT by_user FROM {table} ORDER BY n").fetchall()]
                assert users == [first.username, later.username], access.vault_path
                assert table_owner(lab, access.database, table) == owner

                bao.revoke(vault, first.lease_id)
                assert not bao.role_exists(lab.conninfo(), first.username), f"{access.vault_path}: not dropped"
                assert table_owner(lab, access.database, table) == owner
                assert table_owner(lab, access.database, f"{table}_own") == owner  # reassigned, not dropped
                with later.connect(access.port, access.database, autocommit=True) as conn:
                    conn.execute(f"INSERT INTO {table} VALUES (3, 'after the first was revoked')")
                bao.revoke(vault, later.lease_id)
                assert not bao.role_exists(lab.conninfo(), later.username)
                with pytest.raises(psycopg.OperationalError):
                    later.connect(access.port, access.database).close()

    def test_reader_groups_read_what_the_apps_create_and_cannot_write(
        self, lab: Lab, prog: Path, rendered: dict[str, Rendering]
    ) -> None:
        """The default privileges the program declares, on a table an app's Vault user creates."""
        vault = lab.vault()
        checked = 0
        for rendering in rendered.values():
            for access in database_access(rendering):
                readers = [
                    d.inputs["role"]
                    for d in rendering.of_type(DEFAULT_PRIVILEGES)
                    if d.inputs["database"] == access.database and d.inputs["objectType"] == "table"
                ]
                cred = bao.issue(vault, access.mount, access.role)
                table = f"readable_{uuid.uuid4().hex[:10]}"
                with cred.connect(access.port, access.database, autocommit=True) as conn:
                    conn.execute(f"CREATE TABLE {table} (v int)")
                    conn.execute(f"INSERT INTO {table} VALUES (1)")
                for reader in readers:
                    with psycopg.connect(**lab.conninfo(dbname=access.database), autocommit=True) as conn:
                        conn.execute(f'SET ROLE "{reader}"')
                        assert conn.execute(f"SELECT v FROM {table}").fetchall() == [(1,)]
                        with pytest.raises(psycopg.errors.InsufficientPrivilege):
                            conn.execute(f"INSERT INTO {table} VALUES (2)")
                    checked += 1
                bao.revoke(vault, cred.lease_id)
        assert checked, "no reader group with default privileges on an app database"

    def test_a_second_up_changes_nothing(self, lab: Lab, prog: Path) -> None:
        for env in ENVS:
            pulumi(lab, prog, "preview", "--stack", f"lab-{env}", "--expect-no-changes")

    def test_an_image_tag_change_previews_as_exactly_one_update(self, lab: Lab, prog: Path) -> None:
        stack = "lab-dev"
        before = pulumi(lab, prog, "config", "get", "keybuzz:apiImageTag", "--stack", stack).stdout.strip()
        pulumi(lab, prog, "config", "set", "keybuzz:apiImageTag", "v0.1.73-dev", "--stack", stack)
        try:
            steps = json.loads(pulumi(lab, prog, "preview", "--stack", stack, "--json").stdout)["steps"]
        finally:
            pulumi(lab, prog, "config", "set", "keybuzz:apiImageTag", before, "--stack", stack)
        changed = [(s["op"], s["urn"].rsplit("::", 1)[1]) for s in steps if s["op"] != "same"]
        assert changed == [("update", "keybuzz-dev-api-deployment")], changed

    def test_a_second_concurrent_up_of_the_same_stack_is_refused(self, lab: Lab, prog: Path) -> None:
        from lab.state import state_rows

        env = lab_env(lab)
        first = subprocess.Popen(
            ["pulumi", "up", "--yes", "--stack", "lab-prod", "--non-interactive", "--refresh"],
            cwd=prog, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: any("/locks/" in key for key, _ in state_rows(lab)), 60, "the first up's lock row", 0.1)
            second = pulumi(lab, prog, "up", "--yes", "--stack", "lab-prod", expect=None)
        finally:
            out, _ = first.communicate(timeout=600)
            CAPTURED.append(out)
        assert first.returncode == 0, out[-3000:]
        assert second.returncode != 0
        assert "currently locked" in second.stderr + second.stdout, second.stderr[-2000:]
        assert not any("/locks/" in key for key, _ in state_rows(lab)), "a lock was left behind"

    def test_rollback_restores_the_earlier_deployment(self, lab: Lab, prog: Path) -> None:
        stack = "lab-dev"
        vault = lab.vault()
        v1_image = self._api_image(lab)
        v1_env = vault.read("secret/data/keybuzz/dev/api/env")["data"]["data"]
        pulumi(lab, prog, "config", "set", "keybuzz:apiImageTag", "v0.1.74-dev", "--stack", stack)
        new_env = json.dumps({"api": {**v1_env, "FEATURE_FLAG": "on"}})
        proc = subprocess.run(
            ["pulumi", "config", "set", "--secret", "keybuzz:appSecretEnv", "--stack", stack, "--non-interactive"],
            cwd=prog, env=lab_env(lab), input=new_env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        CAPTURED.append(proc.stdout + proc.stderr)
        commit(prog, "v2: api v0.1.74-dev with FEATURE_FLAG")
        ops(lab, prog, "up", "--stack", stack)
        assert self._api_image(lab).endswith(":v0.1.74-dev")
        assert vault.read("secret/data/keybuzz/dev/api/env")["data"]["data"].get("FEATURE_FLAG") == "on"
        rows_before = sql(lab, "SELECT count(*) FROM e2e_probe", dbname="keybuzz")

        history = json.loads(ops(lab, prog, "history", "--stack", stack, "--json").stdout)
        assert [d["number"] for d in history][-2:] == [1, 2]
        proc = ops(lab, prog, "rollback", "--stack", stack, "--to", "1", "--yes")
        assert "rollback of stack 'lab-dev' to deployment #1" in proc.stdout
        assert self._api_image(lab) == v1_image
        # appSecretEnv is a secret: a rollback keeps the current one (v2's), it never restores a recorded one.
        assert vault.read("secret/data/keybuzz/dev/api/env")["data"]["data"] == {**v1_env, "FEATURE_FLAG": "on"}
        assert "kept at their current value" in proc.stdout
        assert "keybuzz:appSecretEnv" in proc.stdout
        assert sql(lab, "SELECT count(*) FROM e2e_probe", dbname="keybuzz") == rows_before  # data untouched
        # Back to the checkout's v1 config for the following tests.
        proc = subprocess.run(
            ["pulumi", "config", "set", "--secret", "keybuzz:appSecretEnv", "--stack", stack, "--non-interactive"],
            cwd=prog, env=lab_env(lab), input=json.dumps({"api": v1_env}), capture_output=True, text=True, check=True,
        )  # fmt: skip
        pulumi(lab, prog, "config", "set", "keybuzz:apiImageTag", v1_image.rsplit(":", 1)[1], "--stack", stack)
        ops(lab, prog, "up", "--stack", stack)  # the KV secret back to v1's: only an up changes a secret
        pulumi(lab, prog, "preview", "--stack", stack, "--expect-no-changes")

    @staticmethod
    def _deployment(lab: Lab) -> dict[str, Any]:
        return dict(k8s(lab, "/apis/apps/v1/namespaces/keybuzz-api-dev/deployments/keybuzz-api"))

    def _api_image(self, lab: Lab) -> str:
        return str(self._deployment(lab)["spec"]["template"]["spec"]["containers"][0]["image"])

    def test_drift_made_through_the_kubernetes_api_is_reported(self, lab: Lab, prog: Path) -> None:
        path = "/apis/apps/v1/namespaces/keybuzz-api-dev/deployments/keybuzz-api"
        status, body = lab.kube.request("GET", path)
        assert status == 200
        body["spec"]["replicas"] = int(body["spec"].get("replicas") or 1) + 2
        status, body = lab.kube.request("PUT", path, body)
        assert status == 200, body
        proc = ops(lab, prog, "drift", "--stack", "lab-dev", expect=4)
        assert "DRIFT on stack 'lab-dev'" in proc.stdout
        assert "keybuzz-dev-api-deployment" in proc.stdout
        assert "ops up --refresh --stack lab-dev" in proc.stdout
        ops(lab, prog, "up", "--refresh", "--stack", "lab-dev")  # put it back, as the fix line says
        ops(lab, prog, "drift", "--stack", "lab-dev")
        assert self._deployment(lab)["spec"]["replicas"] == body["spec"]["replicas"] - 2

    @pytest.mark.parametrize("fault", ["switchover", "leader-kill", "openbao-restart"])
    def test_a_fault_in_the_middle_of_up_converges(self, lab: Lab, prog: Path, fault: str) -> None:
        stack = "lab-prod"
        ttl = {"switchover": "1800", "leader-kill": "2400", "openbao-restart": "3000"}[fault]
        pulumi(lab, prog, "config", "set", "keybuzz:credentialTtlSeconds", ttl, "--stack", stack)
        pulumi(lab, prog, "config", "set", "keybuzz:secretRefreshSeconds", "600", "--stack", stack)
        leader = lab.leader()
        assert leader
        errors: list[BaseException] = []

        def fail_over() -> None:
            from lab.state import state_rows

            try:
                # 2 s into the up, counted from its lock row rather than from the start: seen once (leader
                # kill, lab with TLS), the engine stopped at a bare "error: EOF" and left its lock without
                # saying so. Most likely the kill cut the lock row's write after it committed: the engine's
                # Lock (pkg/backend/diy/lock.go) returns WriteAll's error as is, with no clean-up. Not what
                # this test is about (the refresh through a failover); it waits until the lock is taken.
                wait_for(lambda: any("/locks/" in key for key, _ in state_rows(lab)), 120, "the up's lock row", 0.05)
                time.sleep(2.0)
                if fault == "switchover":
                    lab.switchover(leader)
                elif fault == "leader-kill":
                    lab.stop_leader(leader, signal.SIGKILL)
                else:
                    lab.restart_bao()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=fail_over)
        thread.start()
        # --refresh: the engine reads every resource back (through the LB) while the leader changes.
        first = pulumi(lab, prog, "up", "--yes", "--refresh", "--stack", stack, expect=None)
        thread.join()
        assert not errors, errors
        if fault == "leader-kill":
            lab.restart_node(leader)
        lab.wait_healthy(120)
        first_out = first.stdout + first.stderr
        if first.returncode != 0:  # a clear error, not a crash
            assert "error:" in first_out
            assert "panic" not in first_out
        second = pulumi(lab, prog, "up", "--yes", "--stack", stack, expect=None)
        if "currently locked" in second.stdout + second.stderr:
            # The state connection dropped while the engine released its lock: it said so, and the
            # runbook's recovery (no other `up` running: `pulumi cancel`) clears it.
            assert "manual clean up may be required" in first_out, first_out[-3000:]
            pulumi(lab, prog, "cancel", "--yes", "--stack", stack)
            second = pulumi(lab, prog, "up", "--yes", "--stack", stack, expect=None)
        if second.returncode != 0:  # a lost connection can need one more run; never more
            pulumi(lab, prog, "up", "--yes", "--stack", stack)
        pulumi(lab, prog, "preview", "--stack", stack, "--expect-no-changes")
        # The state in PostgreSQL is intact and nothing is duplicated: one checkpoint per stack, every
        # resource once.
        exported = json.loads(pulumi(lab, prog, "stack", "export", "--stack", stack).stdout)
        urns = [r["urn"] for r in exported["deployment"]["resources"]]
        assert len(urns) == len(set(urns))
        vault_roles = lab.vault().call("LIST", "database-prod/roles")["data"]["keys"]
        assert len(vault_roles) == len(set(vault_roles))

    def test_destroying_prod_is_refused_before_anything_is_deleted(
        self, lab: Lab, prog: Path, rendered: dict[str, Rendering]
    ) -> None:
        """The destroy guard (keybuzz:decommission unset) refuses before the engine deletes anything: before,
        the destroy deleted everything but the protected database, and an `up` had to bring it back."""
        # --skip-preview: the preview alone would already fail at the protected database and mount (nothing
        # deleted either); the engine's deletes are what the guard stands before.
        proc = pulumi(lab, prog, "destroy", "--yes", "--skip-preview", "--stack", "lab-prod", expect=None)
        assert proc.returncode != 0
        assert "destroy of stack 'lab-prod' refused before anything was deleted" in proc.stdout + proc.stderr
        for name in names(rendered["prod"], "postgresql:index/database:Database"):
            assert sql(lab, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)) == [(1,)]
        pulumi(lab, prog, "preview", "--stack", "lab-prod", "--expect-no-changes")  # nothing was removed

    def test_destroying_lab_dev_keeps_its_data_and_leaves_lab_prod_intact(
        self, lab: Lab, prog: Path, rendered: dict[str, Rendering]
    ) -> None:
        dev_databases = names(rendered["dev"], "postgresql:index/database:Database")
        rows = sql(lab, "SELECT count(*) FROM e2e_probe", dbname="keybuzz")
        refused = pulumi(lab, prog, "destroy", "--yes", "--skip-preview", "--stack", "lab-dev", expect=None)
        assert refused.returncode != 0
        assert "refused before anything was deleted" in refused.stdout + refused.stderr
        # Approved (docs/runbook-decommissioning.md): everything but the data goes; DEV's databases (and what
        # they need) stay, rows and all.
        pulumi(lab, prog, "config", "set", "keybuzz:decommission", "true", "--stack", "lab-dev")
        pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", "lab-dev")
        pulumi(lab, prog, "destroy", "--yes", "--exclude-protected", "--stack", "lab-dev")
        for name in dev_databases:
            assert sql(lab, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)) == [(1,)], name
        assert sql(lab, "SELECT count(*) FROM e2e_probe", dbname="keybuzz") == rows
        for name in names(rendered["prod"], "postgresql:index/database:Database"):
            assert sql(lab, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)) == [(1,)]
        pulumi(lab, prog, "preview", "--stack", "lab-prod", "--expect-no-changes")
        prod_secrets = [s for s in k8s(lab, "/apis/external-secrets.io/v1/externalsecrets")["items"]
                        if s["metadata"]["namespace"].endswith("-prod")]  # fmt: skip
        assert prod_secrets
        assert all(ready_condition(s)[0] for s in prod_secrets)

    def test_no_secret_of_the_lab_appears_in_plaintext(self, lab: Lab, prog: Path) -> None:
        from lab.config import generated_secret
        from lab.stacks import vault_db_secret
        from lab.state import state_rows

        secrets = {
            "PostgreSQL admin password": lab.secrets.superuser_password,
            "Vault token": lab.secrets.bao_root_token,
            **{f"vault login password ({env})": generated_secret(lab.layout, vault_db_secret(env)) for env in ENVS},
        }
        places: dict[str, str] = {f"state row {key}": data for key, data in state_rows(lab)}
        places.update({f"stack file {p.name}": p.read_text() for p in prog.glob("Pulumi.*.yaml")})
        places.update({f"command output #{i}": out for i, out in enumerate(CAPTURED)})
        for kind in ("configmaps", "serviceaccounts", "services", "events"):
            places[f"kubernetes {kind}"] = json.dumps(k8s(lab, f"/api/v1/{kind}"))
        for group, kind in (("apps/v1", "deployments"), ("batch/v1", "jobs"),
                            ("external-secrets.io/v1", "externalsecrets"), ("external-secrets.io/v1", "secretstores"),
                            ("generators.external-secrets.io/v1alpha1", "vaultdynamicsecrets")):  # fmt: skip
            places[f"kubernetes {kind}"] = json.dumps(k8s(lab, f"/apis/{group}/{kind}"))
        # Secrets other than those ESO writes (it writes the apps' credentials, by design).
        eso_owned = {
            (s["metadata"]["namespace"], s["spec"]["target"]["name"])
            for s in k8s(lab, "/apis/external-secrets.io/v1/externalsecrets")["items"]
        }
        for item in k8s(lab, "/api/v1/secrets")["items"]:
            if (item["metadata"]["namespace"], item["metadata"]["name"]) not in eso_owned:
                places[f"secret {item['metadata']['namespace']}/{item['metadata']['name']}"] = json.dumps(item)
        assert len(CAPTURED) > 10, "the tests above captured their command output"
        leaks = [(what, where) for what, value in secrets.items() for where, text in places.items() if value in text]
        assert not leaks, leaks
