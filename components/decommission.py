"""The destroy guard: a `pulumi destroy` of a stack is refused before anything is deleted, unless approved.

`protect` on the databases was not enough: a `pulumi destroy --stack lab-dev` deleted 123 resources (the
adopted namespaces with everything in them, the ``database-dev`` mount and so every lease, the policies and
auth roles) and stopped only at the protected databases (issue 17, item 7). The guard is one dynamic resource
that depends on every other resource of the stack, and whose ``delete`` raises unless the stack's config
approved the decommissioning (``keybuzz:decommission: true``, committed in a reviewed PR, then applied by an
``up``). Why the engine cannot delete anything before it (pulumi 3.259, ``pkg/resource/deploy``):

* ``stepGenerator.ScheduleDeletes`` orders a destroy's deletes in antichains by the dependency graph, a
  resource only after everything that depends on it; the guard depends on every custom resource, so it is
  alone (with state-only component deletes at most) in the first antichain;
* ``deploymentExecutor`` runs the antichains one after the other, each to completion, and drops from the
  later ones every transitive dependency of a step that failed (also with ``--continue-on-error``);
* ``--target X`` is refused by the engine while a resource depending on X (the guard) is not targeted;
  ``--target-dependents`` adds them (``getTargetDependents``), so the guard's delete runs first;
  ``--exclude`` of the guard excludes its dependencies too
  (``getExcludeDependencies``): nothing is deleted; ``--exclude-protected`` leaves the guard in.

What it cannot stop: ``pulumi state delete`` (which deletes nothing live), and an ``up`` of a program that no
longer declares some resources (an app removed from the catalog): those deletes are not a destroy, and the
estate's objects are retained on delete (`retain_on_delete`) for that case.

Approving is two steps on purpose: the config change shows in the PR and in the ``up``'s preview
(``~ approved: false => true``), and ``destroy`` reads the approval from the state the ``up`` recorded (a
destroy runs no program, so a local config edit alone approves nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

#: The config key that approves a destroy (components/config/model.py `decommission`).
APPROVAL_KEY = "keybuzz:decommission"
RUNBOOK = "docs/runbook-decommissioning.md"


class DecommissionRefused(Exception):
    """A destroy of a stack whose decommissioning was not approved."""


def refusal(stack: str) -> str:
    """Why a destroy of `stack` is refused, and what approves it (the message of the guard and of `ops`)."""
    return (
        f"destroy of stack '{stack}' refused before anything was deleted: its decommissioning is not approved "
        f"({APPROVAL_KEY} is not true in the state). Fix, if decommissioning is intended: set "
        f"`{APPROVAL_KEY}: true` in Pulumi.{stack}.yaml in a reviewed pull request, run `pulumi up --stack {stack}` "
        f"(it records the approval), then destroy ({RUNBOOK})."
    )


class _GuardProvider(ResourceProvider):
    """Nothing to create or update but the recorded approval; a delete refused unless it is approved."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"destroy-guard-{props['stack']}", dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(olds.get(k) != news.get(k) for k in ("stack", "approved"))
        return DiffResult(changes=changed, replaces=[], stables=["stack"], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(dict(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("approved") is not True:
            raise DecommissionRefused(refusal(str(props.get("stack"))))


class DestroyGuard(pulumi.dynamic.Resource):
    """Refuses its own delete, which the engine runs before any other delete of the stack, unless approved.

    `protected` are the resources it guards: every resource of the stack (components stand for their custom
    descendants: the SDK expands a component in ``depends_on`` to them)."""

    approved: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        stack: str,
        approved: bool,
        protected: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ):
        guarded = pulumi.ResourceOptions(depends_on=list(protected))
        super().__init__(
            _GuardProvider(),
            name,
            {"stack": stack, "approved": approved},
            guarded if opts is None else opts.merge(guarded),
        )


__all__ = ["APPROVAL_KEY", "DecommissionRefused", "DestroyGuard", "refusal"]
