"""One KeyBuzz environment (DEV or PROD): everything a stack declares, composed."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi
import pulumi_kubernetes as k8s
import pulumi_postgresql as postgresql
import pulumi_vault as vault
from pydantic import SecretStr

from .app import Migrations, Service
from .ci_identity import CiIdentity, CiIdentityArgs
from .decommission import DestroyGuard
from .external_secrets import AppSecrets
from .namespace import AppNamespace
from .plan import AppPlan, EnvironmentPlan
from .postgres import Databases
from .reloader import Reloader
from .vault_access import Access
from .vault_engine import DatabaseEngine
from .vault_rotation import RootRotation

#: The kinds the program upserts over the estate's own objects (`kubernetesUpsertExisting`, the adoption
#: runbook): in an adopted namespace each may be the very object the estate runs, so the stack's delete (a
#: destroy, an app removed from the catalog) drops it from the state and leaves it live (issue 17, item 7).
UPSERTED_KINDS = frozenset(
    {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:external-secrets.io/v1:SecretStore",
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        # The ExternalSecrets' generator: a retained ExternalSecret without it could not refresh.
        "kubernetes:generators.external-secrets.io/v1alpha1:VaultDynamicSecret",
    }
)


def retain_upserted(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """`retain_on_delete` on an upserted kind (a transformation of the components of an app whose namespace is
    adopted: app.py and external_secrets.py stay unaware of the estate)."""
    if args.type_ not in UPSERTED_KINDS:
        return None
    retained = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    return pulumi.ResourceTransformationResult(args.props, retained)


@dataclass(frozen=True)
class EnvironmentArgs:
    """Inputs of `Environment`: the stack's plan (`plan(read_stack_config())`)."""

    plan: EnvironmentPlan


def _secret(value: SecretStr) -> pulumi.Output[str]:
    return pulumi.Output.secret(value.get_secret_value())


