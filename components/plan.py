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

from .app import MigrationsArgs, ServiceArgs
from .catalog import MIGRATIONS_COMMAND, MIGRATIONS_SECRET, AppKind
from .config import StackConfig, app_names
from .external_secrets import STORE_NAME, AppSecretsArgs
from .k8s import selector_or
from .namespace import AppNamespaceArgs
from .naming import Naming
from .pg_adoption import AdminConnection
from .postgres import DatabasesArgs
from .reloader import ReloaderArgs
from .spec import (
    AppAccess,
    DatabaseSecret,
    DatabaseSpec,
    Endpoint,
    EngineRole,
    KvSecret,
    SslMode,
    VaultLogin,
)
from .vault_access import AccessArgs
from .vault_engine import DatabaseEngineArgs, EngineDatabase
from .vault_rotation import RootRotationArgs

#: The Vault role, policy and service account of the backend's Prisma migrations.
MIGRATIONS = "migrations"


@dataclass(frozen=True)
class AppPlan:
    """One app: the arguments of its namespace, its ESO objects, its migrations and its workload.

    Arguments that are other resources' outputs (the namespace's name, the migrations Job a Deployment rolls
    after, the Vault roles ESO logs in with) are left to `Environment`: the namespaces here are names.
    """

    app: str
    kind: AppKind
    namespace: str
    #: Its namespace and NetworkPolicies.
    isolation: AppNamespaceArgs
    #: Its SecretStore and the Secrets ESO writes for it; None when it has none (nor do its migrations).
    secrets: AppSecretsArgs | None
    #: The backend's migrations, run before its Deployment rolls.
    migrations: MigrationsArgs | None
    service: ServiceArgs
    #: Whether its Deployment rolls only after the migrations Job (same image and database as the backend).
    rolls_after_migrations: bool


@dataclass(frozen=True)
class ProvidersPlan:
    """How the explicit providers reach this environment's estate (and nothing else)."""

    lb: Endpoint
    postgres_admin_username: str
    postgres_admin_password: SecretStr
    ssl_mode: SslMode
    vault_address: str
    vault_token: SecretStr
    kubeconfig: SecretStr
    #: The adoption ups take over objects that already exist instead of failing with AlreadyExists.
    kubernetes_upsert_existing: bool


@dataclass(frozen=True)
class EnvironmentPlan:
    """Everything one stack declares, as data: each component's arguments, and the stack-wide knobs once.

    Inputs that are other resources' outputs (a namespace's name, a login role's name) are left to
    `Environment`, which fills them in with `dataclasses.replace` where it creates the component.
    """

    env: str
    naming: Naming
    lb: Endpoint
    providers: ProvidersPlan
    postgres: DatabasesArgs
    engine: DatabaseEngineArgs
    rotation: RootRotationArgs
    access: AccessArgs
    #: Its `app_namespaces` are this environment's namespace names (Environment hands it their resources).
    reloader: ReloaderArgs
    apps: tuple[AppPlan, ...]
    #: KV paths written from `appSecretEnv`, per app.
    kv_paths: Mapping[str, str]

    @property
    def databases(self) -> tuple[DatabaseSpec, ...]:
        return tuple(self.postgres.databases)

    @property
    def connections(self) -> Mapping[str, str]:
        """Vault connection name per database."""
        return {d.name: d.connection for d in self.engine.databases}

    @property
    def roles(self) -> tuple[EngineRole, ...]:
        return tuple(self.engine.roles)

    @property
    def workloads(self) -> tuple[AppAccess, ...]:
        return tuple(self.access.workloads)

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(a.namespace for a in self.apps)

    @property
    def http_ports(self) -> tuple[int, ...]:
        return tuple(port for a in self.apps if (port := a.service.port) is not None)


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


@dataclass(frozen=True)
class _Environment:
    """What every app's plan reads of the whole environment, computed once per plan."""

    migrating: list[str]
    secret_apps: set[str]
    #: Every app namespace, and the HTTP apps' ports: the only peers an app namespace talks to.
    namespaces: list[str]
    http_ports: list[int]


