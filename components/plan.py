"""What one environment declares, decided from its config without creating anything: `plan(config)`.

`Environment` creates exactly what the plan says; every decision (which app has a database, which Secrets
a Deployment reads, whether the backend migrates, where each name comes from, every stack-wide knob) is
taken here once, as plain data that a test can read directly. Names come from `Naming` only. This is the
only module outside components/config/ that reads the config: the components get what the plan hands them.
The secret values travel as `SecretStr` (`StackSecrets`), unwrapped only by `Environment` into Pulumi
secrets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from .catalog import MIGRATIONS_COMMAND, MIGRATIONS_SECRET, AppKind
from .config import StackConfig, app_names
from .k8s import selector_of
from .naming import Naming
from .spec import (
    AppAccess,
    Credentials,
    DatabaseSecret,
    DatabaseSpec,
    Endpoint,
    EngineRole,
    KvSecret,
    SslMode,
    VaultLogin,
)

#: The Vault role, policy and service account of the backend's Prisma migrations.
MIGRATIONS = "migrations"


@dataclass(frozen=True)
class MigrationsPlan:
    """The backend's migrations Job: its identity, its image and command, its credentials."""

    workload: str
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
    #: Its Deployment, container, Service and label name (``Naming.workload``).
    workload: str
    #: The labels selecting its pods (the Deployment's selector, the HTTP ingress policy's pods).
    selector: Mapping[str, str]
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
    credentials: Credentials | None
    #: The LBs its pods connect to (NetworkPolicy egress).
    lb_egress: tuple[Endpoint, ...]
    adopt_namespace: bool
    #: The backend's migrations, run before its Deployment rolls.
    migrations: MigrationsPlan | None
    #: Whether its Deployment rolls only after the migrations Job (same image and database as the backend).
    rolls_after_migrations: bool


@dataclass(frozen=True)
class StackSecrets:
    """The stack's secret values, still wrapped (`SecretStr` never prints them)."""

    postgres_admin_password: SecretStr
    vault_token: SecretStr
    vault_db_password: SecretStr
    kubeconfig: SecretStr
    #: KV path (inside the KV mount) -> the JSON object written there, from `appSecretEnv`.
    kv: Mapping[str, SecretStr]


@dataclass(frozen=True)
class ProvidersPlan:
    """How the explicit providers reach this environment's estate (and nothing else)."""

    lb: Endpoint
    postgres_admin_username: str
    ssl_mode: SslMode
    vault_address: str
    #: The adoption ups take over objects that already exist instead of failing with AlreadyExists.
    kubernetes_upsert_existing: bool


@dataclass(frozen=True)
class PostgresPlan:
    """The databases, their groups and Vault's logins; the adoption of the estate's."""

    databases: tuple[DatabaseSpec, ...]
    vault_login_password_version: int
    #: Every database holds data, DEV's too (13 tenants, 8,400+ conversations in `keybuzz`).
    protect: bool
    legacy_phase: str
    adopt_databases: frozenset[str]
    adopt_roles: frozenset[str]


@dataclass(frozen=True)
class EnginePlan:
    """The Vault database secrets engine of this environment."""

    mount: str
    #: Vault connection name per database.
    connections: Mapping[str, str]
    #: Vault database roles (one per app that uses a database, plus the migrations').
    roles: tuple[EngineRole, ...]
    ssl_mode: SslMode
    default_ttl: int
    max_ttl: int
    protect: bool
    adopt_mount: bool


@dataclass(frozen=True)
class RotationPlan:
    """The scheduled rotate-root of every connection (a CronJob in the ops namespace)."""

    name: str
    namespace: str
    vault_address: str
    kubernetes_auth_mount: str
    schedule: str
    adopt_namespace: bool


@dataclass(frozen=True)
class AccessPlan:
    """Vault policies and Kubernetes-auth roles (one per app, plus the migrations'); the KV secrets' paths."""

    kv_mount: str
    kubernetes_auth_mount: str
    workloads: tuple[AppAccess, ...]
    token_ttl: int
    credential_ttl: int
    #: KV paths written from `appSecretEnv`, per app.
    kv_paths: Mapping[str, str]


@dataclass(frozen=True)
class ReloaderPlan:
    """The environment's Reloader: where it runs and as whom."""

    namespace: str
    service_account: str


@dataclass(frozen=True)
class EnvironmentPlan:
    """Everything one stack declares, as data."""

    env: str
    naming: Naming
    lb: Endpoint
    secrets: StackSecrets
    providers: ProvidersPlan
    postgres: PostgresPlan
    engine: EnginePlan
    rotation: RotationPlan
    access: AccessPlan
    reloader: ReloaderPlan
    apps: tuple[AppPlan, ...]
    #: The KV mount the SecretStores read and the ESO refreshInterval of every synced Secret, in seconds.
    kv_mount: str
    refresh_seconds: int
    #: Namespace of the ingress controller, the only outside namespace reaching the HTTP apps.
    ingress_namespace: str
    #: Lab stacks only (no kubelet): wait for nothing.
    skip_await: bool

    @property
    def databases(self) -> tuple[DatabaseSpec, ...]:
        return self.postgres.databases

    @property
    def connections(self) -> Mapping[str, str]:
        return self.engine.connections

    @property
    def roles(self) -> tuple[EngineRole, ...]:
        return self.engine.roles

    @property
    def workloads(self) -> tuple[AppAccess, ...]:
        return self.access.workloads

    @property
    def kv_paths(self) -> Mapping[str, str]:
        return self.access.kv_paths

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


