"""A second lab estate, written by hand from the seeds' operations reports instead of from the program.

`lab/estate.py` seeds the estate with the program's own selectors, labels, port names and Secret names, so
the adoption tests there prove the program against itself. This module builds PROD's estate the way the
seeds show it was made by hand (``../shared/seeds``; docs/lab.md, "The seeds-shaped estate"), for the
lab-prod stack (the shipped ``Pulumi.prod.yaml``):

* Kubernetes, with kubectl's field manager (PH28.2 §4.1 ``k8s/keybuzz-api-prod/deployment.yaml``): per
  adopted app namespace a Deployment ``keybuzz-<app>`` selecting and labelled ``app: keybuzz-<app>`` only,
  its container ``keybuzz-<app>`` with an *unnamed* ``containerPort``, running as the namespace's
  ``default`` service account with a pod-spec ``imagePullSecrets`` entry ``ghcr-pull`` (the images are on
  ghcr.io, PH28.2 §5); a Service ``keybuzz-<app>`` selecting ``app: keybuzz-<app>``, port 80 named
  ``web`` with a number-only ``targetPort``. The api reads ``envFrom`` [``keybuzz-api-postgres``,
  ``keybuzz-api-smtp``] (it sends mail, PH28.2 §6.1: a Secret the program knows nothing of).
* ESO (PH28.2 §3): the Secret ``keybuzz-api-postgres`` is owned by an estate ExternalSecret with another
  name than the program's (`ESTATE_EXTERNAL_SECRET`), reading KV ``keybuzz/prod/db_api`` (seeded in the
  lab's OpenBao with the legacy login) through an estate SecretStore ``vault-backend`` logged in as the
  namespace's ``default`` service account (its own Kubernetes auth role and policy).
* PostgreSQL: the legacy login ``keybuzz_api_prod`` owning ``keybuzz_prod`` (PH28.2 §2.3) and its tables;
  in it, an enum, a sequence and a function owned by the superuser (PH28.2: "Schema copié depuis DEV", run
  as ``postgres``); a second database owned by the legacy role (`OTHER_DATABASE`); the old Vault
  connection ``database/config/keybuzz-postgres`` (PH16 §3.2) issuing ``v-…`` users, one of them
  connected; and a monitoring login (`MONITORING_LOGIN`, PH17 §4's Prometheus) connected.

The connected sessions are held by small processes the lab starts (`hold_session`), recorded by PID in
``<state>/run/sessions`` and stopped by ``python -m lab down``. Idempotent: what exists is left as it is.
Every password is generated per lab (`lab.config.generated_secret`); everything listens on and talks to
127.0.0.1 only.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any, Final

import psycopg
from psycopg import sql

from lab.bao import database_engine
from lab.cluster import Lab
from lab.config import HOST, generated_secret
from lab.estate import create_as_kubectl, legacy_password
from lab.http import HttpError
from lab.procs import LabError, ProcTable, is_running, wait_for
from lab.stacks import NAMESPACE, shipped_config

#: The environment whose estate the seeds describe by hand (PH28.2: PROD rebuilt from manifests).
ENV: Final = "prod"
#: PH28.2 §2.1/§2.3: the database and its legacy owner.
DATABASE: Final = "keybuzz_prod"
LEGACY_ROLE: Final = "keybuzz_api_prod"
#: A second database the legacy role owns (no seed names one: the scratch copy PH28.2's "schema copied from
#: DEV" would have used). Nothing adopts it; phase `dropped` must not move or drop it.
OTHER_DATABASE: Final = "keybuzz_prod_schema_copy"
#: PH17 §4 "monitoring Prometheus": the exporter's login, connected to the adopted database.
MONITORING_LOGIN: Final = "postgres_exporter"
#: PH16 §3.2: the old database engine mount and connection, and the role its apps read ``v-…`` users from.
OLD_MOUNT: Final = "database"
OLD_CONNECTION: Final = "keybuzz-postgres"
OLD_ROLE: Final = "keybuzz-api"
#: PH28.2 §3.1: the KV path (mount ``secret``) holding PROD's database login.
KV_MOUNT: Final = "secret"
KV_PATH: Final = "keybuzz/prod/db_api"
#: The estate's ESO objects in keybuzz-api-prod: another store and another ExternalSecret than the program's
#: (``vault`` and ``keybuzz-api-postgres``), owning the program's database Secret.
ESTATE_STORE: Final = "vault-backend"
ESTATE_EXTERNAL_SECRET: Final = "keybuzz-api-postgres-sync"
DATABASE_SECRET: Final = "keybuzz-api-postgres"
SMTP_SECRET: Final = "keybuzz-api-smtp"
PULL_SECRET: Final = "ghcr-pull"
#: The estate's Vault login for its store: a Kubernetes auth role and a policy of its own.
ESTATE_AUTH_ROLE: Final = "eso-keybuzz-api-prod"
ESTATE_POLICY: Final = "eso-keybuzz-api-prod"
#: Per app of PROD: (image repository, the port its container listens on, its extra Secrets in envFrom order).
APPS: Final[Mapping[str, tuple[str, int, tuple[str, ...]]]] = {
    "api": ("ghcr.io/keybuzzio/keybuzz-api", 3001, (DATABASE_SECRET, SMTP_SECRET)),
    "client": ("ghcr.io/keybuzzio/keybuzz-client", 3000, ()),
}

#: The data of the adopted database: tables as the legacy role (the running api created them) ...
LEGACY_OBJECTS: Final = (
    "CREATE TABLE tenants (id text PRIMARY KEY, name text NOT NULL)",
    "CREATE TABLE conversations (id serial PRIMARY KEY, tenant_id text REFERENCES tenants, subject text)",
    "INSERT INTO tenants VALUES ('kbz-001', 'KeyBuzz')",
    "INSERT INTO conversations (tenant_id, subject) VALUES ('kbz-001', 'Commande 404 retardée')",
)
#: ... and, as the superuser (PH28.2 copied the schema as `postgres`), an enum, a sequence and a function.
SUPERUSER_OBJECTS: Final = (
    "CREATE TYPE conversation_status AS ENUM ('open', 'pending', 'closed')",
    "CREATE SEQUENCE ticket_number_seq",
    "CREATE FUNCTION next_ticket_number() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('ticket_number_seq') $$",
)
#: The sessions held open (`hold_session`): who, in which database, under which application_name.
SESSIONS_DIR: Final = "sessions"


def app_label(app: str) -> dict[str, str]:
    """The only label of an estate workload (PH28.2's manifests): ``app: keybuzz-<app>``."""
    return {"app": f"keybuzz-{app}"}


def monitoring_password(lab: Lab) -> str:
    return generated_secret(lab.layout, f"estate-{MONITORING_LOGIN}")


def sessions(lab: Lab) -> ProcTable:
    """The processes holding the estate's sessions open (stopped by `Lab.down`)."""
    return ProcTable(lab.layout.run_dir / SESSIONS_DIR)


def adopted_namespaces() -> list[str]:
    return [str(n) for n in shipped_config(ENV).get(f"{NAMESPACE}:adoptNamespaces") or []]


# --- PostgreSQL -------------------------------------------------------------------------------


def _ensure_role(cur: psycopg.Cursor[Any], name: str, password: str, extra: str = "") -> bool:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    if cur.fetchone() is not None:
        return False
    cur.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + extra).format(sql.Identifier(name), sql.Literal(password))
    )
    return True


