"""Kubernetes conventions of every object the program declares: labels, selectors, annotations, the
hardened container. One home, so a namespace, a workload and a platform job
are labelled, annotated and locked down alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from .catalog import EMPTY_DIR_LIMIT, RUN_AS_USER

#: The program is the source of truth for the fields it sets: a field someone changed by hand (`kubectl
#: scale`, `kubectl set image`, another field manager), or an object the estate already runs (the adoption's
#: upsert), makes server-side apply fail with a conflict unless Pulumi is told to take the field. With this,
#: `up --refresh` puts a drifted field back and the first up takes the estate's objects over (both tested).
PATCH_FORCE: Final[Mapping[str, str]] = {"pulumi.com/patchForce": "true"}
#: Lab stacks only (no kubelet, no namespace controller): the provider waits for nothing.
SKIP_AWAIT: Final[Mapping[str, str]] = {"pulumi.com/skipAwait": "true"}
#: A Job that did not complete (a failed migration) is replaced on the next `up` instead of being awaited
#: again (pulumi-kubernetes provider.go, Diff: `replaceUnready` checks the live Job's readiness).
REPLACE_UNREADY: Final[Mapping[str, str]] = {"pulumi.com/replaceUnready": "true"}
#: Pod-template annotation naming where the app's database credentials come from (estate / vault).
CREDENTIALS_ANNOTATION: Final = "keybuzz.io/database-credentials"
#: The label a workload's pods are selected by (Deployment, Service, PDB, spread, NetworkPolicy).
NAME_LABEL: Final = "app.kubernetes.io/name"
#: The writable directory of every container (an emptyDir): the root filesystem stays read-only.
TMP: Final = "/tmp"


def labels_of(workload: str, env: str) -> dict[str, str]:
    """Labels of everything a workload owns (namespace, pods, policies): `workload` is its physical name
    (``Naming.workload``: keybuzz-api, keybuzz-reloader, keybuzz-prod-rotate-root)."""
    return {
        NAME_LABEL: workload,
        "app.kubernetes.io/part-of": "keybuzz",
        "app.kubernetes.io/managed-by": "pulumi",
        "keybuzz.io/environment": env,
    }


def selector_of(workload: str) -> dict[str, str]:
    """The labels selecting a workload's pods (a subset of `labels_of`, stable across environments)."""
    return {NAME_LABEL: workload}


def selector_or(workload: str, estate: Mapping[str, str] | None) -> dict[str, str]:
    """The labels selecting a workload's pods: the adopted Deployment's (``<app>SelectorLabels``) when the
    estate made it, else `selector_of`. A Deployment's selector is immutable and a Service's is replaced
    whole by an apply, so an adopted workload keeps the estate's: its running pods stay selected."""
    return dict(estate) if estate else selector_of(workload)


@dataclass(frozen=True)
class EnvFrom:
    """One ``envFrom`` source of a container: a Secret or a ConfigMap, by name."""

    kind: Literal["secret", "configmap"]
    name: str

    @classmethod
    def parse(cls, text: str) -> EnvFrom:
        """``secret:<name>`` or ``configmap:<name>`` (the config's spelling, validated by its type)."""
        kind, _, name = text.partition(":")
        if kind not in ("secret", "configmap") or not name:
            raise ValueError(f"'{text}' is not secret:<name> or configmap:<name>")
        return cls("secret" if kind == "secret" else "configmap", name)

    def source(self) -> dict[str, Any]:
        """The container's ``envFrom`` entry."""
        return {"secretRef" if self.kind == "secret" else "configMapRef": {"name": self.name}}


def awaited(skip_await: bool, **annotations: str) -> dict[str, str]:
    """`annotations` plus `SKIP_AWAIT` for a lab stack."""
    return {**annotations, **(SKIP_AWAIT if skip_await else {})}


def hardened(container: dict[str, Any], writable: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """(container, pod spec fields) with the restricted security context, a read-only root and a writable /tmp
    (plus the `writable` directories), each an emptyDir of at most `EMPTY_DIR_LIMIT`.

    Non-root with a numeric UID (the kubelet verifies runAsNonRoot only on one), no privilege escalation, no
    capability, the runtime's seccomp profile. Node writes temporary files under /tmp (os.tmpdir(), npm's
    cache): an emptyDir there lets the root filesystem be read-only.
    """
    security = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    dirs = {"tmp": TMP} | {f"writable-{i}": path for i, path in enumerate(writable)}
    mounts = [{"name": name, "mountPath": path} for name, path in dirs.items()]
    container = {**container, "securityContext": security, "volumeMounts": mounts}
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumes": [{"name": name, "emptyDir": {"sizeLimit": EMPTY_DIR_LIMIT}} for name in dirs],
    }
    return container, pod
