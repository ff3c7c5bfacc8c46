"""The estate guard: the real `dev` and `prod` stacks are only touched from machines allowed to reach the estate.

Same rule as toolchain/pulumi.sh: their providers connect to the estate's private addresses, so a command on
them from a development or CI-lab machine would send traffic there.
"""

from __future__ import annotations

import os

from components.environments import estate_environments
from ops.errors import EXIT_REFUSED_ESTATE, OpsError

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