def _databases(cfg: StackConfig, naming: Naming) -> tuple[DatabaseSpec, ...]:
    return tuple(
        DatabaseSpec(
            cfg.database_of(a), naming.owner_group(a), naming.reader_group(a), naming.vault_login(a),
            tuple(cfg.legacy_roles(a)),
        )
        for a in cfg.database_apps
    )  # fmt: skip


def _roles(cfg: StackConfig, naming: Naming, owner_of: Mapping[str, str], migrating: list[str]) -> list[EngineRole]:
    apps = app_names(cfg)
    roles = [EngineRole(naming.db_role(a), cfg.database_of(a), owner_of[cfg.database_of(a)])
             for a in apps if cfg.catalog[a].uses_database]  # fmt: skip
    roles += [
        EngineRole(naming.db_role(MIGRATIONS), cfg.database_of(a), owner_of[cfg.database_of(a)]) for a in migrating
    ]
    return roles


def _workloads(cfg: StackConfig, naming: Naming, migrating: list[str]) -> list[AppAccess]:
    workloads = [
        AppAccess(
            app=a, policy=naming.policy(a), auth_role=naming.auth_role(a), namespace=naming.namespace(a),
            service_account=naming.service_account(a), kv_prefix=naming.kv_app_prefix(a),
            creds_paths=[naming.creds_path(a)] if cfg.catalog[a].uses_database else [],
        )
        for a in app_names(cfg)
    ]  # fmt: skip
    workloads += [
        AppAccess(
            app=MIGRATIONS, policy=naming.policy(MIGRATIONS), auth_role=naming.auth_role(MIGRATIONS),
            namespace=naming.namespace(a), service_account=naming.service_account(MIGRATIONS), kv_prefix=None,
            creds_paths=[naming.creds_path(MIGRATIONS)],
        )
        for a in migrating
    ]  # fmt: skip
    return workloads


def _app(cfg: StackConfig, naming: Naming, a: str, migrating: list[str], secret_apps: set[str]) -> AppPlan:
    kind = cfg.catalog[a]
    lb, redis = cfg.postgres_write_endpoint, cfg.redis_endpoint
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
            naming.workload(MIGRATIONS), naming.service_account(MIGRATIONS), cfg.image(a), tuple(MIGRATIONS_COMMAND),
            _database_secret(cfg, MIGRATIONS_SECRET, naming.creds_path(MIGRATIONS),
                             _login(cfg, naming, MIGRATIONS), a, True),
        )  # fmt: skip
    plain_env = {}
    if kind.uses_redis:
        plain_env = {"REDIS_HOST": redis.host, "REDIS_PORT": str(redis.port), "REDIS_URL": f"redis://{redis}"}
    return AppPlan(
        app=a,
        kind=kind,
        namespace=naming.namespace(a),
        workload=naming.workload(a),
        selector=selector_of(naming.workload(a)),
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


def plan(cfg: StackConfig) -> EnvironmentPlan:
    """The environment `cfg` describes (pure: no resource, no I/O)."""
    naming = cfg.naming
    apps = app_names(cfg)
    secret_env = cfg.secret_env()
    databases = _databases(cfg, naming)
    migrating = [a for a in apps if _migrates(cfg.catalog[a])]
    kv_paths = {a: naming.kv_path(a, "env") for a in apps if a in secret_env}
    return EnvironmentPlan(
        env=cfg.environment,
        naming=naming,
        lb=cfg.postgres_write_endpoint,
        secrets=StackSecrets(
            cfg.postgres_admin_password,
            cfg.vault_token,
            cfg.vault_db_password,
            cfg.kubeconfig,
            {path: SecretStr(json.dumps(secret_env[a], sort_keys=True)) for a, path in kv_paths.items()},
        ),
        providers=ProvidersPlan(
            cfg.postgres_write_endpoint,
            cfg.postgres_admin_username,
            cfg.postgres_ssl_mode,
            cfg.vault_address,
            cfg.kubernetes_upsert_existing,
        ),
        postgres=PostgresPlan(
            databases,
            cfg.vault_db_password_version,
            True,
            cfg.legacy_login_phase,
            frozenset(cfg.adopt_databases),
            frozenset(cfg.adopt_roles),
        ),
        engine=EnginePlan(
            naming.database_mount(),
            {d.name: naming.connection(d.name) for d in databases},
            tuple(_roles(cfg, naming, {d.name: d.owner_group for d in databases}, migrating)),
            cfg.postgres_ssl_mode,
            cfg.credential_ttl_seconds,
            cfg.credential_max_ttl_seconds,
            naming.protected,
            naming.database_mount() in cfg.adopt_vault_mounts,
        ),
        rotation=RotationPlan(
            naming.root_rotation(),
            naming.ops_namespace(),
            cfg.vault_in_cluster,
            cfg.vault_kubernetes_auth_mount,
            cfg.vault_root_rotation_schedule,
            naming.ops_namespace() in cfg.adopt_namespaces,
        ),
        access=AccessPlan(
            cfg.vault_kv_mount,
            cfg.vault_kubernetes_auth_mount,
            tuple(_workloads(cfg, naming, migrating)),
            cfg.vault_login_ttl,
            cfg.credential_ttl_seconds,
            kv_paths,
        ),
        reloader=ReloaderPlan(naming.reloader_namespace(), naming.reloader_service_account()),
        apps=tuple(_app(cfg, naming, a, migrating, set(secret_env)) for a in apps),
        kv_mount=cfg.vault_kv_mount,
        refresh_seconds=cfg.secret_refresh_seconds,
        ingress_namespace=cfg.ingress_namespace,
        skip_await=cfg.kubernetes_skip_await,
    )
