"""`python -m lab` argument handling and output that need no running lab (nothing here starts a server or
connects anywhere: the commands that would are given a lab stand-in through monkeypatch)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from components.environments import estate_environments
from lab import config as cfg
from lab.cli import COMMANDS, main, parser
from lab.cluster import Lab
from lab.failover import FailoverReport

pytestmark = pytest.mark.unit


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_command_of_the_parser_has_one_function() -> None:
    assert set(_subcommands()) == set(COMMANDS)


def test_stacks_defaults_to_every_estate_environment() -> None:
    assert parser().parse_args(["stacks"]).envs == []  # cmd_stacks reads [] as every estate environment
    assert parser().parse_args(["stacks", "prod"]).envs == ["prod"]
    assert ", ".join(estate_environments()) in _subcommands()["stacks"].format_help()


def test_stacks_refuses_an_unknown_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stacks", "staging", "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unknown environment(s) staging" in err
    assert all(env in err for env in estate_environments())  # it names the known ones


def test_down_of_a_lab_that_never_ran_stops_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["down", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("stopped nothing in ")
    assert main(["down", "--json", "--state-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["stopped"] == []


def test_env_exports_the_labs_endpoints_and_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_BAO", "/opt/openbao/bin/bao")  # where OpenBao is does not matter here
    secrets = cfg.load_or_create_secrets(cfg.Layout(tmp_path))
    assert main(["env", "--json", "--state-dir", str(tmp_path), "--base-port", "18100"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert (values["PGHOST"], values["PGPORT"]) == ("127.0.0.1", "18100")  # the LB write port
    assert values["VAULT_ADDR"] == values["BAO_ADDR"] == "http://127.0.0.1:18108"
    assert values["VAULT_TOKEN"] == secrets.bao_root_token
    assert "PGPASSWORD" not in values  # a passfile instead (PGPASSFILE)
    assert secrets.superuser_password in Path(values["PGPASSFILE"]).read_text()
    assert "KUBECONFIG" not in values  # no Kubernetes API was started
    assert main(["env", "--state-dir", str(tmp_path), "--base-port", "18100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "export PGPORT=18100" in lines
    assert lines[-1].startswith("export PATH=")
    assert "/opt/openbao/bin:" in lines[-1]  # OpenBao's directory (after the toolchain's, once it is built)


def _status(running: bool) -> dict[str, Any]:
    return {
        "state_dir": "/nowhere", "running": running, "endpoints": {}, "etcd_healthy": False, "bao": None,
        "leader": None, "members": [], "haproxy": {}, "processes": [],
    }  # fmt: skip


def test_status_exits_3_when_the_lab_is_not_running_and_json_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Lab, "status", lambda self: _status(running=False))
    assert main(["status", "--state-dir", str(tmp_path)]) == 3
    assert "running     False" in capsys.readouterr().out
    assert main(["status", "--json", "--state-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["running"] is False
    monkeypatch.setattr(Lab, "status", lambda self: _status(running=True))
    assert main(["status", "--state-dir", str(tmp_path)]) == 0


def _report(lost: list[int]) -> FailoverReport:
    return FailoverReport(
        mode="switchover", old_leader="pg1", new_leader="pg2", gap_s=1.4, election_s=2.4, writes_resumed_s=2.5,
        acked=100, lost=lost, ambiguous=0, errors=1, first_error=None, error_kinds={}, heal_s=7.0,
        attempts=[{"attempt": 1, "returncode": 0, "output": "Successfully switched over"}],
    )  # fmt: skip


@pytest.mark.parametrize(("lost", "code"), [([], 0), ([41, 42], 2)])
def test_failover_exits_2_when_an_acknowledged_commit_was_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lost: list[int], code: int
) -> None:
    asked: list[tuple[str, Any]] = []

    def failover(self: Lab, mode: str, candidate: str | None = None, heal: bool = True) -> FailoverReport:
        asked.append((mode, heal))
        return _report(lost)

    monkeypatch.setattr(Lab, "failover", failover)
    assert main(["failover", "--mode", "kill", "--no-heal", "--state-dir", str(tmp_path)]) == code
    out = capsys.readouterr().out
    assert asked == [("kill", False)]
    assert "patronictl attempt 1: rc=0" in out
    assert ("LOST COMMITS: [41, 42]" in out) == bool(lost)
    assert main(["failover", "--json", "--state-dir", str(tmp_path)]) == code
    assert json.loads(capsys.readouterr().out)["lost"] == lost
