"""Fixtures for the e2e tier: the built engine, an offline environment, and a throwaway program in a git repo.

The program uses no provider plugin: component resources, config-driven outputs, a protected component and
a StackReference (served by the engine's builtin provider, which is what makes real drift observable without
plugins). It carries its own policy pack (`policy/`, one rule: no Label component with the value its config
forbids) and the pack configs of its lab stacks where `python -m ops` looks for them by default
(`$LAB_STATE_DIR/pulumi/policy-<stack>.json`, ops/policy.py), so the ops tests run with the pack on, as
operators do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.cluster import Lab
from tests.toolchain.support import built_bin, loopback_only_prefix, offline_pulumi_env

REPO = Path(__file__).resolve().parents[2]
# Protects nothing: throwaway stacks in a temp dir only.
FAKE_PASSPHRASE = "keybuzz-e2e-test-only-not-a-secret"
FAKE_TOKEN = "obviously-fake-token-e2e"
#: Who commits in the tests' throwaway git repositories.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "e2e",
    "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
    "GIT_COMMITTER_NAME": "e2e",
    "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
}

PROGRAM = '''"""Throwaway program for the ops e2e tests (no provider)."""

import pulumi


class Service(pulumi.ComponentResource):
    def __init__(self, name: str, image_tag: str, mode: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fixture:app:Service", name, None, opts)
        self.image = pulumi.Output.from_input(f"registry.invalid/{name}:{image_tag}")
        self.mode = pulumi.Output.from_input(mode)
        self.register_outputs({"image": self.image, "mode": self.mode})


class Label(pulumi.ComponentResource):
    """A component with an input the fixture's policy pack judges (components are analyzed too)."""

    def __init__(self, name: str, value: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fixture:app:Label", name, {"value": value}, opts)
        self.register_outputs({})


class Data(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fixture:data:Database", name, None, opts)
        self.register_outputs({})


cfg = pulumi.Config()
api = Service("api", cfg.require("imageTag"), cfg.get("mode") or "default")
pulumi.export("image", api.image)
pulumi.export("mode", api.mode)
pulumi.export("token", cfg.require_secret("token"))
pulumi.export("revision", REVISION)
Label("label", cfg.get("label") or "fine")
if cfg.get_bool("keepData"):
    Data("db", pulumi.ResourceOptions(protect=True))
peer = cfg.get("peerStack")
if peer:
    pulumi.export("peerImage", pulumi.StackReference(peer).get_output("image"))
'''


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    path = built_bin()
    if path is None:
        pytest.skip("the toolchain's pulumi engine is not built: run `make toolchain` (make test-e2e does)")
    return path


@pytest.fixture(scope="session")
def offline() -> list[str]:
    """Run in a new network namespace with only loopback up, where the machine allows it."""
    return loopback_only_prefix()


@pytest.fixture
def env(tmp_path: Path, engine_bin: Path) -> dict[str, str]:
    lab_state = tmp_path / "lab-state"
    (lab_state / "pulumi").mkdir(parents=True)
    for stack in FIXTURE_STACKS:  # where ops finds a lab stack's pack config (ops/policy.py)
        config = {"no-forbidden-label": {"forbidden": FORBIDDEN_LABEL}}
        (lab_state / "pulumi" / f"policy-{stack}.json").write_text(json.dumps(config))
    return {
        **offline_pulumi_env(engine_bin, tmp_path, FAKE_PASSPHRASE),
        "PYTHONPATH": str(REPO),
        "LAB_STATE_DIR": str(lab_state),
        **GIT_ENV,
    }


POLICY_PACK = {
    "PulumiPolicy.yaml": "runtime:\n  name: python\n  options:\n    virtualenv: ../.venv\n",
    "__main__.py": '''"""Fixture policy pack: a Label whose value the pack config forbids is a mandatory violation."""

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyPack, ResourceValidationPolicy


def no_forbidden_label(args, report_violation):
    forbidden = args.get_config()["forbidden"]
    if args.resource_type == "fixture:app:Label" and args.props.get("value") == forbidden:
        report_violation(f"label {forbidden} is forbidden")


PolicyPack(
    "fixture-guards",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name="no-forbidden-label",
            description="A Label may not carry the forbidden value.",
            validate=no_forbidden_label,
            config_schema=PolicyConfigSchema(properties={"forbidden": {"type": "string"}}, required=["forbidden"]),
        )
    ],
)
''',
}
#: The label value the lab stacks' pack config forbids.
FORBIDDEN_LABEL = "forbidden-by-policy"
FIXTURE_STACKS = ("lab-dev", "lab-prod")

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def program(tmp_path: Path, env: dict[str, str]) -> Path:
    """The program in its own git repo (commit "rev1"), using the repo's .venv through a `.venv` link."""
    prog = tmp_path / "repo"
    prog.mkdir()
    (prog / "Pulumi.yaml").write_text(
        "name: ops-fixture\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: .venv\n"
    )
    (prog / ".gitignore").write_text(".venv\n__pycache__/\n")
    (prog / ".venv").symlink_to(Path(sys.prefix))
    (prog / "policy").mkdir()
    for name, text in POLICY_PACK.items():
        (prog / "policy" / name).write_text(text)
    write_program(prog, "rev1")
    git(prog, env, "init", "--quiet", "--initial-branch", "main")
    commit(prog, env, "rev1")
    return prog


def write_program(prog: Path, revision: str) -> None:
    (prog / "__main__.py").write_text(PROGRAM.replace("REVISION", repr(revision)))


def git(prog: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(["git", *args], cwd=prog, env=env, capture_output=True, text=True, check=True).stdout


def commit(prog: Path, env: dict[str, str], message: str) -> str:
    git(prog, env, "add", "-A")
    git(prog, env, "commit", "--quiet", "-m", message)
    return git(prog, env, "rev-parse", "HEAD").strip()


@pytest.fixture
def pulumi(env: dict[str, str], offline: list[str], program: Path) -> Run:
    """`pulumi ARGS` offline in the program's directory; fails the test on a non-zero exit unless check=False."""

    def run(*args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*offline, "pulumi", *args, "--non-interactive"],
            cwd=cwd or program,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def ops(env: dict[str, str], offline: list[str], program: Path) -> Run:
    """`python -m ops ARGS` offline, from the program's directory; returns the completed process."""

    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*offline, sys.executable, "-m", "ops", *args],
            cwd=program,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == expect, f"ops {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        assert FAKE_TOKEN not in proc.stdout + proc.stderr, "a secret config value was printed"
        return proc

    return run


# --- the real program on a lab of its own (test_lab_*.py) ---------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """A lab with its Kubernetes API and ESO controller, one per test module."""
    from lab.cluster import temporary_lab

    if built_bin() is None:
        pytest.fail("the toolchain is not built: run `make toolchain` (make test-e2e does)")
    with temporary_lab(16500, kube=True, prefix="keybuzz-e2e-lab-") as instance:
        yield instance


@pytest.fixture(scope="module")
def prog(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the program in a git repository of its own, with the lab stacks written beside it and the
    estate's pre-existing objects (what the stacks adopt) created in the lab."""
    from lab.estate import seed
    from lab.stacks import write_stack
    from tests.e2e.lab_support import copy_program

    program = copy_program(tmp_path_factory.mktemp("lab-program") / "program")
    for env in ("dev", "prod"):
        seed(lab, env)
        write_stack(lab, env, root=program)
    return program
