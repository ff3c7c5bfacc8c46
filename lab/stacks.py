"""Lab stacks: ``lab-dev`` / ``lab-prod`` generated from the shipped ``Pulumi.dev.yaml`` / ``Pulumi.prod.yaml``.

Only the lab's addresses and credentials differ from the shipped stack (``LAB_KEYS``; a test checks it),
plus ``kubernetesSkipAwait`` (the lab has no kubelet, so nothing ever becomes ready). Plain values are
written into ``Pulumi.lab-<env>.yaml`` beside the program (git-ignored); secrets are set with
``pulumi config set --secret`` through standard input (never in argv), encrypted by the stack's secrets
provider: Vault's transit engine in the lab's OpenBao (``hashivault://keybuzz-pulumi-lab-<env>``, one key
per stack, and a policy of the same name allowing encrypt/decrypt with that key only), as the README
recommends for the estate: decrypting a stack's secrets takes a Vault token with that policy, not a
shared string. The engine finds OpenBao through ``VAULT_SERVER_URL``/``VAULT_SERVER_TOKEN`` (names only
the secrets provider reads; the program's Vault provider has explicit settings). A stack made by an
earlier lab with the passphrase provider is moved to its key (``pulumi stack change-secrets-provider``).
State goes to the lab's PostgreSQL through the LB (``lab/state.py``), whatever ``PULUMI_BACKEND_URL`` the
caller has (``LAB_PULUMI_BACKEND_URL`` overrides it).

The policy pack reads the estate facts from a config file: ``policy_config`` writes the lab's
(``<state>/pulumi/policy-lab-<env>.json``) from the shipped ``policy/config/<env>.json`` with the lab's
LB and node addresses.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from components.environments import estate_environments
from lab.cluster import Lab
from lab.config import HOST, generated_secret, repo_root
from lab.kube import toolchain_bin, toolchain_pulumi_home
from lab.procs import LabError
from lab.program import lab_overrides
from lab.state import backend_url, ensure_state_database
from render.unseeded import unseeded, unseeded_keys

NAMESPACE = "keybuzz"
# Keys a lab stack sets differently from the shipped stack: where things are, and how to log in.
# postgresSslMode is not one: the lab's PostgreSQL serves TLS like production's (lab/tls.py).
ADDRESS_KEYS = frozenset(
    {"postgresWriteEndpoint", "postgresReadEndpoint", "redisEndpoint", "postgresNodes", "redisNodes",
     "vaultAddress"}
)  # fmt: skip
CREDENTIAL_KEYS = frozenset({"postgresAdminPassword", "vaultToken", "vaultDbPassword", "appSecretEnv", "kubeconfig"})
LAB_ONLY_KEYS = frozenset({"kubernetesSkipAwait"})  # no kubelet in the lab: nothing ever becomes ready
#: Keys no seed gives (render/unseeded.py): unset in the shipped stack, a stand-in in the lab's.
UNSEEDED_KEYS = unseeded_keys()
LAB_KEYS = ADDRESS_KEYS | CREDENTIAL_KEYS | LAB_ONLY_KEYS | UNSEEDED_KEYS
#: The generated secret (`lab.config.generated_secret`) the stacks' config is encrypted with.
PASSPHRASE = "passphrase"


def stack_name(env: str) -> str:
    return f"lab-{env}"


TRANSIT_MOUNT = "transit"  # the hashivault provider's default engine path


def secrets_key(env: str) -> str:
    """The transit key (and the policy allowing only it) of lab-<env>'s secrets provider."""
    return f"keybuzz-pulumi-{stack_name(env)}"


def secrets_provider(env: str) -> str:
    return f"hashivault://{secrets_key(env)}"


def ensure_secrets_key(lab: Lab, env: str) -> None:
    """OpenBao's transit engine, lab-<env>'s key and its encrypt/decrypt-only policy. Idempotent."""
    from lab.bao import ensure_mount

    vault = lab.vault()
    ensure_mount(vault, TRANSIT_MOUNT, "transit")
    key = secrets_key(env)
    vault.write(f"{TRANSIT_MOUNT}/keys/{key}", {"type": "aes256-gcm96"})  # creating an existing key: no-op
    policy = "".join(
        f'path "{TRANSIT_MOUNT}/{op}/{key}" {{ capabilities = ["update"] }}\n' for op in ("encrypt", "decrypt")
    )
    vault.write(f"sys/policies/acl/{key}", {"policy": policy})


def shipped_config(env: str, root: Path | None = None) -> dict[str, Any]:
    """The `config:` block of the shipped ``Pulumi.<env>.yaml``."""
    path = (root or repo_root()) / f"Pulumi.{env}.yaml"
    return dict(yaml.safe_load(path.read_text())["config"])


