"""Helpers of the e2e tests that run the real program on a lab: a lab of their own, a copy of the program
(in its own git repository, so the checkout never holds generated stack files), and the commands a user
runs (`pulumi`, `python -m ops`) with the lab's environment. Every command's output is kept, so that a
test can check that no secret was ever printed."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.cluster import Lab, free_base_port
from tests.e2e.conftest import REPO, toolchain_bin

GIT_ENV = {
    "GIT_AUTHOR_NAME": "e2e",
    "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
    "GIT_COMMITTER_NAME": "e2e",
    "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
}

#: stdout+stderr of every command run through `run` (checked for leaked secrets).
CAPTURED: list[str] = []


@contextlib.contextmanager
def started_lab(first_port: int) -> Iterator[Lab]:
    """A lab with its Kubernetes API on free loopback ports, stopped (by PID) and deleted afterwards."""
    if toolchain_bin() is None:
        pytest.fail("the toolchain is not built: run `make toolchain` (make test-e2e does)")
    state = Path(tempfile.mkdtemp(prefix="keybuzz-e2e-lab-"))
    os.chmod(state, 0o755)  # Patroni runs as the postgres user
    lab = Lab(state, free_base_port(first_port, first_port + 1000))
    try:
        lab.up(kube=True)
        yield lab
    finally:
        lab.down()
        if os.environ.get("LAB_TEST_KEEP_STATE"):
            print(f"lab state kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


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


def lab_env(lab: Lab) -> dict[str, str]:
    from lab.stacks import pulumi_env

    return {**pulumi_env(lab), "PYTHONPATH": str(REPO)}


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


def k8s_secret(lab: Lab, namespace: str, name: str) -> dict[str, str]:
    body = k8s(lab, f"/api/v1/namespaces/{namespace}/secrets/{name}")
    return {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}


def ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
