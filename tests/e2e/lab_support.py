"""Helpers of the e2e tests that run the real program on a lab (the `lab` and `prog` fixtures are in
conftest.py): a copy of the program in its own git repository (so the checkout never holds generated
stack files), and the commands a user
runs (`pulumi`, `python -m ops`) with the lab's environment. Every command's output is kept, so that a
test can check that no secret was ever printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lab.cluster import Lab
from tests.e2e.conftest import GIT_ENV, REPO

#: stdout+stderr of every command run through `run` (checked for leaked secrets).
CAPTURED: list[str] = []


def copy_program(dest: Path) -> Path:
    """The program's files in `dest` (lab.stacks.copy_program), committed in a git repository of their own."""
    from lab.stacks import copy_program as copy_files

    copy_files(dest)
    (dest / ".gitignore").write_text(".venv\n__pycache__/\nPulumi.lab-*.yaml\n")
    git(dest, "init", "--quiet", "--initial-branch", "main")
    commit(dest, "v1")
    return dest


def git(prog: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=prog, env=env, capture_output=True, text=True, check=True).stdout


def commit(prog: Path, message: str) -> str:
    git(prog, "add", "-A")
    git(prog, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(prog, "rev-parse", "HEAD").strip()


_ENVS: dict[Path, dict[str, str]] = {}


def lab_env(lab: Lab) -> dict[str, str]:
    """The lab's pulumi environment (lab.stacks.pulumi_env), computed once per lab: it locates the
    toolchain and sets up the state database, neither of which changes between commands."""
    from lab.stacks import pulumi_env

    if lab.layout.state_dir not in _ENVS:
        _ENVS[lab.layout.state_dir] = {**pulumi_env(lab), "PYTHONPATH": str(REPO)}
    return dict(_ENVS[lab.layout.state_dir])


def run(
    lab: Lab, prog: Path, argv: list[str], *, expect: int | None = 0, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = lab_env(lab)
    proc = subprocess.run(argv, cwd=prog, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    CAPTURED.append(proc.stdout + proc.stderr)
    if expect is not None and proc.returncode != expect:
        pytest.fail(
            f"{' '.join(argv[:4])} exited {proc.returncode}, expected {expect}\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def pulumi(lab: Lab, prog: Path, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    return run(lab, prog, ["pulumi", *args, "--non-interactive"], expect=expect)


def ops(lab: Lab, prog: Path, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    return run(lab, prog, [sys.executable, "-m", "ops", *args, "--cwd", str(prog)], expect=expect)


def k8s(lab: Lab, path: str) -> Any:
    status, body = lab.kube.request("GET", path)
    assert status == 200, f"GET {path}: {status} {body}"
    return body
