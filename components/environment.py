"""One KeyBuzz environment (DEV or PROD): everything a stack declares, composed."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_postgresql as postgresql
import pulumi_vault as vault

from .app import AppService, AppServiceArgs, Migrations, MigrationsArgs
from .catalog import CATALOG, MIGRATIONS_COMMAND, MIGRATIONS_SECRET
from .config import StackConfig, app_names
from .external_secrets import DatabaseSecret, ExternalSecrets, ExternalSecretsArgs, KvSecret, VaultLogin
from .postgres import DatabaseSpec, PostgresDatabases, PostgresDatabasesArgs
from .reloader import Reloader, ReloaderArgs
from .vault_access import AppAccess, VaultAccess, VaultAccessArgs
from .vault_engine import EngineDatabase, EngineRole, VaultDatabaseEngine, VaultDatabaseEngineArgs

MIGRATIONS = "migrations"


@dataclass(frozen=True)
class EnvironmentArgs:
    """Inputs of `Environment`: the stack's validated configuration."""

    config: StackConfig


class Environment(pulumi.ComponentResource):
    """The whole KeyBuzz platform of one environment.

    Type token: ``keybuzz:environment:Environment``.

    Children: explicit providers (postgresql, vault, kubernetes) built from the stack's config, so no
    ambient credential or kube context can reach another environment; then `PostgresDatabases`,
    `VaultDatabaseEngine`, `VaultAccess`, and per app an `AppService` and its `ExternalSecrets`; the
    backend's `Migrations` Job; the environment's `Reloader` (restarts an app when its Secrets change).

    Outputs: ``environment``, ``databases``, ``namespaces``, ``vault_mount``, ``postgres_endpoint``.
    """

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:environment:Environment", name, None, opts)
        cfg = args.config
        naming = cfg.naming
        env = cfg.environment
        lb = cfg.postgres_write_endpoint
        child = pulumi.ResourceOptions(parent=self)
        apps = app_names(cfg)

        # -- explicit providers: the only way any resource reaches the estate ---------------------
        pg_provider = postgresql.Provider(
            f"{name}-postgresql",
            host=lb.host,
            port=lb.port,
            username=cfg.postgres_admin_username,
            password=pulumi.Output.secret(cfg.postgres_admin_password.get_secret_value()),
            sslmode=cfg.postgres_ssl_mode,
            database="postgres",
            superuser=False,
            connect_timeout=15,
            opts=child,
        )
        vault_provider = vault.Provider(
            f"{name}-vault",
            address=cfg.vault_address,
            token=pulumi.Output.secret(cfg.vault_token.get_secret_value()),
            skip_child_token=True,
            opts=child,
        )
        k8s_provider = k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=pulumi.Output.secret(cfg.kubeconfig.get_secret_value()),
            opts=child,
        )
        with_pg = child.merge(pulumi.ResourceOptions(providers=[pg_provider]))
        with_vault = child.merge(pulumi.ResourceOptions(providers=[vault_provider]))
        with_k8s = child.merge(pulumi.ResourceOptions(providers=[k8s_provider]))

        # -- PostgreSQL -----------------------------------------------------------------------------
        db_apps = cfg.database_apps
        specs = [DatabaseSpec(cfg.database_of(a), naming.owner_group(a), naming.reader_group(a)) for a in db_apps]
        vault_password = pulumi.Output.secret(cfg.vault_db_password.get_secret_value())
        self.postgres = PostgresDatabases(
            f"{name}-postgres",
            PostgresDatabasesArgs(
                databases=specs,
                vault_login=naming.vault_login(),
                vault_login_password=vault_password,
                vault_login_password_version=cfg.vault_db_password_version,
                protect=True,  # every database holds data, DEV's too (13 tenants, 8,400+ conversations in `keybuzz`)
                adopt_databases=frozenset(cfg.adopt_databases),
                adopt_roles=frozenset(cfg.adopt_roles),
            ),
            opts=with_pg,
        )

        # -- Vault database engine ------------------------------------------------------------------
        owner_of_db = {s.name: s.owner_group for s in specs}
        db_role_apps = [a for a in apps if CATALOG[a].uses_database]
        roles = [
            EngineRole(naming.db_role(a), cfg.database_of(a), owner_of_db[cfg.database_of(a)]) for a in db_role_apps
        ]
        has_migrations = "backend" in apps
        if has_migrations:
            backend_db = cfg.database_of("backend")
            roles.append(EngineRole(naming.db_role(MIGRATIONS), backend_db, owner_of_db[backend_db]))
        self.engine = VaultDatabaseEngine(
            f"{name}-vault-db",
            VaultDatabaseEngineArgs(
                mount=naming.database_mount(),
                databases=[EngineDatabase(s.name, naming.connection(s.name)) for s in specs],
                roles=roles,
                lb=lb,
                ssl_mode=cfg.postgres_ssl_mode,
                login=self.postgres.vault_login.name,
                login_password=vault_password,
                login_password_version=cfg.vault_db_password_version,
                default_ttl=cfg.credential_ttl_seconds,
                max_ttl=cfg.credential_max_ttl_seconds,
                protect=naming.protected,
                adopt_mount=naming.database_mount() in cfg.adopt_vault_mounts,
            ),
            opts=with_vault.merge(
                pulumi.ResourceOptions(providers=[vault_provider, pg_provider], depends_on=[self.postgres])
            ),
        )

        # -- Vault access -----------------------------------------------------------------------------
        secret_env = cfg.secret_env()
        workloads = [
            AppAccess(
                app=a,
                policy=naming.policy(a),
                auth_role=naming.auth_role(a),
                namespace=naming.namespace(a),
                service_account=naming.service_account(a),
                kv_prefix=f"{naming.kv_prefix()}/{a}",
                creds_paths=[naming.creds_path(a)] if CATALOG[a].uses_database else [],
            )
            for a in apps
        ]
        if has_migrations:
            workloads.append(
                AppAccess(
                    app=MIGRATIONS,
                    policy=naming.policy(MIGRATIONS),
                    auth_role=naming.auth_role(MIGRATIONS),
                    namespace=naming.namespace("backend"),
                    service_account=naming.service_account(MIGRATIONS),
                    kv_prefix=None,
                    creds_paths=[naming.creds_path(MIGRATIONS)],
                )
            )
        self.access = VaultAccess(
            f"{name}-vault-access",
            VaultAccessArgs(
                kv_mount=cfg.vault_kv_mount,
                kubernetes_auth_mount=cfg.vault_kubernetes_auth_mount,
                workloads=workloads,
                token_ttl=cfg.vault_login_ttl,
                credential_ttl=cfg.credential_ttl_seconds,
                kv_secrets={
                    naming.kv_path(a, "env"): pulumi.Output.secret(json.dumps(secret_env[a], sort_keys=True))
                    for a in apps
                    if a in secret_env
                },
            ),
            opts=with_vault.merge(pulumi.ResourceOptions(depends_on=[self.engine])),
        )

        # -- Kubernetes: apps and their secrets -------------------------------------------------------
        redis = cfg.redis_endpoint
        self.apps: dict[str, AppService] = {}
        for a in apps:
            kind = CATALOG[a]
            namespace = naming.namespace(a)
            login = VaultLogin(
                cfg.vault_in_cluster, cfg.vault_kubernetes_auth_mount, naming.auth_role(a), naming.service_account(a)
            )
            plain_env: dict[str, str] = {}
            if kind.uses_redis:
                plain_env.update(
                    {"REDIS_HOST": redis.host, "REDIS_PORT": str(redis.port), "REDIS_URL": f"redis://{redis}"}
                )
            if kind.is_public_client:
                plain_env.update(
                    {"NEXT_PUBLIC_API_URL": f"https://{cfg.api_host}", "NEXT_PUBLIC_APP_ENV": naming.public_app_env}
                )
            env_from = [kind.db_secret_name] if kind.db_secret_name else []
            kv_secrets = []
            if a in secret_env:
                kv_secrets.append(KvSecret(f"keybuzz-{a}-env", naming.kv_path(a, "env")))
                env_from.append(f"keybuzz-{a}-env")

            service = AppService(
                f"{name}-{a}",
                AppServiceArgs(
                    kind=kind,
                    env=env,
                    namespace=namespace,
                    service_account=naming.service_account(a),
                    image=cfg.image(a),
                    replicas=cfg.app_setting(a, "replicas"),
                    plain_env=plain_env,
                    secret_env_from=env_from,
                    skip_await=cfg.kubernetes_skip_await,
                    adopt_namespace=namespace in cfg.adopt_namespaces,
                ),
                opts=with_k8s,
            )
            self.apps[a] = service

            db_secrets = []
            if kind.db_secret_name:
                db_secrets.append(
                    DatabaseSecret(
                        kind.db_secret_name,
                        naming.creds_path(a),
                        login,
                        lb,
                        cfg.database_of(a),
                        cfg.postgres_ssl_mode,
                        kind.wants_database_url,
                    )
                )
            if a == "backend":
                migrations_login = VaultLogin(
                    cfg.vault_in_cluster,
                    cfg.vault_kubernetes_auth_mount,
                    naming.auth_role(MIGRATIONS),
                    naming.service_account(MIGRATIONS),
                )
                db_secrets.append(
                    DatabaseSecret(
                        MIGRATIONS_SECRET,
                        naming.creds_path(MIGRATIONS),
                        migrations_login,
                        lb,
                        cfg.database_of("backend"),
                        cfg.postgres_ssl_mode,
                        True,
                    )
                )
            if db_secrets or kv_secrets:
                ExternalSecrets(
                    f"{name}-{a}-secrets",
                    ExternalSecretsArgs(
                        namespace=service.namespace.metadata["name"],
                        store_login=login,
                        kv_mount=cfg.vault_kv_mount,
                        database_secrets=db_secrets,
                        kv_secrets=kv_secrets,
                        refresh_seconds=cfg.secret_refresh_seconds,
                    ),
                    opts=with_k8s.merge(pulumi.ResourceOptions(depends_on=[self.access])),
                )
            if a == "backend":
                Migrations(
                    f"{name}-migrations",
                    MigrationsArgs(
                        env=env,
                        namespace=service.namespace.metadata["name"],
                        service_account=naming.service_account(MIGRATIONS),
                        image=cfg.image("backend"),
                        command=MIGRATIONS_COMMAND,
                        secret_name=MIGRATIONS_SECRET,
                        skip_await=cfg.kubernetes_skip_await,
                    ),
                    opts=with_k8s,
                )

        # -- Credential pickup: a re-issued Secret rolls its Deployments out (components/pickup.py) ------
        self.reloader = Reloader(
            f"{name}-reloader",
            ReloaderArgs(
                env=env,
                namespace=naming.reloader_namespace(),
                service_account=naming.reloader_service_account(),
                app_namespaces={
                    naming.namespace(a): service.namespace.metadata["name"] for a, service in self.apps.items()
                },
                skip_await=cfg.kubernetes_skip_await,
            ),
            opts=with_k8s,
        )

        self.outputs = {
            "environment": env,
            "databases": sorted(s.name for s in specs),
            "namespaces": sorted(naming.namespace(a) for a in apps),
            "vault_mount": naming.database_mount(),
            "postgres_endpoint": str(lb),
        }
        self.register_outputs(self.outputs)
