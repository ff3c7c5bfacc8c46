"""The benchmarks use what the project offers to everyone: nothing from tests/, no private lab helper; they and
the scripts run as modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from X import Y` and `import X` (name "") in a file, nested ones included."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


@pytest.mark.parametrize("path", sorted((REPO / "bench").glob("*.py")), ids=lambda p: p.name)
def test_bench_imports_neither_tests_nor_private_names(path: Path) -> None:
    imports = imported(path)
    assert [m for m, _ in imports if m == "tests" or m.startswith("tests.")] == []
    assert [f"{m}.{n}" for m, n in imports if n.startswith("_") and not m.startswith("__")] == []


@pytest.mark.parametrize(
    "path", sorted([*(REPO / "bench").glob("*.py"), *(REPO / "scripts").glob("*.py")]), ids=lambda p: p.name
)
def test_benchmarks_and_scripts_run_as_modules_without_editing_sys_path(path: Path) -> None:
    """`python -m bench.<name>` / `python -m scripts.<name>` from the repository root find the project's
    packages: no file puts the repository on sys.path itself."""
    assert "sys.path" not in path.read_text()