class Environment(pulumi.ComponentResource):
    """The whole KeyBuzz platform of one environment.

    Type token: ``keybuzz:environment:Environment``.

    It creates what its plan (components/plan.py) decides, nothing else, and reads nothing else. Children:
    explicit providers (postgresql, vault, kubernetes) built from the plan, so no ambient credential or kube
    context can reach another environment; then `Databases`, `DatabaseEngine`, `Access`, and per app an
    `AppNamespace` (namespace and NetworkPolicies), its `AppSecrets` and its `app.Service`; the backend's
    `Migrations`, which its Deployment rolls after; the `RootRotation` CronJob of the Vault connections; the
    environment's `Reloader` (restarts an app when its Secrets change); with keybuzz:ciRepository set, the
    `CiIdentity` of the CI's preview and deploy jobs; last, the `DestroyGuard`, which depends on all of them,
    so that a `pulumi destroy` is refused before anything is deleted unless the stack approved it
    (components/decommission.py).

    Outputs: ``environment``, ``databases``, ``namespaces``, ``vault_mount``, ``postgres_endpoint``.
    """

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:environment:Environment", name, None, opts)
        self._prefix, self._env_plan = name, args.plan
        #: Everything the destroy guard stands in front of (components stand for their descendants).
        self._guarded: list[pulumi.Resource] = []
        self._create_providers()
        self._create_vault_and_postgres()
        # Apps come in catalog order: the backend (whose migrations the worker rolls after) before the worker.
        self.apps: dict[str, Service] = {}
        self.namespaces: dict[str, AppNamespace] = {}
        self._migrations_job: k8s.batch.v1.Job | None = None
        for app in args.plan.apps:
            self._create_app(app)
        # Each Role waits for its namespace: Reloader gets the namespaces' resources, not their names.
        created = {app.namespace: self.namespaces[app.app].namespace.metadata["name"] for app in args.plan.apps}
        self.reloader = Reloader(
            f"{name}-reloader", replace(args.plan.reloader, app_namespaces=created), opts=self._with_k8s
        )
        self._guarded.append(self.reloader)
        if args.plan.ci is not None:
            self._guarded.append(self._create_ci_identity(args.plan.ci))
        self.guard = DestroyGuard(
            f"{name}-destroy-guard",
            stack=pulumi.get_stack(),
            approved=args.plan.decommission_approved,
            protected=self._guarded,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.outputs = {
            "environment": self._env_plan.env,
            "databases": sorted(s.name for s in self._env_plan.databases),
            "namespaces": sorted(self._env_plan.namespaces),
            "vault_mount": self._env_plan.engine.mount,
            "postgres_endpoint": str(self._env_plan.lb),
        }
        self.register_outputs(self.outputs)

    def _create_providers(self) -> None:
        """The explicit providers: the only way any resource reaches the estate."""
        p, child = self._env_plan.providers, pulumi.ResourceOptions(parent=self)
        self._pg_provider = postgresql.Provider(
            f"{self._prefix}-postgresql",
            host=p.lb.host,
            port=p.lb.port,
            username=p.postgres_admin_username,
            password=_secret(p.postgres_admin_password),
            sslmode=p.ssl_mode,
            database="postgres",
            superuser=False,
            connect_timeout=15,
            opts=child,
        )
        self._vault_provider = vault.Provider(
            f"{self._prefix}-vault",
            address=p.vault_address,
            token=_secret(p.vault_token),
            skip_child_token=True,
            opts=child,
        )
        self._k8s_provider = k8s.Provider(
            f"{self._prefix}-kubernetes",
            kubeconfig=_secret(p.kubeconfig),
            # The adoption ups (docs/runbook-adopting-the-estate.md): an object the estate already runs is
            # taken over by server-side apply instead of failing with AlreadyExists. Off otherwise, where
            # it would let a renamed resource's create-then-delete remove the live object.
            upsert_existing_objects=p.kubernetes_upsert_existing,
            opts=child,
        )
        self._with_k8s = child.merge(pulumi.ResourceOptions(providers=[self._k8s_provider]))
        self._guarded += [self._pg_provider, self._vault_provider, self._k8s_provider]

    def _create_vault_and_postgres(self) -> None:
        """The databases, Vault's engine over them, the rotation of its logins, and who may read what."""
        name, the_plan, child = self._prefix, self._env_plan, pulumi.ResourceOptions(parent=self)
        self.postgres = Databases(
            f"{name}-postgres",
            the_plan.postgres,
            opts=child.merge(pulumi.ResourceOptions(providers=[self._pg_provider])),
        )
        engine = the_plan.engine
        logins = [replace(d, login=self.postgres.vault_logins[d.name].name) for d in engine.databases]
        self.engine = DatabaseEngine(
            f"{name}-vault-db",
            replace(engine, databases=logins),
            opts=child.merge(
                pulumi.ResourceOptions(providers=[self._vault_provider, self._pg_provider], depends_on=[self.postgres])
            ),
        )
        self._rotation = RootRotation(
            f"{name}-root-rotation",
            replace(the_plan.rotation, mount=self.engine.mount.path),
            vault_opts=pulumi.ResourceOptions(provider=self._vault_provider, depends_on=[self.engine]),
            k8s_opts=pulumi.ResourceOptions(provider=self._k8s_provider),
            opts=child,
        )
        self.access = Access(
            f"{name}-vault-access",
            the_plan.access,
            opts=child.merge(pulumi.ResourceOptions(providers=[self._vault_provider], depends_on=[self.engine])),
        )
        self._guarded += [self.postgres, self.engine, self._rotation, self.access]

    def _create_ci_identity(self, ci: CiIdentityArgs) -> CiIdentity:
        """The CI's identities: their RoleBindings wait for every namespace they live in (the apps', the ops
        namespace of the root rotation, Reloader's), their database connection for the engine's mount."""
        ready: list[pulumi.Resource] = [*self.namespaces.values(), self._rotation, self.reloader]
        return CiIdentity(
            f"{self._prefix}-ci",
            replace(ci, namespaces_ready=ready, postgres=replace(ci.postgres, mount=self.engine.mount.path)),
            vault_opts=pulumi.ResourceOptions(provider=self._vault_provider),
            postgres_opts=pulumi.ResourceOptions(provider=self._pg_provider, depends_on=[self.postgres]),
            k8s_opts=pulumi.ResourceOptions(provider=self._k8s_provider),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_app(self, app: AppPlan) -> None:
        """One app: its isolated namespace, its secrets, (the backend's migrations), its workload.

        Order of `up` for the backend: namespace -> migrations credentials synced (ESO Ready) -> migrations
        Job completed -> backend Deployment rolled. A failed migration fails the `up` and the old backend pods
        keep running (Migrations' docstring: the provider's await semantics).
        """
        name, a = self._prefix, app.app
        in_app = self._with_k8s
        if app.isolation.adopt:  # the estate's namespace: what the program upserts in it may be the estate's
            in_app = in_app.merge(pulumi.ResourceOptions(transformations=[retain_upserted]))
        isolated = AppNamespace(f"{name}-{a}", app.isolation, opts=self._with_k8s)
        self._guarded.append(isolated)
        # Everything in the namespace takes its name from the Namespace resource, so it waits for it.
        namespace = isolated.namespace.metadata["name"]
        self.namespaces[a] = isolated
        # Vault issues credentials once the role, policy and Kubernetes auth role exist: a component's depends_on
        # does not reach its children, so AppSecrets and Migrations hand these to their ESO objects.
        vault_ready: list[pulumi.Resource] = [self.access, self.engine]
        if app.secrets is not None:
            secrets = AppSecrets(
                f"{name}-{a}-secrets",
                replace(app.secrets, namespace=namespace, credentials_after=vault_ready),
                opts=in_app.merge(pulumi.ResourceOptions(depends_on=[self.access])),
            )
            self._guarded.append(secrets)

        rollout_after: list[pulumi.Resource] = []
        if app.rolls_after_migrations and self._migrations_job is not None:
            rollout_after.append(self._migrations_job)
        if app.migrations is not None:
            migrations = Migrations(
                f"{name}-migrations",
                replace(app.migrations, namespace=namespace, credentials_after=vault_ready),
                opts=in_app,
            )
            self._guarded.append(migrations)
            self._migrations_job = migrations.job
            rollout_after.append(self._migrations_job)

        self.apps[a] = Service(
            f"{name}-{a}",
            replace(app.service, namespace=namespace, rollout_after=rollout_after),
            opts=in_app,
        )
        self._guarded.append(self.apps[a])
