"""Unit tier fixtures: the real program rendered under mocks, once per stack per session."""

from __future__ import annotations

import pytest

from tests.support.render import Rendering, render_stack


@pytest.fixture(scope="session")
def dev() -> Rendering:
    return render_stack("dev")


@pytest.fixture(scope="session")
def prod() -> Rendering:
    return render_stack("prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def rendering(request: pytest.FixtureRequest, dev: Rendering, prod: Rendering) -> Rendering:
    return dev if request.param == "dev" else prod