def lab_values(lab: Lab, env: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(plain config, secret config) of lab-<env>, both keyed ``keybuzz:<key>`` like a stack file."""
    if not lab.kube.kubeconfig_path.exists():
        raise LabError("the lab has no Kubernetes API: start it with `python -m lab up --kube` (make lab-up)")
    plain = shipped_config(env)
    for key, value in unseeded(env).items():
        plain.setdefault(f"{NAMESPACE}:{key}", value)
    for key, value in lab_overrides(lab).items():
        if key not in CREDENTIAL_KEYS:
            plain[f"{NAMESPACE}:{key}"] = value
    plain[f"{NAMESPACE}:kubernetesSkipAwait"] = True
    secret = {
        "postgresAdminPassword": lab.secrets.superuser_password,
        "vaultToken": lab.secrets.bao_root_token,
        "kubeconfig": lab.kube.kubeconfig_path.read_text(),
        "appSecretEnv": json.dumps({"api": {"JWT_SECRET": "lab-" + secrets.token_urlsafe(18)}}),
        "vaultDbPassword": generated_secret(lab.layout, vault_db_secret(env)),
    }
    assert set(secret) == CREDENTIAL_KEYS
    return plain, {f"{NAMESPACE}:{key}": value for key, value in secret.items()}


def vault_db_secret(env: str) -> str:
    """Name of the generated secret (`lab.config.generated_secret`) that is lab-<env>'s vaultDbPassword."""
    return f"vault-db-{env}"


#: What a copy of the program needs: the project, every shipped stack file, the code and the policy pack.
PROGRAM_FILES = (
    "Pulumi.yaml",
    *(f"Pulumi.{env}.yaml" for env in estate_environments()),
    "__main__.py",
    "components",
    "policy",
)


def copy_program(dest: Path) -> Path:
    """The program's files in `dest` (for a test or a benchmark that must not write stack files into the
    checkout), with the repository's virtualenv linked as `.venv` (Pulumi.yaml's `virtualenv`)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROGRAM_FILES:
        src = repo_root() / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(Path(sys.prefix))
    return dest


def pulumi_env(lab: Lab) -> dict[str, str]:
    """Environment for the toolchain's pulumi on a lab stack: offline, the lab's passphrase, and the
    lab's state backend (its PostgreSQL through the LB, lab/state.py)."""
    bin_dir = toolchain_bin()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYBUZZ_ESTATE")}
    # Always the lab's backend: the caller's PULUMI_BACKEND_URL is for other stacks (`make -s toolchain-env`
    # sets a local file default). LAB_PULUMI_BACKEND_URL overrides it on purpose (the benchmark does).
    if os.environ.get("LAB_PULUMI_BACKEND_URL"):
        env["PULUMI_BACKEND_URL"] = os.environ["LAB_PULUMI_BACKEND_URL"]
    else:
        ensure_state_database(lab)
        env["PULUMI_BACKEND_URL"] = backend_url(lab)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PULUMI_HOME=str(toolchain_pulumi_home()),  # the toolchain's plugins live there, not in ~/.pulumi
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        # The stacks' secrets provider (hashivault://): the lab's OpenBao, as the lab's operator.
        VAULT_SERVER_URL=f"http://{HOST}:{lab.ports.bao}",
        VAULT_SERVER_TOKEN=lab.secrets.bao_root_token,
        # Only for a stack an earlier lab made with the passphrase provider (moved to its key by write_stack).
        PULUMI_CONFIG_PASSPHRASE=generated_secret(lab.layout, PASSPHRASE),
        LAB_STATE_DIR=str(lab.layout.state_dir),  # where `python -m ops` finds the lab stacks' pack config
    )
    return env


def _pulumi(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["pulumi", *args, "--non-interactive"], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        raise LabError(f"pulumi {' '.join(args[:3])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def write_stack(lab: Lab, env: str, root: Path | None = None) -> Path:
    """Create (or update) the lab stack of `env`: its stack file, its secrets, its policy config."""
    root = root or repo_root()
    name = stack_name(env)
    plain, secret = lab_values(lab, env)
    penv = pulumi_env(lab)
    stacks = json.loads(_pulumi(penv, root, "stack", "ls", "--json"))
    path = root / f"Pulumi.{name}.yaml"
    ensure_secrets_key(lab, env)
    if name not in {s["name"] for s in stacks}:
        # A stack file left from another lab holds that lab's encryption settings: the file is generated,
        # so start it anew with the stack.
        path.unlink(missing_ok=True)
        _pulumi(penv, root, "stack", "init", name, "--secrets-provider", secrets_provider(env))
    doc = yaml.safe_load(path.read_text()) if path.exists() else {}
    if (doc or {}).get("secretsprovider") != secrets_provider(env):
        _pulumi(penv, root, "stack", "change-secrets-provider", secrets_provider(env), "--stack", name)
        doc = yaml.safe_load(path.read_text())
    doc = {k: v for k, v in (doc or {}).items() if k != "config"}
    header = (
        f"# GENERATED by `python -m lab stacks` from Pulumi.{env}.yaml. Do not edit; regenerate.\n"
        "# Only the lab's addresses and credentials differ from the shipped stack file:\n"
        + "".join(f"#   {key}\n" for key in sorted(LAB_KEYS))
    )
    path.write_text(header + yaml.safe_dump({**doc, "config": plain}, sort_keys=False))
    for key, value in secret.items():
        _pulumi(penv, root, "config", "set", "--secret", key, "--stack", name, stdin=value)
    policy_config(lab, env)
    return path


def policy_config(lab: Lab, env: str) -> Path:
    """The policy pack's config for lab-<env>: the shipped one with the lab's LB and node addresses."""
    shipped = json.loads((repo_root() / "policy" / "config" / f"{env}.json").read_text())
    overrides = lab_overrides(lab)
    nodes = shipped["no-node-endpoints"]
    nodes["postgresLb"] = overrides["postgresWriteEndpoint"]
    nodes["redisLb"] = overrides["redisEndpoint"]
    nodes["nodeAddresses"] = [*overrides["postgresNodes"], *overrides["redisNodes"]]
    path = lab.layout.pulumi_dir / f"policy-{stack_name(env)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(shipped, indent=2) + "\n")
    return path