def _ensure_database(cur: psycopg.Cursor[Any], name: str, owner: str) -> bool:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    if cur.fetchone() is not None:
        return False
    cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    return True


def _seed_database(lab: Lab) -> bool:
    """The adopted database's objects: the legacy role's tables, then the superuser's enum, sequence and
    function. Skipped when the database already has tables."""
    with psycopg.connect(**lab.conninfo(dbname=DATABASE), autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_tables WHERE schemaname = 'public' LIMIT 1")
        if cur.fetchone() is not None:
            return False
        cur.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(LEGACY_ROLE)))
        cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(LEGACY_ROLE)))
        for statement in LEGACY_OBJECTS:
            cur.execute(statement)  # fixed SQL of this module
        cur.execute("RESET ROLE")
        for statement in SUPERUSER_OBJECTS:
            cur.execute(statement)
        conn.commit()
    return True


def seed_postgres(lab: Lab) -> list[str]:
    """Roles, databases and their objects (what `lab.estate` also makes for PROD, plus the seeds' extras)."""
    made = []
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn, conn.cursor() as cur:
        if _ensure_role(cur, LEGACY_ROLE, legacy_password(lab, LEGACY_ROLE)):
            made.append(f"role/{LEGACY_ROLE}")
        if _ensure_role(cur, MONITORING_LOGIN, monitoring_password(lab), "IN ROLE pg_monitor"):
            made.append(f"role/{MONITORING_LOGIN}")
        for database in (DATABASE, OTHER_DATABASE):
            if _ensure_database(cur, database, LEGACY_ROLE):
                made.append(f"database/{database}")
    if _seed_database(lab):
        made.append(f"objects/{DATABASE}")
    return made


