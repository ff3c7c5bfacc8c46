"""The lab stacks' secrets provider is Vault's transit engine (OpenBao), one key per stack: a fresh clone
with only Vault access (and the state backend) decrypts lab-prod's config and every entry of its history,
and can preview a rollback; no passphrase anywhere.

lab/stacks.py creates the key `keybuzz-pulumi-lab-<env>` in OpenBao's `transit` mount and a policy of the
same name allowing only encrypt/decrypt with it, and inits the stack with `hashivault://<key>`. Here the
fresh clone gets a token holding that policy alone; a token of lab-dev's key, or none, decrypts nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.cluster import Lab
from lab.stacks import secrets_key
from tests.e2e.lab_support import commit, git, lab_env, ops, pulumi

pytestmark = pytest.mark.e2e

STACK = "lab-prod"


def vault_only_env(lab: Lab, home: Path, token: str | None) -> dict[str, str]:
    """What a fresh clone on another machine has: the engine, the state backend, and a Vault token (or not).
    No passphrase, no other credential of the lab."""
    full = lab_env(lab)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "VAULT_", "BAO_", "KEYBUZZ_"))}
    env.update(
        PATH=full["PATH"],
        PULUMI_HOME=full["PULUMI_HOME"],  # the toolchain's plugins
        PULUMI_BACKEND_URL=full["PULUMI_BACKEND_URL"],  # the state (its password in a passfile)
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        LAB_STATE_DIR=full["LAB_STATE_DIR"],  # the policy pack's config for the lab stack (a plain file)
        PYTHONPATH=full["PYTHONPATH"],
        HOME=str(home),
        VAULT_SERVER_URL=f"http://127.0.0.1:{lab.ports.bao}",
    )
    if token:
        env["VAULT_SERVER_TOKEN"] = token
    assert not any("PASSPHRASE" in k for k in env)
    return env


def key_token(lab: Lab, env: str) -> str:
    """A token with nothing but the policy of lab-<env>'s transit key."""
    body = lab.vault().write(
        "auth/token/create", {"policies": [secrets_key(env)], "no_default_policy": True, "ttl": "30m"}
    )
    return str(body["auth"]["client_token"])


def test_a_fresh_clone_with_only_vault_access_decrypts_lab_prods_config_and_history(
    lab: Lab, prog: Path, tmp_path: Path
) -> None:
    settings = yaml.safe_load((prog / f"Pulumi.{STACK}.yaml").read_text())
    assert settings["secretsprovider"] == f"hashivault://{secrets_key('prod')}"
    assert settings["encryptedkey"]
    assert "encryptionsalt" not in settings  # no passphrase provider

    # Two deployments, the app secrets rotated in between.
    ops(lab, prog, "up", "--stack", STACK)
    first_env = json.loads(
        pulumi(lab, prog, "config", "get", "keybuzz:appSecretEnv", "--stack", STACK).stdout  # decrypted by Vault
    )
    rotated = json.dumps({"api": {"JWT_SECRET": "lab-rotated-e2e-secrets-provider"}})
    proc = subprocess.run(
        ["pulumi", "config", "set", "--secret", "keybuzz:appSecretEnv", "--stack", STACK, "--non-interactive"],
        cwd=prog, env=lab_env(lab), input=rotated, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert proc.returncode == 0
    ops(lab, prog, "up", "--stack", STACK)

    # The stack file is committed (as the estate's are), then cloned fresh.
    git(prog, "add", "--force", f"Pulumi.{STACK}.yaml")
    commit(prog, "lab-prod's stack file: hashivault secrets provider, encrypted key, ciphertexts")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(prog), str(clone)], check=True, capture_output=True)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    home = tmp_path / "home"
    home.mkdir()

    def run(token: str | None, *argv: str) -> subprocess.CompletedProcess[str]:
        env = vault_only_env(lab, home, token)
        return subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=600, check=False)

    token = key_token(lab, "prod")
    config = run(token, "pulumi", "config", "--show-secrets", "--json", "--stack", STACK, "--non-interactive")
    assert config.returncode == 0, config.stderr
    assert json.loads(json.loads(config.stdout)["keybuzz:appSecretEnv"]["value"]) == json.loads(rotated)
    assert json.loads(config.stdout)["keybuzz:vaultToken"]["value"] == lab.secrets.bao_root_token

    history = run(token, "pulumi", "stack", "history", "--show-secrets", "--json", "--stack", STACK,
                  "--non-interactive")  # fmt: skip
    assert history.returncode == 0, history.stderr
    updates = sorted((e for e in json.loads(history.stdout) if e["kind"] == "update"), key=lambda e: e["startTime"])
    assert len(updates) == 2
    for entry in updates:  # every entry decrypted: no ciphertext, no mask
        for key in ("keybuzz:appSecretEnv", "keybuzz:vaultToken", "keybuzz:kubeconfig"):
            assert entry["config"][key]["secret"] is True
            assert entry["config"][key]["value"] not in ("[secret]", ""), key
    assert [json.loads(e["config"]["keybuzz:appSecretEnv"]["value"]) for e in updates] == [
        first_env,
        json.loads(rotated),
    ]

    # The state's secrets too, and a rollback preview from the clone (the program runs, its config decrypts).
    export = run(token, "pulumi", "stack", "export", "--show-secrets", "--stack", STACK, "--non-interactive")
    assert export.returncode == 0, export.stderr
    assert "lab-rotated-e2e-secrets-provider" in export.stdout
    rollback = run(token, sys.executable, "-m", "ops", "rollback", "--stack", STACK, "--to", "1", "--cwd", str(clone))
    assert rollback.returncode == 0, rollback.stdout[-3000:] + rollback.stderr[-3000:]
    assert "preview only: re-run with --yes" in rollback.stdout

    # Vault access is what decrypts: lab-dev's key, or no token, decrypts nothing of lab-prod.
    for other in (key_token(lab, "dev"), None):
        refused = run(other, "pulumi", "config", "--show-secrets", "--json", "--stack", STACK, "--non-interactive")
        assert refused.returncode != 0
        assert "lab-rotated-e2e-secrets-provider" not in refused.stdout + refused.stderr
