"""How an invalid configuration is reported: one `ConfigError` listing every `Problem`, each with its fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from pulumi.errors import RunError

NAMESPACE: Final = "keybuzz"
SECRET_PLACEHOLDER: Final = "[secret]"


@dataclass(frozen=True)
class Problem:
    key: str
    value: str
    message: str
    fix: str

    def render(self) -> str:
        shown = f" = {self.value}" if self.value else ""
        return f"  - {NAMESPACE}:{self.key}{shown}: {self.message}.\n      fix: {_sentence(self.fix)}"


def problem(key: str, value: Any, message: str, fix: str, secret: bool = False) -> Problem:
    """A problem about `key`, showing `value` as the stack gave it: never a secret's, nothing when empty."""
    shown = _show(value, secret) if value not in ("", None) else ""
    return Problem(key, shown, message, fix)


def _sentence(text: str) -> str:
    """`text` as a whole sentence: capital first letter, final full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "`")) else text + "."


class ConfigError(RunError):
    """The stack's configuration is invalid; lists every problem found, each with its fix.

    A `pulumi.RunError`: the language host prints its message as the error of the run, without a Python
    traceback, so `pulumi preview`/`up` show the problem list itself."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        body = "\n".join(p.render() for p in problems)
        super().__init__(f"invalid configuration for stack '{stack}' ({count}); nothing was registered:\n{body}")


def _show(value: Any, secret: bool) -> str:
    if secret:
        return SECRET_PLACEHOLDER
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text) if len(text) <= 200 else repr(text[:200] + "...")