# --- Vault: the old connection (PH16) and the KV secret (PH28.2) --------------------------------


def seed_vault(lab: Lab) -> list[str]:
    """The old database mount, its connection and role issuing ``v-…`` users, the KV login of PH28.2 §3.1,
    and the estate store's policy and Kubernetes auth role. Written every time (idempotent writes)."""
    # Users that are no member of the legacy role: what the old engine's apps read and write with. Their
    # default username template is v-<display name>-<role>-<random>-<time>.
    database_engine(lab, OLD_MOUNT, OLD_ROLE, connection=OLD_CONNECTION, ttl="24h", max_ttl="72h")
    vault = lab.vault()
    vault.write(
        f"{KV_MOUNT}/data/{KV_PATH}",
        {
            "data": {
                "PGHOST": HOST,
                "PGPORT": str(lab.ports.lb_write),
                "PGDATABASE": DATABASE,
                "PGUSER": LEGACY_ROLE,
                "PGPASSWORD": legacy_password(lab, LEGACY_ROLE),
            }
        },
    )
    vault.write(
        f"sys/policies/acl/{ESTATE_POLICY}",
        {"policy": f'path "{KV_MOUNT}/data/{KV_PATH}" {{ capabilities = ["read"] }}'},
    )
    vault.write(
        f"auth/kubernetes/role/{ESTATE_AUTH_ROLE}",
        {
            "bound_service_account_names": ["default"],
            "bound_service_account_namespaces": [f"keybuzz-api-{ENV}"],
            "token_policies": [ESTATE_POLICY],
            "token_ttl": 3600,
        },
    )
    return [f"vault/{OLD_MOUNT}/config/{OLD_CONNECTION}", f"vault/{KV_MOUNT}/{KV_PATH}"]


# --- the held sessions -----------------------------------------------------------------------------


def hold_session(lab: Lab, name: str, user: str, password: str, database: str) -> bool:
    """A process that logs in as `user` and stays connected (a running consumer), unless one holds it already.

    The password travels in the child's environment (libpq's ``PGPASSWORD``), never in its argv."""
    table = sessions(lab)
    record = table.get(name)
    if record is not None and record.alive():
        return False
    env = {
        # Not the caller's PG* (`python -m lab env` may name another lab's CA): TLS as the lab's clients use it.
        **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
        "PGSSLMODE": "require",
        "PGHOST": HOST,
        "PGPORT": str(lab.ports.lb_write),
        "PGUSER": user,
        "PGPASSWORD": password,
        "PGDATABASE": database,
        "PGAPPNAME": name,
        "PGCONNECT_TIMEOUT": "5",
    }
    record = table.spawn(
        name, [sys.executable, "-m", "lab.estate_seeds", "hold"], lab.layout.log(f"session-{name}"), env=env
    )

    def connected() -> bool:
        if not is_running(record.pid, record.ticks):
            raise LabError(f"the session {name} exited; see {lab.layout.log(f'session-{name}')}")
        return bool(session_pids(lab, user))

    wait_for(connected, 30, f"a session of {user} in {database}", 0.2)
    return True


def session_pids(lab: Lab, user: str) -> list[int]:
    """Backend pids of `user`'s sessions (pg_stat_activity through the LB, as the superuser)."""
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE usename = %s", (user,)).fetchall()
    return [int(r[0]) for r in rows]


def held_users(lab: Lab) -> dict[str, str]:
    """session name -> the login it holds (the v- user is only known once issued): from the sessions' own
    application_name, as an operator reads pg_stat_activity."""
    names = [r.name for r in sessions(lab).all() if r.alive()]
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name, usename FROM pg_stat_activity WHERE application_name = ANY(%s)", (names,)
        ).fetchall()
    return {str(a): str(u) for a, u in rows}


