"""Pulumi.yaml, the stack files and the README agree with the config model."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
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


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~!; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_every_package_the_program_imports_at_run_time_is_a_runtime_requirement() -> None:
    """Issue 17 item 9: the dynamic resources import psycopg inside `pulumi up` (in the provider process), so it
    must be in requirements.txt, which the Pulumi CLI installs, not only in requirements-dev.txt. Every import of
    __main__.py and components/, nested ones included, resolved to its distribution."""
    modules: set[str] = set()
    for source in [REPO / "__main__.py", *sorted((REPO / "components").rglob("*.py"))]:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"components", "__future__"}
    distributions = importlib.metadata.packages_distributions()
    needed = {d.lower().replace("_", "-") for m in third_party for d in distributions[m]}
    assert "psycopg" in needed
    assert needed - _requirement_names(REPO / "requirements.txt") == set()
