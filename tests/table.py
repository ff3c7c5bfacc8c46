"""One more environment in the table for a test: the table is read-only, so tests patch the dict behind it.

`with_environment(patch, entry)` adds `entry` until `patch` (a ``pytest.MonkeyPatch``) is undone: the
``add_environment`` fixture (tests/conftest.py) for one test, ``pytest.MonkeyPatch.context()`` for a
module-scoped fixture that only needs the entry while it renders. Nothing else writes to the table.
"""

from __future__ import annotations

import pytest

from components import environments
from components.environments import ENVIRONMENT_TABLE, ClientBuild, EnvironmentFacts

#: A synthetic third environment: pinned like PROD, unprotected like DEV, not the estate's.
STAGING = EnvironmentFacts(
    name="staging",
    protected=False,
    pinned_tags=True,
    legacy_names=frozenset(),
    client_build=ClientBuild(r"^[A-Za-z0-9_.-]+-staging$", "a STAGING build, ending in -staging"),
    estate=False,
)


def with_environment(patch: pytest.MonkeyPatch, entry: EnvironmentFacts) -> None:
    """`entry` in the environment table until `patch` is undone; an existing name is refused, not replaced."""
    if entry.name in ENVIRONMENT_TABLE:
        raise ValueError(f"environment {entry.name!r} already exists")
    # The one writer of the private dict: ENVIRONMENT_TABLE is a view over it, so every reader sees the entry.
    patch.setitem(environments._TABLE, entry.name, entry)
