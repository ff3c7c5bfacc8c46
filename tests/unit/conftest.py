"""Unit tier fixtures: both stacks as one parametrized fixture (`dev`/`prod` live in tests/conftest.py)."""

from __future__ import annotations

import pytest

from render import Rendering


@pytest.fixture(scope="session", params=["dev", "prod"])
def rendering(request: pytest.FixtureRequest, dev: Rendering, prod: Rendering) -> Rendering:
    return dev if request.param == "dev" else prod
