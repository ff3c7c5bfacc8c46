"""The estate's pre-existing objects, recreated in the lab so that a lab stack adopts what the real stack adopts.

The shipped stack files list what already exists on the estate and is imported, not created
(``adoptDatabases``, ``adoptNamespaces``, ``adoptRoles``). A lab stack derived from them must find those
objects, else its preview fails with "resource ... does not exist" exactly where the estate's would not.
`seed` creates them as the operations reports describe them: the databases with their legacy owners
(PROD's ``keybuzz_prod`` is owned by ``keybuzz_api_prod``, PH28.2; the backend's tables by ``kb_backend``,
topology report), legacy login roles with a random password nobody knows, and the namespaces. Idempotent.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from psycopg import sql

from lab.cluster import Lab
from lab.procs import LabError
from lab.stacks import NAMESPACE, shipped_config

# Legacy owners named by the seed reports (docs/runbook-adopting-the-estate.md); any other adopted
# database is owned by the superuser, as a database created by hand would be.
LEGACY_OWNERS = {"keybuzz_prod": "keybuzz_api_prod", "keybuzz_backend": "kb_backend"}


def _role(cur: psycopg.Cursor[Any], name: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    if cur.fetchone() is None:
        password = secrets.token_urlsafe(24)
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))


def seed(lab: Lab, env: str) -> dict[str, list[str]]:
    """Create what the shipped `env` stack adopts (databases, roles, namespaces); return what was created."""
    config = shipped_config(env)
    databases = list(config.get(f"{NAMESPACE}:adoptDatabases") or [])
    roles = list(config.get(f"{NAMESPACE}:adoptRoles") or [])
    namespaces = list(config.get(f"{NAMESPACE}:adoptNamespaces") or [])
    created: dict[str, list[str]] = {"databases": [], "roles": [], "namespaces": []}
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn, conn.cursor() as cur:
        for role in [*roles, *(LEGACY_OWNERS[d] for d in databases if d in LEGACY_OWNERS)]:
            _role(cur, role)
        for database in databases:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                owner = LEGACY_OWNERS.get(database, "postgres")
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(owner))
                )
                created["databases"].append(database)
    for namespace in namespaces:
        status, body = lab.kube.request(
            "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        if status == 201:
            created["namespaces"].append(namespace)
        elif status != 409:
            raise LabError(f"creating namespace {namespace} failed ({status}): {body}")
    return created
