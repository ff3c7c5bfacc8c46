"""One environment table (components/environments.py); everything that repeats its facts is written from it
or checked against it, and each failure names the table as the source.

The policy pack may not import the program (the policy host runs it on its own), so its config files
(policy/config/<env>.json) carry the table's facts: scripts/policy_config.py writes them, and a test fails
when a committed file drifts. The safety gates name the estate's stacks: ops/guard.py reads the table;
toolchain/pulumi.sh (a shell guard that must refuse without Python or the virtualenv) and the workflows
(GitHub reads them as static YAML: per-environment jobs, secrets and approvals, a fixed choice list) are
hand-written and checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from components.environments import EnvironmentFacts, environments, estate_environments, facts
from ops.guard import ESTATE_STACKS, is_estate_stack
from policy.keybuzz_policy.config import ENVIRONMENT_FACTS, config_document
from scripts import policy_config
from tests.table import STAGING

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
SOURCE = "components/environments.py is the source"


def test_the_policy_packs_config_files_are_written_from_the_table() -> None:
    problems = policy_config.drift()
    assert problems == [], "".join(problems) + f"regenerate them: {policy_config.REGENERATE}"


def test_the_drift_check_catches_an_edited_file_a_new_and_a_removed_environment(
    tmp_path: Path, add_environment: Callable[[EnvironmentFacts], None], capsys: pytest.CaptureFixture[str]
) -> None:
    check = ["--check", "--dir", str(tmp_path)]
    assert policy_config.main(["--dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{e}.json" for e in sorted(environments())]
    assert policy_config.main(check) == 0

    dev = tmp_path / "dev.json"
    dev.write_text(dev.read_text().replace('"kb_backend"', '"kb_backend_v2"'))
    capsys.readouterr()
    assert policy_config.main(check) == 1
    out = capsys.readouterr().out
    assert '-        "kb_backend_v2",' in out
    assert '+        "kb_backend",' in out
    assert policy_config.REGENERATE in out

    (tmp_path / "qa.json").write_text("{}\n")
    add_environment(STAGING)  # every file names the environments: each one drifts, and staging's is missing
    assert {p.splitlines()[0] for p in policy_config.drift(tmp_path)} == {
        *(f"--- {tmp_path / name} (committed)" for name in ("dev.json", "prod.json", "staging.json")),
        f"{tmp_path / 'qa.json'}: components/environments.py has no environment 'qa'",
    }
    assert policy_config.main(["--dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.json", "prod.json", "staging.json"]
    assert policy_config.drift(tmp_path) == []


def test_the_script_writes_exactly_the_facts_the_pack_has_no_default_for() -> None:
    for env in environments():
        assert sorted(policy_config.table_facts(env)) == sorted(ENVIRONMENT_FACTS)


@pytest.mark.parametrize("env", environments())
def test_the_policy_packs_config_files_carry_the_tables_facts(env: str) -> None:
    config = json.loads((REPO / "policy" / "config" / f"{env}.json").read_text())
    every = environments()
    others = [e for e in every if e != env]
    isolation = config["environment-isolation"]
    assert isolation["environment"] == env
    assert isolation["otherEnvironments"] == others
    assert {e: sorted(n) for e, n in isolation["legacyNames"].items()} == {
        e: sorted(facts(e).legacy_names) for e in every
    }
    pinned = config["pinned-images"]
    assert pinned["otherEnvironments"] == others
    assert pinned["pinnedEnvironments"] == [e for e in every if facts(e).pinned_tags]
    assert config["protect-prod-data"]["protectedEnvironments"] == [e for e in every if facts(e).protected]
    builds = config["client-build-matches-environment"]["clientBuildTags"]
    assert builds == {e: facts(e).client_build.pattern for e in every}


def test_a_new_environment_reaches_every_config_file(add_environment: Callable[[EnvironmentFacts], None]) -> None:
    add_environment(STAGING)
    prod = config_document(policy_config.table_facts("prod"))
    assert prod["environment-isolation"]["otherEnvironments"] == ["dev", "staging"]
    assert prod["pinned-images"]["pinnedEnvironments"] == ["prod", "staging"]
    assert prod["protect-prod-data"]["protectedEnvironments"] == ["prod"]
    assert prod["client-build-matches-environment"]["clientBuildTags"]["staging"] == STAGING.client_build.pattern
    staging = config_document(policy_config.table_facts("staging"))
    assert staging["environment-isolation"]["environment"] == "staging"
    assert staging["environment-isolation"]["otherEnvironments"] == ["dev", "prod"]


def test_the_ops_guard_refuses_exactly_the_estates_stacks() -> None:
    assert set(estate_environments()) == ESTATE_STACKS
    for env in estate_environments():
        assert is_estate_stack(env)
        assert is_estate_stack(f"organization/keybuzz/{env}")
        assert not is_estate_stack(f"lab-{env}")


def test_the_toolchain_wrappers_guard_names_exactly_the_estates_stacks() -> None:
    script = (REPO / "toolchain" / "pulumi.sh").read_text()
    [pattern] = re.findall(r'case "\$\{stack##\*/\}" in\s*\n\s*([^)]+)\)', script)
    guarded = sorted(p.strip() for p in pattern.split("|"))
    assert guarded == sorted(estate_environments()), (
        f"toolchain/pulumi.sh refuses {guarded}; the table's estate environments are "
        f"{sorted(estate_environments())} ({SOURCE}): edit the wrapper's case pattern"
    )


def _job_stacks(workflow: dict[str, object]) -> list[str]:
    found: list[str] = []
    for job in workflow["jobs"].values():  # type: ignore[attr-defined]
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        found += matrix.get("stack") or []
    return found


def test_the_workflows_run_exactly_the_estates_stacks() -> None:
    estate = sorted(estate_environments())
    fix = f"the table's estate environments are {estate} ({SOURCE})"
    for name in ("preview.yml", "drift.yml"):
        matrix = sorted(_job_stacks(yaml.safe_load((WORKFLOWS / name).read_text())))
        assert matrix == estate, f"{name} runs {matrix}; {fix}: edit its matrix"
    text = (WORKFLOWS / "deploy.yml").read_text()
    deployed = sorted(re.findall(r"ops up --stack (\w+)", text))
    assert deployed == estate, f"deploy.yml deploys {deployed}; {fix}: one job per environment"
    assert set(estate) <= set(yaml.safe_load(text)["jobs"]), f"deploy.yml: {fix}: one job per environment"
    rollback = yaml.safe_load((WORKFLOWS / "rollback.yml").read_text())
    on = rollback.get("on") or rollback.get(True)  # YAML 1.1 reads the key `on` as True
    options = sorted(on["workflow_dispatch"]["inputs"]["stack"]["options"])
    assert options == estate, f"rollback.yml offers {options}; {fix}: edit the stack input's options"
