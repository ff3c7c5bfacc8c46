"""One environment table (components/environments.py); everything that repeats its facts is checked against it.

The policy pack stays independent of the program (defence in depth: it runs from its own directory), so
its committed config files and its schema defaults are copies; the safety gates (ops/guard.py,
toolchain/pulumi.sh) and the workflows name the estate's stacks. Each test fails on drift.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from components.environments import ENVIRONMENT_TABLE, environments, estate_environments
from ops.guard import ESTATE_STACKS, is_estate_stack

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


@pytest.mark.parametrize("env", environments())
def test_the_policy_packs_config_files_carry_the_tables_facts(env: str) -> None:
    config = json.loads((REPO / "policy" / "config" / f"{env}.json").read_text())
    others = sorted(e for e in environments() if e != env)
    isolation = config["environment-isolation"]
    assert isolation["environment"] == env
    assert sorted(isolation["otherEnvironments"]) == others
    assert {e: sorted(n) for e, n in isolation["legacyNames"].items()} == {
        e: sorted(f.legacy_names) for e, f in ENVIRONMENT_TABLE.items()
    }
    pinned = config["pinned-images"]
    assert sorted(pinned["otherEnvironments"]) == others
    assert sorted(pinned["pinnedEnvironments"]) == sorted(e for e, f in ENVIRONMENT_TABLE.items() if f.pinned_tags)
    protect = config["protect-prod-data"]
    assert sorted(protect["protectedEnvironments"]) == sorted(e for e, f in ENVIRONMENT_TABLE.items() if f.protected)
    builds = config["client-build-matches-environment"]["clientBuildTags"]
    assert builds == {e: f.client_build.pattern for e, f in ENVIRONMENT_TABLE.items()}


def test_the_policy_packs_defaults_are_the_tables() -> None:
    """The pack runs without the program's modules: its own defaults must equal the table."""
    from policy.keybuzz_policy.config import KEYBUZZ_ENVIRONMENTS, SCHEMA

    assert tuple(KEYBUZZ_ENVIRONMENTS) == environments()
    assert SCHEMA["clientBuildTags"]["default"] == {e: f.client_build.pattern for e, f in ENVIRONMENT_TABLE.items()}
    assert sorted(SCHEMA["pinnedEnvironments"]["default"]) == sorted(
        e for e, f in ENVIRONMENT_TABLE.items() if f.pinned_tags
    )
    assert sorted(SCHEMA["protectedEnvironments"]["default"]) == sorted(
        e for e, f in ENVIRONMENT_TABLE.items() if f.protected
    )
    assert {e: sorted(n) for e, n in SCHEMA["legacyNames"]["default"].items()} == {
        e: sorted(f.legacy_names) for e, f in ENVIRONMENT_TABLE.items()
    }


def test_the_ops_guard_refuses_exactly_the_estates_stacks() -> None:
    assert set(estate_environments()) == ESTATE_STACKS
    for env in estate_environments():
        assert is_estate_stack(env)
        assert is_estate_stack(f"organization/keybuzz/{env}")
        assert not is_estate_stack(f"lab-{env}")


def test_the_toolchain_wrappers_guard_names_exactly_the_estates_stacks() -> None:
    script = (REPO / "toolchain" / "pulumi.sh").read_text()
    [pattern] = re.findall(r'case "\$\{stack##\*/\}" in\s*\n\s*([^)]+)\)', script)
    assert sorted(p.strip() for p in pattern.split("|")) == sorted(estate_environments())


def _job_stacks(workflow: dict[str, object]) -> set[str]:
    found: set[str] = set()
    for job in workflow["jobs"].values():  # type: ignore[attr-defined]
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        found |= set(matrix.get("stack") or [])
    return found


def test_the_workflows_run_exactly_the_estates_stacks() -> None:
    estate = set(estate_environments())
    for name in ("preview.yml", "drift.yml"):
        assert _job_stacks(yaml.safe_load((WORKFLOWS / name).read_text())) == estate, name
    deploy = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())
    deployed = set(re.findall(r"ops up --stack (\w+)", (WORKFLOWS / "deploy.yml").read_text()))
    assert deployed == estate
    assert estate <= set(deploy["jobs"])
    rollback = yaml.safe_load((WORKFLOWS / "rollback.yml").read_text())
    on = rollback.get("on") or rollback.get(True)  # YAML 1.1 reads the key `on` as True
    assert set(on["workflow_dispatch"]["inputs"]["stack"]["options"]) == estate
