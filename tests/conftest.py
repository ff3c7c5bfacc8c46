"""Shared pytest setup: every test under tests/<tier>/ carries the tier's marker."""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "policy", "lab", "toolchain", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.fspath)).relative_to(root).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))
