"""The preflight's wiring: the stack's config as the program sees it (no secret read), the keys other branches
add, the report's text and exit codes, `--while-adopting`, and deploy.yml running it before each up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from ops.cli import main
from ops.errors import EXIT_PREFLIGHT_BLOCKS, EXIT_PREFLIGHT_FIXES
from ops.preflight import Report, adopting, is_this_program, load_stack, raw_config
from ops.preflight_model import Finding, Verdict, fix_lines
from render import FAKE_SECRETS

REPO = Path(__file__).resolve().parents[3]


def stack_dir(tmp_path: Path, stack: str, extra: dict[str, object] | None = None) -> Path:
    """A checkout-like directory with `Pulumi.<stack>.yaml` from the shipped PROD file, a secure value and
    `extra` keys."""
    doc = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())
    doc["config"]["keybuzz:vaultToken"] = {"secure": "v1:ZmFrZS10ZXN0LW9ubHk="}
    doc["config"].update(extra or {})
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


def test_the_stack_file_is_read_without_its_secrets(tmp_path: Path) -> None:
    raw = raw_config(stack_dir(tmp_path, "lab-prod"), "lab-prod")
    assert raw["keybuzz:vaultToken"] == FAKE_SECRETS["keybuzz:vaultToken"]
    assert "secure" not in json.dumps(raw)
    assert raw["keybuzz:apiLegacyRoles"] == '["keybuzz_api_prod"]'


def test_keys_the_program_does_not_read_yet_are_kept_for_the_preflight_and_left_out_of_the_rendering(
    tmp_path: Path,
) -> None:
    extra = {"keybuzz:apiSelectorLabels": {"app": "keybuzz-api"}, "keybuzz:databaseConsumers": ["estate_monitor"]}
    view = load_stack(stack_dir(tmp_path, "lab-prod", extra), "lab-prod")
    assert view.listed("keybuzz:databaseConsumers") == ["estate_monitor"]
    assert json.loads(view.raw["keybuzz:apiSelectorLabels"]) == {"app": "keybuzz-api"}
    assert view.of_kind("Deployment", "keybuzz-api-prod")["keybuzz-api"]["kind"] == "Deployment"
    assert view.app_of_namespace("keybuzz-api-prod") == "api"


def test_a_typo_is_still_refused_by_the_program(tmp_path: Path) -> None:
    assert (
        main(
            ["preflight", "--stack", "lab-prod", "--cwd", str(stack_dir(tmp_path, "lab-prod", {"keybuzz:apiTag": "x"}))]
        )
        == 1
    )


def test_while_adopting_skips_a_stack_past_the_adoption(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = {"keybuzz:kubernetesUpsertExisting": False, "keybuzz:legacyLoginPhase": "dropped"}
    cwd = stack_dir(tmp_path, "lab-prod", done)
    assert main(["preflight", "--stack", "lab-prod", "--cwd", str(cwd), "--while-adopting"]) == 0
    assert "preflight skipped" in capsys.readouterr().out
    assert not adopting(load_stack(cwd, "lab-prod").config)
    assert adopting(load_stack(stack_dir(tmp_path, "lab-prod"), "lab-prod").config)  # the shipped file: adopting


def test_the_estate_stacks_need_estate_access_and_read_only_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("KEYBUZZ_ESTATE_ACCESS", "KEYBUZZ_PREFLIGHT_KUBECONFIG", "KEYBUZZ_PREFLIGHT_PG", "LAB_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    cwd = stack_dir(tmp_path, "prod")
    assert main(["preflight", "--stack", "prod", "--cwd", str(cwd)]) == 2
    assert main(["preflight", "--stack", "prod", "--cwd", str(cwd), "--estate"]) == 1
    err = capsys.readouterr().err
    assert "KEYBUZZ_PREFLIGHT_KUBECONFIG, KEYBUZZ_PREFLIGHT_PG, KEYBUZZ_PREFLIGHT_VAULT_TOKEN_FILE not set" in err


def report(*findings: Finding) -> Report:
    return Report("lab-prod", "test", list(findings), fix_lines(findings, {}))


def test_the_report_exit_codes_and_fix_lines() -> None:
    fine = Finding("kubernetes", "Namespace a", "namespace", Verdict.TAKEN_OVER, "imported")
    smtp = Finding("kubernetes", "Deployment n/x", "envFrom", Verdict.DROPPED, "atomic",
                   key="keybuzz:apiExtraEnvFrom", items=("secret:smtp",))  # fmt: skip
    selector = Finding("kubernetes", "Deployment n/x", "spec.selector", Verdict.BLOCKS, "immutable",
                       reason="immutable", key="keybuzz:apiSelectorLabels", items=('{"app": "x"}',))  # fmt: skip
    assert report(fine).exit_code == 0
    assert report(fine, smtp).exit_code == EXIT_PREFLIGHT_FIXES
    blocked = report(fine, smtp, selector)
    assert blocked.exit_code == EXIT_PREFLIGHT_BLOCKS
    text = blocked.text()
    assert (
        "  [blocks: immutable] Deployment n/x: spec.selector: immutable\n      fix: keybuzz:apiSelectorLabels: " in text
    )
    assert "[would be dropped: model it with keybuzz:apiExtraEnvFrom]" in text
    assert '  keybuzz:apiExtraEnvFrom: ["secret:smtp"]' in text
    assert text.endswith("(exit 5)")
    data = blocked.as_json()
    assert data["counts"]["blocks"] == 1
    assert data["findings"][2]["fix"] == 'keybuzz:apiSelectorLabels: {"app": "x"}'


def test_deploy_runs_the_read_only_preflight_before_each_up() -> None:
    jobs = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text())["jobs"]
    for env, job in jobs.items():
        runs = [step.get("run", "") for step in job["steps"]]
        pre = next(i for i, r in enumerate(runs) if "-m ops preflight" in r)
        up = next(i for i, r in enumerate(runs) if "-m ops up" in r)
        assert pre < up
        assert f"--stack {env} --estate --while-adopting" in runs[pre]
        assert "KEYBUZZ_PREFLIGHT_KUBECONFIG=" in runs[pre]
        assert "KEYBUZZ_PREFLIGHT_VAULT_TOKEN_FILE=" in runs[pre]
        assert "echo" not in runs[pre]  # credentials go to 0600 files, never to the log


def test_only_this_program_gets_the_field_manager_check(tmp_path: Path) -> None:
    assert is_this_program(REPO)
    (tmp_path / "Pulumi.yaml").write_text("name: ops-fixture\nruntime: python\n")
    assert not is_this_program(tmp_path)
