"""Lab tier fixtures: one lab per test session, on its own state directory and free ports.

The session brings the lab up from nothing and stops it (by PID) and deletes its state at the end, so
`make test-lab` needs no running lab and leaves nothing behind. A developer's own lab (``make
lab-up``, state in ``.lab/``, base port 15400) is never touched: the tests pick another port range.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.cluster import Lab
from lab.cluster import free_base_port as find_free_base_port


def free_base_port() -> int:
    """LAB_TEST_BASE_PORT, or the first free range from 15500 (a developer's lab uses 15400)."""
    wanted = os.environ.get("LAB_TEST_BASE_PORT")
    return int(wanted) if wanted else find_free_base_port(15500, 16500)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    state = Path(os.environ.get("LAB_TEST_STATE_DIR") or tempfile.mkdtemp(prefix="keybuzz-lab-test-"))
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)  # Patroni runs as the postgres user and must reach its node directories
    instance = Lab(state, free_base_port())
    try:
        instance.up()
        yield instance
    finally:
        instance.down()
        if os.environ.get("LAB_TEST_KEEP_STATE"):
            print(f"lab test state kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def programs(lab: Lab) -> dict[str, Any]:
    """DEV and PROD rendered under mocks with the lab's endpoints, then applied to the lab.

    Every statement, grant, policy and TTL the tests exercise comes from these renderings.
    """
    from lab.apply import Applier
    from lab.program import lab_overrides
    from tests.support.render import render_stack

    renderings = {env: render_stack(f"lab-{env}", lab_overrides(lab)) for env in ("dev", "prod")}
    applier = Applier(lab)
    for rendering in renderings.values():
        applier.apply(rendering.resources)
    return renderings
