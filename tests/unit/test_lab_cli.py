"""`python -m lab` argument handling that needs no running lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli import main, parser


def test_stacks_defaults_to_both_environments() -> None:
    assert parser().parse_args(["stacks"]).envs == []  # main() reads [] as dev and prod
    assert parser().parse_args(["stacks", "prod"]).envs == ["prod"]


def test_stacks_refuses_an_unknown_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stacks", "staging", "--state-dir", str(tmp_path)]) == 1
    assert "unknown environment(s) staging" in capsys.readouterr().err
