"""Helpers shared by the toolchain tier's fixtures and tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLCHAIN = REPO / "toolchain"
PINS_FILE = TOOLCHAIN / "pins.env"

# A passphrase for throwaway test stacks only; it protects nothing.
FAKE_PASSPHRASE = "keybuzz-toolchain-test-only"


def read_pins(path: Path = PINS_FILE) -> dict[str, str]:
    """Parse pins.env (KEY=VALUE lines, `#` comments) without running a shell."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: malformed line {raw!r}"
        pins[key.strip()] = value.strip()
    return pins


def read_requirement_pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, names lower-cased."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


Runner = Callable[..., subprocess.CompletedProcess[str]]
