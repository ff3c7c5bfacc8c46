"""Fixtures for the toolchain tier: the pins, the built binaries, an offline pulumi environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.toolchain.support import (
    FAKE_PASSPHRASE,
    Runner,
    built_bin,
    loopback_only_prefix,
    offline_pulumi_env,
    read_pins,
)


@pytest.fixture(scope="session")
def pins() -> dict[str, str]:
    return read_pins()


@pytest.fixture(scope="session")
def toolchain_bin() -> Path:
    """The cache folder holding the binaries; `make test-toolchain` builds it first."""
    path = built_bin()
    if path is None:
        pytest.fail("no pulumi binary in the toolchain's bin folder (build.sh bin): run `make toolchain` first")
    return path


@pytest.fixture(scope="session")
def offline_prefix() -> list[str]:
    return loopback_only_prefix()


@pytest.fixture
def pulumi_env(tmp_path: Path, toolchain_bin: Path) -> dict[str, str]:
    """Environment for an offline pulumi: toolchain first on PATH, a private PULUMI_HOME,
    a local file backend, no update check, no plugin download."""
    return offline_pulumi_env(toolchain_bin, tmp_path, FAKE_PASSPHRASE)


@pytest.fixture
def run_pulumi(pulumi_env: dict[str, str], offline_prefix: list[str]) -> Runner:
    """Run `pulumi ARGS...` offline; fails the test with pulumi's output on a non-zero exit."""

    def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*offline_prefix, "pulumi", *args, "--non-interactive"]
        proc = subprocess.run(cmd, cwd=cwd, env=pulumi_env, capture_output=True, text=True, timeout=180, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def tiny_program(tmp_path: Path) -> Path:
    """A throwaway Python program run by the repo's .venv (the interpreter running pytest)."""
    prog = tmp_path / "prog"
    prog.mkdir()
    venv = Path(sys.prefix)
    (prog / "Pulumi.yaml").write_text(
        f"name: toolchain-smoke\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {venv}\n"
    )
    (prog / "__main__.py").write_text(
        '"""Smallest program that exercises the engine, the language host, config and secrets."""\n'
        "import pulumi\n\n\n"
        "class Box(pulumi.ComponentResource):\n"
        "    def __init__(self, name: str) -> None:\n"
        '        super().__init__("keybuzz:smoke:Box", name, None, None)\n'
        '        self.label = pulumi.Output.from_input(f"box-{name}")\n'
        '        self.register_outputs({"label": self.label})\n\n\n'
        "cfg = pulumi.Config()\n"
        'box = Box("one")\n'
        'pulumi.export("label", box.label)\n'
        'pulumi.export("greeting", cfg.require("greeting"))\n'
        'pulumi.export("token", cfg.require_secret("token"))\n'
    )
    return prog
