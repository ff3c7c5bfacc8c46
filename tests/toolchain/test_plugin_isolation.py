"""The toolchain's source-built provider plugins live in its own Pulumi home, never in the user's ~/.pulumi.

They carry the official version numbers (the vault plugin re-bridged, the kubernetes schema regenerated):
installed in ~/.pulumi/plugins they would replace the released plugins for every Pulumi project of that
user. Each test runs with a temporary HOME holding a stand-in for a released plugin, and with
PULUMI_HOME=~/.pulumi exported (an ambient PULUMI_HOME must not redirect the install either).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.toolchain.support import TOOLCHAIN

PROVIDERS = {
    "kubernetes": "PULUMI_KUBERNETES_VERSION",
    "postgresql": "PULUMI_POSTGRESQL_VERSION",
    "vault": "PULUMI_VAULT_VERSION",
}


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root`: a file's bytes, None for a directory."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def user_home(tmp_path: Path, pins: dict[str, str]) -> Path:
    """A HOME whose ~/.pulumi/plugins holds a stand-in for the released vault plugin at the pinned version."""
    home = tmp_path / "home"
    released = home / ".pulumi" / "plugins" / f"resource-vault-v{pins['PULUMI_VAULT_VERSION']}"
    released.mkdir(parents=True)
    (released / "pulumi-resource-vault").write_bytes(b"#!/bin/sh\n# stands in for the released plugin\n")
    return home


@pytest.fixture
def user_env(user_home: Path, toolchain_bin: Path) -> dict[str, str]:
    """The environment of a user with that HOME: the same toolchain cache and Go caches (a warm build)."""
    go = json.loads(subprocess.run(["go", "env", "-json"], capture_output=True, text=True, check=True).stdout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        HOME=str(user_home),
        PULUMI_HOME=str(user_home / ".pulumi"),
        KEYBUZZ_TOOLCHAIN_CACHE=str(toolchain_bin.parent.parent),
        GOPATH=go["GOPATH"],
        GOMODCACHE=go["GOMODCACHE"],
        GOCACHE=go["GOCACHE"],
    )
    return env


def build_sh(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        ["bash", str(TOOLCHAIN / "build.sh"), *args], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"build.sh {' '.join(args)}: {proc.stderr[-3000:]}"
    return proc.stdout


def test_make_toolchain_and_install_plugins_leave_the_users_pulumi_untouched(
    user_home: Path, user_env: dict[str, str], toolchain_bin: Path, pins: dict[str, str]
) -> None:
    before = snapshot(user_home / ".pulumi")  # (Go itself writes its telemetry under ~/.config)
    build_sh(user_env, "build")
    build_sh(user_env, "install-plugins")
    assert snapshot(user_home / ".pulumi") == before

    home = Path(build_sh(user_env, "home").strip())
    assert home.is_relative_to(toolchain_bin.parent.parent), home  # inside the toolchain's cache
    for name, key in PROVIDERS.items():
        installed = home / "plugins" / f"resource-{name}-v{pins[key]}" / f"pulumi-resource-{name}"
        built = toolchain_bin.parent / "plugins" / f"pulumi-resource-{name}"
        assert installed.read_bytes() == built.read_bytes(), name


def test_the_toolchain_env_makes_the_engine_resolve_its_plugins_from_its_own_home(
    user_home: Path, user_env: dict[str, str], pins: dict[str, str]
) -> None:
    """What `eval "$(make -s toolchain-env)"` gives: PULUMI_HOME is the toolchain's, and the engine finds the
    three plugins at their pins there, reading and writing nothing under ~/.pulumi."""
    before = snapshot(user_home / ".pulumi")  # (Go itself writes its telemetry under ~/.config)
    home = build_sh(user_env, "home").strip()
    assert f'export PULUMI_HOME="{home}"' in build_sh(user_env, "env")
    script = f'eval "$(bash {TOOLCHAIN / "build.sh"} env)" && pulumi plugin ls --json'
    proc = subprocess.run(["bash", "-c", script], env=user_env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    listed = {(p["kind"], p["name"]): p["version"] for p in json.loads(proc.stdout)}
    for name, key in PROVIDERS.items():
        assert listed.get(("resource", name)) == pins[key], (name, listed)
    assert snapshot(user_home / ".pulumi") == before
