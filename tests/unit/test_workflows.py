"""The GitHub workflows do what issues 6 and 19 ask (read as YAML; actionlint runs in tests/e2e/test_workflows.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from components.environments import estate_environments

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


def load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def test_preview_runs_ops_on_pull_requests_and_edits_one_comment_per_stack() -> None:
    doc = load("preview.yml")
    assert "pull_request" in doc["on"]
    job = doc["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == list(estate_environments())  # the table's estate stacks
    run = "\n".join(s.get("run", "") for s in job["steps"])
    # ops preview: the policy pack with the stack's config by default (ops/policy.py).
    assert '.venv/bin/python -m ops preview --stack "$STACK" --estate' in run
    # One comment per stack, found by a marker naming the stack and edited; never a new one per push.
    assert 'marker="<!-- keybuzz-preview:$STACK -->"' in run
    assert '--method PATCH "repos/$REPO/issues/comments/$id"' in run
    assert "gh pr comment" not in run
    assert job["concurrency"]["group"] == "preview-${{ github.event.pull_request.number }}-${{ matrix.stack }}"
    assert doc["permissions"]["pull-requests"] == "write"


def test_no_workflow_turns_the_policy_pack_off() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "--no-policy" not in text, path.name
        assert "pulumi up" not in text, f"{path.name}: use python -m ops"
        assert "pulumi preview" not in text, f"{path.name}: use python -m ops"


def test_ci_runs_lint_unit_and_policy_on_pull_requests_without_secrets() -> None:
    doc = load("ci.yml")
    assert "pull_request" in doc["on"]
    job = doc["jobs"]["tests"]
    assert job["runs-on"] == "ubuntu-latest"  # not the estate runner: nothing of the estate is reachable
    runs = [s.get("run", "") for s in job["steps"]]
    for target in ("make lint", "make test-unit", "make test-policy"):
        assert target in runs, target
    assert "secrets." not in (WORKFLOWS / "ci.yml").read_text()
    assert doc["permissions"] == {"contents": "read"}


def _matches(pattern: str, path: str) -> bool:
    """GitHub's path filter for the two forms deploy.yml uses: an exact file, or `dir/**`."""
    return path.startswith(pattern[:-2]) if pattern.endswith("/**") else path == pattern


def test_deploy_runs_only_for_a_change_to_what_is_deployed() -> None:
    paths = load("deploy.yml")["on"]["push"]["paths"]
    assert all(p.endswith("/**") or "*" not in p for p in paths), paths
    deployed = ["__main__.py", "Pulumi.prod.yaml", "components/plan.py", "policy/config/prod.json", "ops/cli.py",
                "requirements.txt", "toolchain/pins.env", ".github/actions/setup/action.yml"]  # fmt: skip
    not_deployed = ["README.md", "docs/operations.md", "tests/unit/test_workflows.py", "lab/stacks.py",
                    "bench/eval_bench.py", ".github/workflows/ci.yml"]  # fmt: skip
    for path in deployed:
        assert any(_matches(p, path) for p in paths), path
    for path in not_deployed:
        assert not any(_matches(p, path) for p in paths), path


def test_deploy_drift_and_rollback_share_one_concurrency_group_per_stack() -> None:
    """They all take the stack's state lock: one run per stack at a time, none cancelled mid-way."""
    groups: dict[str, set[str]] = {}
    jobs = [
        *(("deploy", job) for job in load("deploy.yml")["jobs"].values()),
        ("drift", load("drift.yml")["jobs"]["drift"]),
        ("rollback", load("rollback.yml")["jobs"]["rollback"]),
    ]
    for workflow, job in jobs:
        assert job["concurrency"]["cancel-in-progress"] is False, workflow
        group = job["concurrency"]["group"]
        for stack in estate_environments():
            concrete = group.replace("${{ matrix.stack }}", stack).replace("${{ inputs.stack }}", stack)
            if "${{" in group or concrete == f"stack-{stack}":
                groups.setdefault(concrete, set()).add(workflow)
    for stack in estate_environments():
        assert groups[f"stack-{stack}"] == {"deploy", "drift", "rollback"}, groups


def test_third_party_actions_are_pinned_by_commit() -> None:
    """Actions outside GitHub's own `actions/` run with the job's credentials: a full commit SHA, not a tag."""
    for path in [*WORKFLOWS.glob("*.yml"), *(REPO / ".github" / "actions").glob("*/action.yml")]:
        for uses in re.findall(r"uses:\s*(\S+)", path.read_text()):
            if uses.startswith(("./", "actions/")):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"{path.name}: {uses}"


def test_prod_deploys_after_dev_behind_an_environment_approval() -> None:
    jobs = load("deploy.yml")["jobs"]
    assert load("deploy.yml")["on"]["push"]["branches"] == ["main"]
    assert jobs["prod"]["needs"] == "dev"
    assert jobs["prod"]["environment"] == "production"
    assert jobs["prod"]["steps"][-1]["run"] == ".venv/bin/python -m ops up --stack prod --estate"