def seed_sessions(lab: Lab) -> list[str]:
    """One ``v-…`` user of the old connection and the monitoring login, each with a session held open."""
    made = []
    record = sessions(lab).get("estate-v-user")
    if record is None or not record.alive():  # a new v- user only when none is held
        issued = lab.vault().read(f"{OLD_MOUNT}/creds/{OLD_ROLE}")["data"]
        if hold_session(lab, "estate-v-user", issued["username"], issued["password"], DATABASE):
            made.append(f"session/{issued['username']}")
    if hold_session(lab, f"estate-{MONITORING_LOGIN}", MONITORING_LOGIN, monitoring_password(lab), DATABASE):
        made.append(f"session/{MONITORING_LOGIN}")
    return made


def stop_sessions(lab: Lab) -> list[str]:
    """Stop the session holders (by PID); the names that needed SIGKILL."""
    from lab.procs import stop

    table = sessions(lab)
    records = table.all()
    killed = stop(records, timeout=10)
    for record in records:
        table.drop(record.name)
    return killed


def _hold() -> int:
    """The session holder's main: connect with libpq's environment, stay idle, exit when the server goes."""
    with psycopg.connect("", autocommit=True) as conn:
        print(f"connected as {conn.info.user} to {conn.info.dbname}, backend pid {conn.info.backend_pid}", flush=True)
        while True:
            time.sleep(5)
            conn.execute("SELECT 1")


# --- Kubernetes ------------------------------------------------------------------------------


def deployment_manifest(app: str, tag: str) -> dict[str, Any]:
    """The hand-written Deployment of `app` (PH28.2 §4.1's manifest, as the seeds describe it)."""
    repository, port, secrets = APPS[app]
    container: dict[str, Any] = {
        "name": f"keybuzz-{app}",
        "image": f"{repository}:{tag}",
        "ports": [{"containerPort": port}],  # no name: the Service targets the number
    }
    if secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in secrets]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"keybuzz-{app}", "labels": app_label(app)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": app_label(app)},
            "template": {
                "metadata": {"labels": app_label(app)},
                "spec": {
                    # No serviceAccountName: the namespace's `default`.
                    "imagePullSecrets": [{"name": PULL_SECRET}],
                    "containers": [container],
                },
            },
        },
    }


def service_manifest(app: str) -> dict[str, Any]:
    """The hand-written Service: port 80 named ``web``, a number-only targetPort, selecting ``app:``."""
    _, port, _ = APPS[app]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"keybuzz-{app}", "labels": app_label(app)},
        "spec": {"selector": app_label(app), "ports": [{"name": "web", "port": 80, "targetPort": port}]},
    }


def _secret(name: str, data: Mapping[str, str], type_: str = "Opaque") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": type_, "stringData": data}


def _pull_secret(lab: Lab) -> dict[str, Any]:
    token = generated_secret(lab.layout, "estate-ghcr-pull")
    config = '{"auths": {"ghcr.io": {"username": "keybuzz-ci", "password": "' + token + '"}}}'
    return _secret(PULL_SECRET, {".dockerconfigjson": config}, "kubernetes.io/dockerconfigjson")


def _smtp_secret(lab: Lab) -> dict[str, Any]:
    return _secret(
        SMTP_SECRET,
        {"SMTP_HOST": "smtp.example.invalid", "SMTP_PORT": "587", "SMTP_USER": "keybuzz",
         "SMTP_PASSWORD": generated_secret(lab.layout, "estate-smtp")},
    )  # fmt: skip


def _estate_store(lab: Lab) -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": ESTATE_STORE},
        "spec": {
            "provider": {
                "vault": {
                    "server": f"http://{HOST}:{lab.ports.bao}",
                    "path": KV_MOUNT,
                    "version": "v2",
                    "auth": {
                        "kubernetes": {
                            "mountPath": "kubernetes",
                            "role": ESTATE_AUTH_ROLE,
                            "serviceAccountRef": {"name": "default"},
                        }
                    },
                }
            }
        },
    }


def _estate_external_secret() -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": ESTATE_EXTERNAL_SECRET},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": ESTATE_STORE, "kind": "SecretStore"},
            "target": {"name": DATABASE_SECRET, "creationPolicy": "Owner"},
            # Both ways of reading the estate's path, as hand-edited manifests mix them: every key, and one
            # key named explicitly (both must be gone once the program's ExternalSecret takes this one over).
            "data": [{"secretKey": "PGPASSWORD", "remoteRef": {"key": KV_PATH, "property": "PGPASSWORD"}}],
            "dataFrom": [{"extract": {"key": KV_PATH}}],
        },
    }


