"""Kubernetes workloads: an app's service account, Deployment, Service and disruption budget; the migrations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .catalog import DEFAULT_RESOURCES, MIGRATIONS_ENV, AppKind
from .durations import go_duration
from .external_secrets import dynamic_database_secret
from .k8s import (
    CREDENTIALS_ANNOTATION,
    PATCH_FORCE,
    REPLACE_UNREADY,
    SKIP_AWAIT,
    EnvFrom,
    awaited,
    hardened,
    labels_of,
    selector_or,
)
from .pickup import RELOAD_ANNOTATION
from .spec import Credentials, DatabaseSecret

#: Spread key of replicated apps: the node. `topology.kubernetes.io/zone` is set only where a cloud
#: controller labels nodes, which nothing in the seeds shows, and with `DoNotSchedule` a node without the
#: key takes no pod at all; `kubernetes.io/hostname` is set by every kubelet, and one node lost then takes
#: at most one replica.
SPREAD_KEY = "kubernetes.io/hostname"


def _env_list(env: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


@dataclass(frozen=True)
class ServiceArgs:
    """Inputs of `Service`."""

    kind: AppKind
    env: str
    #: Physical name of the Deployment, its container, Service and PDB (``Naming.workload``: keybuzz-api).
    workload: str
    #: The app's namespace: the `AppNamespace`'s output, so every child waits for it.
    namespace: pulumi.Input[str]
    service_account: str
    image: str
    replicas: int
    #: The port it serves HTTP on (``keybuzz:<app>Port``); None when it serves nothing.
    port: int | None
    #: Its command (``keybuzz:<app>Command``); None keeps the image's entry point.
    command: Sequence[str] | None
    #: Plain (non-secret) environment variables: LB endpoints. Never a password.
    plain_env: Mapping[str, str] = field(default_factory=dict)
    #: Kubernetes Secrets (maintained by ESO) whose keys become environment variables. The Deployment
    #: names them in Reloader's annotation: a change (ESO re-issuing credentials) rolls it out.
    secret_env_from: Sequence[str] = ()
    #: Resources the Deployment rolls only after (the backend's migrations Job).
    rollout_after: Sequence[pulumi.Resource] = ()
    #: Lab stacks only: do not wait for pods (there is no kubelet).
    skip_await: bool = False
    #: Where the app's database credentials come from: "estate" (the legacy login's Secret, cutover phase
    #: kept) or "vault" (ESO). A pod-template annotation, so that the switch rolls the pods onto the new ones.
    credentials: Credentials | None = None
    #: The adopted Deployment's selector (``<app>SelectorLabels``): its immutable ``spec.selector``, added to
    #: the pod labels, and the Service's, PDB's and spread's selector. Empty: the program's (`selector_of`).
    selector_labels: Mapping[str, str] = field(default_factory=dict)
    #: Name of the Service's port (``<app>ServicePortName``); its targetPort is always the number `port`.
    service_port_name: str = "http"
    #: Secrets and ConfigMaps the estate's container also read (``<app>ExtraEnvFrom``): ``envFrom`` is an
    #: atomic list, so whatever the program does not declare there is dropped by its apply.
    extra_env_from: Sequence[EnvFrom] = ()
    #: The pods' ``imagePullSecrets`` (``<app>ImagePullSecrets``): the pods run as the program's service
    #: account, so pull secrets the estate attached to the namespace's ``default`` would no longer apply.
    image_pull_secrets: Sequence[str] = ()

    @property
    def reloaded_secrets(self) -> list[str]:
        """The Secrets whose change rolls the Deployment (Reloader's annotation): the program's and the
        extra ones (Reloader here ignores ConfigMaps: components/pickup.py)."""
        return [*self.secret_env_from, *(e.name for e in self.extra_env_from if e.kind == "secret")]


def _container(args: ServiceArgs) -> dict[str, Any]:
    """The app's container: image, command, env from its Secrets and the LB settings, port and probes."""
    kind = args.kind
    container: dict[str, Any] = {
        "name": args.workload,
        "image": args.image,
        "imagePullPolicy": "IfNotPresent",
        "env": _env_list(args.plain_env),
        "envFrom": [{"secretRef": {"name": s}} for s in args.secret_env_from]
        + [e.source() for e in args.extra_env_from],
        "resources": DEFAULT_RESOURCES,
    }
    if args.command is not None:
        container["command"] = list(args.command)
    if args.port is not None:
        container["ports"] = [{"name": "http", "containerPort": args.port, "protocol": "TCP"}]
        check: dict[str, Any] = (
            {"httpGet": {"path": kind.health_path, "port": "http"}}
            if kind.health_path is not None
            else {"tcpSocket": {"port": "http"}}
        )
        container["readinessProbe"] = {**check, "periodSeconds": 10, "failureThreshold": 3}
        if kind.health_path is not None:
            # Liveness asks less than readiness: the process accepts connections. A liveness probe on the health
            # path would restart healthy pods whenever a dependency behind it (the database) is slow.
            container["livenessProbe"] = {
                "tcpSocket": {"port": "http"},
                "periodSeconds": 10,
                "failureThreshold": 6,
                "initialDelaySeconds": 10,
            }
        # Without a health path the only check is the port, already readiness's: no liveness probe (the kubelet
        # restarts a process that exits; the same check twice would restart pods that are merely busy).
    return container


class Service(pulumi.ComponentResource):
    """One KeyBuzz app's workload, in its namespace.

    Type token: ``keybuzz:app:Service``.

    Children: the app's service account (ESO logs in to Vault with it), a Deployment (container
    ``keybuzz-<app>``, image repository:tag from config, the catalog's command, probes on every HTTP app,
    resources, a restricted security context, env from the ESO-synced Secrets and plain LB settings;
    annotated for Reloader with those Secrets, so their re-issue restarts the pods), a
    Service when the app serves a port (its targetPort the port's number), and for replicated apps
    (replicas > 1) a PodDisruptionBudget and a topology spread over nodes.

    An adopted app keeps what the estate's objects had (`ServiceArgs`: ``selector_labels``,
    ``service_port_name``, ``extra_env_from``, ``image_pull_secrets``): the Deployment's immutable selector and
    the Service's atomic one stay the estate's, so its running pods stay selected; nothing the estate's
    container read is dropped from ``envFrom``.

    Outputs: ``deployment``, ``image``.
    """

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:app:Service", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kind = args.kind
        labels = labels_of(args.workload, args.env)
        annotations = awaited(args.skip_await, **PATCH_FORCE)

        def metadata(name: str, **annotations: str) -> dict[str, Any]:
            return {"name": name, "namespace": args.namespace, "labels": labels, "annotations": annotations}

        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=metadata(args.service_account, **PATCH_FORCE),
            automount_service_account_token=False,
            opts=child,
        )

        container, pod = hardened(_container(args), kind.writable_dirs)

        selector = selector_or(args.workload, args.selector_labels)
        if args.image_pull_secrets:
            pod["imagePullSecrets"] = [{"name": s} for s in args.image_pull_secrets]
        if args.replicas > 1:
            pod["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": SPREAD_KEY,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": selector},
                }
            ]
        # Reloader (components/reloader.py) patches the pod template when one of these Secrets changes;
        # the pod-template annotation it sets is a field this program never sets (see components/pickup.py).
        reload = {RELOAD_ANNOTATION: ",".join(args.reloaded_secrets)} if args.reloaded_secrets else {}
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata(args.workload, **annotations, **reload),
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {
                        "labels": {**labels, **args.selector_labels},
                        "annotations": {CREDENTIALS_ANNOTATION: args.credentials} if args.credentials else {},
                    },
                    "spec": {"serviceAccountName": args.service_account, **pod, "containers": [container]},
                },
            },
            opts=child.merge(pulumi.ResourceOptions(depends_on=list(args.rollout_after))),
        )

        if args.port is not None:
            # targetPort is the number, not the container's port name: pods of the estate's template, whose
            # port has no name (or another), stay endpoints while the Deployment rolls onto the program's.
            port = {"name": args.service_port_name, "port": 80, "targetPort": args.port}
            k8s.core.v1.Service(
                f"{name}-service",
                metadata=metadata(args.workload, **annotations),
                spec={"selector": selector, "ports": [port]},
                opts=child,
            )

        if args.replicas > 1:
            # A drain or a node upgrade evicts one replica at a time; the others keep serving.
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata={"name": args.workload, "namespace": args.namespace, "labels": labels},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
                opts=child,
            )

        self.register_outputs({"deployment": self.deployment.metadata["name"], "image": args.image})


