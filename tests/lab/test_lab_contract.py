"""Contract tests: what the program declares works on real servers (issue 4, tests 1, 3 and 4).

Nothing here is a copy of the program: DEV and PROD are rendered under mocks with the lab's endpoints
(`programs` fixture), their PostgreSQL and Vault resources applied to the lab as the providers would,
and every statement, grant, policy and TTL comes from those renderings. Apps connect where their
ExternalSecret template says (PGHOST/PGPORT/PGDATABASE) with credentials read from their generator's
Vault path.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from lab import bao
from lab.apply import Applier, token_for
from lab.cluster import Lab
from lab.config import HOST
from lab.http import HttpError
from lab.procs import wait_for
from lab.program import AppDatabaseAccess, database_access, lab_overrides
from lab.writer import CONN_OPTS
from render import render_stack

pytestmark = pytest.mark.lab

ENVS = ("dev", "prod")
AUTH_ROLE = "vault:kubernetes/authBackendRole:AuthBackendRole"
KV = "vault:kv/secretV2:SecretV2"
DATABASE = "postgresql:index/database:Database"
DEFAULT_PRIVILEGES = "postgresql:index/defaultPrivileges:DefaultPrivileges"
# How PostgreSQL refuses an expired (VALID UNTIL passed) or revoked (role dropped) credential.
DEAD_CREDENTIAL = re.compile(r"password authentication failed|role .* does not exist")


def accesses(programs: dict[str, Any], env: str) -> list[AppDatabaseAccess]:
    found = database_access(programs[env])
    assert found, f"the {env} rendering declares no app database access"
    return found


def owner_of(programs: dict[str, Any], env: str, database: str) -> str:
    return str(programs[env].one(DATABASE, name=database).inputs["owner"])


def table_owner(lab: Lab, database: str, table: str) -> str | None:
    with psycopg.connect(**lab.conninfo(dbname=database), **CONN_OPTS) as conn:
        row = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = %s", (table,)).fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------------------------------------------
# 1. Credentials: issue, connect through the LB, create and write, share, revoke cleanly.
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_every_app_connects_through_the_lb_write_port(lab: Lab, programs: dict[str, Any], env: str) -> None:
    for access in accesses(programs, env):
        assert (access.host, access.port) == (HOST, lab.ports.lb_write), access


@pytest.mark.parametrize("env", ENVS)
def test_app_credentials_create_share_and_revoke_cleanly(lab: Lab, programs: dict[str, Any], env: str) -> None:
    vault = lab.vault()
    for access in accesses(programs, env):
        owner = owner_of(programs, env, access.database)
        table = f"contract_{uuid.uuid4().hex[:10]}"
        first = bao.issue(vault, access.mount, access.role)
        assert first.lease_duration == access.default_ttl
        with first.connect(access.port, access.database, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, by_user text)")
            conn.execute(f"INSERT INTO {table} (by_user) VALUES (session_user)")
        later = bao.issue(vault, access.mount, access.role)
        with later.connect(access.port, access.database, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {table} (by_user) VALUES (session_user)")
            users = [r[0] for r in conn.execute(f"SELECT by_user FROM {table} ORDER BY id").fetchall()]
        assert users == [first.username, later.username], access.vault_path
        # Objects belong to the database's owner group, not to the short-lived user who created them.
        assert table_owner(lab, access.database, table) == owner

        bao.revoke(vault, first.lease_id)
        assert not bao.role_exists(lab.conninfo(), first.username), f"{access.vault_path}: revoked user still exists"
        assert table_owner(lab, access.database, table) == owner
        with later.connect(access.port, access.database, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {table} (by_user) VALUES ('after first revoked')")
        bao.revoke(vault, later.lease_id)
        assert not bao.role_exists(lab.conninfo(), later.username)
        with pytest.raises(psycopg.OperationalError):
            later.connect(access.port, access.database).close()


@pytest.mark.parametrize("env", ENVS)
def test_revocation_survives_objects_the_user_owns_itself(lab: Lab, programs: dict[str, Any], env: str) -> None:
    """An app that resets its role and creates a table as itself must still be revocable (vault#1857)."""
    vault = lab.vault()
    access = accesses(programs, env)[0]
    cred = bao.issue(vault, access.mount, access.role)
    table = f"selfowned_{uuid.uuid4().hex[:10]}"
    with cred.connect(access.port, access.database, autocommit=True) as conn:
        conn.execute("RESET ROLE")
        conn.execute(f"CREATE TABLE {table} (v int)")
    bao.revoke(vault, cred.lease_id)
    assert not bao.role_exists(lab.conninfo(), cred.username)
    assert table_owner(lab, access.database, table) == owner_of(programs, env, access.database)


@pytest.mark.parametrize("env", ENVS)
def test_declared_reader_roles_read_app_tables_and_cannot_write(lab: Lab, programs: dict[str, Any], env: str) -> None:
    vault = lab.vault()
    checked = 0
    for access in accesses(programs, env):
        readers = [
            d.inputs["role"]
            for d in programs[env].of_type(DEFAULT_PRIVILEGES)
            if d.inputs["database"] == access.database and d.inputs["objectType"] == "table"
        ]
        cred = bao.issue(vault, access.mount, access.role)
        table = f"readable_{uuid.uuid4().hex[:10]}"
        with cred.connect(access.port, access.database, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (v int)")
            conn.execute(f"INSERT INTO {table} VALUES (1)")
        for reader in readers:
            with psycopg.connect(**lab.conninfo(dbname=access.database), **CONN_OPTS, autocommit=True) as conn:
                conn.execute(f'SET ROLE "{reader}"')
                assert conn.execute(f"SELECT v FROM {table}").fetchall() == [(1,)]
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"INSERT INTO {table} VALUES (2)")
            checked += 1
    assert checked, f"{env}: no reader role with default privileges on an app database"


# ---------------------------------------------------------------------------------------------------
# 3. Isolation: DEV and PROD cannot reach each other's secrets or databases.
# ---------------------------------------------------------------------------------------------------
def _readable(client: Any, path: str) -> bool:
    """True if `client` may read `path`; False on 403 (any other error propagates)."""
    try:
        client.read(path)
    except HttpError as exc:
        if exc.status != 403:
            raise
        return False
    return True


@pytest.mark.parametrize(("env", "other"), [("dev", "prod"), ("prod", "dev")])
def test_an_environments_policies_cannot_read_the_others_secrets(
    lab: Lab, programs: dict[str, Any], env: str, other: str
) -> None:
    root = lab.vault()
    foreign_kv = [f"{k.inputs['mount']}/data/{k.inputs['name']}" for k in programs[other].of_type(KV)]
    foreign_creds = [a.vault_path for a in accesses(programs, other)]
    assert foreign_kv
    assert foreign_creds
    own_creds = {a.vault_path for a in accesses(programs, env)}
    own_kv = [f"{k.inputs['mount']}/data/{k.inputs['name']}" for k in programs[env].of_type(KV)]
    readable = 0
    for auth_role in programs[env].of_type(AUTH_ROLE):
        client = root.with_token(token_for(root, auth_role))
        for path in foreign_kv + foreign_creds:
            with pytest.raises(HttpError) as denied:
                client.read(path)
            assert denied.value.status == 403, (auth_role.inputs["roleName"], path)
        # Positive control: what the policy grants is readable with the same token.
        for path in sorted(own_creds) + own_kv:
            readable += _readable(client, path)
    assert readable, f"no {env} token could read any of its own secrets: the negative checks prove nothing"


@pytest.mark.parametrize(("env", "other"), [("dev", "prod"), ("prod", "dev")])
def test_an_environments_database_users_cannot_connect_to_the_others_databases(
    lab: Lab, programs: dict[str, Any], env: str, other: str
) -> None:
    vault = lab.vault()
    foreign_databases = sorted({d.inputs["name"] for d in programs[other].of_type(DATABASE)})
    for access in accesses(programs, env):
        cred = bao.issue(vault, access.mount, access.role)
        cred.connect(access.port, access.database).close()  # its own database: fine
        for database in foreign_databases:
            with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
                cred.connect(access.port, database).close()
        # Not revoked here: revocation has tests of its own; the lease ends with the lab.


# ---------------------------------------------------------------------------------------------------
# 4. Expiry: refreshing at the program's interval keeps a working credential; slower does not.
# ---------------------------------------------------------------------------------------------------
@dataclass
class RefreshingClient:
    """Holds one credential and replaces it every `refresh` seconds, as ESO does (re-issue, never renew)."""

    lab: Lab
    access: AppDatabaseAccess
    refresh: float
    duration: float
    probe_every: float = 1.0
    failures: list[tuple[float, str]] = field(default_factory=list)
    transient: list[str] = field(default_factory=list)
    probes: int = 0
    first: bao.Credential | None = None
    table: str = field(default_factory=lambda: f"expiry_{uuid.uuid4().hex[:10]}")

    def run(self) -> None:
        vault = self.lab.vault()
        start = time.monotonic()
        cred, issued = bao.issue(vault, self.access.mount, self.access.role), start
        self.first = cred
        with cred.connect(self.access.port, self.access.database, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {self.table} (v int)")
        while (now := time.monotonic()) - start < self.duration:
            if now - issued >= self.refresh:
                cred, issued = bao.issue(vault, self.access.mount, self.access.role), now
            try:
                with cred.connect(self.access.port, self.access.database) as conn:
                    conn.execute("SELECT 1")
            except psycopg.Error as exc:
                # Only a refused credential counts; anything else (a busy machine) is just retried.
                if DEAD_CREDENTIAL.search(str(exc)):
                    self.failures.append((now - start, str(exc).strip().splitlines()[-1]))
                else:
                    self.transient.append(str(exc))
            self.probes += 1
            time.sleep(self.probe_every)  # probe pacing, not a readiness wait


def test_refreshing_below_half_the_ttl_always_holds_a_working_credential(lab: Lab, programs: dict[str, Any]) -> None:
    """The program's shortest allowed TTL with its longest allowed refresh, against a slower client."""
    short = render_stack(
        "lab-dev", lab_overrides(lab, credentialTtlSeconds=60, secretRefreshSeconds=29, legacyLoginPhase="dynamic")
    )
    applier = Applier(lab)
    applier.apply(short.resources)
    try:
        access = next(a for a in database_access(short) if a.namespace == "keybuzz-api-dev")
        assert access.refresh_seconds * 2 < access.default_ttl  # the program's own rule, as rendered
        duration = access.default_ttl + 12
        fast = RefreshingClient(lab, access, refresh=access.refresh_seconds, duration=duration)
        slow = RefreshingClient(lab, access, refresh=access.default_ttl * 1.5, duration=duration)
        threads = [threading.Thread(target=c.run) for c in (fast, slow)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=duration + 60)
        assert fast.probes >= 10
        assert fast.failures == [], "a client refreshing at the program's interval held a dead credential"
        assert slow.failures, "a client refreshing slower than the TTL never held a dead credential"
        assert slow.failures[0][0] >= access.default_ttl * 0.9
        # Expiry revokes like an explicit revoke: the user is gone, its table stays with the owner group.
        assert slow.first is not None
        wait_for(
            lambda: not bao.role_exists(lab.conninfo(), slow.first.username),  # type: ignore[union-attr]
            60,
            "Vault to revoke the expired lease",
        )
        assert table_owner(lab, access.database, slow.table) == owner_of(programs, "dev", access.database)
    finally:
        applier.apply(programs["dev"].resources)  # back to the stack's own TTLs
