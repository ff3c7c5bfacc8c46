"""The GitHub workflows pass actionlint (built by the toolchain). What they do: tests/unit/test_workflows.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"


def actionlint(engine_bin: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    exe = engine_bin / "actionlint"
    if not exe.is_file():
        pytest.skip("actionlint is not built: run `make toolchain`")
    # shellcheck/pyflakes integration off: the same verdict on every machine, whatever is installed.
    return subprocess.run(
        [exe, "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_actionlint_passes_on_every_workflow(engine_bin: Path) -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "preview.yml", "deploy.yml", "drift.yml", "rollback.yml"}
    proc = actionlint(engine_bin, *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(engine_bin: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    proc = actionlint(engine_bin, bad)
    assert proc.returncode == 1
    assert "nope" in proc.stdout
