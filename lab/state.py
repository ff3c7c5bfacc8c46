"""The lab stacks' Pulumi state in the lab's PostgreSQL, through the HAProxy LB (the engine's DIY backend).

``pulumi login postgres://...`` stores each stack's checkpoint, history and lock as rows of one table
(engine source ``pkg/backend/diy/postgres``). Here that table lives in a database and role of its own,
``pulumi_state``, owned by nobody else: the program's roles and Vault's dynamic users cannot CONNECT to
it (CONNECT revoked from PUBLIC). The connection goes through the write LB, so the state follows the
Patroni leader like every other client. The role's password is generated per lab and handed to the
engine through a ``passfile`` (``<state>/pulumi/pgpass``, mode 0600), never in the URL, argv or the
environment.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from lab.cluster import Lab
from lab.config import HOST, generated_secret, write_private

DATABASE = "pulumi_state"
ROLE = "pulumi_state"
TABLE = "pulumi_state"


def _passfile(lab: Lab) -> Path:
    return lab.layout.pulumi_dir / "pgpass"


def ensure_state_database(lab: Lab) -> None:
    """Create (or keep) the state role and database; write the passfile. Idempotent."""
    password = generated_secret(lab.layout, "state-password")
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(ROLE), sql.Literal(password)))
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(ROLE)))
        cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(DATABASE)))
    write_private(_passfile(lab), f"{HOST}:{lab.ports.lb_write}:{DATABASE}:{ROLE}:{password}\n")


def backend_url(lab: Lab) -> str:
    """The engine's backend URL for the lab (no secret in it: the password is in the passfile).

    TLS verified against the lab CA (lib/pq's verify-full: the certificate names 127.0.0.1): the state
    holds the stacks' encrypted secrets and their layout, and ``pulumi_state`` is not the superuser, so
    the lab's PostgreSQL accepts it over TLS only (lab/files.py)."""
    return (
        f"postgres://{ROLE}@{HOST}:{lab.ports.lb_write}/{DATABASE}"
        f"?sslmode=verify-full&sslrootcert={lab.ca_certificate}"
        f"&table={TABLE}&passfile={_passfile(lab)}&connect_timeout=5"
    )


def state_rows(lab: Lab) -> list[tuple[str, str]]:
    """(key, data as text) of every row of the state table, read as the superuser."""
    with psycopg.connect(**lab.conninfo(dbname=DATABASE)) as conn:
        query = sql.SQL("SELECT key, data::text FROM {}").format(sql.Identifier(TABLE))
        return [(key, data) for key, data in conn.execute(query)]
