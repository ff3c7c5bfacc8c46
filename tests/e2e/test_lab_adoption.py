"""Adopting the live estate, on the lab (issue 12): docs/runbook-adopting-the-estate.md followed step by step.

The lab is seeded like the estate (lab/estate.py): legacy login roles owning tables with data, Prisma's
``_prisma_migrations`` and an enum, the apps' hand-made database Secrets, the ``vault`` SecretStores and
the ``keybuzz-<app>`` Deployments. A legacy session stays connected through the first `up`, as a running
app's would. The tests run in file order: without upsert the first preview stops at AlreadyExists; with
it, the first `up` adopts everything with no delete and no replace, the legacy logins keep working and
Vault's users read and write every existing table; then the cutover phases (dynamic, refused, dropped)
each previewed and applied, `refused` only once the operator ended the legacy sessions it names; last, one
connection's rotate-root leaves every connection working.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lab.cluster import Lab
from lab.estate import estate_databases, legacy_password
from lab.http import HttpError
from lab.procs import wait_for
from tests.e2e.lab_support import k8s, pulumi

pytestmark = pytest.mark.e2e

ENVS = ("dev", "prod")
DEPLOYMENTS = {"dev": ["keybuzz-api-dev", "keybuzz-backend-dev"], "prod": ["keybuzz-api-prod", "keybuzz-client-prod"]}


def stack(env: str) -> str:
    return f"lab-{env}"


def connect(lab: Lab, user: str, password: str, database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(**lab.conninfo(dbname=database, user=user, password=password), connect_timeout=5)


def legacy_logins(env: str) -> dict[str, list[str]]:
    """legacy role -> the adopted databases it uses, from the shipped stack."""
    found: dict[str, list[str]] = {}
    for database, roles in estate_databases(env).values():
        for role in roles:
            found.setdefault(role, []).append(database)
    return found


def table_owners(lab: Lab, database: str) -> dict[str, str]:
    with psycopg.connect(**lab.conninfo(dbname=database)) as conn:
        rows = conn.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    return dict(rows)


def deployment(lab: Lab, namespace: str) -> dict[str, Any]:
    name = "keybuzz-" + namespace.removeprefix("keybuzz-").rsplit("-", 1)[0]
    return dict(k8s(lab, f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"))


def dynamic_credentials(lab: Lab, env: str, app: str) -> dict[str, Any]:
    return dict(lab.vault().read(f"database-{env}/creds/keybuzz-{app}-{env}")["data"])


def changes(lab: Lab, prog: Path, env: str) -> dict[str, int]:
    history = json.loads(pulumi(lab, prog, "stack", "history", "--json", "--stack", stack(env)).stdout)
    return dict(history[0].get("resourceChanges") or {})


def set_phase(lab: Lab, prog: Path, env: str, phase: str) -> None:
    pulumi(lab, prog, "config", "set", "keybuzz:legacyLoginPhase", phase, "--stack", stack(env))


@pytest.fixture(scope="module")
def held(lab: Lab, prog: Path) -> Iterator[dict[str, psycopg.Connection[Any]]]:
    """A session per legacy login, opened before the first up and held through it (a running app)."""
    sessions = {}
    for env in ENVS:
        for role, databases in legacy_logins(env).items():
            sessions[role] = connect(lab, role, legacy_password(lab, role), databases[0])
            sessions[role].autocommit = True
    yield sessions
    for conn in sessions.values():
        conn.close()


@pytest.mark.usefixtures("held")
class TestAdoptingTheEstate:
    uids: dict[str, str] = {}

    def test_the_first_preview_imports_transfers_ownership_and_deletes_nothing(self, lab: Lab, prog: Path) -> None:
        for env in ENVS:
            for namespace in DEPLOYMENTS[env]:
                self.uids[namespace] = deployment(lab, namespace)["metadata"]["uid"]
        out = pulumi(lab, prog, "preview", "--stack", "lab-prod").stdout
        assert re.search(r"=\s+postgresql:index:Database\s+\S+\s+import", out), out[-3000:]
        assert re.search(r"\+\s+pulumi-python:dynamic:Resource\s+\S+keybuzz_prod-ownership\s+create", out)
        assert re.search(r"\+\s+pulumi-python:dynamic:Resource\s+\S+legacy-keybuzz_api_prod\s+create", out)
        assert not re.search(r"^.*\b(delete|replace)\b.*$", out, re.M), re.findall(
            r"^.*\b(?:delete|replace)\b.*$", out, re.M
        )

    def test_without_upsert_the_first_up_stops_at_the_existing_deployment(self, lab: Lab, prog: Path) -> None:
        """Today's main: pulumi-kubernetes 4.32 refuses to create an object the estate already runs."""
        pulumi(lab, prog, "config", "set", "keybuzz:kubernetesUpsertExisting", "false", "--stack", "lab-prod")
        proc = pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", "lab-prod", expect=None)
        pulumi(lab, prog, "config", "set", "keybuzz:kubernetesUpsertExisting", "true", "--stack", "lab-prod")
        assert proc.returncode != 0
        out = proc.stdout + proc.stderr
        # Whichever of PROD's estate objects the program declares the engine reaches first (their order is
        # the graph's, not fixed): the Deployments keybuzz-api and keybuzz-client, or the SecretStore vault.
        refused = re.findall(
            r'(deployments\.apps "keybuzz-(?:api|client)"|secretstores\.external-secrets\.io "vault") already exists',
            out,
        )
        assert refused, out[-3000:]
        assert "set upsertExistingObjects on the provider" in out

    def test_with_upsert_the_first_up_adopts_with_no_delete_and_no_replace(self, lab: Lab, prog: Path) -> None:
        for env in ENVS:
            pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", stack(env))
            done = changes(lab, prog, env)
            assert done.get("delete", 0) == 0
            assert done.get("replace", 0) == 0
        assert changes(lab, prog, "dev").get("import", 0) >= 4  # two databases, two namespaces
        for namespace, uid in self.uids.items():
            live = deployment(lab, namespace)
            assert live["metadata"]["uid"] == uid  # the same object, updated in place
            containers = live["spec"]["template"]["spec"]["containers"]
            assert [c["name"] for c in containers] == [live["metadata"]["name"]]  # taken over, not doubled

    def test_the_legacy_logins_kept_working_through_the_up(
        self, lab: Lab, held: dict[str, psycopg.Connection[Any]]
    ) -> None:
        for env in ENVS:
            for role, databases in legacy_logins(env).items():
                session = held[role]
                assert session.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
                for database in databases:  # a new connection too: CONNECT survived PUBLIC's revoke
                    with connect(lab, role, legacy_password(lab, role), database) as conn:
                        table = "tenants" if "tenants" in table_owners(lab, database) else "marketplace_connections"
                        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] >= 1  # type: ignore[index]

    def test_the_owner_group_owns_every_existing_table(self, lab: Lab) -> None:
        for env in ENVS:
            for app, (database, _) in estate_databases(env).items():
                owners = table_owners(lab, database)
                assert owners
                assert set(owners.values()) == {f"keybuzz_{app}_{env}_owner"}, owners

    def test_vault_users_read_and_write_every_existing_table_and_the_migrations(self, lab: Lab) -> None:
        for env in ENVS:
            for app, (database, _) in estate_databases(env).items():
                creds = dynamic_credentials(lab, env, app)
                with connect(lab, creds["username"], creds["password"], database) as conn:
                    for table in table_owners(lab, database):
                        conn.execute(f'SELECT * FROM "{table}" LIMIT 1')
                    if app == "api":
                        conn.execute("INSERT INTO conversations (tenant_id, subject) VALUES ('kbz-001', 'vault')")
                        conn.execute("UPDATE tenants SET name = name")
                    else:
                        conn.execute('UPDATE "_prisma_migrations" SET applied_steps_count = applied_steps_count + 1')
                        conn.execute("INSERT INTO marketplace_connections (kind, status) VALUES ('amazon', 'NEW')")
                        conn.execute("CREATE TABLE after_adoption (id int)")  # a migration's new table
                    conn.commit()
                lab.vault().write(f"sys/leases/revoke-prefix/database-{env}/creds/keybuzz-{app}-{env}")
        assert table_owners(lab, "keybuzz_backend")["after_adoption"] == "keybuzz_backend_dev_owner"

    def test_phase_dynamic_moves_the_apps_onto_vault_credentials(self, lab: Lab, prog: Path) -> None:
        for env in ENVS:
            set_phase(lab, prog, env, "dynamic")
            diff = pulumi(lab, prog, "preview", "--diff", "--stack", stack(env)).stdout
            assert '"kept" => "dynamic"' in diff
            pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", stack(env))
        lab.kube.wait_external_secrets_ready()
        secret = lab.kube.secret_data("keybuzz-api-prod", "keybuzz-api-postgres")
        assert secret["PGUSER"] != "keybuzz_api_prod"
        with connect(lab, secret["PGUSER"], secret["PGPASSWORD"], secret["PGDATABASE"]) as conn:
            conn.execute("INSERT INTO conversations (tenant_id, subject) VALUES ('kbz-001', 'eso')")
        annotations = deployment(lab, "keybuzz-api-prod")["spec"]["template"]["metadata"]["annotations"]
        assert annotations["keybuzz.io/database-credentials"] == "vault"
        with connect(lab, "keybuzz_api_prod", legacy_password(lab, "keybuzz_api_prod"), "keybuzz_prod"):
            pass  # still allowed: the rollback path of this phase

    def test_phase_refused_waits_for_the_operator_to_end_the_legacy_sessions(
        self, lab: Lab, prog: Path, held: dict[str, psycopg.Connection[Any]]
    ) -> None:
        """Issue 17 item 6: a legacy session is still connected (held since before phase 1), so `refused` is
        refused, names it and cuts nothing; the operator ends what it names (the statement it gives), re-runs
        `up`, and only then are the logins refused. Before, the up ended every session of the roles itself."""
        fix = re.compile(r"SELECT pg_terminate_backend\(pid\) FROM pg_stat_activity WHERE usename = '\w+';")
        for env in ENVS:
            set_phase(lab, prog, env, "refused")
            roles, refusals = legacy_logins(env), 0
            while (
                proc := pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", stack(env), expect=None)
            ).returncode:
                refusals += 1  # each refusal names at least one role with sessions, which the operator ends
                assert refusals <= len(roles), f"{env}: still refused after ending every session it named"
                out = proc.stdout + proc.stderr
                assert "phase refused refused, nothing was changed" in out, out[-3000:]
                named = [r for r in roles if f"pid {held[r].info.backend_pid}, " in out]
                assert named, out[-3000:]
                for role in named:
                    assert held[role].execute("SELECT 1").fetchone() == (1,)  # not cut by the program
                    with connect(lab, role, legacy_password(lab, role), roles[role][0]):
                        pass  # and still logs in
                with psycopg.connect(**lab.conninfo(), autocommit=True) as admin:
                    for statement in set(fix.findall(out)):  # the operator's decision, as the message spells it
                        admin.execute(statement)  # type: ignore[arg-type]
            assert refusals > 0  # the held sessions were there: the first up was refused
        for env in ENVS:
            for role, databases in legacy_logins(env).items():
                with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
                    connect(lab, role, legacy_password(lab, role), databases[0])
        secret = lab.kube.secret_data("keybuzz-backend-dev", "keybuzz-backend-db")
        with connect(lab, secret["PGUSER"], secret["PGPASSWORD"], secret["PGDATABASE"]) as conn:
            assert conn.execute('SELECT count(*) FROM "_prisma_migrations"').fetchone()[0] == 1  # type: ignore[index]

    def test_phase_dropped_removes_the_legacy_roles_and_keeps_the_data(self, lab: Lab, prog: Path) -> None:
        for env in ENVS:
            set_phase(lab, prog, env, "dropped")
            pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", stack(env))
        with psycopg.connect(**lab.conninfo()) as conn:
            left = conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname IN ('keybuzz_api_dev', 'kb_backend', 'keybuzz_api_prod')"
            ).fetchall()
        assert left == []
        with psycopg.connect(**lab.conninfo(dbname="keybuzz")) as conn:
            assert conn.execute("SELECT count(*) FROM tenants").fetchone()[0] == 2  # type: ignore[index]
        for env in ENVS:
            pulumi(lab, prog, "preview", "--expect-no-changes", "--stack", stack(env))

    def test_rotating_one_connections_root_leaves_every_connection_working(self, lab: Lab) -> None:
        """The scheduled job's login (its service account, its Vault role) rotates one DEV connection; both
        DEV connections still issue and revoke, and that login cannot touch PROD's."""
        # What the job's projected volume holds: a token for Vault's audience (components/vault_rotation.py).
        token = lab.kube.service_account_token("keybuzz-ops-dev", "keybuzz-vault-rotate-root", audiences=["vault"])
        vault = lab.vault()
        login = vault.write("auth/kubernetes/login", {"role": "keybuzz-dev-rotate-root", "jwt": token})
        job = vault.with_token(login["auth"]["client_token"])
        job.write("database-dev/rotate-root/keybuzz")
        for app in ("api", "backend"):  # each connection still issues, and revokes (the user is dropped)
            issued = lab.vault().read(f"database-dev/creds/keybuzz-{app}-dev")
            user, database = issued["data"]["username"], estate_databases("dev")[app][0]
            with connect(lab, user, issued["data"]["password"], database) as conn:
                conn.execute("SELECT 1")
            vault.write("sys/leases/revoke", {"lease_id": issued["lease_id"]})

            def dropped(user: str = user) -> bool:
                with psycopg.connect(**lab.conninfo()) as conn:
                    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone() is None

            wait_for(dropped, 30, f"{user} dropped by its revocation after the rotation", 1)
        with pytest.raises(HttpError) as refused:
            job.write("database-prod/rotate-root/keybuzz-prod")
        assert refused.value.status == 403
