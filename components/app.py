"""Kubernetes workloads: an app's namespace, service account, Deployment and Service; the migrations Job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .catalog import DEFAULT_RESOURCES, AppKind
from .pickup import RELOAD_ANNOTATION

SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
#: The program is the source of truth for the fields it sets: a field someone changed by hand (`kubectl
#: scale`, `kubectl set image`, another field manager) makes server-side apply fail with a conflict unless
#: Pulumi is told to take it back. With this, `up --refresh` puts the drifted field back (tested on the lab).
PATCH_FORCE = {"pulumi.com/patchForce": "true"}


def _labels(app: str, env: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"keybuzz-{app}",
        "app.kubernetes.io/part-of": "keybuzz",
        "app.kubernetes.io/managed-by": "pulumi",
        "keybuzz.io/environment": env,
    }


def _env_list(env: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


@dataclass(frozen=True)
class AppServiceArgs:
    """Inputs of `AppService`."""

    kind: AppKind
    env: str
    namespace: str
    service_account: str
    image: str
    replicas: int
    #: Plain (non-secret) environment variables: LB endpoints, public URLs. Never a password.
    plain_env: Mapping[str, str] = field(default_factory=dict)
    #: Kubernetes Secrets (maintained by ESO) whose keys become environment variables. The Deployment
    #: names them in Reloader's annotation: a change (ESO re-issuing credentials) rolls it out.
    secret_env_from: Sequence[str] = ()
    #: Lab stacks only: do not wait for pods (there is no kubelet).
    skip_await: bool = False
    adopt_namespace: bool = False


class AppService(pulumi.ComponentResource):
    """One KeyBuzz app in its own namespace.

    Type token: ``keybuzz:app:Service``.

    Children: the namespace, the app's service account (ESO logs in to Vault with it), a Deployment
    (image repository:tag from config, ``/health`` probes where the app has them, resources, env from
    the ESO-synced Secrets and plain LB/public settings; annotated for Reloader with those Secrets, so
    their re-issue restarts the pods), and a Service when the app serves a port.

    Outputs: ``namespace``, ``deployment``, ``image``.
    """

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:app:Service", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kind = args.kind
        labels = _labels(kind.name, args.env)
        annotations = {**PATCH_FORCE, **(SKIP_AWAIT if args.skip_await else {})}

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            # Lab stacks: no namespace controller finalizes a deletion, so a destroy must not wait for it.
            metadata={
                "name": args.namespace,
                "labels": labels,
                "annotations": dict(SKIP_AWAIT) if args.skip_await else {},
            },
            opts=child.merge(pulumi.ResourceOptions(import_=args.namespace if args.adopt_namespace else None)),
        )
        in_ns = child.merge(pulumi.ResourceOptions(depends_on=[self.namespace]))

        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": args.service_account, "namespace": args.namespace, "labels": labels},
            automount_service_account_token=False,
            opts=in_ns,
        )

        container: dict[str, Any] = {
            "name": kind.name,
            "image": args.image,
            "imagePullPolicy": "IfNotPresent",
            "env": _env_list(args.plain_env),
            "envFrom": [{"secretRef": {"name": s}} for s in args.secret_env_from],
            "resources": DEFAULT_RESOURCES,
        }
        if kind.port is not None:
            container["ports"] = [{"name": "http", "containerPort": kind.port}]
        if kind.health_path is not None and kind.port is not None:
            probe = {"httpGet": {"path": kind.health_path, "port": "http"}, "periodSeconds": 10}
            container["readinessProbe"] = {**probe, "failureThreshold": 3}
            container["livenessProbe"] = {**probe, "failureThreshold": 6, "initialDelaySeconds": 10}

        selector = {"app.kubernetes.io/name": labels["app.kubernetes.io/name"]}
        # Reloader (components/reloader.py) patches the pod template when one of these Secrets changes;
        # the pod-template annotation it sets is a field this program never sets (see components/pickup.py).
        reload = {RELOAD_ANNOTATION: ",".join(args.secret_env_from)} if args.secret_env_from else {}
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={
                "name": f"keybuzz-{kind.name}",
                "namespace": args.namespace,
                "labels": labels,
                "annotations": {**annotations, **reload},
            },
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"serviceAccountName": args.service_account, "containers": [container]},
                },
            },
            opts=in_ns,
        )

        if kind.port is not None:
            k8s.core.v1.Service(
                f"{name}-service",
                metadata={
                    "name": f"keybuzz-{kind.name}",
                    "namespace": args.namespace,
                    "labels": labels,
                    "annotations": annotations,
                },
                spec={"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
                opts=in_ns,
            )

        self.register_outputs(
            {
                "namespace": self.namespace.metadata["name"],
                "deployment": self.deployment.metadata["name"],
                "image": args.image,
            }
        )


@dataclass(frozen=True)
class MigrationsArgs:
    """Inputs of `Migrations`."""

    env: str
    namespace: pulumi.Input[str]
    service_account: str
    image: str
    command: Sequence[str]
    #: Secret (maintained by ESO from the migrations Vault role) holding DATABASE_URL via the LB.
    secret_name: str
    skip_await: bool = False


class Migrations(pulumi.ComponentResource):
    """The backend's Prisma migrations, run as a Job through the LB with the migrations role.

    Type token: ``keybuzz:app:Migrations``.

    Replaces the leader-probing ``scripts/db_migrate_leader.sh`` of the topology report (which probed
    Redis nodes as PostgreSQL): the Job reads DATABASE_URL from an ESO Secret whose host is the LB.
    A new image tag replaces the Job, so each release migrates once.

    Children: the migrations service account and the Job. Outputs: ``job``.
    """

    def __init__(self, name: str, args: MigrationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:app:Migrations", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = _labels("migrations", args.env)

        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": args.service_account, "namespace": args.namespace, "labels": labels},
            automount_service_account_token=False,
            opts=child,
        )
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={
                "namespace": args.namespace,
                "labels": labels,
                "annotations": dict(SKIP_AWAIT) if args.skip_await else {},
            },
            spec={
                "backoffLimit": 2,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": args.service_account,
                        "containers": [
                            {
                                "name": "migrate",
                                "image": args.image,
                                "command": list(args.command),
                                "envFrom": [{"secretRef": {"name": args.secret_name}}],
                                "resources": DEFAULT_RESOURCES,
                            }
                        ],
                    },
                },
            },
            opts=child,
        )
        self.register_outputs({"job": self.job.metadata["name"]})
