"""What a rule sees of a resource: plain data, whichever way it reached the pack.

The engine hands the pack proxies (`pulumi_policy` wraps props to raise on unknown values during
preview); tests hand it dicts. `Resource` holds plain dicts and lists either way, so a rule can walk
every input without tripping on a value that is unknown until apply (those are left as the engine's
sentinel strings, which match nothing a rule looks for).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: report(message) for resource rules.
Report = Callable[[str], None]
#: report(message, urn) for stack rules.
StackReport = Callable[[str, str | None], None]


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it.

    ``props`` are the input properties in camelCase. ``provider`` is the URN of the provider resource
    (None for components and providers). ``secret_paths`` lists the input paths (``a.b[0].c``) that
    are Pulumi secrets, or is None when the caller cannot tell secret from plain.
    """

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    protect: bool = False
    provider: str | None = None
    secret_paths: frozenset[str] | None = field(default=None)

    @property
    def package(self) -> str:
        return self.type.split(":", 1)[0]

    def is_secret(self, path: str) -> bool:
        """Whether `path` is (inside) a secret input; False when secretness is unknown."""
        if not self.secret_paths:
            return False
        return any(
            path == s or path.startswith(f"{s}.") or path.startswith(f"{s}[") for s in self.secret_paths
        )


def plain(value: Any) -> Any:
    """Deep copy of props as dicts/lists/scalars (unwrapping pulumi_policy proxies without raising)."""
    if isinstance(value, Mapping):
        if not isinstance(value, dict):
            value = value["__target"]  # pulumi_policy proxy: the raw dict, unknowns included
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if not isinstance(value, list | tuple):
            value = value["__target"]
        return [plain(v) for v in value]
    return value


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def nodes(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every dict, list and scalar inside `value` (and the value itself) with its path, parents first."""
    yield path, value
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from nodes(v, join(path, str(k)))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from nodes(v, join(path, i))


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar leaf with its path."""
    return ((p, v) for p, v in nodes(value, path) if not isinstance(v, Mapping | list | tuple))


def get(value: Any, *keys: str | int) -> Any:
    """value[k1][k2]... or None when any step is missing."""
    for key in keys:
        in_list = isinstance(key, int) and isinstance(value, list | tuple) and -len(value) <= key < len(value)
        in_map = isinstance(key, str) and isinstance(value, Mapping) and key in value
        if in_list or in_map:
            value = value[key]
        else:
            return None
    return value


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|h|m|s)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def go_duration_seconds(text: str) -> float | None:
    """Seconds of a Go duration string (``20m0s``, ``1h``, ``90s``); None if it is not one."""
    text = text.strip()
    if not text or _DURATION.sub("", text) != "":
        return None
    return sum(float(n) * _UNIT[u] for n, u in _DURATION.findall(text))


def number(value: Any) -> float | None:
    """A number from an int, float or numeric string (the engine may send any of them)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        return float(value)
    return None
