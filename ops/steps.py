"""Reading the engine's step events: what a preview would delete or replace, and what drifted.

Pure functions over `pulumi.automation.events.EngineEvent`, so the refusal logic is tested on recorded
events as well as on a live preview.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.automation import events

# Steps that remove the resource the state holds today (a replace removes it after, or before, creating
# the new one; either way the protected object goes).
DESTRUCTIVE_OPS = frozenset(
    {
        events.OpType.DELETE,
        events.OpType.REPLACE,
        events.OpType.CREATE_REPLACEMENT,
        events.OpType.DELETE_REPLACED,
    }
)
# Ops that say nothing changed.
UNCHANGED_OPS = frozenset({events.OpType.SAME, events.OpType.READ})


@dataclass(frozen=True)
class Step:
    """One planned step: its op, resource, whether the resource is protected, and what changes."""

    op: str
    urn: str
    type: str
    protected: bool
    diffs: tuple[str, ...] = ()
    #: A resource with live state (not a component, not the stack): what a refresh can find drifted.
    custom: bool = True

    def line(self) -> str:
        lock = " (protected)" if self.protected else ""
        head = f"{self.op:<18} {self.urn}{lock}"
        return "\n".join([head, *(f"        {d}" for d in self.diffs)])


_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the engine's marker of a secret value


def _leaves(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict) and _SECRET_SIG in value:
        return {prefix: "[secret]"}
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(_leaves(v, f"{prefix}[{i}]"))
        return out
    return {prefix: json.dumps(value)}


def value_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> tuple[str, ...]:
    """`path: old => new` for each leaf that differs; secret values are shown as `[secret]`, never in clear."""
    before, after = _leaves(dict(old or {})), _leaves(dict(new or {}))
    out = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path, "(none)"), after.get(path, "(none)")
        if a != b:
            out.append(f"{path}: {a} => {b}")
    return tuple(out)


def _op(value: Any) -> str:
    return value.value if isinstance(value, events.OpType) else str(value)


def steps_from_events(evts: Iterable[events.EngineEvent]) -> list[Step]:
    """The steps of a preview or refresh preview, from its resource events.

    A preview announces each step in a resource-pre event. A refresh announces every resource as
    `refresh` and says what the refresh found (`same` or `update`) only in the resource-outputs event,
    with the state read back in `new`; that op and the changed outputs replace the announcement.
    """
    seen: dict[tuple[str, str], Step] = {}
    for evt in evts:
        pre, res = evt.resource_pre_event, evt.res_outputs_event
        if pre is not None:
            meta = pre.metadata
            old, new = meta.old, meta.new
            protected = bool((old and old.protect) or (meta.op == events.OpType.DELETE and new and new.protect))
            seen[(_op(meta.op), meta.urn)] = Step(
                op=_op(meta.op), urn=meta.urn, type=meta.type, protected=protected, diffs=tuple(meta.diffs or ())
            )
        elif res is not None and (events.OpType.REFRESH.value, res.metadata.urn) in seen:
            meta = res.metadata
            announced = seen.pop((events.OpType.REFRESH.value, meta.urn))
            changes = value_changes(meta.old.outputs if meta.old else None, meta.new.outputs if meta.new else None)
            state = meta.new or meta.old
            seen[(_op(meta.op), meta.urn)] = Step(
                op=_op(meta.op),
                urn=meta.urn,
                type=meta.type,
                protected=announced.protected,
                diffs=changes,
                # The engine leaves `custom` out when it is false (a component, the stack).
                custom=bool(state is not None and state.custom),
            )
    return list(seen.values())


def protected_violations(steps: Iterable[Step]) -> list[Step]:
    """Steps that would delete or replace a resource marked `protect`: a rollback must refuse them."""
    return [s for s in steps if s.protected and s.op in DESTRUCTIVE_OPS]


def changed_steps(steps: Iterable[Step]) -> list[Step]:
    """Steps that change something: for a refresh, the resources that drifted out of band."""
    out = []
    for s in steps:
        if s.op in UNCHANGED_OPS:
            continue
        if s.op == events.OpType.REFRESH:
            continue  # announced, never resolved: the refresh stopped before reading it
        if not s.custom or s.type.startswith("pulumi:providers:"):
            # A refresh that runs the program (ops drift) re-registers components, the stack and providers
            # with the current config: nothing out of band, nothing live to drift.
            continue
        out.append(s)
    return out
