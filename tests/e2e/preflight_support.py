"""The preflight's lab tests (issue 17): a hand-made estate that does not look like the program, and what the
tests read to prove the preflight changed nothing.

`diverge(lab)` turns lab-prod's seeded estate (lab/estate.py) into what the seeds describe instead of
what the program would write: the api's Deployment re-created with the estate's own selector and labels
(`app: keybuzz-api`), an unnamed container port, extra envFrom Secrets, an env var from another Secret, a
Secret volume, a sidecar, an image pull secret on the pod and one on its own service account; its
Service selecting `app: keybuzz-api` on port `web` -> 3001 plus a metrics port; an estate ExternalSecret
under another name owning the api's database Secret; in `keybuzz_prod` an enum, a sequence and a function
created by the superuser; a monitoring login and a Vault-style `v-` user connected; the legacy role owning
another database; an old Vault connection `database/config/keybuzz-postgres` on the estate's own mount and
an existing `database-prod` mount the stack does not list.

Every object is created with kubectl's field manager, as by hand. Returns the sessions it holds open.
`snapshot(lab)` is what a write would change (resourceVersions, catalog facts, Vault's mounts).
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from typing import Any

import psycopg

from lab.cluster import Lab
from lab.config import HOST
from lab.estate import legacy_password
from tests.e2e.lab_support import k8s

NS = "keybuzz-api-prod"
LABELS = {"app": "keybuzz-api"}
MONITOR = "estate_monitor"
VAULT_USER = "v-token-keybuzz--AbCdEfGhIjKlMnOpQrSt-1765000000"
OTHER_DB = "keybuzz_reports"
ROLE_PASSWORD = "lab-test-only-estate-login"  # a throwaway lab login, never an estate value
NAMESPACES = ("keybuzz-api-prod", "keybuzz-client-prod")
LISTS = ("apis/apps/v1/namespaces/{ns}/deployments", "api/v1/namespaces/{ns}/services",
         "api/v1/namespaces/{ns}/serviceaccounts", "api/v1/namespaces/{ns}/configmaps",
         "apis/external-secrets.io/v1/namespaces/{ns}/externalsecrets",
         "apis/external-secrets.io/v1/namespaces/{ns}/secretstores")  # fmt: skip
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def _kube(lab: Lab, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
    sep = "&" if "?" in path else "?"
    suffix = f"{sep}fieldManager=kubectl-client-side-apply" if method in ("POST", "PUT", "PATCH") else ""
    status, answer = lab.kube.request(method, path + suffix, body)
    assert status in ok, f"{method} {path}: {status} {answer}"
    return answer


def _kubernetes(lab: Lab) -> None:
    apps = f"/apis/apps/v1/namespaces/{NS}/deployments"
    core = f"/api/v1/namespaces/{NS}"
    _kube(lab, "DELETE", f"{apps}/keybuzz-api", ok=(200, 404))
    _kube(lab, "DELETE", f"{core}/services/keybuzz-api", ok=(200, 404))
    for name, data in (("keybuzz-api-smtp", {"SMTP_HOST": "smtp.example.test"}),
                       ("keybuzz-api-jwt", {"JWT_SECRET": "lab-test-only"}),
                       ("keybuzz-api-certs", {"ca.crt": "lab-test-only"})):  # fmt: skip
        _kube(lab, "POST", f"{core}/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
              "stringData": data}, ok=(201, 409))  # fmt: skip
    _kube(lab, "POST", f"{core}/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
          "metadata": {"name": "keybuzz-api-legacy"}, "imagePullSecrets": [{"name": "ghcr-legacy"}]},
          ok=(201, 409))  # fmt: skip
    container = {
        "name": "keybuzz-api",
        "image": "ghcr.io/keybuzzio/keybuzz-api:v0.4.31-replacement",
        "ports": [{"containerPort": 3001}],
        "envFrom": [{"secretRef": {"name": "keybuzz-api-postgres"}}, {"secretRef": {"name": "keybuzz-api-smtp"}}],
        "env": [
            {"name": "JWT_SECRET", "valueFrom": {"secretKeyRef": {"name": "keybuzz-api-jwt", "key": "JWT_SECRET"}}}
        ],
        "volumeMounts": [{"name": "certs", "mountPath": "/certs"}],
    }
    sidecar = {"name": "metrics-exporter", "image": "prom/statsd-exporter:v0.26.0", "ports": [{"containerPort": 9102}]}
    _kube(lab, "POST", apps, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "keybuzz-api", "labels": LABELS},
        "spec": {"replicas": 2, "selector": {"matchLabels": LABELS}, "template": {
            "metadata": {"labels": LABELS},
            "spec": {"serviceAccountName": "keybuzz-api-legacy", "imagePullSecrets": [{"name": "ghcr-pull"}],
                     "containers": [container, sidecar],
                     "volumes": [{"name": "certs", "secret": {"secretName": "keybuzz-api-certs"}}]}}},
    })  # fmt: skip
    _kube(lab, "POST", f"{core}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "keybuzz-api", "labels": LABELS},
        "spec": {"selector": LABELS, "ports": [{"name": "web", "port": 80, "targetPort": 3001},
                                               {"name": "metrics", "port": 9102, "targetPort": 9102}]},
    })  # fmt: skip
    _kube(lab, "POST", f"/apis/external-secrets.io/v1/namespaces/{NS}/externalsecrets", {
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "keybuzz-api-postgres-estate"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": "vault"},
                 "target": {"name": "keybuzz-api-postgres", "creationPolicy": "Merge"},
                 "data": [{"secretKey": "PGPASSWORD", "remoteRef": {"key": "keybuzz/prod/db_api",
                                                                    "property": "password"}}]},
    }, ok=(201, 409))  # fmt: skip


def _postgres(lab: Lab) -> list[psycopg.Connection[Any]]:
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn:
        for role in (MONITOR, VAULT_USER):
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{ROLE_PASSWORD}'")  # fixed test names
        conn.execute(f'GRANT pg_monitor TO "{MONITOR}"')
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (OTHER_DB,)).fetchone() is None:
            conn.execute(f"CREATE DATABASE {OTHER_DB} OWNER keybuzz_api_prod")
    with psycopg.connect(**lab.conninfo(dbname="keybuzz_prod"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_type WHERE typname = 'ticket_status'").fetchone() is None:
            conn.execute("CREATE TYPE public.ticket_status AS ENUM ('open', 'closed')")  # PH15: an operator's enum
            conn.execute("CREATE SEQUENCE public.invoice_number")
            conn.execute("CREATE FUNCTION public.tenant_count() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'")
    held = []
    for role in (MONITOR, VAULT_USER):
        conn = psycopg.connect(**lab.conninfo(dbname="keybuzz_prod", user=role, password=ROLE_PASSWORD),
                               sslmode="require", application_name=f"estate-{role[:7]}", autocommit=True)  # fmt: skip
        held.append(conn)
    legacy = psycopg.connect(
        **lab.conninfo(dbname="keybuzz_prod", user="keybuzz_api_prod",
                       password=legacy_password(lab, "keybuzz_api_prod")),
        sslmode="require", application_name="keybuzz-api", autocommit=True,
    )  # fmt: skip
    held.append(legacy)
    return held


def _vault(lab: Lab) -> None:
    from lab.bao import ensure_mount

    vault = lab.vault()
    ensure_mount(vault, "database", "database")
    ensure_mount(vault, "database-prod", "database")
    vault.write(
        "database/config/keybuzz-postgres",
        {"plugin_name": "postgresql-database-plugin", "verify_connection": False, "allowed_roles": ["keybuzz-api"],
         "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{HOST}:{lab.ports.lb_write}/keybuzz_prod",
         "username": "postgres", "password": "lab-test-only-not-used"},
    )  # fmt: skip
    vault.write(
        "database/roles/keybuzz-api",
        {"db_name": "keybuzz-postgres", "creation_statements": ['CREATE ROLE "{{name}}" LOGIN'], "default_ttl": 3600},
    )


def diverge(lab: Lab) -> list[psycopg.Connection[Any]]:
    _kubernetes(lab)
    _vault(lab)
    return _postgres(lab)


def secret_versions(lab: Lab, ns: str) -> dict[str, str]:
    """Secrets' resourceVersions, read as metadata only (the test never reads a Secret's value either)."""
    ctx = ssl.create_default_context(cafile=str(lab.kube.dir / "certs" / "apiserver.crt"))
    req = urllib.request.Request(f"{lab.kube.url}/api/v1/namespaces/{ns}/secrets")
    req.add_header("Authorization", f"Bearer {lab.kube.token}")
    req.add_header("Accept", METADATA_ONLY)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        items = json.loads(resp.read())["items"] or []
    return {f"Secret/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in items}


def snapshot(lab: Lab) -> dict[str, Any]:
    """What a write would change: every object's resourceVersion in the adopted namespaces, the catalog facts
    the preflight reads, and Vault's mounts and the old connection's config."""
    kube: dict[str, str] = {}
    for ns in NAMESPACES:
        kube[f"Namespace/{ns}"] = k8s(lab, f"/api/v1/namespaces/{ns}")["metadata"]["resourceVersion"]
        for path in LISTS:
            for item in k8s(lab, "/" + path.format(ns=ns))["items"] or []:
                kube[f"{path.rsplit('/', 1)[1]}/{ns}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        kube.update(secret_versions(lab, ns))
    with psycopg.connect(**lab.conninfo()) as conn:
        roles = conn.execute("SELECT rolname, rolcanlogin, rolsuper FROM pg_roles ORDER BY 1").fetchall()
        dbs = conn.execute("SELECT datname, datdba::regrole::text, datacl::text FROM pg_database ORDER BY 1").fetchall()
        members = conn.execute("SELECT roleid, member FROM pg_auth_members ORDER BY 1, 2").fetchall()
    with psycopg.connect(**lab.conninfo(dbname="keybuzz_prod")) as conn:
        owners = conn.execute(
            "SELECT 'c', oid::regclass::text, relowner::regrole::text, relacl::text FROM pg_class UNION ALL "
            "SELECT 't', oid::regtype::text, typowner::regrole::text, '' FROM pg_type UNION ALL "
            "SELECT 'p', oid::regprocedure::text, proowner::regrole::text, proacl::text FROM pg_proc ORDER BY 1, 2"
        ).fetchall()
    vault = lab.vault()
    mounts = sorted(vault.read("sys/mounts")["data"])
    connection = vault.read("database/config/keybuzz-postgres")["data"]
    return {"kube": kube, "roles": roles, "dbs": dbs, "members": members, "owners": owners, "mounts": mounts,
            "connection": connection}  # fmt: skip


def lines(report: str) -> list[str]:
    return report.splitlines()


def line_with(report: str, *needles: str) -> str:
    found = [line for line in lines(report) if all(n in line for n in needles)]
    assert found, f"no line with {needles} in:\n{report}"
    return found[0]
