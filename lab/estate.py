"""The estate's pre-existing objects, recreated in the lab so that a lab stack adopts what the real stack adopts.

The shipped stack files list what already exists on the estate (``adoptDatabases``, ``adoptNamespaces``,
``adoptRoles``, ``<app>LegacyRoles``). A lab stack derived from them must find those objects as the
operations reports describe them, so that its first `up` meets what the estate's would:

* PostgreSQL: the legacy login roles (a password per lab, kept in ``<state>/pulumi/legacy-<role>``), the
  databases with their legacy owners (PROD's ``keybuzz_prod`` owned by ``keybuzz_api_prod``, PH28.2
  §2.3; ``keybuzz_backend`` by ``kb_backend``, topology report) and *data*: tables, a serial sequence,
  a Prisma enum and ``_prisma_migrations``, owned by the legacy role (`ESTATE_TABLES`).
* Kubernetes, in each adopted app namespace: the app's database Secret written by hand with the legacy
  login (PH16 §2.2/2.3 ``kubectl create secret generic keybuzz-api-postgres ...``), the ``vault``
  SecretStore, and the app's Deployment ``keybuzz-<app>`` with its container ``keybuzz-<app>`` (PH28.2
  §9: ``kubectl set image deployment/keybuzz-api keybuzz-api=...``) created with kubectl's field manager.

Idempotent: what exists is left as it is.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg
from psycopg import sql

from lab.cluster import Lab
from lab.config import HOST, generated_secret
from lab.procs import LabError
from lab.stacks import NAMESPACE, shipped_config

# Legacy owners named by the seed reports (docs/runbook-adopting-the-estate.md); any other adopted
# database is owned by the superuser, as a database created by hand would be.
LEGACY_OWNERS = {"keybuzz_prod": "keybuzz_api_prod", "keybuzz_backend": "kb_backend"}

#: kubectl's field manager: what `kubectl apply` of a hand-written manifest records.
FIELD_MANAGER: Final = "kubectl-client-side-apply"

#: Per app: the Secret its code reads (components/catalog.py) and the image tag the seeds show running.
ESTATE_APPS = {
    "api": ("keybuzz-api-postgres", "ghcr.io/keybuzzio/keybuzz-api"),
    "backend": ("keybuzz-backend-db", "ghcr.io/keybuzzio/keybuzz-backend"),
    "client": (None, "ghcr.io/keybuzzio/keybuzz-client"),
}

#: The data each adopted database holds, created as its legacy role (who owns it on the estate).
ESTATE_TABLES: dict[str, list[str]] = {
    "api": [
        "CREATE TABLE tenants (id text PRIMARY KEY, name text NOT NULL)",
        "CREATE TABLE conversations (id serial PRIMARY KEY, tenant_id text REFERENCES tenants, subject text)",
        "INSERT INTO tenants VALUES ('kbz-001', 'KeyBuzz demo'), ('kbz-002', 'Second tenant')",
        "INSERT INTO conversations (tenant_id, subject) VALUES ('kbz-001', 'Commande 404 retardée')",
    ],
    "backend": [
        "CREATE TYPE marketplace AS ENUM ('amazon')",
        'CREATE TABLE "_prisma_migrations" (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, '
        "finished_at timestamptz, migration_name varchar(255) NOT NULL, applied_steps_count integer DEFAULT 0)",
        "CREATE TABLE marketplace_connections (id serial PRIMARY KEY, kind marketplace NOT NULL, status text)",
        'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at) '
        "VALUES ('0001', 'estate', '20260107_amazon_foundation', now())",
        "INSERT INTO marketplace_connections (kind, status) VALUES ('amazon', 'DISCONNECTED')",
    ],
}


def legacy_password(lab: Lab, role: str) -> str:
    """The lab's password of a legacy login (generated once per lab, 0600 in the lab's state)."""
    return generated_secret(lab.layout, f"legacy-{role}")


def estate_databases(env: str) -> dict[str, tuple[str, list[str]]]:
    """app -> (database, legacy roles) for the adopted databases of the shipped `env` stack."""
    config = shipped_config(env)
    adopted = set(config.get(f"{NAMESPACE}:adoptDatabases") or [])
    found = {}
    for app in ("api", "backend"):
        database = config.get(f"{NAMESPACE}:{app}Database")
        if isinstance(database, str) and database in adopted:
            found[app] = (database, [str(r) for r in config.get(f"{NAMESPACE}:{app}LegacyRoles") or []])
    return found


def _role(cur: psycopg.Cursor[Any], name: str, password: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    if cur.fetchone() is None:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))


def _seed_data(lab: Lab, database: str, owner: str, statements: list[str]) -> None:
    with psycopg.connect(**lab.conninfo(dbname=database), autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_tables WHERE schemaname = 'public' LIMIT 1")
        if cur.fetchone() is not None:
            return
        cur.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(owner)))
        cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
        for statement in statements:
            cur.execute(statement)  # fixed SQL of this module
        conn.commit()


def seed(lab: Lab, env: str) -> dict[str, list[str]]:
    """Create what the shipped `env` stack adopts (roles, databases and their data, Kubernetes objects)."""
    config = shipped_config(env)
    databases = list(config.get(f"{NAMESPACE}:adoptDatabases") or [])
    roles = list(config.get(f"{NAMESPACE}:adoptRoles") or [])
    namespaces = list(config.get(f"{NAMESPACE}:adoptNamespaces") or [])
    estate = estate_databases(env)
    legacy = sorted(
        {r for _, rs in estate.values() for r in rs} | {LEGACY_OWNERS[d] for d in databases if d in LEGACY_OWNERS}
    )
    created: dict[str, list[str]] = {"databases": [], "roles": [], "namespaces": [], "objects": []}
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn, conn.cursor() as cur:
        for role in [*roles, *legacy]:
            _role(cur, role, legacy_password(lab, role))
        for database in databases:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                owner = LEGACY_OWNERS.get(database, "postgres")
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(owner))
                )
                created["databases"].append(database)
    for app, (database, app_legacy) in estate.items():
        owner = LEGACY_OWNERS.get(database) or (app_legacy[0] if app_legacy else "postgres")
        _seed_data(lab, database, owner, ESTATE_TABLES[app])
    for namespace in namespaces:
        status, body = lab.kube.request(
            "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        if status == 201:
            created["namespaces"].append(namespace)
        elif status != 409:
            raise LabError(f"creating namespace {namespace} failed ({status}): {body}")
        created["objects"] += _seed_namespace(lab, env, namespace, config, estate)
    return created


def create_as_kubectl(lab: Lab, path: str, body: dict[str, Any]) -> str | None:
    """POST as kubectl would (its field manager); the object's kind/name if created, None if it existed."""
    status, answer = lab.kube.request("POST", f"{path}?fieldManager={FIELD_MANAGER}", body)
    if status == 201:
        return f"{body['kind']}/{body['metadata']['name']}"
    if status != 409:
        raise LabError(f"creating {body['kind']} {body['metadata']['name']} failed ({status}): {answer}")
    return None


