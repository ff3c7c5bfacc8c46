"""Policy tier setup: the pack importable as the engine imports it (`dev`/`prod` live in tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

# The engine runs policy/__main__.py with policy/ as its directory: import the pack the same way.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policy"))
