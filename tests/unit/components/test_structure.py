"""The house's shape, checked: config -> plan -> components, and short functions.

Only `components/plan.py` (and the config package itself) reads the config: every other component gets what
the plan hands it, with the value types of `components/spec.py`. A component that imports the config again
would read keys around the plan, which is how `Environment` used to decide inline.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

COMPONENTS = Path(__file__).resolve().parents[3] / "components"
#: The modules allowed to import the config package: the plan (config -> plan) and the package itself.
READS_CONFIG = {"plan.py"}
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(p for p in COMPONENTS.rglob("*.py") if "config" not in p.relative_to(COMPONENTS).parts[:-1])


def _config_imports(path: Path) -> list[str]:
    """The import statements of `path` that reach components.config (relative or absolute)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = ("." * node.level) + (node.module or "")
            if module in (".config", "components.config") or module.startswith((".config.", "components.config.")):
                found.append(f"line {node.lineno}: from {module} import ...")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}" for a in node.names if a.name.startswith("components.config")
            ]
    return found


def test_only_the_plan_reads_the_config() -> None:
    offenders = {p.name: imports for p in _modules() if p.name not in READS_CONFIG and (imports := _config_imports(p))}
    assert offenders == {}, "components that read config around the plan (use components.spec / the plan)"


def test_the_checker_sees_a_config_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from .config import StackConfig\nimport components.config.model\n")
    assert len(_config_imports(sneaky)) == 2


def test_no_function_in_components_is_longer_than_80_lines() -> None:
    long = []
    for path in sorted(COMPONENTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(COMPONENTS)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []
