"""Fixtures for the toolchain tier: the pins, the built binaries, an offline pulumi environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.toolchain.support import FAKE_PASSPHRASE, TOOLCHAIN, Runner, read_pins


@pytest.fixture(scope="session")
def pins() -> dict[str, str]:
    return read_pins()


@pytest.fixture(scope="session")
def toolchain_bin() -> Path:
    """The cache folder holding the binaries; `make test-toolchain` builds it first."""
    out = subprocess.run(
        ["bash", str(TOOLCHAIN / "build.sh"), "bin"], check=True, capture_output=True, text=True
    ).stdout.strip()
    path = Path(out)
    if not (path / "pulumi").is_file():
        pytest.fail(f"no pulumi binary in {path}: run `make toolchain` first")
    return path


def _unshare_net() -> list[str]:
    """A prefix that runs a command in a new network namespace with only loopback up.

    Proves "offline" instead of assuming it: any attempt to reach a registry, the
    Pulumi Cloud or an estate address fails. Empty where namespaces are not allowed.
    """
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        return []
    probe = subprocess.run([unshare, "-n", ip, "link", "set", "lo", "up"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return []
    return [unshare, "-n", "sh", "-c", f'{ip} link set lo up && exec "$@"', "offline"]


@pytest.fixture(scope="session")
def offline_prefix() -> list[str]:
    return _unshare_net()


@pytest.fixture
def pulumi_env(tmp_path: Path, toolchain_bin: Path) -> dict[str, str]:
    """Environment for an offline pulumi: toolchain first on PATH, a private PULUMI_HOME,
    a local file backend, no update check, no plugin download."""
    home = tmp_path / "pulumi-home"
    state = tmp_path / "state"
    home.mkdir()
    state.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        PATH=f"{toolchain_bin}{os.pathsep}{env.get('PATH', '')}",
        PULUMI_HOME=str(home),
        PULUMI_BACKEND_URL=f"file://{state}",
        PULUMI_CONFIG_PASSPHRASE=FAKE_PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
    )
    return env


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