def _app(cfg: StackConfig, naming: Naming, a: str, around: _Environment) -> AppPlan:
    kind, namespace, workload, settings = cfg.catalog[a], naming.namespace(a), naming.workload(a), cfg.app(a)
    lb, redis = cfg.postgres_write_endpoint, cfg.redis_endpoint
    login = _login(cfg, naming, a)
    keeps_estate = cfg.keeps_estate_secret(a)
    database_secrets: list[DatabaseSecret] = []
    if kind.db_secret_name and not keeps_estate:
        database_secrets = [_database_secret(cfg, kind.db_secret_name, naming.creds_path(a), login, a,
                                             kind.wants_database_url)]  # fmt: skip
    db_env = [kind.db_secret_name] if kind.db_secret_name else []
    kv_secrets = [KvSecret(naming.kv_secret_name(a), naming.kv_path(a, "env"))] if a in around.secret_apps else []
    migrations = _migrations(cfg, naming, a) if _migrates(kind) else None
    plain_env = {}
    if kind.uses_redis:
        plain_env = {"REDIS_HOST": redis.host, "REDIS_PORT": str(redis.port), "REDIS_URL": f"redis://{redis}"}
    return AppPlan(
        app=a,
        kind=kind,
        namespace=namespace,
        isolation=AppNamespaceArgs(
            workload=workload, env=cfg.environment, namespace=namespace, http_port=settings.port,
            http_pods=selector_or(workload, settings.selector_labels),
            lb_egress=((lb,) if kind.uses_database else ()) + ((redis,) if kind.uses_redis else ()),
            environment_namespaces=around.namespaces, environment_http_ports=around.http_ports,
            ingress_namespace=cfg.ingress_namespace, skip_await=cfg.kubernetes_skip_await,
            adopt=namespace in cfg.adopt_namespaces, egress=settings.egress,
            node_addresses=[*cfg.postgres_nodes, *cfg.redis_nodes], scrape_namespace=cfg.monitoring_namespace,
        ),
        secrets=AppSecretsArgs(
            namespace=namespace, store_login=login, kv_mount=cfg.vault_kv_mount, database_secrets=database_secrets,
            kv_secrets=kv_secrets, refresh_seconds=cfg.secret_refresh_seconds,
            estate_external_secrets={s.secret_name: settings.estate_external_secret for s in database_secrets
                                     if settings.estate_external_secret},
        ) if database_secrets or kv_secrets or migrations else None,
        migrations=migrations,
        service=ServiceArgs(
            kind=kind, env=cfg.environment, workload=workload, namespace=namespace,
            service_account=naming.service_account(a), image=settings.image, replicas=settings.replicas,
            port=settings.port, command=settings.command,
            plain_env=plain_env, secret_env_from=db_env + [k.secret_name for k in kv_secrets],
            skip_await=cfg.kubernetes_skip_await,
            credentials=None if not kind.uses_database else "estate" if keeps_estate else "vault",
            selector_labels=settings.selector_labels, service_port_name=settings.service_port_name or "http",
            extra_env_from=settings.extra_env_from, image_pull_secrets=settings.image_pull_secrets,
        ),
        rolls_after_migrations=(
            not _migrates(kind)
            and kind.uses_database
            and any(_migrates(cfg.catalog[m]) and cfg.database_of(m) == cfg.database_of(a) for m in around.migrating)
        ),
    )  # fmt: skip


def _migrations(cfg: StackConfig, naming: Naming, a: str) -> MigrationsArgs:
    """The migrations Job of `a` (the backend): its own service account and Vault role, the app's image."""
    return MigrationsArgs(
        env=cfg.environment,
        workload=naming.workload(MIGRATIONS),
        namespace=naming.namespace(a),
        service_account=naming.service_account(MIGRATIONS),
        image=cfg.image(a),
        command=tuple(MIGRATIONS_COMMAND),
        secret=_database_secret(
            cfg, MIGRATIONS_SECRET, naming.creds_path(MIGRATIONS), _login(cfg, naming, MIGRATIONS), a, True
        ),
        refresh_seconds=cfg.secret_refresh_seconds,
        store_name=STORE_NAME,
        skip_await=cfg.kubernetes_skip_await,
    )


