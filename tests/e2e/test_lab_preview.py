"""The real program previewed by the real engine with the real provider plugins against the lab.

A lab of its own (Patroni x3 + HAProxy + OpenBao + the Kubernetes API) on free loopback ports; the lab
stacks generated from the shipped stack files (lab/stacks.py); the program copied to a temp dir so the
generated stack files never touch the checkout. The policy pack runs inside the engine's preview.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lab.cluster import Lab
from lab.stacks import shipped_config
from tests.e2e.conftest import REPO
from tests.e2e.lab_support import lab_env

pytestmark = pytest.mark.e2e

INJECTED = """
# --- injected by the test: a hand-made ConfigMap pinning a PostgreSQL node (PH16) --------------
import pulumi_kubernetes as _k8s

_provider = _k8s.Provider("injected-k8s", kubeconfig=pulumi.Config().require_secret("kubeconfig"))
_k8s.core.v1.ConfigMap(
    "injected-pinned-node",
    metadata={"namespace": "keybuzz-api-dev", "name": "legacy-db"},
    data={"PGHOST": NODE, "PGPORT": "5432"},
    opts=pulumi.ResourceOptions(provider=_provider),
)
"""


def preview(lab: Lab, prog: Path, stack: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", "preview", "--stack", stack, "--non-interactive", *extra],
        cwd=prog, env=lab_env(lab), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def policy_args(lab: Lab, env: str) -> list[str]:
    from lab.stacks import policy_config

    return ["--policy-pack", "policy", "--policy-pack-config", str(policy_config(lab, env))]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_preview_of_a_lab_stack_plans_every_resource_with_the_real_providers(
    lab: Lab, prog: Path, env: str, request: pytest.FixtureRequest
) -> None:
    proc = preview(lab, prog, f"lab-{env}", "--json", *policy_args(lab, env))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    steps = json.loads(proc.stdout)["steps"]
    planned = Counter(s["newState"]["type"] for s in steps if s["op"] in ("create", "import"))
    imported = {s["urn"] for s in steps if s["op"] == "import"}
    # A fresh stack creates, or imports what the estate already has (the stack's adopt* lists, seeded
    # in the lab); an import may be followed by the update that brings it to the program's inputs.
    odd = [(s["op"], s["urn"]) for s in steps if not (
        s["op"] in ("create", "import", "same") or (s["op"] == "update" and s["urn"] in imported))]  # fmt: skip
    assert not odd, odd
    config = shipped_config(env)
    adopted = {*config.get("keybuzz:adoptDatabases", []), *config.get("keybuzz:adoptNamespaces", [])}
    assert len(imported) == len(adopted), f"imports {sorted(imported)} for adopted {sorted(adopted)}"
    # Every resource the program registers under mocks is planned by the engine, type for type.
    rendered = Counter(r.type for r in request.getfixturevalue(env).resources)
    for type_, count in rendered.items():
        assert planned[type_] == count, f"{type_}: {planned[type_]} planned, {count} registered under mocks"
    # The providers themselves were configured against the lab (they connect during preview).
    assert planned["pulumi:providers:postgresql"] == 1
    assert planned["pulumi:providers:kubernetes"] == 1


def test_the_policy_pack_blocks_an_injected_node_address_in_preview(lab: Lab, prog: Path) -> None:
    from lab.program import PLACEHOLDER_PG_NODES

    node = PLACEHOLDER_PG_NODES[1]
    main = prog / "__main__.py"
    original = main.read_text()
    main.write_text(original + INJECTED.replace("NODE", repr(node)))
    try:
        proc = preview(lab, prog, "lab-dev", *policy_args(lab, "dev"))
    finally:
        main.write_text(original)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert "no-node-endpoints" in out, out[-4000:]
    assert f"contains node address {node}" in out, out[-4000:]
    assert "injected-pinned-node" in out


def test_make_preview_blocks_an_injected_node_address_with_the_policy_pack_on_by_default(lab: Lab, prog: Path) -> None:
    """What an operator types, with no policy flag: `make preview STACK=lab-dev` finds the program's pack and
    the lab stack's config (ops/policy.py) and the pack refuses the node address."""
    from lab.program import PLACEHOLDER_PG_NODES

    node = PLACEHOLDER_PG_NODES[2]
    main = prog / "__main__.py"
    original = main.read_text()
    main.write_text(original + INJECTED.replace("NODE", repr(node)))
    try:
        proc = subprocess.run(
            ["make", "-s", "-C", str(REPO), "preview", "STACK=lab-dev", f"OPS_ARGS=--cwd {prog}"],
            env=lab_env(lab), capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    finally:
        main.write_text(original)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert f"policy pack: {prog / 'policy'} with {lab.layout.state_dir / 'pulumi' / 'policy-lab-dev.json'}" in out
    assert "no-node-endpoints" in out, out[-4000:]
    assert f"contains node address {node}" in out, out[-4000:]
    assert "injected-pinned-node" in out


def test_a_config_error_reaches_the_user_as_the_problem_list_not_a_traceback(lab: Lab, prog: Path) -> None:
    """Through the engine (`pulumi preview`) and through `python -m ops preview`: every problem, each fix a
    sentence naming the stack's real LB, no Python traceback."""
    env = lab_env(lab)
    lb = f"127.0.0.1:{lab.ports.lb_write}"

    def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=prog, env=env, input=stdin, capture_output=True, text=True,
                              timeout=600, check=False)  # fmt: skip

    bad = {"keybuzz:postgresReadEndpoint": "127.0.0.12:5432", "keybuzz:credentialTtlSeconds": "600"}
    before = {key: run("pulumi", "config", "get", key, "--stack", "lab-dev") for key in bad}
    for key, value in bad.items():
        assert run("pulumi", "config", "set", key, value, "--stack", "lab-dev").returncode == 0
    try:
        engine = run("pulumi", "preview", "--stack", "lab-dev", "--non-interactive")
        via_ops = run(sys.executable, "-m", "ops", "preview", "--stack", "lab-dev", "--cwd", str(prog))
    finally:  # each key back as it was: set to its value, or unset if it was
        for key, got in before.items():
            if got.returncode == 0:
                run("pulumi", "config", "set", key, got.stdout.strip(), "--stack", "lab-dev")
            else:
                run("pulumi", "config", "rm", key, "--stack", "lab-dev")
    for proc in (engine, via_ops):
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "Traceback" not in out, out[-3000:]
        assert "(2 problems)" in out, out[-3000:]
        assert f"fix: Use the LB {lb}." in out, out[-3000:]
        assert "fix: Set secretRefreshSeconds to at most 299 or raise credentialTtlSeconds." in out, out[-3000:]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_a_lab_stack_differs_from_the_shipped_one_only_in_lab_addresses_and_credentials(prog: Path, env: str) -> None:
    import yaml

    from lab.stacks import LAB_KEYS

    shipped = yaml.safe_load((REPO / f"Pulumi.{env}.yaml").read_text())["config"]
    lab = yaml.safe_load((prog / f"Pulumi.lab-{env}.yaml").read_text())["config"]
    allowed = {f"keybuzz:{key}" for key in LAB_KEYS}

    def plain(value: object) -> object:  # the engine stores scalars as strings ("2" for 2)
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value if value is None or isinstance(value, dict) else str(value).lower()

    differing = {k for k in set(shipped) | set(lab) if plain(shipped.get(k)) != plain(lab.get(k))}
    assert differing <= allowed, f"lab-{env} differs from Pulumi.{env}.yaml outside the lab keys: {differing - allowed}"
    # Every secret of the lab stack is encrypted in its file.
    for key in ("postgresAdminPassword", "vaultToken", "vaultDbPassword", "kubeconfig", "appSecretEnv"):
        assert set(lab[f"keybuzz:{key}"]) == {"secure"}, key


def test_the_lab_env_output_makes_bao_patronictl_and_pulumi_work_as_printed(lab: Lab, prog: Path) -> None:
    state = lab.layout.state_dir
    script = (
        f'eval "$({sys.executable} -m lab env --state-dir {state})" && cd {prog} && '
        "bao secrets list >/dev/null && patronictl list >/dev/null && psql -Atc 'select 1' && "
        "pulumi stack ls --non-interactive"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "BAO_", "VAULT_", "PG", "KUBECONFIG"))}
    env["PATH"] = f"{Path(shutil.which('go') or '/usr/local/go/bin/go').parent}:/usr/local/bin:/usr/bin:/bin"
    proc = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lab-dev" in proc.stdout
    assert "lab-prod" in proc.stdout
