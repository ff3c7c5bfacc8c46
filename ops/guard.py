"""The estate guard: the real `dev` and `prod` stacks are only touched from machines allowed to reach the estate.

Same rule as toolchain/pulumi.sh: their providers connect to the estate's private addresses, so a command on
them from a development or CI-lab machine would send traffic there.
"""

from __future__ import annotations

import os
from typing import Any

from components.decommission import APPROVAL_KEY, RUNBOOK
from components.environments import estate_environments
from ops.errors import EXIT_REFUSED_ESTATE, EXIT_REFUSED_PROTECTED, OpsError

#: The stacks named like an estate environment (components/environments.py: `estate`).
ESTATE_STACKS = frozenset(estate_environments())
ESTATE_ENV = "KEYBUZZ_ESTATE_ACCESS"


def short_name(stack: str) -> str:
    """`organization/keybuzz/prod` -> `prod`."""
    return stack.rsplit("/", 1)[-1]


def is_estate_stack(stack: str) -> bool:
    return short_name(stack) in ESTATE_STACKS


def check_stack_allowed(stack: str, *, estate_flag: bool, environ: dict[str, str] | None = None) -> None:
    """Raise unless `stack` is a lab/throwaway stack or estate access was given explicitly."""
    env = os.environ if environ is None else environ
    if not stack:
        raise OpsError("no stack given", fix="pass --stack NAME (e.g. --stack lab-dev)")
    if is_estate_stack(stack) and not (estate_flag or env.get(ESTATE_ENV) == "yes"):
        raise OpsError(
            f"refusing to run on stack '{stack}': it reaches the estate (its providers connect to the "
            "estate's private addresses)",
            fix=f"use a lab stack (lab-dev, lab-prod), or pass --estate (or {ESTATE_ENV}=yes) on a machine "
            "allowed to reach the estate",
            code=EXIT_REFUSED_ESTATE,
        )


#: The destroy guard's resource (components/decommission.py), found in a stack's state by its name's end.
GUARD_SUFFIX = "-destroy-guard"


def check_destroy_approved(stack: str, approval: str | None, resources: list[dict[str, Any]]) -> None:
    """Raise unless a destroy of `stack` would get past its destroy guard: the stack's config approves it
    (`approval`, the value of keybuzz:decommission) *and* the state recorded that approval (the guard's delete
    reads the state: a destroy runs no program), and nothing is left protected (the databases stop a destroy
    half-way; they are retained on delete, so unprotecting them keeps their data)."""
    short = short_name(stack)
    if (approval or "").strip().lower() != "true":
        raise OpsError(
            f"refusing to destroy stack '{stack}': its decommissioning is not approved ({APPROVAL_KEY} is "
            f"{approval or 'not set'}); nothing was deleted",
            fix=f"if decommissioning is intended: set `{APPROVAL_KEY}: true` in Pulumi.{short}.yaml in a reviewed "
            f"pull request, `python -m ops up --stack {stack}`, then destroy ({RUNBOOK})",
            code=EXIT_REFUSED_PROTECTED,
        )
    guards = [r for r in resources if str(r.get("urn", "")).endswith(GUARD_SUFFIX)]
    if not guards or not all((g.get("inputs") or {}).get("approved") is True for g in guards):
        raise OpsError(
            f"refusing to destroy stack '{stack}': {APPROVAL_KEY} is true in the config but the state does not "
            "record it yet (the destroy guard reads the state); nothing was deleted",
            fix=f"python -m ops up --stack {stack} (its preview shows `approved: false => true`), then destroy",
            code=EXIT_REFUSED_PROTECTED,
        )
    protected = sorted(str(r["urn"]).rsplit("::", 1)[-1] for r in resources if r.get("protect"))
    if protected:
        raise OpsError(
            f"refusing to destroy stack '{stack}': {len(protected)} resource(s) are protected "
            f"({', '.join(protected)}), which would stop the destroy half-way; nothing was deleted",
            fix=f"pulumi state unprotect --all --yes --stack {stack} (the databases are retained on delete: the "
            f"destroy drops them from the state and leaves them live, {RUNBOOK})",
            code=EXIT_REFUSED_PROTECTED,
        )
