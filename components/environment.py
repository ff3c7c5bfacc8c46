"""One KeyBuzz environment (DEV or PROD): everything a stack declares, composed."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_postgresql as postgresql
import pulumi_vault as vault

from .app import Migrations, MigrationsArgs, MovedFrom, Service, ServiceArgs
from .config import StackConfig
from .external_secrets import STORE_NAME, AppSecrets, AppSecretsArgs
from .namespace import AppNamespace, AppNamespaceArgs
from .pg_adoption import AdminConnection
from .plan import plan
from .postgres import Databases, DatabasesArgs
from .reloader import Reloader, ReloaderArgs
from .vault_access import Access, AccessArgs
from .vault_engine import DatabaseEngine, DatabaseEngineArgs, EngineDatabase
from .vault_rotation import RootRotation, RootRotationArgs


@dataclass(frozen=True)
class EnvironmentArgs:
    """Inputs of `Environment`: the stack's validated configuration."""

    config: StackConfig


class Environment(pulumi.ComponentResource):
    """The whole KeyBuzz platform of one environment.

    Type token: ``keybuzz:environment:Environment``.

    It creates what `plan(config)` (components/plan.py) decides, nothing else. Children: explicit
    providers (postgresql, vault, kubernetes) built from the stack's config, so no
    ambient credential or kube context can reach another environment; then `Databases`,
    `DatabaseEngine`, `Access`, and per app an `AppNamespace` (namespace and NetworkPolicies),
    its `AppSecrets` and its `app.Service`; the backend's `Migrations`, which its Deployment rolls after;
    the `RootRotation` CronJob of the Vault connections; the environment's `Reloader` (restarts an app when
    its Secrets change).

    Outputs: ``environment``, ``databases``, ``namespaces``, ``vault_mount``, ``postgres_endpoint``.
    """

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:environment:Environment", name, None, opts)
        cfg = args.config
        the_plan = plan(cfg)
        naming, env, lb = the_plan.naming, the_plan.env, the_plan.lb
        child = pulumi.ResourceOptions(parent=self)

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
        specs = the_plan.databases
        vault_password = pulumi.Output.secret(cfg.vault_db_password.get_secret_value())
        self.postgres = Databases(
            f"{name}-postgres",
            DatabasesArgs(
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
        self.engine = DatabaseEngine(
            f"{name}-vault-db",
            DatabaseEngineArgs(
                mount=naming.database_mount(),
                databases=[
                    EngineDatabase(s.name, the_plan.connections[s.name], self.postgres.vault_logins[s.name].name)
                    for s in specs
                ],
                roles=the_plan.roles,
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
                connections=list(the_plan.connections.values()),
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
        self.access = Access(
            f"{name}-vault-access",
            AccessArgs(
                kv_mount=cfg.vault_kv_mount,
                kubernetes_auth_mount=cfg.vault_kubernetes_auth_mount,
                workloads=the_plan.workloads,
                token_ttl=cfg.vault_login_ttl,
                credential_ttl=cfg.credential_ttl_seconds,
                kv_secrets={
                    path: pulumi.Output.secret(json.dumps(secret_env[a], sort_keys=True))
                    for a, path in the_plan.kv_paths.items()
                },
            ),
            opts=with_vault.merge(pulumi.ResourceOptions(depends_on=[self.engine])),
        )

        # -- Kubernetes: per app, its isolated namespace, its secrets, (the backend's migrations), its workload
        # Order of `up` for the backend: namespace -> migrations credentials synced (ESO Ready) -> migrations
        # Job completed -> backend Deployment rolled. A failed migration fails the `up` and the old backend pods
        # keep running (Migrations' docstring: the provider's await semantics).
        self.apps: dict[str, Service] = {}
        self.namespaces: dict[str, AppNamespace] = {}
        migrations_job: k8s.batch.v1.Job | None = None  # apps come in catalog order: the backend before the worker
        for app in the_plan.apps:
            a = app.app
            # The namespace was Service's child before it had policies of its own: same name, old parent.
            moved_namespace = MovedFrom(
                pulumi.create_urn(f"{name}-{a}", "keybuzz:app:Service", parent=self), f"{name}-{a}"
            )
            isolated = AppNamespace(
                f"{name}-{a}",
                AppNamespaceArgs(
                    app=a,
                    env=env,
                    namespace=app.namespace,
                    http_port=app.kind.port,
                    http_pods={"app.kubernetes.io/name": f"keybuzz-{a}"},
                    lb_egress=list(app.lb_egress),
                    environment_namespaces=list(the_plan.namespaces),
                    environment_http_ports=list(the_plan.http_ports),
                    ingress_namespace=cfg.ingress_namespace,
                    skip_await=cfg.kubernetes_skip_await,
                    adopt=app.adopt_namespace,
                    moved_from=moved_namespace,
                ),
                opts=with_k8s,
            )
            namespace_name = isolated.namespace.metadata["name"]
            self.namespaces[a] = isolated

            secrets_name = f"{name}-{a}-secrets"
            if app.needs_store:
                AppSecrets(
                    secrets_name,
                    AppSecretsArgs(
                        namespace=namespace_name,
                        store_login=app.login,
                        kv_mount=cfg.vault_kv_mount,
                        database_secrets=list(app.database_secrets),
                        kv_secrets=list(app.kv_secrets),
                        refresh_seconds=cfg.secret_refresh_seconds,
                    ),
                    opts=with_k8s.merge(pulumi.ResourceOptions(depends_on=[self.access])),
                )

            rollout_after: list[pulumi.Resource] = []
            if app.rolls_after_migrations and migrations_job is not None:
                rollout_after.append(migrations_job)
            if app.migrations is not None:
                migrations = Migrations(
                    f"{name}-migrations",
                    MigrationsArgs(
                        env=env,
                        namespace=namespace_name,
                        service_account=app.migrations.service_account,
                        image=app.migrations.image,
                        command=app.migrations.command,
                        secret=app.migrations.secret,
                        refresh_seconds=cfg.secret_refresh_seconds,
                        store_name=STORE_NAME,
                        credentials_after=[self.access],
                        skip_await=cfg.kubernetes_skip_await,
                        # Its credentials were the backend AppSecrets' children before they moved here.
                        secret_moved_from=MovedFrom(
                            pulumi.create_urn(secrets_name, "keybuzz:eso:AppSecrets", parent=self), secrets_name
                        ),
                    ),
                    opts=with_k8s,
                )
                migrations_job = migrations.job
                rollout_after.append(migrations_job)

            self.apps[a] = Service(
                f"{name}-{a}",
                ServiceArgs(
                    kind=app.kind,
                    env=env,
                    namespace=namespace_name,
                    service_account=app.service_account,
                    image=app.image,
                    replicas=app.replicas,
                    plain_env=app.plain_env,
                    secret_env_from=list(app.env_from),
                    rollout_after=rollout_after,
                    skip_await=cfg.kubernetes_skip_await,
                    credentials=app.credentials,
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
            "namespaces": sorted(the_plan.namespaces),
            "vault_mount": naming.database_mount(),
            "postgres_endpoint": str(lb),
        }
        self.register_outputs(self.outputs)
