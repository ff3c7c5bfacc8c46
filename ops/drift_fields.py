"""Fields of program-owned Kubernetes objects that another field manager set: the drift `pulumi refresh` misses.

The kubernetes provider's refresh compares only the fields Pulumi manages, so a sidecar, an env var from
another Secret, a Secret volume, an `envFrom` ConfigMap, a `nodeSelector` or a second Service port added
by hand leaves `pulumi up --refresh` at "unchanged" (issue 17). The API server records who set each field
in `metadata.managedFields`; every field some manager owns that the program's manager
(``pulumi-kubernetes-<suffix>``, the provider's server-side apply field manager, or the name in the
object's ``pulumi.com/patchFieldManager`` annotation) does not own was set by someone else.

Pure functions over the live objects (tested on recorded `managedFields`); `read_live` fetches them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ops.preflight_sources import KubeReader, quote

PROGRAM_MANAGER_PREFIX = "pulumi-kubernetes"
FIELD_MANAGER_ANNOTATION = "pulumi.com/patchFieldManager"

#: Fields a controller of the platform sets by design on objects the program owns (manager, path prefix):
#: Reloader's rollout annotation (components/pickup.py, strategy `annotations`), the Deployment
#: controller's revision counter and ESO's finalizer on its ExternalSecrets.
EXPECTED: tuple[tuple[str, str], ...] = (
    ("Reloader", "spec.template.metadata.annotations.reloader.stakater.com/last-reloaded-from"),
    ("kube-controller-manager", "metadata.annotations.deployment.kubernetes.io/revision"),
    ("external-secrets", "metadata.finalizers"),
)


@dataclass(frozen=True)
class ForeignField:
    """One field of a program object that another manager set, and who set it."""

    subject: str
    path: str
    manager: str
    operation: str
    time: str

    def line(self) -> str:
        return f"{self.subject} {self.path}  set by {self.manager} ({self.operation}, {self.time or 'no time'})"

    def as_json(self) -> dict[str, str]:
        return {"object": self.subject, "path": self.path, "manager": self.manager, "operation": self.operation,
                "time": self.time}  # fmt: skip


Segment = tuple[str, Any]
Path = tuple[Segment, ...]


def _segment(key: str) -> Segment:
    """One FieldsV1 key: ``f:spec`` -> ("f", "spec"), ``k:{"name":"x"}`` -> ("k", {"name": "x"})."""
    kind, _, rest = key.partition(":")
    if kind in ("k", "v"):
        try:
            value = json.loads(rest)
        except ValueError:
            return kind, rest
        if kind == "k" and isinstance(value, dict):
            return kind, tuple(value.items())  # hashable, in the key's own order
        return kind, json.dumps(value)  # a set value of any type, hashable
    return kind, rest


def show(path: Path) -> str:
    """A path as the report prints it: ``spec.template.spec.containers[name=sidecar].image``."""
    out = ""
    for kind, value in path:
        if kind == "f":
            out += f".{value}" if out else str(value)
        elif kind == "k" and isinstance(value, tuple):
            out += "[" + ",".join(f"{k}={v}" for k, v in value) + "]"
        elif kind == "v":
            out += f"[={value}]"
        else:
            out += f"[{value}]"
    return out


def field_paths(tree: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    """Every path a FieldsV1 tree owns: leaves, and list items or maps the manager owns as a whole (`.`)."""
    paths: set[Path] = set()
    for key, sub in tree.items():
        if key == ".":
            if prefix:
                paths.add(prefix)
            continue
        path = (*prefix, _segment(key))
        if isinstance(sub, Mapping) and sub:
            paths |= field_paths(sub, path)
        else:
            paths.add(path)
    return paths


_MISSING = object()


def value_at(obj: Any, path: Path) -> Any:
    """The live value at a path (list items found by their key fields), or `_MISSING`."""
    here = obj
    for kind, value in path:
        if kind == "f" and isinstance(here, Mapping):
            here = here.get(value, _MISSING)
        elif kind == "k" and isinstance(here, list):
            here = next(
                (i for i in here if isinstance(i, Mapping) and all(str(i.get(k)) == str(v) for k, v in value)),
                _MISSING,
            )
        elif kind == "v" and isinstance(here, list):
            here = json.loads(value) if json.loads(value) in here else _MISSING
        else:
            return _MISSING
        if here is _MISSING:
            return _MISSING
    return here


ANY = object()

#: Values the API server fills in when an object is created (or an Update leaves them unset): the estate's
#: creator owns them, the program leaves them to the server, nobody chose them. A field at one of these
#: paths holding this value is not drift (path patterns: ``*`` is any list item).
DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("metadata.labels.kubernetes.io/metadata.name", ANY),
    ("spec.strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
    ("spec.strategy.type", "RollingUpdate"),
    ("spec.strategy.rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"}),
    ("spec.strategy.rollingUpdate.maxSurge", "25%"),
    ("spec.strategy.rollingUpdate.maxUnavailable", "25%"),
    ("spec.revisionHistoryLimit", 10),
    ("spec.progressDeadlineSeconds", 600),
    ("spec.template.spec.dnsPolicy", "ClusterFirst"),
    ("spec.template.spec.restartPolicy", "Always"),
    ("spec.template.spec.schedulerName", "default-scheduler"),
    ("spec.template.spec.terminationGracePeriodSeconds", 30),
    ("spec.template.spec.securityContext", {}),
    ("spec.template.spec.containers[*].terminationMessagePath", "/dev/termination-log"),
    ("spec.template.spec.containers[*].terminationMessagePolicy", "File"),
    ("spec.template.spec.containers[*].imagePullPolicy", ANY),
    ("spec.template.spec.containers[*].resources", {}),
    ("spec.template.spec.containers[*].ports[*].protocol", "TCP"),
    ("spec.sessionAffinity", "None"),
    ("spec.type", "ClusterIP"),
    ("spec.ipFamilyPolicy", "SingleStack"),
    ("spec.internalTrafficPolicy", "Cluster"),
    ("spec.clusterIP", ANY),
    ("spec.clusterIPs", ANY),
    ("spec.ipFamilies", ANY),
    ("spec.ports[*].protocol", "TCP"),
)


def _pattern(path: Path) -> str:
    out = ""
    for kind, value in path:
        out += (f".{value}" if out else str(value)) if kind == "f" else "[*]"
    return out


def defaulted(obj: Mapping[str, Any], path: Path) -> bool:
    pattern = _pattern(path)
    for where, value in DEFAULTS:
        if where == pattern:
            live = value_at(obj, path)
            return live is not _MISSING and (value is ANY or live == value)
    return False


def _under(path: Path, ancestor: Path) -> bool:
    return path[: len(ancestor)] == ancestor


def program_manager(obj: Mapping[str, Any], manager: str) -> bool:
    annotation = ((obj.get("metadata") or {}).get("annotations") or {}).get(FIELD_MANAGER_ANNOTATION)
    return manager == annotation if annotation else manager.startswith(PROGRAM_MANAGER_PREFIX)


def _expected(manager: str, path: Path) -> bool:
    shown = show(path)
    return any(
        manager == m and (shown == p or shown.startswith(p + ".") or shown.startswith(p + "[")) for m, p in EXPECTED
    )


def foreign_fields(obj: Mapping[str, Any]) -> list[ForeignField]:
    """The fields of `obj` that a manager other than the program's owns and the program does not.

    A field both own (the same value applied by both) is the program's. Under a list item or map another
    manager owns as a whole, only the item is reported. Status subresource entries, `EXPECTED` fields and
    server defaults (`DEFAULTS`) are not drift.
    """
    meta = obj.get("metadata") or {}
    kind = obj.get("kind", "?")
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    who = f"{kind} {where}{meta.get('name', '?')}"
    entries = [e for e in meta.get("managedFields") or [] if e.get("subresource", "") != "status"]
    mine: set[Path] = set()
    for e in entries:
        if program_manager(obj, str(e.get("manager", ""))):
            mine |= field_paths(e.get("fieldsV1") or {})
    found: list[ForeignField] = []
    reported: list[tuple[str, Path]] = []
    for e in entries:
        manager = str(e.get("manager", ""))
        if program_manager(obj, manager):
            continue
        for path in sorted(field_paths(e.get("fieldsV1") or {}), key=lambda p: (len(p), show(p))):
            if path in mine or any(m == manager and _under(path, r) for m, r in reported):
                continue
            if _expected(manager, path) or defaulted(obj, path):
                continue
            if any(_under(p, path) for p in mine):
                continue  # a map/item both touch: its own fields decide (reported below it, if any)
            reported.append((manager, path))
            found.append(ForeignField(who, show(path), manager, str(e.get("operation", "")), str(e.get("time", ""))))
    return found


_CORE_GROUPS = {"v1"}


def api_path(manifest: Mapping[str, Any]) -> str:
    """The REST path of one object (`apiVersion`, `kind`, namespace, name)."""
    api_version = str(manifest["apiVersion"])
    kind = str(manifest["kind"])
    lower = kind.lower()
    plural = lower[:-1] + "ies" if lower.endswith("y") else lower + ("es" if lower.endswith("s") else "s")
    base = "/api/v1" if api_version in _CORE_GROUPS else f"/apis/{api_version}"
    meta = manifest.get("metadata") or {}
    ns = f"/namespaces/{quote(str(meta['namespace']))}" if meta.get("namespace") else ""
    return f"{base}{ns}/{plural}/{quote(str(meta['name']))}"


def read_live(kube: KubeReader, manifests: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The live objects of the program's manifests (those that exist; never a Secret)."""
    found = []
    for m in manifests:
        if m.get("kind") == "Secret":
            continue
        live = kube.one(api_path(m))
        if live is not None:
            found.append(live)
    return found


def drift(objects: Iterable[Mapping[str, Any]]) -> list[ForeignField]:
    out: list[ForeignField] = []
    for obj in objects:
        out += foreign_fields(obj)
    return out