def seed_kubernetes(lab: Lab) -> list[str]:
    """The adopted namespaces and their hand-written objects; waits until the estate ExternalSecret wrote
    the api's database Secret (the Deployment reads it)."""
    config = shipped_config(ENV)
    made: list[str | None] = []
    for namespace in adopted_namespaces():
        app = namespace.removeprefix("keybuzz-").removesuffix(f"-{ENV}")
        status, body = lab.kube.request(
            "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        if status not in (201, 409):
            raise LabError(f"creating namespace {namespace} failed ({status}): {body}")
        if app not in APPS:
            continue
        core = f"/api/v1/namespaces/{namespace}"
        # The lab runs no service-account controller: the namespace's `default` is made as a cluster would.
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        made.append(create_as_kubectl(lab, f"{core}/serviceaccounts", account))
        made.append(create_as_kubectl(lab, f"{core}/secrets", _pull_secret(lab)))
        if app == "api":
            made.append(create_as_kubectl(lab, f"{core}/secrets", _smtp_secret(lab)))
            eso = f"/apis/external-secrets.io/v1/namespaces/{namespace}"
            made.append(create_as_kubectl(lab, f"{eso}/secretstores", _estate_store(lab)))
            made.append(create_as_kubectl(lab, f"{eso}/externalsecrets", _estate_external_secret()))
        tag = str(config.get(f"{NAMESPACE}:{app}ImageTag") or "unknown")
        deployments = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        made.append(create_as_kubectl(lab, deployments, deployment_manifest(app, tag)))
        made.append(create_as_kubectl(lab, f"{core}/services", service_manifest(app)))
    namespace = f"keybuzz-api-{ENV}"
    wait_for(
        lambda: lab.kube.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{DATABASE_SECRET}")[0] == 200,
        90,
        f"ESO to write {namespace}/{DATABASE_SECRET} from {KV_PATH} (see {lab.layout.log('external-secrets')})",
        1,
    )
    return [m for m in made if m]


# --- what Endpoints would select ---------------------------------------------------------------------


def endpoint_problems(service: Mapping[str, Any], deployment: Mapping[str, Any]) -> list[str]:
    """Why the Service's Endpoints would not list the Deployment's pods (empty: they would), judged from the
    objects as the endpoints controller does: the selector must match the pod template's labels, and each
    named targetPort must name a port of a container (a number needs no declared port).

    The lab runs no kubelet (no pod ever runs) nor deployment controller (no ReplicaSet): this comparison of
    the stored objects is what the lab can show of "the Service still selects the running pods"."""
    problems = []
    selector = dict(service["spec"].get("selector") or {})
    template = deployment["spec"]["template"]
    labels = dict(template["metadata"].get("labels") or {})
    missing = {k: v for k, v in selector.items() if labels.get(k) != v}
    if not selector:
        problems.append("the Service has no selector")
    elif missing:
        problems.append(f"the Service selects {missing}, which the pod template's labels {labels} lack")
    names = {p.get("name") for c in template["spec"]["containers"] for p in c.get("ports") or [] if p.get("name")}
    for port in service["spec"].get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and target not in names:
            problems.append(f"the Service's port {port.get('name')} targets {target!r}, which no container names")
    return problems


# --- entry points -----------------------------------------------------------------------------


def seed(lab: Lab, env: str = ENV) -> dict[str, list[str]]:
    """The seeds-shaped estate of `env` (only PROD's is described by hand in the seeds)."""
    if env != ENV:
        raise LabError(f"the seeds-shaped estate is PROD's (PH28.2): `{env}` has none, use the program's shape")
    if not lab.kube.kubeconfig_path.exists():
        raise LabError("the lab has no Kubernetes API: start it with `python -m lab up --kube` (make lab-up)")
    made = {"postgres": seed_postgres(lab)}
    try:
        made["vault"] = seed_vault(lab)
    except HttpError as exc:
        raise LabError(f"seeding OpenBao failed: {exc}") from exc
    made["kubernetes"] = seed_kubernetes(lab)
    made["sessions"] = seed_sessions(lab)
    return made


def main(argv: list[str]) -> int:
    if argv == ["hold"]:
        return _hold()
    print("usage: python -m lab.estate_seeds hold (started by `python -m lab estate --shape seeds`)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
