"""The GitHub workflows do what issue 6 asks (read as YAML; actionlint runs in tests/e2e/test_workflows.py)."""

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


def test_preview_runs_on_pull_requests_with_the_policy_pack_and_comments() -> None:
    doc = load("preview.yml")
    assert "pull_request" in doc["on"]
    job = doc["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == list(estate_environments())  # the table's estate stacks
    run = "\n".join(s.get("run", "") for s in job["steps"])
    assert re.search(r"pulumi preview --diff .*--policy-pack policy --policy-pack-config", run.replace("\\\n", ""))
    assert "gh pr comment" in run
    assert doc["permissions"]["pull-requests"] == "write"


def test_prod_deploys_after_dev_behind_an_environment_approval() -> None:
    jobs = load("deploy.yml")["jobs"]
    assert load("deploy.yml")["on"]["push"]["branches"] == ["main"]
    assert jobs["prod"]["needs"] == "dev"
    assert jobs["prod"]["environment"] == "production"
    assert "ops up --stack prod --estate" in jobs["prod"]["steps"][-1]["run"]


def test_drift_is_nightly_and_rollback_is_manual() -> None:
    drift = load("drift.yml")
    assert drift["on"]["schedule"]
    assert "ops drift --stack" in drift["jobs"]["drift"]["steps"][-1]["run"]
    rollback = load("rollback.yml")
    assert set(rollback["on"]["workflow_dispatch"]["inputs"]) >= {"stack", "deployment"}
    assert rollback["jobs"]["rollback"]["steps"][0]["with"]["fetch-depth"] == 0


def test_secrets_come_from_github_secrets_only() -> None:
    for path in [*WORKFLOWS.glob("*.yml"), REPO / ".github" / "actions" / "setup" / "action.yml"]:
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(PULUMI_ACCESS_TOKEN|PULUMI_CONFIG_PASSPHRASE|PULUMI_BACKEND_URL):\s*(.*)", line)
            if m:
                assert m.group(2).startswith("${{ secrets."), f"{path.name}: {line.strip()}"


def test_the_cli_version_is_the_pinned_one() -> None:
    setup = yaml.safe_load((REPO / ".github" / "actions" / "setup" / "action.yml").read_text())
    steps = setup["runs"]["steps"]
    pins = next(s for s in steps if s.get("id") == "pins")
    assert "PULUMI_VERSION" in pins["run"]
    assert "toolchain/pins.env" in pins["run"]
    install = next(s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert install["with"]["pulumi-version"] == "${{ steps.pins.outputs.pulumi }}"
