"""What one environment declares, decided from its config without creating anything: `plan(config)`.

`Environment` creates exactly what the plan says; every decision (which app has a database, which Secrets
a Deployment reads, whether the backend migrates, where each name comes from) is taken here once, as plain
data that a test can read directly. Names come from `Naming` only. Secret values are not in the plan: the
component reads them from the config when it creates the resources.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import MIGRATIONS_COMMAND, MIGRATIONS_SECRET, AppKind
from .config import Endpoint, StackConfig, app_names
from .external_secrets import DatabaseSecret, KvSecret, VaultLogin
from .naming import Naming
from .postgres import DatabaseSpec
from .vault_access import AppAccess
from .vault_engine import EngineRole

#: The Vault role, policy and service account of the backend's Prisma migrations.
MIGRATIONS = "migrations"


@dataclass(frozen=True)
class MigrationsPlan:
    """The backend's migrations Job: its identity, its image and command, its credentials."""

    service_account: str
    image: str
    command: tuple[str, ...]
    secret: DatabaseSecret


@dataclass(frozen=True)
class AppPlan:
    """One app: its namespace and identity, its workload, the Secrets it reads and the ones ESO writes."""

    app: str
    kind: AppKind
    namespace: str
    service_account: str
    image: str
    replicas: int
    #: How ESO logs in to Vault for this app (its service account).
    login: VaultLogin
    #: Plain environment variables (LB endpoints); never a password.
    plain_env: dict[str, str]
    #: Secrets the Deployment reads, in order (database credentials, then the app's KV secrets).
    env_from: tuple[str, ...]
    #: Database Secrets ESO writes for it (none while it still reads the estate's, cutover phase kept).
    database_secrets: tuple[DatabaseSecret, ...]
    kv_secrets: tuple[KvSecret, ...]
    #: Whether its namespace has a SecretStore (it has ESO objects, or its migrations do).
    needs_store: bool
    #: Where its database credentials come from: "estate", "vault", or None (no database).
    credentials: str | None
    #: The LBs its pods connect to (NetworkPolicy egress).
    lb_egress: tuple[Endpoint, ...]
    adopt_namespace: bool
    #: The backend's migrations, run before its Deployment rolls.
    migrations: MigrationsPlan | None
    #: Whether its Deployment rolls only after the migrations Job (same image and database as the backend).
    rolls_after_migrations: bool


@dataclass(frozen=True)
class EnvironmentPlan:
    """Everything one stack declares, as data."""

    env: str
    naming: Naming
    lb: Endpoint
    databases: tuple[DatabaseSpec, ...]
    #: Vault connection name per database.
    connections: dict[str, str]
    #: Vault database roles (one per app that uses a database, plus the migrations').
    roles: tuple[EngineRole, ...]
    #: Vault policies and Kubernetes-auth roles (one per app, plus the migrations').
    workloads: tuple[AppAccess, ...]
    #: KV paths written from `appSecretEnv`, per app.
    kv_paths: dict[str, str]
    apps: tuple[AppPlan, ...]

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(a.namespace for a in self.apps)

    @property
    def http_ports(self) -> tuple[int, ...]:
        return tuple(port for a in self.apps if (port := a.kind.port) is not None)


def _migrates(kind: AppKind) -> bool:
    """Whether an app runs Prisma migrations before it rolls (a catalog fact, read here only)."""
    return kind.runs_migrations


def _database_secret(
    cfg: StackConfig, name: str, creds_path: str, login: VaultLogin, app: str, url: bool
) -> DatabaseSecret:
    return DatabaseSecret(
        name, creds_path, login, cfg.postgres_write_endpoint, cfg.database_of(app), cfg.postgres_ssl_mode, url
    )


def _login(cfg: StackConfig, naming: Naming, workload: str) -> VaultLogin:
    return VaultLogin(
        cfg.vault_in_cluster,
        cfg.vault_kubernetes_auth_mount,
        naming.auth_role(workload),
        naming.service_account(workload),
    )