def test_drift_is_nightly_and_rollback_is_manual() -> None:
    drift = load("drift.yml")
    assert drift["on"]["schedule"]
    assert "ops drift --stack" in drift["jobs"]["drift"]["steps"][-1]["run"]
    rollback = load("rollback.yml")
    assert set(rollback["on"]["workflow_dispatch"]["inputs"]) >= {"stack", "deployment"}
    assert rollback["jobs"]["rollback"]["steps"][0]["with"]["fetch-depth"] == 0


ACTIONS = REPO / ".github" / "actions"
#: The long-lived credentials of the estate the workflows held before the CI identities (issue 19).
ESTATE_CREDENTIALS = ("POSTGRES_ADMIN_PASSWORD", "_VAULT_TOKEN", "KUBECONFIG", "VAULT_DB_PASSWORD", "APP_SECRET_ENV")


def test_secrets_come_from_github_secrets_only() -> None:
    for path in [*WORKFLOWS.glob("*.yml"), *ACTIONS.glob("*/action.yml")]:
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(PULUMI_ACCESS_TOKEN|PULUMI_BACKEND_URL|VAULT_SERVER_\w+):\s*(.*)", line)
            if m:
                assert m.group(2).startswith(("${{ secrets.", "${{ secrets[")), f"{path.name}: {line.strip()}"


def _login(job: dict) -> dict:
    """The job's ci-login step, after its setup and before anything runs the engine."""
    uses = [s.get("uses", "") for s in job["steps"]]
    login = uses.index("./.github/actions/ci-login")
    assert uses.index("./.github/actions/setup") < login
    assert all("run" not in s or "ops" not in s["run"] for s in job["steps"][:login])
    return dict(job["steps"][login]["with"])


def test_every_job_that_runs_the_engine_logs_in_with_its_ci_identity_and_holds_no_estate_credential() -> None:
    """OIDC (`id-token: write`) to Vault JWT auth: preview for pull requests, deploy only in the protected
    environments (deploy, rollback), drift on main; no admin credential, no Vault token, no passphrase."""
    jobs = [
        ("preview.yml", "preview", "preview"),
        ("deploy.yml", "dev", "deploy"),
        ("deploy.yml", "prod", "deploy"),
        ("drift.yml", "drift", "drift"),
        ("rollback.yml", "rollback", "deploy"),
    ]
    for name, job_name, identity in jobs:
        doc = load(name)
        job = doc["jobs"][job_name]
        assert doc["permissions"]["id-token"] == "write", name
        assert _login(job)["identity"] == identity, name
        assert "VAULT_SERVER_TOKEN" not in job.get("env", {}), name
        if identity == "deploy":
            assert job["environment"], name  # the deploy role is bound to the environment claim
    for path in [*WORKFLOWS.glob("*.yml"), *ACTIONS.glob("*/action.yml")]:
        text = path.read_text()
        assert "PASSPHRASE" not in text, path.name
        for credential in ESTATE_CREDENTIALS:
            assert not re.search(rf"secrets(\.|\[format\('\{{0\}})\w*{credential}", text), (path.name, credential)


def test_the_deploy_jobs_environments_are_the_ones_the_deploy_role_is_bound_to() -> None:
    """deploy.yml's DEV job runs in `development`, PROD's in `production` (keybuzz:ciDeployEnvironment)."""
    jobs = load("deploy.yml")["jobs"]
    assert (jobs["dev"]["environment"], jobs["prod"]["environment"]) == ("development", "production")
    rollback = load("rollback.yml")["jobs"]["rollback"]["environment"]
    assert rollback == "${{ inputs.stack == 'prod' && 'production' || 'development' }}"


def test_ci_login_logs_in_to_the_stacks_jwt_mount_and_sets_the_providers_credentials() -> None:
    action = yaml.safe_load((ACTIONS / "ci-login" / "action.yml").read_text())
    run = action["runs"]["steps"][0]["run"]
    assert '"$ACTIONS_ID_TOKEN_REQUEST_URL&audience=$AUDIENCE"' in run
    assert '"$VAULT_ADDR/v1/auth/jwt-ci-$STACK/login"' in run
    assert '--arg role "keybuzz-$STACK-ci-$IDENTITY"' in run
    assert '"$VAULT_ADDR/v1/database-$STACK/creds/keybuzz-ci-preview-$STACK"' in run
    for key in ("postgresAdminPassword", "vaultToken", "kubeconfig"):
        assert f"pulumi config set --secret keybuzz:{key}" in run
    assert run.count("::add-mask::") >= 4  # the OIDC token, the Vault token, the password, the SA token


def test_the_cli_version_is_the_pinned_one() -> None:
    setup = yaml.safe_load((REPO / ".github" / "actions" / "setup" / "action.yml").read_text())
    steps = setup["runs"]["steps"]
    pins = next(s for s in steps if s.get("id") == "pins")
    assert "PULUMI_VERSION" in pins["run"]
    assert "toolchain/pins.env" in pins["run"]
    install = next(s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert install["with"]["pulumi-version"] == "${{ steps.pins.outputs.pulumi }}"
