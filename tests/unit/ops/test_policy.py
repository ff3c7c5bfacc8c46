"""The policy pack is on by default: which pack and config each stack gets, and when ops refuses to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.cli import main
from ops.errors import OpsError
from ops.policy import Policy, resolve

REPO = Path(__file__).resolve().parents[3]


def test_an_estate_stack_gets_the_programs_pack_and_its_environments_config() -> None:
    for stack, env in [("dev", "dev"), ("prod", "prod"), ("organization/keybuzz/prod", "prod")]:
        policy = resolve(stack, REPO, environ={})
        assert policy.packs == (REPO / "policy",)
        assert policy.configs == (REPO / "policy" / "config" / f"{env}.json",)
        assert policy.engine_args() == {
            "policy_packs": [str(REPO / "policy")],
            "policy_pack_configs": [str(REPO / "policy" / "config" / f"{env}.json")],
        }


def test_a_lab_stack_gets_the_config_the_lab_wrote_for_it(tmp_path: Path) -> None:
    """The path ops looks at is the one lab.stacks.policy_config writes (`make lab-stacks`)."""
    import lab.config as cfg
    from lab.cluster import Lab
    from lab.stacks import policy_config

    lab = Lab(state_dir=tmp_path / "lab")
    cfg.load_or_create_secrets(lab.layout)
    written = policy_config(lab, "prod")
    policy = resolve("lab-prod", REPO, environ={"LAB_STATE_DIR": str(tmp_path / "lab")})
    assert policy.configs == (written,)
    assert policy.packs == (REPO / "policy",)


def test_a_lab_stack_without_its_config_is_refused_with_the_command_that_writes_it(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="policy pack config of stack 'lab-dev' is missing") as err:
        resolve("lab-dev", REPO, environ={"LAB_STATE_DIR": str(tmp_path)})
    assert "make lab-stacks" in err.value.fix
    assert str(tmp_path / "pulumi" / "policy-lab-dev.json") in err.value.message


def test_the_lab_state_defaults_to_the_checkouts_lab_as_python_m_lab_does(tmp_path: Path) -> None:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / ".lab" / "pulumi").mkdir(parents=True)
    (tmp_path / ".lab" / "pulumi" / "policy-lab-dev.json").write_text("{}")
    assert resolve("lab-dev", tmp_path, environ={}).configs == (tmp_path / ".lab" / "pulumi" / "policy-lab-dev.json",)


def test_another_stack_needs_an_explicit_config(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="no policy pack config is known for stack 'scratch'") as err:
        resolve("scratch", REPO, environ={})
    assert "--policy-pack-config FILE" in err.value.fix
    config = tmp_path / "scratch.json"
    config.write_text("{}")
    assert resolve("scratch", REPO, configs=[str(config)], environ={}) == Policy((REPO / "policy",), (config,))


def test_explicit_paths_are_relative_to_the_program_and_must_pair_up(tmp_path: Path) -> None:
    policy = resolve("dev", REPO, packs=["policy"], configs=["policy/config/prod.json"], environ={})
    assert policy == Policy((REPO / "policy",), (REPO / "policy" / "config" / "prod.json",))
    with pytest.raises(OpsError, match=r"2 policy pack\(s\) but 1 config\(s\)"):
        resolve("dev", REPO, packs=["policy", "policy"], configs=["policy/config/dev.json"], environ={})
    with pytest.raises(OpsError, match="no policy pack at"):
        resolve("dev", tmp_path, environ={})


def test_no_policy_is_refused_on_the_estate_and_only_turns_the_pack_off_elsewhere() -> None:
    for stack in ("dev", "prod", "organization/keybuzz/dev"):
        with pytest.raises(OpsError, match=f"refusing --no-policy on stack '{stack}'"):
            resolve(stack, REPO, no_policy=True, environ={})
    off = resolve("lab-dev", REPO, no_policy=True, environ={})
    assert off.engine_args() == {"policy_packs": None, "policy_pack_configs": None}
    assert off.describe() == "policy pack: OFF (--no-policy)"
    with pytest.raises(OpsError, match="contradicts"):
        resolve("lab-dev", REPO, no_policy=True, configs=["x.json"], environ={})


@pytest.mark.parametrize("command", [["up"], ["preview"], ["drift"], ["rollback", "--to", "1"]], ids=" ".join)
def test_every_engine_command_stops_before_the_engine_without_a_pack_config(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """up, preview, drift and rollback resolve the pack first: no `pulumi` is needed to be refused."""
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi: reaching the engine would be another error
    code = main([command[0], "--stack", "lab-dev", "--cwd", str(REPO), *command[1:]])
    assert code == 1
    err = capsys.readouterr().err
    assert "the policy pack config of stack 'lab-dev' is missing" in err
    assert "no `pulumi` on PATH" not in err