def plan(cfg: StackConfig) -> EnvironmentPlan:
    """The environment `cfg` describes (pure: no resource, no I/O)."""
    naming = cfg.naming
    lb, redis = cfg.postgres_write_endpoint, cfg.redis_endpoint
    apps = app_names(cfg)
    secret_apps = set(cfg.secret_env())

    databases = tuple(
        DatabaseSpec(
            cfg.database_of(a), naming.owner_group(a), naming.reader_group(a), naming.vault_login(a),
            tuple(cfg.legacy_roles(a)),
        )
        for a in cfg.database_apps
    )  # fmt: skip
    owner_of = {d.name: d.owner_group for d in databases}
    migrating = [a for a in apps if _migrates(cfg.catalog[a])]

    roles = [EngineRole(naming.db_role(a), cfg.database_of(a), owner_of[cfg.database_of(a)])
             for a in apps if cfg.catalog[a].uses_database]  # fmt: skip
    roles += [
        EngineRole(naming.db_role(MIGRATIONS), cfg.database_of(a), owner_of[cfg.database_of(a)]) for a in migrating
    ]

    workloads = [
        AppAccess(
            app=a, policy=naming.policy(a), auth_role=naming.auth_role(a), namespace=naming.namespace(a),
            service_account=naming.service_account(a), kv_prefix=naming.kv_app_prefix(a),
            creds_paths=[naming.creds_path(a)] if cfg.catalog[a].uses_database else [],
        )
        for a in apps
    ]  # fmt: skip
    workloads += [
        AppAccess(
            app=MIGRATIONS, policy=naming.policy(MIGRATIONS), auth_role=naming.auth_role(MIGRATIONS),
            namespace=naming.namespace(a), service_account=naming.service_account(MIGRATIONS), kv_prefix=None,
            creds_paths=[naming.creds_path(MIGRATIONS)],
        )
        for a in migrating
    ]  # fmt: skip

    app_plans = []
    for a in apps:
        kind = cfg.catalog[a]
        login = _login(cfg, naming, a)
        keeps_estate = cfg.keeps_estate_secret(a)
        database_secrets: tuple[DatabaseSecret, ...] = ()
        if kind.db_secret_name and not keeps_estate:
            database_secrets = (_database_secret(cfg, kind.db_secret_name, naming.creds_path(a), login, a,
                                                 kind.wants_database_url),)  # fmt: skip
        db_env: tuple[str, ...] = (kind.db_secret_name,) if kind.db_secret_name else ()
        kv_secrets = (KvSecret(naming.kv_secret_name(a), naming.kv_path(a, "env")),) if a in secret_apps else ()
        migrations = None
        if _migrates(kind):
            migrations = MigrationsPlan(
                naming.service_account(MIGRATIONS), cfg.image(a), tuple(MIGRATIONS_COMMAND),
                _database_secret(cfg, MIGRATIONS_SECRET, naming.creds_path(MIGRATIONS),
                                 _login(cfg, naming, MIGRATIONS), a, True),
            )  # fmt: skip
        plain_env = {}
        if kind.uses_redis:
            plain_env = {"REDIS_HOST": redis.host, "REDIS_PORT": str(redis.port), "REDIS_URL": f"redis://{redis}"}
        app_plans.append(
            AppPlan(
                app=a,
                kind=kind,
                namespace=naming.namespace(a),
                service_account=naming.service_account(a),
                image=cfg.image(a),
                replicas=cfg.app(a).replicas,
                login=login,
                plain_env=plain_env,
                env_from=db_env + tuple(k.secret_name for k in kv_secrets),
                database_secrets=database_secrets,
                kv_secrets=kv_secrets,
                needs_store=bool(database_secrets or kv_secrets or migrations),
                credentials=None if not kind.uses_database else "estate" if keeps_estate else "vault",
                lb_egress=((lb,) if kind.uses_database else ()) + ((redis,) if kind.uses_redis else ()),
                adopt_namespace=naming.namespace(a) in cfg.adopt_namespaces,
                migrations=migrations,
                rolls_after_migrations=(
                    not _migrates(kind)
                    and kind.uses_database
                    and any(_migrates(cfg.catalog[m]) and cfg.database_of(m) == cfg.database_of(a) for m in migrating)
                ),
            )
        )

    return EnvironmentPlan(
        env=cfg.environment,
        naming=naming,
        lb=lb,
        databases=databases,
        connections={d.name: naming.connection(d.name) for d in databases},
        roles=tuple(roles),
        workloads=tuple(workloads),
        kv_paths={a: naming.kv_path(a, "env") for a in apps if a in secret_apps},
        apps=tuple(app_plans),
    )
