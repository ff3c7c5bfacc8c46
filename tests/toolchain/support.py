"""Helpers shared by the toolchain tier's fixtures and tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLCHAIN = REPO / "toolchain"
PINS_FILE = TOOLCHAIN / "pins.env"

# A passphrase for throwaway test stacks only; it protects nothing.
FAKE_PASSPHRASE = "keybuzz-toolchain-test-only"


def read_pins(path: Path = PINS_FILE) -> dict[str, str]:
    """Parse pins.env (KEY=VALUE lines, `#` comments) without running a shell."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: malformed line {raw!r}"
        pins[key.strip()] = value.strip()
    return pins


def read_requirement_pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, names lower-cased."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def built_bin() -> Path | None:
    """The toolchain's bin folder (``build.sh bin``), or None while its pulumi is not built."""
    out = subprocess.run(["bash", str(TOOLCHAIN / "build.sh"), "bin"], capture_output=True, text=True, check=False)
    path = Path(out.stdout.strip())
    return path if out.returncode == 0 and (path / "pulumi").is_file() else None


def offline_pulumi_env(bin_dir: Path, work: Path, passphrase: str) -> dict[str, str]:
    """Environment for an offline pulumi on throwaway stacks: `bin_dir` first on PATH, a private PULUMI_HOME
    and a local file backend under `work`, no update check, no plugin download. Nothing of the caller's
    PULUMI_* (or estate access) is inherited."""
    home, state = work / "pulumi-home", work / "state"
    home.mkdir()
    state.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "KEYBUZZ_ESTATE"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PULUMI_HOME=str(home),
        PULUMI_BACKEND_URL=f"file://{state}",
        PULUMI_CONFIG_PASSPHRASE=passphrase,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
    )
    return env


def loopback_only_prefix() -> list[str]:
    """A prefix that runs a command in a new network namespace with only loopback up.

    Proves "offline" instead of assuming it: any attempt to reach a registry, the Pulumi Cloud or an estate
    address fails. Empty where namespaces are not allowed. The e2e tier runs its engine commands so too.
    """
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        return []
    probe = subprocess.run([unshare, "-n", ip, "link", "set", "lo", "up"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return []
    return [unshare, "-n", "sh", "-c", f'{ip} link set lo up && exec "$@"', "offline"]


Runner = Callable[..., subprocess.CompletedProcess[str]]
