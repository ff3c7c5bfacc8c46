"""Pulumi.yaml, the stack files and the README agree with the config model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components.config import key_specs, pulumi_config_schema
from scripts.config_schema import markdown_table

REPO = Path(__file__).resolve().parents[2]


def _project() -> dict:
    return yaml.safe_load((REPO / "Pulumi.yaml").read_text())


def test_pulumi_yaml_declares_exactly_the_model_keys() -> None:
    assert _project()["config"] == pulumi_config_schema()


def test_every_key_has_a_type_and_a_description() -> None:
    for name, entry in _project()["config"].items():
        assert entry["type"] in ("string", "integer", "boolean", "array"), name
        assert len(entry["description"]) > 20, name


def test_secret_keys_have_no_default() -> None:
    # Pulumi >= 3.202 rejects a defaulted secret (pulumi/pulumi#21865): secrets are always set per stack.
    for name, entry in _project()["config"].items():
        if entry.get("secret"):
            assert "default" not in entry, name


def test_runtime_is_python_with_a_virtualenv() -> None:
    runtime = _project()["runtime"]
    assert runtime["name"] == "python"
    assert runtime["options"]["virtualenv"] == ".venv"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_use_declared_keys_and_carry_no_secret(stack: str) -> None:
    config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    declared = {f"keybuzz:{s.name}": s for s in key_specs()}
    undeclared = [k for k in config if k.startswith("keybuzz:") and k not in declared]
    assert undeclared == []
    secrets = [k for k in config if k in declared and declared[k].secret]
    assert secrets == []
    assert not any(isinstance(v, dict) and "secure" in v for v in config.values())


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_default_providers_are_disabled(stack: str) -> None:
    config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    # Every package that can reach the estate. pulumi-python (the program's dynamic resources) has no
    # ambient credential to fall back on: its connection is the resource's own inputs.
    assert config["pulumi:disable-default-providers"] == ["kubernetes", "postgresql", "vault"]


def test_readme_config_table_matches_the_model() -> None:
    readme = (REPO / "README.md").read_text()
    assert markdown_table() in readme


def test_no_password_like_literal_in_tracked_config_files() -> None:
    pattern = re.compile(r"(?i)(password|passwd|token)\s*[:=]\s*['\"]?[^\s'\"{}]{6,}")
    for path in [REPO / "Pulumi.yaml", REPO / "Pulumi.dev.yaml", REPO / "Pulumi.prod.yaml"]:
        for line in path.read_text().splitlines():
            if line.strip().startswith("#") or "description" in line:
                continue
            assert not pattern.search(line), f"{path.name}: {line}"
