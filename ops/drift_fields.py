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
#: Reloader's rollout annotation (components/pickup.py, strategy `annotations`) and the Deployment
#: controller's revision counter.
EXPECTED: tuple[tuple[str, str], ...] = (
    ("Reloader", "spec.template.metadata.annotations.reloader.stakater.com/last-reloaded-from"),
    ("kube-controller-manager", "metadata.annotations.deployment.kubernetes.io/revision"),
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


def _segment(key: str) -> str:
    """One FieldsV1 key as a path segment: ``f:spec`` -> ``spec``, ``k:{"name":"x"}`` -> ``[name=x]``."""
    kind, _, rest = key.partition(":")
    if kind == "f":
        return rest
    if kind == "k":
        try:
            fields = json.loads(rest)
        except ValueError:
            return f"[{rest}]"
        return "[" + ",".join(f"{k}={v}" for k, v in fields.items()) + "]"
    if kind == "v":
        return f"[={rest}]"
    if kind == "i":
        return f"[{rest}]"
    return key


def field_paths(tree: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Every path a FieldsV1 tree owns: leaves, and list items or maps the manager owns as a whole (`.`)."""
    paths: set[str] = set()
    for key, sub in tree.items():
        if key == ".":
            if prefix:
                paths.add(prefix)
            continue
        seg = _segment(key)
        path = prefix + seg if seg.startswith("[") else (f"{prefix}.{seg}" if prefix else seg)
        if isinstance(sub, Mapping) and sub:
            paths |= field_paths(sub, path)
        else:
            paths.add(path)
    return paths


def _under(path: str, ancestor: str) -> bool:
    return path == ancestor or (path.startswith(ancestor) and path[len(ancestor)] in ".[")


def program_manager(obj: Mapping[str, Any], manager: str) -> bool:
    annotation = ((obj.get("metadata") or {}).get("annotations") or {}).get(FIELD_MANAGER_ANNOTATION)
    return manager == annotation if annotation else manager.startswith(PROGRAM_MANAGER_PREFIX)


def foreign_fields(obj: Mapping[str, Any]) -> list[ForeignField]:
    """The fields of `obj` that a manager other than the program's owns and the program does not.

    A field both own (the same value applied by both) is the program's. Under a list item or map another
    manager owns as a whole, only the item is reported. Status subresource entries and `EXPECTED` fields
    are not drift.
    """
    meta = obj.get("metadata") or {}
    kind = obj.get("kind", "?")
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    who = f"{kind} {where}{meta.get('name', '?')}"
    entries = [e for e in meta.get("managedFields") or [] if e.get("subresource", "") != "status"]
    mine: set[str] = set()
    for e in entries:
        if program_manager(obj, str(e.get("manager", ""))):
            mine |= field_paths(e.get("fieldsV1") or {})
    found: list[ForeignField] = []
    for e in entries:
        manager = str(e.get("manager", ""))
        if program_manager(obj, manager):
            continue
        for path in sorted(field_paths(e.get("fieldsV1") or {}), key=lambda p: (len(p), p)):
            if path in mine or any(_under(path, f.path) for f in found if f.manager == manager):
                continue
            if any(manager == m and _under(path, p) for m, p in EXPECTED):
                continue
            if any(_under(p, path) for p in mine):
                continue  # a map/item both touch: its own fields decide (reported below it, if any)
            found.append(ForeignField(who, path, manager, str(e.get("operation", "")), str(e.get("time", ""))))
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
