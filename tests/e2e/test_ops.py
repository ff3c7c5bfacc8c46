"""`python -m ops` with the built engine on a throwaway program: up, history, rollback, drift, preview."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import FAKE_TOKEN, FORBIDDEN_LABEL, Run, commit, git, write_program


def outputs(pulumi: Run, stack: str, *, secrets: bool = False) -> dict[str, object]:
    args = ["stack", "output", "--json", "--stack", stack, *(["--show-secrets"] if secrets else [])]
    return json.loads(pulumi(*args).stdout)


def history(ops: Run, stack: str) -> list[dict[str, object]]:
    return json.loads(ops("history", "--stack", stack, "--json").stdout)


def init_stack(pulumi: Run, stack: str, **config: str) -> None:
    pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
    pulumi("config", "set", "--stack", stack, "--secret", "token", FAKE_TOKEN)
    for key, value in config.items():
        pulumi("config", "set", "--stack", stack, key, value)


def test_up_records_revision_and_config_then_rollback_restores_them(
    program: Path, env: dict[str, str], pulumi: Run, ops: Run
) -> None:
    rev1 = git(program, env, "rev-parse", "HEAD").strip()
    init_stack(pulumi, "lab-dev", imageTag="v1")
    ops("up", "--stack", "lab-dev")
    # Another stack in the same backend; a rollback of lab-dev must leave it alone.
    init_stack(pulumi, "lab-prod", imageTag="p1")
    ops("up", "--stack", "lab-prod")
    other_before = (pulumi("stack", "export", "--stack", "lab-prod").stdout, history(ops, "lab-prod"))

    # Deployment 2: a new program revision, another image tag and a new config key.
    write_program(program, "rev2")
    rev2 = commit(program, env, "rev2")
    pulumi("config", "set", "--stack", "lab-dev", "imageTag", "v2")
    pulumi("config", "set", "--stack", "lab-dev", "mode", "blue")
    ops("up", "--stack", "lab-dev")
    assert outputs(pulumi, "lab-dev") == {
        "image": "registry.invalid/api:v2",
        "mode": "blue",
        "revision": "rev2",
        "token": "[secret]",
    }

    recorded = history(ops, "lab-dev")
    assert [(d["number"], d["action"], d["revision"], d["dirty"]) for d in recorded] == [
        (1, "up", rev1, False),
        (2, "up", rev2, False),
    ]
    assert recorded[0]["config"]["ops-fixture:imageTag"] == "v1"
    assert recorded[1]["config"]["ops-fixture:token"] == "[secret]"
    tags = json.loads(pulumi("stack", "tag", "ls", "--json", "--stack", "lab-dev").stdout)
    assert (tags["keybuzz:revision"], tags["keybuzz:deployment"]) == (rev2, "2")

    # Without --yes: the preview only, showing the image tag going back; nothing applied.
    shown = ops("rollback", "--stack", "lab-dev", "--to", "1")
    assert re.search(r'image\s*: "registry.invalid/api:v2" => "registry.invalid/api:v1"', shown.stdout), shown.stdout
    assert "re-run with --yes" in shown.stdout
    assert outputs(pulumi, "lab-dev")["image"] == "registry.invalid/api:v2"

    done = ops("rollback", "--stack", "lab-dev", "--to", "1", "--yes")
    assert "recorded deployment #3" in done.stdout
    after = outputs(pulumi, "lab-dev", secrets=True)
    assert after == {"image": "registry.invalid/api:v1", "mode": "default", "revision": "rev1", "token": FAKE_TOKEN}

    recorded = history(ops, "lab-dev")
    assert len(recorded) == 3
    last = recorded[2]
    assert (last["action"], last["rolledBackTo"], last["revision"]) == ("rollback", 1, rev1)
    assert last["result"] == "succeeded"
    assert last["config"] == recorded[0]["config"]  # the recorded config, `mode` removed again
    text = ops("history", "--stack", "lab-dev").stdout
    assert "#3" in text
    assert "rollback to #1" in text
    assert "ops-fixture:imageTag: v2 -> v1" in text

    # Only lab-dev changed; the checkout, its stack file and its worktrees are as they were.
    assert (pulumi("stack", "export", "--stack", "lab-prod").stdout, history(ops, "lab-prod")) == other_before
    assert "imageTag: v2" in (program / "Pulumi.lab-dev.yaml").read_text()
    assert FAKE_TOKEN not in (program / "Pulumi.lab-dev.yaml").read_text()
    assert git(program, env, "worktree", "list").count("\n") == 1
    assert git(program, env, "rev-parse", "HEAD").strip() == rev2


def test_a_secret_rotated_after_the_target_deployment_stays_rotated_after_the_rollback(
    program: Path, env: dict[str, str], pulumi: Run, ops: Run
) -> None:
    """Rollback restores the program revision and the non-secret config; the secrets stay the current ones."""
    rotated = "obviously-fake-token-rotated-e2e"
    init_stack(pulumi, "lab-dev", imageTag="v1")
    ops("up", "--stack", "lab-dev")  # deployment #1, with FAKE_TOKEN
    write_program(program, "rev2")
    commit(program, env, "rev2")
    pulumi("config", "set", "--stack", "lab-dev", "imageTag", "v2")
    pulumi("config", "set", "--stack", "lab-dev", "--secret", "token", rotated)  # rotated after #1
    ops("up", "--stack", "lab-dev")
    assert outputs(pulumi, "lab-dev", secrets=True)["token"] == rotated

    done = ops("rollback", "--stack", "lab-dev", "--to", "1", "--yes")
    assert "kept at their current value (secrets are never rolled back): ops-fixture:token" in done.stdout
    assert rotated not in done.stdout + done.stderr
    after = outputs(pulumi, "lab-dev", secrets=True)
    assert (after["image"], after["revision"]) == ("registry.invalid/api:v1", "rev1")  # program and config: #1
    assert after["token"] == rotated  # the secret: the current one, not #1's
    # The deployment the rollback recorded carries the rotated secret too: the next rollback cannot bring
    # the old one back either.
    state = pulumi("stack", "history", "--json", "--show-secrets", "--stack", "lab-dev").stdout
    newest = json.loads(state)[0]
    assert newest["config"]["ops-fixture:token"]["value"] == rotated


def test_rollback_refuses_to_delete_a_protected_resource(
    program: Path, env: dict[str, str], pulumi: Run, ops: Run
) -> None:
    init_stack(pulumi, "lab-prod", imageTag="v1")
    ops("up", "--stack", "lab-prod")
    pulumi("config", "set", "--stack", "lab-prod", "keepData", "true")  # v2 adds a protected Database
    pulumi("config", "set", "--stack", "lab-prod", "imageTag", "v2")
    ops("up", "--stack", "lab-prod")

    refused = ops("rollback", "--stack", "lab-prod", "--to", "1", "--yes", expect=3)
    assert "refusing to roll back stack 'lab-prod' to #1" in refused.stderr
    assert "delete" in refused.stderr
    assert "fixture:data:Database::db (protected)" in refused.stderr
    assert outputs(pulumi, "lab-prod")["image"] == "registry.invalid/api:v2"
    assert len(history(ops, "lab-prod")) == 2


def test_rollback_names_the_known_deployments_when_asked_for_another(pulumi: Run, ops: Run) -> None:
    init_stack(pulumi, "lab-dev", imageTag="v1")
    ops("up", "--stack", "lab-dev")
    proc = ops("rollback", "--stack", "lab-dev", "--to", "7", expect=1)
    assert "stack 'lab-dev' has no deployment #7 (recorded: #1..#1)" in proc.stderr
    assert "python -m ops history --stack lab-dev" in proc.stderr


def test_rollback_of_a_dirty_deployment_needs_allow_dirty(program: Path, pulumi: Run, ops: Run) -> None:
    init_stack(pulumi, "lab-dev", imageTag="v1")
    (program / "__main__.py").write_text((program / "__main__.py").read_text() + "\n# uncommitted edit\n")
    up = ops("up", "--stack", "lab-dev")
    assert "differ from" in up.stdout
    assert history(ops, "lab-dev")[0]["dirty"] is True
    proc = ops("rollback", "--stack", "lab-dev", "--to", "1", expect=1)
    assert "was made from a dirty tree" in proc.stderr
    assert "--allow-dirty" in proc.stderr


def test_drift_exits_non_zero_and_lists_what_changed_out_of_band(pulumi: Run, ops: Run) -> None:
    init_stack(pulumi, "lab-prod", imageTag="b1")
    ops("up", "--stack", "lab-prod")
    init_stack(pulumi, "lab-dev", imageTag="a1", peerStack="organization/ops-fixture/lab-prod")
    ops("up", "--stack", "lab-dev")
    clean = ops("drift", "--stack", "lab-dev")
    assert "no drift on stack 'lab-dev'" in clean.stdout
    assert "policy pack passed on stack 'lab-dev'" in clean.stdout

    # lab-prod changes behind lab-dev's back: the StackReference lab-dev read is now stale.
    pulumi("config", "set", "--stack", "lab-prod", "imageTag", "b2")
    ops("up", "--stack", "lab-prod")
    drift = ops("drift", "--stack", "lab-dev", expect=4)
    assert "DRIFT on stack 'lab-dev': 1 resource(s) changed out of band" in drift.stdout
    assert "pulumi:pulumi:StackReference::organization/ops-fixture/lab-prod" in drift.stdout
    assert '"registry.invalid/api:b1" => "registry.invalid/api:b2"' in drift.stdout
    # A drift check changes nothing: the stack still holds the stale value.
    assert outputs(pulumi, "lab-dev")["peerImage"] == "registry.invalid/api:b1"


def test_preview_prints_the_diff_and_applies_nothing(pulumi: Run, ops: Run) -> None:
    init_stack(pulumi, "lab-dev", imageTag="v1")
    ops("up", "--stack", "lab-dev")
    pulumi("config", "set", "--stack", "lab-dev", "imageTag", "v9")
    shown = ops("preview", "--stack", "lab-dev")
    assert re.search(r'image\s*: "registry.invalid/api:v1" => "registry.invalid/api:v9"', shown.stdout), shown.stdout
    assert outputs(pulumi, "lab-dev")["image"] == "registry.invalid/api:v1"
    assert len(history(ops, "lab-dev")) == 1


def test_the_policy_pack_runs_by_default_on_preview_up_and_drift(
    program: Path, env: dict[str, str], pulumi: Run, ops: Run
) -> None:
    """No --policy-pack anywhere: ops finds the program's pack and the stack's config by itself."""
    init_stack(pulumi, "lab-dev", imageTag="v1")
    up = ops("up", "--stack", "lab-dev")
    config = Path(env["LAB_STATE_DIR"]) / "pulumi" / "policy-lab-dev.json"
    assert f"policy pack: {program / 'policy'} with {config}" in up.stdout
    assert "fixture-guards" in up.stdout  # the engine loaded it

    pulumi("config", "set", "--stack", "lab-dev", "label", FORBIDDEN_LABEL)
    pulumi("config", "set", "--stack", "lab-dev", "imageTag", "v2")
    for command, code in (("preview", 1), ("up", 1), ("drift", 1)):
        proc = ops(command, "--stack", "lab-dev", expect=code)
        out = proc.stdout + proc.stderr
        assert "no-forbidden-label" in out, (command, out)
        assert f"label {FORBIDDEN_LABEL} is forbidden" in out, (command, out)
    # The refused up applied nothing and recorded nothing.
    assert outputs(pulumi, "lab-dev")["image"] == "registry.invalid/api:v1"
    assert len(history(ops, "lab-dev")) == 1
    # Only an explicit opt-out, on a stack that is not the estate's, runs without it.
    assert "policy pack: OFF" in ops("preview", "--stack", "lab-dev", "--no-policy").stdout


def test_a_rollback_to_a_deployment_the_pack_now_refuses_is_refused(pulumi: Run, ops: Run) -> None:
    init_stack(pulumi, "lab-dev", imageTag="v1", label=FORBIDDEN_LABEL)
    ops("up", "--stack", "lab-dev", "--no-policy")  # deployment #1, made without the guardrails
    pulumi("config", "set", "--stack", "lab-dev", "label", "fine")
    pulumi("config", "set", "--stack", "lab-dev", "imageTag", "v2")
    ops("up", "--stack", "lab-dev")
    refused = ops("rollback", "--stack", "lab-dev", "--to", "1", "--yes", expect=1)
    assert f"label {FORBIDDEN_LABEL} is forbidden" in refused.stdout + refused.stderr
    assert outputs(pulumi, "lab-dev")["image"] == "registry.invalid/api:v2"
    assert len(history(ops, "lab-dev")) == 2


def test_unknown_stack_is_a_clear_error(ops: Run) -> None:
    proc = ops("history", "--stack", "lab-nope", expect=1)
    assert "stack 'lab-nope' does not exist" in proc.stderr
    assert "pulumi stack init lab-nope" in proc.stderr


@pytest.mark.parametrize("stack", ["dev", "prod", "organization/keybuzz/prod"])
@pytest.mark.parametrize(
    "command", [["up"], ["history"], ["rollback", "--to", "1", "--yes"], ["drift"], ["preview"]], ids=" ".join
)
def test_estate_stacks_are_refused(ops: Run, stack: str, command: list[str]) -> None:
    proc = ops(command[0], "--stack", stack, *command[1:], expect=2)
    assert f"refusing to run on stack '{stack}'" in proc.stderr
    assert "--estate" in proc.stderr


def test_estate_env_other_than_yes_does_not_open_the_guard(
    program: Path, env: dict[str, str], offline: list[str]
) -> None:
    proc = subprocess.run(
        [*offline, sys.executable, "-m", "ops", "drift", "--stack", "prod"],
        cwd=program,
        env={**env, "KEYBUZZ_ESTATE_ACCESS": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
