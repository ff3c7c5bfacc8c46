"""OpenBao (Vault API) helpers the lab's tests and benchmark share: mounts, the database engine, creds.

Plain Vault API calls, no imitation of a provider: the program's own Vault objects are created by the real
engine and providers in the e2e tier. What is configured here is the lab's own engine (`database_engine`),
for what the lab itself proves (credentials through the LB survive a failover) and measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from lab.config import HOST, SUPERUSER
from lab.http import HttpError, Vault
from lab.writer import CONN_OPTS

if TYPE_CHECKING:
    from lab.base import LabBase

PLUGIN = "postgresql-database-plugin"


def ensure_mount(vault: Vault, path: str, type_: str, options: dict[str, Any] | None = None) -> None:
    """Enable a secrets engine at `path` unless something is already mounted there."""
    mounts = vault.read("sys/mounts")
    table = mounts.get("data", mounts) if isinstance(mounts, dict) else {}
    if f"{path.strip('/')}/" in table:
        return
    body: dict[str, Any] = {"type": type_}
    if options:
        body["options"] = options
    vault.write(f"sys/mounts/{path.strip('/')}", body)


def lab_connection_url(port: int, database: str = "postgres") -> str:
    """A Vault database connection URL (templated credentials) to the lab's LB write port, with the
    shipped stacks' sslmode (OpenBao's plugin encrypts without verifying, as the program's connections do)."""
    return f"postgresql://{{{{username}}}}:{{{{password}}}}@{HOST}:{port}/{database}?sslmode=require"


def database_engine(
    lab: LabBase, mount: str, role: str, *, connection: str = "lab", ttl: str = "5m", max_ttl: str = "10m"
) -> None:
    """A database secrets engine at `mount` with one connection (`connection`), to the LB write port as the
    superuser, and one role `role` whose users read and write every table (pg_read_all_data,
    pg_write_all_data) for `ttl` (at most `max_ttl`). Idempotent."""
    vault = lab.vault()
    ensure_mount(vault, mount, "database")
    vault.write(
        f"{mount}/config/{connection}",
        {
            "plugin_name": PLUGIN,
            "connection_url": lab_connection_url(lab.ports.lb_write),
            "username": SUPERUSER,
            "password": lab.secrets.superuser_password,
            "allowed_roles": [role],
        },
    )
    vault.write(
        f"{mount}/roles/{role}",
        {
            "db_name": connection,
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' "
                "IN ROLE pg_read_all_data, pg_write_all_data;"
            ],
            "revocation_statements": ['DROP ROLE IF EXISTS "{{name}}";'],
            "default_ttl": ttl,
            "max_ttl": max_ttl,
        },
    )


@dataclass(frozen=True)
class Credential:
    username: str
    password: str
    lease_id: str
    lease_duration: int

    def conninfo(self, port: int, dbname: str) -> dict[str, Any]:
        return {"host": HOST, "port": port, "dbname": dbname, "user": self.username, "password": self.password}

    def connect(self, port: int, dbname: str, **extra: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(**self.conninfo(port, dbname), **CONN_OPTS, **extra)


def issue(vault: Vault, mount: str, role: str) -> Credential:
    """GET <mount>/creds/<role>: a new dynamic PostgreSQL user."""
    body = vault.read(f"{mount}/creds/{role}")
    return Credential(
        username=body["data"]["username"],
        password=body["data"]["password"],
        lease_id=body["lease_id"],
        lease_duration=int(body["lease_duration"]),
    )


def revoke(vault: Vault, lease_id: str) -> None:
    vault.write("sys/leases/revoke", {"lease_id": lease_id})


def role_exists(conninfo: dict[str, Any], username: str) -> bool:
    with psycopg.connect(**conninfo, **CONN_OPTS) as conn:
        row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone()
    return row is not None


__all__ = [
    "PLUGIN",
    "Credential",
    "HttpError",
    "database_engine",
    "ensure_mount",
    "issue",
    "lab_connection_url",
    "revoke",
    "role_exists",
]