@dataclass(frozen=True)
class MigrationsArgs:
    """Inputs of `Migrations`."""

    env: str
    #: Physical name of its labels and container (``Naming.workload("migrations")``).
    workload: str
    #: The backend's namespace (an `AppNamespace` output).
    namespace: pulumi.Input[str]
    service_account: str
    image: str
    command: Sequence[str]
    #: The credentials of the migrations Vault role, as a Secret holding DATABASE_URL via the LB.
    secret: DatabaseSecret
    #: ESO refreshInterval of that Secret, in seconds.
    refresh_seconds: int
    #: The namespace's SecretStore name (the ExternalSecret references it; its data come from the generator).
    store_name: str
    #: What Vault needs before it can issue the credentials (the role, policy and Kubernetes auth role). A
    #: component's own depends_on does not reach its children, so they are listed here.
    credentials_after: Sequence[pulumi.Resource] = ()
    #: Lab stacks: no kubelet, so the Job never runs and nothing waits for it or for the Secret.
    skip_await: bool = False


class Migrations(pulumi.ComponentResource):
    """The backend's Prisma migrations, run as a Job through the LB with the migrations role, before the
    backend rolls.

    Type token: ``keybuzz:app:Migrations``.

    Replaces the leader-probing ``scripts/db_migrate_leader.sh`` of the topology report (which probed
    Redis nodes as PostgreSQL): the Job reads DATABASE_URL from an ESO Secret whose host is the LB.

    Children, in the order `up` applies them: the migrations service account; the ``VaultDynamicSecret``
    and ``ExternalSecret`` of its credentials, awaited until ESO reports the Secret synced (``Ready``); the
    Job, which depends on them. pulumi-kubernetes awaits a Job until it completes and fails the `up` when it
    fails (its await/job.go), so a backend Deployment that depends on `job` keeps its old pods when a
    migration fails. A new image tag changes the Job's template, which the provider replaces (a Job's
    ``.spec.template`` is immutable): each release migrates once. A failed Job is replaced on the next `up`
    (``replaceUnready``). Lab stacks keep the dependencies but await nothing (no kubelet runs the Job).

    Outputs: ``job``.
    """

    def __init__(self, name: str, args: MigrationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:app:Migrations", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = labels_of(args.workload, args.env)

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": args.service_account, "namespace": args.namespace, "labels": labels},
            automount_service_account_token=False,
            opts=child,
        )
        # ESO logs in to Vault with this service account to issue the credentials: it must exist first.
        generator, credentials = dynamic_database_secret(
            name,
            args.namespace,
            args.secret,
            go_duration(args.refresh_seconds),
            args.store_name,
            child.merge(pulumi.ResourceOptions(depends_on=[service_account, *args.credentials_after])),
            wait_ready=not args.skip_await,
        )

        container, pod = hardened(
            {
                "name": args.workload,
                "image": args.image,
                "command": list(args.command),
                "env": _env_list(MIGRATIONS_ENV),
                "envFrom": [{"secretRef": {"name": args.secret.secret_name}}],
                "resources": DEFAULT_RESOURCES,
            }
        )
        annotations = SKIP_AWAIT if args.skip_await else REPLACE_UNREADY
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={"namespace": args.namespace, "labels": labels, "annotations": dict(annotations)},
            spec={
                "backoffLimit": 2,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": args.service_account,
                        **pod,
                        "containers": [container],
                    },
                },
            },
            opts=child.merge(pulumi.ResourceOptions(depends_on=[service_account, generator, credentials])),
        )
        self.register_outputs({"job": self.job.metadata["name"]})
