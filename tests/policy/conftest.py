"""Policy tier fixtures: the pack importable as the engine imports it, the real program rendered per stack."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The engine runs policy/__main__.py with policy/ as its directory: import the pack the same way.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policy"))

from tests.support.render import Rendering, render_stack


@pytest.fixture(scope="session")
def dev() -> Rendering:
    return render_stack("dev")


@pytest.fixture(scope="session")
def prod() -> Rendering:
    return render_stack("prod")
