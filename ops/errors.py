"""The one exception type the CLI turns into a readable message and an exit code."""

from __future__ import annotations

# Exit codes, documented in docs/operations.md.
EXIT_ERROR = 1  # bad input or a failed engine run
EXIT_REFUSED_ESTATE = 2  # an estate stack without --estate
EXIT_REFUSED_PROTECTED = 3  # a rollback would delete or replace a protected resource; a destroy not approved
EXIT_DRIFT = 4  # refresh found out-of-band changes, or another field manager set fields of a program object
EXIT_PREFLIGHT_BLOCKS = 5  # the preflight found something the up would fail on or cut traffic with
EXIT_PREFLIGHT_FIXES = 6  # nothing blocks, but something would be dropped or is not listed (config lines fix it)


class OpsError(Exception):
    """A failure the operator can act on: what is wrong, on which stack, and how to fix it."""

    def __init__(self, message: str, *, fix: str = "", code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.code = code

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text
