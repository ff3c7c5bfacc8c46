"""Issue 17 items 5 and 7 on the lab, lab-dev only (two `up`s): consumers the stack does not list keep
connecting through the adoption's first phase, a destroy is refused before anything is deleted, and an
approved destroy (docs/runbook-decommissioning.md) leaves everything the estate had live and working.
The tests run in file order, on one lab-dev.

The lab is seeded like the estate (lab/estate.py); before the first `up`, two consumers the shipped stack does
not list connect to DEV's databases, as on the estate: a monitoring login and a user named like those the
estate's own Vault connection still issues (``v-…``, PH16). Their sessions stay open through the `up`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lab.cluster import Lab
from lab.estate import estate_databases, legacy_password
from tests.e2e.lab_support import k8s, ops, pulumi

pytestmark = pytest.mark.e2e

STACK = "lab-dev"
NAMESPACES = ("keybuzz-api-dev", "keybuzz-backend-dev")
#: The estate's objects in each adopted namespace (lab/estate.py): kind path -> names.
ESTATE_OBJECTS = {
    "keybuzz-api-dev": {
        "/apis/apps/v1/namespaces/keybuzz-api-dev/deployments": ["keybuzz-api"],
        "/api/v1/namespaces/keybuzz-api-dev/secrets": ["keybuzz-api-postgres"],
        "/apis/external-secrets.io/v1/namespaces/keybuzz-api-dev/secretstores": ["vault"],
    },
    "keybuzz-backend-dev": {
        "/apis/apps/v1/namespaces/keybuzz-backend-dev/deployments": ["keybuzz-backend"],
        "/api/v1/namespaces/keybuzz-backend-dev/secrets": ["keybuzz-backend-db"],
        "/apis/external-secrets.io/v1/namespaces/keybuzz-backend-dev/secretstores": ["vault"],
    },
}
MONITORING = "kb_monitoring"
#: Named as Vault's default username template names a user of the estate's old connection (PH16).
VAULT_ISSUED = "v-token-keybuzz-api-Xq3LmT0bKp9RzW1c8YhN-1733550000"


def connect(lab: Lab, user: str, password: str, database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(**lab.conninfo(dbname=database, user=user, password=password), connect_timeout=5)


def sql(lab: Lab, query: str, params: tuple[Any, ...] = (), dbname: str = "postgres") -> list[tuple[Any, ...]]:
    with psycopg.connect(**lab.conninfo(dbname=dbname)) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def databases() -> list[str]:
    return sorted(database for database, _ in estate_databases("dev").values())


def legacy_roles() -> dict[str, str]:
    """legacy role -> a database it logs in to."""
    return {role: database for database, roles in estate_databases("dev").values() for role in roles}


def live(lab: Lab) -> dict[str, str]:
    """What exists now, by identity: Kubernetes objects (uid) in DEV's namespaces, Vault mounts (accessor),
    PostgreSQL roles and databases (oid), the rows of every estate table. Program-issued `v-` users are left
    out: ESO creates and Vault drops them on its own schedule."""
    found: dict[str, str] = {}
    for namespace in NAMESPACES:
        found[f"namespace {namespace}"] = k8s(lab, f"/api/v1/namespaces/{namespace}")["metadata"]["uid"]
        for path in (
            f"/apis/apps/v1/namespaces/{namespace}/deployments",
            f"/api/v1/namespaces/{namespace}/services",
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            f"/api/v1/namespaces/{namespace}/secrets",
            f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
            f"/apis/external-secrets.io/v1/namespaces/{namespace}/secretstores",
            f"/apis/external-secrets.io/v1/namespaces/{namespace}/externalsecrets",
        ):
            for item in k8s(lab, path)["items"]:
                found[f"{path}/{item['metadata']['name']}"] = item["metadata"]["uid"]
    mounts = lab.vault().call("GET", "sys/mounts")
    for path, mount in (mounts.get("data") or mounts).items():
        if isinstance(mount, dict) and "accessor" in mount:
            found[f"vault mount {path}"] = mount["accessor"]
    for name, oid in sql(lab, "SELECT rolname, oid::text FROM pg_roles WHERE left(rolname, 3) <> 'pg_'"):
        if not name.startswith("v-") or name == VAULT_ISSUED:
            found[f"role {name}"] = oid
    for name, oid in sql(lab, "SELECT datname, oid::text FROM pg_database"):
        found[f"database {name}"] = oid
    for database in databases():
        for (table,) in sql(lab, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", dbname=database):
            found[f"rows {database}.{table}"] = str(sql(lab, f'SELECT count(*) FROM "{table}"', dbname=database)[0][0])
    return found


def state_resources(lab: Lab, prog: Path) -> list[dict[str, Any]]:
    exported = json.loads(pulumi(lab, prog, "stack", "export", "--stack", STACK).stdout)
    return list(exported["deployment"].get("resources") or [])


@pytest.fixture(scope="module")
def consumers(lab: Lab, prog: Path) -> Iterator[dict[str, tuple[str, list[psycopg.Connection[Any]]]]]:
    """The two unlisted consumers (login -> password, its sessions held open in every DEV database)."""
    made: dict[str, tuple[str, list[psycopg.Connection[Any]]]] = {}
    with psycopg.connect(**lab.conninfo(), autocommit=True) as admin:
        for login in (MONITORING, VAULT_ISSUED):
            password = secrets.token_urlsafe(18)
            admin.execute(f'DROP ROLE IF EXISTS "{login}"')  # type: ignore[arg-type]
            admin.execute(f"CREATE ROLE \"{login}\" LOGIN PASSWORD '{password}' VALID UNTIL 'infinity'")  # type: ignore[arg-type]
            made[login] = (password, [])
    for login, (password, sessions) in made.items():
        for database in databases():
            session = connect(lab, login, password, database)
            session.autocommit = True
            sessions.append(session)
    yield made
    for _, sessions in made.values():
        for session in sessions:
            session.close()


@pytest.mark.usefixtures("consumers")
class TestDecommissioning:
    before_up: dict[str, str] = {}

    def test_the_first_up_is_refused_while_a_consumer_the_stack_does_not_list_is_connected(
        self, lab: Lab, prog: Path, consumers: dict[str, tuple[str, list[psycopg.Connection[Any]]]]
    ) -> None:
        """Item 5: the revoke of PUBLIC's CONNECT waits for `ConsumerCheck`, which names each uncovered login
        and the key that covers it. On main the up succeeded, revoked it, and neither consumer could connect
        again (`permission denied for database`)."""
        type(self).before_up = live(lab)
        refused = pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", STACK, expect=None)
        out = refused.stdout + refused.stderr
        assert refused.returncode != 0, out[-3000:]
        assert "CONNECT not revoked from PUBLIC, nothing was changed" in out, out[-3000:]
        for login in consumers:
            assert f"  {login}: 1 session(s)" in out, out[-3000:]
        assert "keybuzz:databaseConsumers" in out
        self._still_connect(lab, consumers)

    def test_listing_them_lets_the_up_through_and_they_keep_connecting(
        self, lab: Lab, prog: Path, consumers: dict[str, tuple[str, list[psycopg.Connection[Any]]]]
    ) -> None:
        """The fix the refusal names: the monitoring login by name (it gets CONNECT), the estate's Vault users
        by prefix (PUBLIC keeps CONNECT on the estate's databases while a prefix is listed)."""
        for i, consumer in enumerate([MONITORING, "v-*"]):  # an array key: one element at a time
            pulumi(lab, prog, "config", "set", "--path", f"keybuzz:databaseConsumers[{i}]", consumer, "--stack", STACK)
        pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", STACK)
        self._still_connect(lab, consumers)
        for database in databases():
            granted = sql(
                lab,
                "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) x WHERE d.datname = %s "
                "AND x.grantee = %s::regrole AND x.privilege_type = 'CONNECT'",
                (database, MONITORING),
            )
            assert granted == [(1,)], database

    @staticmethod
    def _still_connect(lab: Lab, consumers: dict[str, tuple[str, list[psycopg.Connection[Any]]]]) -> None:
        for login, (password, sessions) in consumers.items():
            for session in sessions:
                assert session.execute("SELECT 1").fetchone() == (1,)  # the held sessions were not cut
            for database in databases():
                with connect(lab, login, password, database) as conn:  # and new ones still connect
                    assert conn.execute("SELECT current_database()").fetchone() == (database,)

    def test_a_destroy_is_refused_before_anything_is_deleted(self, lab: Lab, prog: Path) -> None:
        """Item 7 (a): the guard (keybuzz:decommission unset, as in the shipped stacks) refuses `pulumi
        destroy`, a targeted one (with its dependents) and `ops destroy`; the state and every live object are
        as they were. On main the destroy deleted everything but the protected databases."""
        resources, objects = state_resources(lab, prog), live(lab)
        assert len(resources) > 100
        refused = pulumi(lab, prog, "destroy", "--yes", "--skip-preview", "--stack", STACK, expect=None)
        assert refused.returncode != 0
        assert "destroy of stack 'lab-dev' refused before anything was deleted" in refused.stdout + refused.stderr
        mount = next(r["urn"] for r in resources if r["type"] == "vault:index/mount:Mount")
        target = ["destroy", "--yes", "--skip-preview", "--target", mount, "--stack", STACK]
        # The engine itself refuses a target whose dependents are not targeted (the guard is one of them) ...
        targeted = pulumi(lab, prog, *target, expect=None)
        assert targeted.returncode != 0
        assert "was not specified in --target list" in targeted.stdout + targeted.stderr
        # ... and with them, the guard's delete comes first and refuses.
        dependents = pulumi(lab, prog, *target, "--target-dependents", expect=None)
        assert dependents.returncode != 0
        assert "refused before anything was deleted" in dependents.stdout + dependents.stderr
        early = ops(lab, prog, "destroy", "--stack", STACK, "--yes", expect=3)
        assert "its decommissioning is not approved" in early.stderr
        after = state_resources(lab, prog)
        assert sorted(r["urn"] for r in after) == sorted(r["urn"] for r in resources)
        now = live(lab)
        missing = {k: v for k, v in objects.items() if now.get(k) != v}
        assert missing == {}, missing

    def test_an_approved_destroy_leaves_everything_the_estate_had_live_and_working(
        self, lab: Lab, prog: Path, consumers: dict[str, tuple[str, list[psycopg.Connection[Any]]]]
    ) -> None:
        """Item 7 (b), the runbook's decommissioning: approve, `up`, unprotect, `pulumi destroy`. Every object
        that existed before the program is still there (same identity, same rows), the legacy logins and the
        apps' database Secrets still connect through the LB. On main the destroy deleted both adopted
        namespaces with the estate's Deployments and Secrets, and the database mount."""
        pulumi(lab, prog, "config", "set", "keybuzz:decommission", "true", "--stack", STACK)
        pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", STACK)
        protected = ops(lab, prog, "destroy", "--stack", STACK, expect=3)  # the databases would stop it half-way
        assert "are protected" in protected.stderr
        pulumi(lab, prog, "state", "unprotect", "--all", "--yes", "--stack", STACK)
        pulumi(lab, prog, "destroy", "--yes", "--skip-preview", "--stack", STACK)
        assert [r for r in state_resources(lab, prog) if r["type"] != "pulumi:pulumi:Stack"] == []

        now = live(lab)
        gone = {k: v for k, v in self.before_up.items() if now.get(k) != v}
        assert gone == {}, gone  # nothing the estate had was deleted, or replaced
        assert "vault mount database-dev/" in now  # unmounting would have revoked every lease
        for namespace, kinds in ESTATE_OBJECTS.items():
            for path, names in kinds.items():
                assert {n for n in names} <= {i["metadata"]["name"] for i in k8s(lab, path)["items"]}, (namespace, path)
        for role, database in legacy_roles().items():
            with connect(lab, role, legacy_password(lab, role), database) as conn:
                assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] > 0  # type: ignore[index]
        for namespace, name in (
            ("keybuzz-api-dev", "keybuzz-api-postgres"),
            ("keybuzz-backend-dev", "keybuzz-backend-db"),
        ):
            secret = lab.kube.secret_data(namespace, name)
            assert (secret["PGHOST"], int(secret["PGPORT"])) == (
                lab.conninfo()["host"],
                lab.conninfo()["port"],
            )  # the LB
            with connect(lab, secret["PGUSER"], secret["PGPASSWORD"], secret["PGDATABASE"]) as conn:
                table = "tenants" if secret["PGDATABASE"] == "keybuzz" else "_prisma_migrations"
                assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] >= 1  # type: ignore[index]
        for login, (password, _) in consumers.items():
            for database in databases():
                with connect(lab, login, password, database):
                    pass