def _seed_namespace(
    lab: Lab, env: str, namespace: str, config: dict[str, Any], estate: dict[str, tuple[str, list[str]]]
) -> list[str]:
    """The estate's objects of one app namespace (keybuzz-<app>-<env>)."""
    app = namespace.removeprefix("keybuzz-").removesuffix(f"-{env}")
    if app not in ESTATE_APPS:
        return []
    secret_name, repository = ESTATE_APPS[app]
    tag = config.get(f"{NAMESPACE}:{app}ImageTag") or "unknown"
    # The program's selector: a Deployment's selector is immutable, so an estate Deployment selecting on
    # other labels cannot be taken over in place (docs/runbook-adopting-the-estate.md, "Before the first up").
    labels = {"app.kubernetes.io/name": f"keybuzz-{app}"}
    made = []
    if secret_name and app in estate:
        database, legacy = estate[app]
        user = LEGACY_OWNERS.get(database) or legacy[0]
        password = legacy_password(lab, user)
        data = {"PGHOST": HOST, "PGPORT": str(lab.ports.lb_write), "PGDATABASE": database, "PGUSER": user,
                "PGPASSWORD": password}  # fmt: skip
        if app == "backend":
            data["DATABASE_URL"] = f"postgresql://{user}:{password}@{HOST}:{lab.ports.lb_write}/{database}"
        made.append(
            create_as_kubectl(lab, f"/api/v1/namespaces/{namespace}/secrets",
                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name}, "stringData": data})
        )  # fmt: skip
        made.append(
            create_as_kubectl(
                lab,
                f"/apis/external-secrets.io/v1/namespaces/{namespace}/secretstores",
                {
                    "apiVersion": "external-secrets.io/v1",
                    "kind": "SecretStore",
                    "metadata": {"name": "vault"},
                    "spec": {"provider": {"vault": {"server": f"http://{HOST}:{lab.ports.bao}", "path": "secret",
                             "version": "v2", "auth": {"kubernetes": {"mountPath": "kubernetes",
                             "role": f"keybuzz-{app}", "serviceAccountRef": {"name": "default"}}}}}},
                },
            )
        )  # fmt: skip
    container: dict[str, Any] = {"name": f"keybuzz-{app}", "image": f"{repository}:{tag}"}
    if secret_name:
        container["envFrom"] = [{"secretRef": {"name": secret_name}}]
    made.append(
        create_as_kubectl(
            lab,
            f"/apis/apps/v1/namespaces/{namespace}/deployments",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"keybuzz-{app}", "labels": labels},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
                },
            },
        )
    )
    return [m for m in made if m]
