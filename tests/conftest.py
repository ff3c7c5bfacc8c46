"""Shared pytest setup: tier markers, and the real program rendered under mocks once per stack."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from components.environments import EnvironmentFacts
from render import Rendering, render_stack
from tests.table import with_environment

TIERS = ("unit", "policy", "lab", "toolchain", "e2e")


def pytest_configure(config: pytest.Config) -> None:
    """No PG* variable of the caller's shell reaches the tests. After `eval "$(python -m lab env)"` they name
    a developer's lab (its port, passfile, and its CA as PGSSLROOTCERT, against which libpq's `require`
    would then verify the test lab's certificate and fail); the tests run labs of their own and give every
    connection its settings."""
    for name in [n for n in os.environ if n.startswith("PG")]:
        del os.environ[name]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.fspath)).relative_to(root).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def dev() -> Rendering:
    """The real program rendered for the real DEV stack file (unit and policy tiers)."""
    return render_stack("dev")


@pytest.fixture(scope="session")
def prod() -> Rendering:
    """The real program rendered for the real PROD stack file (unit and policy tiers)."""
    return render_stack("prod")


@pytest.fixture(scope="session")
def prod_on_vault() -> Rendering:
    """PROD once its apps read Vault credentials (cutover phase `dynamic`): every database Secret is ESO's."""
    return render_stack("prod", {"legacyLoginPhase": "dynamic"})


@pytest.fixture
def add_environment(monkeypatch: pytest.MonkeyPatch) -> Callable[[EnvironmentFacts], None]:
    """`add_environment(entry)`: one more environment in the (read-only) table, for this test only."""
    return functools.partial(with_environment, monkeypatch)
