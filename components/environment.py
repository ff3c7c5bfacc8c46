"""One KeyBuzz environment (DEV or PROD): everything a stack declares, composed."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_postgresql as postgresql
import pulumi_vault as vault

from .app import AppService, AppServiceArgs, Migrations, MigrationsArgs, MovedFrom
from .catalog import MIGRATIONS_COMMAND, MIGRATIONS_SECRET
from .config import StackConfig, app_names
from .external_secrets import (
    STORE_NAME,
    DatabaseSecret,
    ExternalSecrets,
    ExternalSecretsArgs,
    KvSecret,
    VaultLogin,
)
from .namespace import AppNamespace, AppNamespaceArgs
from .pg_adoption import AdminConnection
from .postgres import DatabaseSpec, PostgresDatabases, PostgresDatabasesArgs
from .reloader import Reloader, ReloaderArgs
from .vault_access import AppAccess, VaultAccess, VaultAccessArgs
from .vault_engine import EngineDatabase, EngineRole, VaultDatabaseEngine, VaultDatabaseEngineArgs
from .vault_rotation import RootRotation, RootRotationArgs

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
    `VaultDatabaseEngine`, `VaultAccess`, and per app an `AppNamespace` (namespace and NetworkPolicies),
    its `ExternalSecrets` and its `AppService`; the backend's `Migrations`, which its Deployment rolls after;
    the `RootRotation` CronJob of the Vault connections; the environment's `Reloader` (restarts an app when
    its Secrets change).

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
            # The adoption ups (docs/runbook-adopting-the-estate.md): an object the estate already runs is
            # taken over by server-side apply instead of failing with AlreadyExists. Off otherwise, where
            # it would let a renamed resource's create-then-delete remove the live object.
            upsert_existing_objects=cfg.kubernetes_upsert_existing,
            opts=child,
        )
        with_pg = child.merge(pulumi.ResourceOptions(providers=[pg_provider]))
        with_vault = child.merge(pulumi.ResourceOptions(providers=[vault_provider]))
        with_k8s = child.merge(pulumi.ResourceOptions(providers=[k8s_provider]))

        # -- PostgreSQL -----------------------------------------------------------------------------
        db_apps = cfg.database_apps
        specs = [
            DatabaseSpec(
                cfg.database_of(a),
                naming.owner_group(a),
                naming.reader_group(a),
                naming.vault_login(a),
                tuple(cfg.legacy_roles(a)),
            )
            for a in db_apps
        ]
        vault_password = pulumi.Output.secret(cfg.vault_db_password.get_secret_value())
        self.postgres = PostgresDatabases(
            f"{name}-postgres",
            PostgresDatabasesArgs(
                databases=specs,
                vault_login_password=vault_password,
                vault_login_password_version=cfg.vault_db_password_version,
                admin=AdminConnection(
                    lb.host,
                    lb.port,
                    cfg.postgres_admin_username,
                    cfg.postgres_admin_password.get_secret_value(),
                    cfg.postgres_ssl_mode,
                ),
                protect=True,  # every database holds data, DEV's too (13 tenants, 8,400+ conversations in `keybuzz`)
                legacy_phase=cfg.legacy_login_phase,
                adopt_databases=frozenset(cfg.adopt_databases),
                adopt_roles=frozenset(cfg.adopt_roles),
            ),
            opts=with_pg,
        )

        # -- Vault database engine ------------------------------------------------------------------
        owner_of_db = {s.name: s.owner_group for s in specs}
        db_role_apps = [a for a in apps if cfg.catalog[a].uses_database]
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
                databases=[
                    EngineDatabase(s.name, naming.connection(s.name), self.postgres.vault_logins[s.name].name)
                    for s in specs
                ],
                roles=roles,
                lb=lb,
                ssl_mode=cfg.postgres_ssl_mode,
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

        # -- scheduled rotate-root of every connection ------------------------------------------------
        RootRotation(
            f"{name}-root-rotation",
            RootRotationArgs(
                env=env,
                name=naming.root_rotation(),
                namespace=naming.ops_namespace(),
                vault_address=cfg.vault_in_cluster,
                kubernetes_auth_mount=cfg.vault_kubernetes_auth_mount,
                mount=self.engine.mount.path,
                connections=[naming.connection(s.name) for s in specs],
                schedule=cfg.vault_root_rotation_schedule,
                adopt_namespace=naming.ops_namespace() in cfg.adopt_namespaces,
                skip_await=cfg.kubernetes_skip_await,
            ),
            vault_opts=pulumi.ResourceOptions(provider=vault_provider, depends_on=[self.engine]),
            k8s_opts=pulumi.ResourceOptions(provider=k8s_provider),
            opts=child,
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
                creds_paths=[naming.creds_path(a)] if cfg.catalog[a].uses_database else [],
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

        # -- Kubernetes: per app, its isolated namespace, its secrets, (the backend's migrations), its workload
        # Order of `up` for the backend: namespace -> migrations credentials synced (ESO Ready) -> migrations
        # Job completed -> backend Deployment rolled. A failed migration fails the `up` and the old backend pods
        # keep running (Migrations' docstring: the provider's await semantics).
        redis = cfg.redis_endpoint
        namespaces = [naming.namespace(a) for a in apps]
        http_ports = [port for a in apps if (port := cfg.catalog[a].port) is not None]
        self.apps: dict[str, AppService] = {}
        self.namespaces: dict[str, AppNamespace] = {}
        migrations_job: k8s.batch.v1.Job | None = None  # apps come in catalog order: the backend before the worker
        for a in apps:
            kind = cfg.catalog[a]
            namespace = naming.namespace(a)
            # The namespace was AppService's child before it had policies of its own: same name, old parent.
            moved_namespace = MovedFrom(
                pulumi.create_urn(f"{name}-{a}", "keybuzz:app:Service", parent=self), f"{name}-{a}"
            )
            isolated = AppNamespace(
                f"{name}-{a}",
                AppNamespaceArgs(
                    app=a,
                    env=env,
                    namespace=namespace,
                    http_port=kind.port,
                    http_pods={"app.kubernetes.io/name": f"keybuzz-{a}"},
                    lb_egress=([lb] if kind.uses_database else []) + ([redis] if kind.uses_redis else []),
                    environment_namespaces=namespaces,
                    environment_http_ports=http_ports,
                    ingress_namespace=cfg.ingress_namespace,
                    skip_await=cfg.kubernetes_skip_await,
                    adopt=namespace in cfg.adopt_namespaces,
                    moved_from=moved_namespace,
                ),
                opts=with_k8s,
            )
            namespace_name = isolated.namespace.metadata["name"]
            self.namespaces[a] = isolated
            login = VaultLogin(
                cfg.vault_in_cluster, cfg.vault_kubernetes_auth_mount, naming.auth_role(a), naming.service_account(a)
            )
            plain_env: dict[str, str] = {}
            if kind.uses_redis:
                plain_env.update(
                    {"REDIS_HOST": redis.host, "REDIS_PORT": str(redis.port), "REDIS_URL": f"redis://{redis}"}
                )
            # No NEXT_PUBLIC_* here: Next.js bakes them into the client image at build (PH28.2 §5.1); the
            # config rule and the client-build-matches-environment policy check the image is this env's build.
            env_from = [kind.db_secret_name] if kind.db_secret_name else []
            kv_secrets = []
            if a in secret_env:
                kv_secrets.append(KvSecret(f"keybuzz-{a}-env", naming.kv_path(a, "env")))
                env_from.append(f"keybuzz-{a}-env")

            db_secrets = []
            # Cutover phase `kept`: the app still reads the estate's own Secret (legacy login), which the
            # program leaves alone; from `dynamic` on, ESO writes it from Vault (runbook-adopting-the-estate).
            if kind.db_secret_name and not cfg.keeps_estate_secret(a):
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
            secrets_name = f"{name}-{a}-secrets"
            # The backend's namespace always has the store: the migrations' ExternalSecret reads through it, even
            # while the backend itself still reads the estate's Secret (cutover phase kept).
            if db_secrets or kv_secrets or a == "backend":
                ExternalSecrets(
                    secrets_name,
                    ExternalSecretsArgs(
                        namespace=namespace_name,
                        store_login=login,
                        kv_mount=cfg.vault_kv_mount,
                        database_secrets=db_secrets,
                        kv_secrets=kv_secrets,
                        refresh_seconds=cfg.secret_refresh_seconds,
                    ),
                    opts=with_k8s.merge(pulumi.ResourceOptions(depends_on=[self.access])),
                )

            rollout_after: list[pulumi.Resource] = []
            # The worker runs the backend's image on the backend's database: new code waits for its schema too.
            if a == "worker" and migrations_job is not None and cfg.database_app_of(a) == "backend":
                rollout_after.append(migrations_job)
            if a == "backend":
                migrations_login = VaultLogin(
                    cfg.vault_in_cluster,
                    cfg.vault_kubernetes_auth_mount,
                    naming.auth_role(MIGRATIONS),
                    naming.service_account(MIGRATIONS),
                )
                migrations = Migrations(
                    f"{name}-migrations",
                    MigrationsArgs(
                        env=env,
                        namespace=namespace_name,
                        service_account=naming.service_account(MIGRATIONS),
                        image=cfg.image("backend"),
                        command=MIGRATIONS_COMMAND,
                        secret=DatabaseSecret(
                            MIGRATIONS_SECRET,
                            naming.creds_path(MIGRATIONS),
                            migrations_login,
                            lb,
                            cfg.database_of("backend"),
                            cfg.postgres_ssl_mode,
                            True,
                        ),
                        refresh_seconds=cfg.secret_refresh_seconds,
                        store_name=STORE_NAME,
                        credentials_after=[self.access],
                        skip_await=cfg.kubernetes_skip_await,
                        # Its credentials were the backend ExternalSecrets' children before they moved here.
                        secret_moved_from=MovedFrom(
                            pulumi.create_urn(secrets_name, "keybuzz:eso:AppSecrets", parent=self), secrets_name
                        ),
                    ),
                    opts=with_k8s,
                )
                migrations_job = migrations.job
                rollout_after.append(migrations_job)

            self.apps[a] = AppService(
                f"{name}-{a}",
                AppServiceArgs(
                    kind=kind,
                    env=env,
                    namespace=namespace_name,
                    service_account=naming.service_account(a),
                    image=cfg.image(a),
                    replicas=cfg.app_setting(a, "replicas"),
                    plain_env=plain_env,
                    secret_env_from=env_from,
                    rollout_after=rollout_after,
                    skip_await=cfg.kubernetes_skip_await,
                    credentials=(
                        None if not kind.uses_database else "estate" if cfg.keeps_estate_secret(a) else "vault"
                    ),
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
                    naming.namespace(a): isolated.namespace.metadata["name"] for a, isolated in self.namespaces.items()
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