def _postgres(cfg: StackConfig, databases: tuple[DatabaseSpec, ...]) -> DatabasesArgs:
    lb = cfg.postgres_write_endpoint
    return DatabasesArgs(
        databases=databases,
        vault_login_password=cfg.vault_db_password,
        vault_login_password_version=cfg.vault_db_password_version,
        admin=AdminConnection(
            lb.host, lb.port, cfg.postgres_admin_username, cfg.postgres_admin_password, cfg.postgres_ssl_mode
        ),
        protect=True,  # every database holds data, DEV's too (13 tenants, 8,400+ conversations in `keybuzz`)
        legacy_phase=cfg.legacy_login_phase,
        adopt_databases=frozenset(cfg.adopt_databases),
        adopt_roles=frozenset(cfg.adopt_roles),
    )


def _engine(
    cfg: StackConfig, naming: Naming, databases: tuple[DatabaseSpec, ...], migrating: list[str]
) -> DatabaseEngineArgs:
    lb = cfg.postgres_write_endpoint
    return DatabaseEngineArgs(
        mount=naming.database_mount(),
        databases=[EngineDatabase(d.name, naming.connection(d.name), d.vault_login) for d in databases],
        roles=_roles(cfg, naming, {d.name: d.owner_group for d in databases}, migrating),
        lb=lb,
        ssl_mode=cfg.postgres_ssl_mode,
        login_password=cfg.vault_db_password,
        login_password_version=cfg.vault_db_password_version,
        default_ttl=cfg.credential_ttl_seconds,
        max_ttl=cfg.credential_max_ttl_seconds,
        protect=naming.protected,
        adopt_mount=naming.database_mount() in cfg.adopt_vault_mounts,
    )


def _rotation(cfg: StackConfig, naming: Naming, databases: tuple[DatabaseSpec, ...]) -> RootRotationArgs:
    return RootRotationArgs(
        env=cfg.environment,
        name=naming.root_rotation(),
        namespace=naming.ops_namespace(),
        vault_address=cfg.vault_in_cluster,
        kubernetes_auth_mount=cfg.vault_kubernetes_auth_mount,
        mount=naming.database_mount(),
        connections=[naming.connection(d.name) for d in databases],
        schedule=cfg.vault_root_rotation_schedule,
        vault_cidrs=cfg.vault_cidrs,
        adopt_namespace=naming.ops_namespace() in cfg.adopt_namespaces,
        skip_await=cfg.kubernetes_skip_await,
    )


def plan(cfg: StackConfig) -> EnvironmentPlan:
    """The environment `cfg` describes (pure: no resource, no I/O)."""
    naming = cfg.naming
    apps = app_names(cfg)
    secret_env = cfg.secret_env()
    databases = _databases(cfg, naming)
    migrating = [a for a in apps if _migrates(cfg.catalog[a])]
    around = _Environment(
        migrating,
        set(secret_env),
        [naming.namespace(a) for a in apps],
        [port for a in apps if (port := cfg.app(a).port) is not None],
    )
    kv_paths = {a: naming.kv_path(a, "env") for a in apps if a in secret_env}
    lb = cfg.postgres_write_endpoint
    return EnvironmentPlan(
        env=cfg.environment,
        naming=naming,
        lb=lb,
        providers=ProvidersPlan(
            lb,
            cfg.postgres_admin_username,
            cfg.postgres_admin_password,
            cfg.postgres_ssl_mode,
            cfg.vault_address,
            cfg.vault_token,
            cfg.kubeconfig,
            cfg.kubernetes_upsert_existing,
        ),
        postgres=_postgres(cfg, databases),
        engine=_engine(cfg, naming, databases, migrating),
        rotation=_rotation(cfg, naming, databases),
        access=AccessArgs(
            kv_mount=cfg.vault_kv_mount,
            kubernetes_auth_mount=cfg.vault_kubernetes_auth_mount,
            workloads=_workloads(cfg, naming, migrating),
            token_ttl=cfg.vault_login_ttl,
            credential_ttl=cfg.credential_ttl_seconds,
            kv_secrets={path: SecretStr(json.dumps(secret_env[a], sort_keys=True)) for a, path in kv_paths.items()},
        ),
        reloader=ReloaderArgs(
            env=cfg.environment,
            namespace=naming.reloader_namespace(),
            service_account=naming.reloader_service_account(),
            app_namespaces={naming.namespace(a): naming.namespace(a) for a in apps},
            api_server=cfg.kubernetes_api_egress,
            skip_await=cfg.kubernetes_skip_await,
        ),
        apps=tuple(_app(cfg, naming, a, around) for a in apps),
        kv_paths=kv_paths,
    )
