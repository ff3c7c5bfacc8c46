"""Lab tier fixtures: one lab per test session, on its own state directory and free ports.

The session brings the lab up from nothing and stops it (by PID) and deletes its state at the end, so
`make test-lab` needs no running lab and leaves nothing behind. A developer's own lab (``make
lab-up``, state in ``.lab/``, base port 15400) is never touched: the tests pick another port range.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lab.cluster import Lab, temporary_lab


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """LAB_TEST_STATE_DIR / LAB_TEST_BASE_PORT, or a new directory and the first free range from 15500 (a
    developer's lab uses 15400)."""
    base = os.environ.get("LAB_TEST_BASE_PORT")
    with temporary_lab(
        15500,
        prefix="keybuzz-lab-test-",
        state_dir=os.environ.get("LAB_TEST_STATE_DIR") or None,
        base_port=int(base) if base else None,
    ) as instance:
        yield instance
