"""Stakater Reloader for one environment: restarts a Deployment when a Secret it names changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .k8s import PATCH_FORCE, awaited, hardened, labels_of, selector_of
from .namespace import egress_rules, platform_namespace
from .pickup import RELOADER_HTTP_PORT, RELOADER_IMAGE, reloader_args
from .spec import Egress

#: Its Deployment, the Roles and RoleBindings in the watched namespaces, and its pods' name label.
ROLE_NAME = "keybuzz-reloader"


@dataclass(frozen=True)
class ReloaderArgs:
    """Inputs of `Reloader`."""

    env: str
    #: Namespace Reloader runs in (created here).
    namespace: str
    service_account: str
    #: The environment's app namespaces, the only ones Reloader watches and may touch: name -> the
    #: namespace resource's name output (so each Role waits for its namespace).
    app_namespaces: Mapping[str, pulumi.Input[str]]
    #: The API server's endpoints (``keybuzz:kubernetesApiEgress``): the only thing Reloader talks to.
    api_server: Sequence[Egress]
    image: str = RELOADER_IMAGE
    #: Lab stacks only: do not wait for the pod (there is no kubelet).
    skip_await: bool = False


#: What Reloader does in a watched namespace, and nothing more: read Secrets (list/watch them), find the
#: workloads using one (it lists Deployments, DaemonSets and StatefulSets on every change) and patch a
#: Deployment's pod template; record an Event. Jobs and CronJobs are ignored by its arguments, ConfigMaps
#: too, so it gets no access to them.
RULES = [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "update", "patch"]},
    {"apiGroups": ["apps"], "resources": ["daemonsets", "statefulsets"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
]


class Reloader(pulumi.ComponentResource):
    """This environment's Reloader: rolls a Deployment out when a Secret it lists changes, so no pod keeps
    database credentials past their lease (ESO re-issues them every secretRefreshSeconds).

    Type token: ``keybuzz:reloader:Reloader``.

    Children: its namespace and service account; in each of the environment's app namespaces (and only
    there: no ClusterRole, so DEV's Reloader cannot read or touch a PROD namespace) a Role (`RULES`) and a
    RoleBinding to that service account; a one-replica Deployment of the pinned image with
    `components.pickup.reloader_args` (the lab runs the same binary with the same arguments).

    Outputs: ``namespace``, ``watched_namespaces``, ``image``.
    """

    def __init__(self, name: str, args: ReloaderArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:reloader:Reloader", name, None, opts)
        if not args.app_namespaces:
            raise ValueError(f"{name}: Reloader needs at least one app namespace to watch")
        if args.namespace in args.app_namespaces:
            raise ValueError(f"{name}: Reloader's namespace {args.namespace} must not be an app namespace")
        child = pulumi.ResourceOptions(parent=self)
        labels = labels_of(ROLE_NAME, args.env)
        watched = sorted(set(args.app_namespaces))

        # Like every namespace of the stack: deny by default (policy `namespaces-default-deny`), then DNS and
        # the Kubernetes API server's endpoints (the only thing Reloader talks to); no ingress at all.
        self.namespace, in_ns = platform_namespace(
            name,
            args.namespace,
            labels,
            egress_rules(args.api_server, ()),
            child,
            skip_await=args.skip_await,
        )
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": args.service_account, "namespace": args.namespace, "labels": labels},
            opts=in_ns,
        )

        self._grant(name, args, watched, sa)

        probe = {"httpGet": {"path": "/live", "port": "http"}, "periodSeconds": 10}
        container, pod = hardened(
            {
                "name": "reloader",
                "image": args.image,
                "imagePullPolicy": "IfNotPresent",
                "args": reloader_args(watched),
                "ports": [{"name": "http", "containerPort": RELOADER_HTTP_PORT}],
                "livenessProbe": {**probe, "failureThreshold": 5},
                "readinessProbe": {**probe, "httpGet": {"path": "/metrics", "port": "http"}},
                "resources": {
                    "requests": {"cpu": "10m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
                    "limits": {"memory": "256Mi", "ephemeral-storage": "64Mi"},
                },
            }
        )
        selector = selector_of(ROLE_NAME)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={
                "name": ROLE_NAME,
                "namespace": args.namespace,
                "labels": labels,
                "annotations": awaited(args.skip_await, **PATCH_FORCE),
            },
            spec={
                "replicas": 1,  # no leader election: one instance, and never two at once (Recreate)
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": args.service_account,
                        **pod,
                        "automountServiceAccountToken": True,  # it watches Secrets and patches Deployments
                        "containers": [container],
                    },
                },
            },
            opts=in_ns,
        )

        self.watched_namespaces = watched
        self.register_outputs(
            {"namespace": self.namespace.metadata["name"], "watched_namespaces": watched, "image": args.image}
        )

    def _grant(self, name: str, args: ReloaderArgs, watched: list[str], sa: pulumi.Resource) -> None:
        """In each watched namespace, and only there, a Role (`RULES`) bound to Reloader's service account."""
        child = pulumi.ResourceOptions(parent=self)
        labels = labels_of(ROLE_NAME, args.env)
        for ns in watched:
            role = k8s.rbac.v1.Role(
                f"{name}-{ns}-role",
                metadata={"name": ROLE_NAME, "namespace": args.app_namespaces[ns], "labels": labels},
                rules=RULES,
                opts=child,
            )
            k8s.rbac.v1.RoleBinding(
                f"{name}-{ns}-binding",
                metadata={"name": ROLE_NAME, "namespace": args.app_namespaces[ns], "labels": labels},
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
                subjects=[{"kind": "ServiceAccount", "name": args.service_account, "namespace": args.namespace}],
                opts=child.merge(pulumi.ResourceOptions(depends_on=[role, sa])),
            )
