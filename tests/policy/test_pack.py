"""The pack as a whole: metadata the engine reads, its config files and schema, its project files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from components.catalog import CATALOG
from components.environments import ENVIRONMENT_TABLE
from policy.keybuzz_policy.config import POLICY_KEYS, SCHEMA, PackConfig, PackConfigError, per_policy_config
from policy.keybuzz_policy.model import Resource
from policy.keybuzz_policy.pack import POLICIES
from tests.policy.engine import POLICY_DIR, PackUnderTest, load_config, struct

REPO = POLICY_DIR.parent
STACK_RULES = {"credentials-renew-before-expiry", "protect-prod-data", "namespaces-default-deny"}


def test_the_engine_sees_every_policy_mandatory_kebab_case_with_a_fix() -> None:
    info = PackUnderTest(load_config("prod")).info
    assert info.name == "keybuzz-platform"
    names = [p.name for p in info.policies]
    assert names == list(POLICY_KEYS)
    for policy in info.policies:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", policy.name)
        assert policy.enforcementLevel == proto.MANDATORY
        assert "Fix:" in policy.description
        expected = proto.POLICY_TYPE_STACK if policy.name in STACK_RULES else proto.POLICY_TYPE_RESOURCE
        assert policy.policy_type == expected
        assert sorted(policy.configSchema.properties) == sorted(POLICY_KEYS[policy.name])


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_committed_config_files_are_the_generated_ones(env: str) -> None:
    assert load_config(env) == per_policy_config(env)
    assert load_config(env)["environment-isolation"]["otherEnvironments"] == [e for e in ("dev", "prod") if e != env]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_config_files_agree_with_the_stack_files(env: str) -> None:
    stack = yaml.safe_load((REPO / f"Pulumi.{env}.yaml").read_text())["config"]
    config = load_config(env)
    nodes = config["no-node-endpoints"]
    assert nodes["postgresLb"] == stack["keybuzz:postgresWriteEndpoint"]
    assert nodes["redisLb"] == stack["keybuzz:redisEndpoint"]
    assert sorted(nodes["nodeAddresses"]) == sorted(stack["keybuzz:postgresNodes"] + stack["keybuzz:redisNodes"])
    legacy = config["environment-isolation"]["legacyNames"]
    assert {e: sorted(n) for e, n in legacy.items()} == {
        e: sorted(f.legacy_names) for e, f in ENVIRONMENT_TABLE.items()
    }
    assert config["environment-isolation"]["environment"] == stack["keybuzz:environment"]


def test_client_build_defaults_are_the_programs_conventions() -> None:
    """The pack runs without the program's modules: its defaults must equal components/environments.py's."""
    assert SCHEMA["clientBuildTags"]["default"] == {e: f.client_build.pattern for e, f in ENVIRONMENT_TABLE.items()}
    assert SCHEMA["clientImageRepositories"]["default"] == [CATALOG["client"].image_repository]


def test_every_schema_property_is_described_and_used() -> None:
    used = {k for keys in POLICY_KEYS.values() for k in keys}
    assert used == set(SCHEMA)
    assert all(p.get("description") and p.get("type") for p in SCHEMA.values())
    assert [k for k, p in SCHEMA.items() if "default" not in p] == ["environment", "otherEnvironments"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"postgresLb": "10.0.0.10"}, "policy config 'postgresLb' is '10.0.0.10'; set it to the LB as 'host:port'"),
        ({"environment": "prod", "otherEnvironments": ["prod"]}, "contains the stack's own environment 'prod'"),
        ({"nodeAdresses": []}, "unknown policy config key(s) ['nodeAdresses']"),
        ({"maxRefreshTtlRatio": 2}, "'maxRefreshTtlRatio' must be a number in (0, 1]"),
        ({"nodeAddresses": "10.0.0.120"}, "'nodeAddresses' must be a list of non-empty strings"),
        ({"clientBuildTags": {"prod": "prod-(["}}, "'clientBuildTags' must map environment -> a regular expression"),
    ],
)
def test_bad_config_names_the_key_and_the_fix(config: dict[str, object], message: str) -> None:
    with pytest.raises(PackConfigError) as error:
        PackConfig.from_mapping(config)
    assert message in str(error.value)


def test_a_rule_needing_the_environment_refuses_to_guess() -> None:
    with pytest.raises(PackConfigError, match="needs config 'environment'"):
        PackConfig.from_mapping({}).require_environment("protect-prod-data")


def test_values_unknown_during_preview_do_not_stop_the_pack() -> None:
    deployment = Resource(
        "kubernetes:apps/v1:Deployment",
        "d",
        "urn:pulumi:prod::keybuzz::kubernetes:apps/v1:Deployment::d",
        {
            "metadata": {"namespace": UNKNOWN_STRING_VALUE},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"image": UNKNOWN_STRING_VALUE, "env": [{"name": "PGHOST", "value": UNKNOWN_STRING_VALUE}]}
                        ]
                    }
                }
            },
        },
        provider="urn:pulumi:prod::keybuzz::pulumi:providers:kubernetes::k",
        secret_paths=frozenset(),
    )
    pack = PackUnderTest(load_config("prod"))
    response = pack.servicer.Analyze(
        proto.AnalyzeRequest(
            urn=deployment.urn,
            type=deployment.type,
            name="d",
            properties=struct(deployment.props),
            options=proto.AnalyzerResourceOptions(),
            provider=proto.AnalyzerProviderResource(
                type="pulumi:providers:kubernetes", urn=deployment.provider, name="k"
            ),
        ),
        None,
    )
    assert list(response.diagnostics) == []


def test_pack_project_files() -> None:
    manifest = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    assert (POLICY_DIR / manifest["runtime"]["options"]["virtualenv"]).resolve() == (REPO / ".venv").resolve()
    pins = {line.split("==")[0]: line for line in (POLICY_DIR / "requirements.txt").read_text().split() if "==" in line}
    dev_pins = (REPO / "requirements-dev.txt").read_text() + (REPO / "requirements.txt").read_text()
    assert set(pins) == {"pulumi-policy", "pulumi"}
    assert all(re.search(rf"^{re.escape(pin)}$", dev_pins, re.M) for pin in pins.values())
    assert "serve()" in (POLICY_DIR / "__main__.py").read_text()
    assert len(POLICIES) == len(POLICY_KEYS) == 9
    assert Path(POLICY_DIR / "keybuzz_policy" / "rules.py").exists()


def test_the_pack_imports_as_the_policy_host_imports_it_without_the_program() -> None:
    """The tests import the pack as `policy.keybuzz_policy` from the repository root; the policy host runs
    policy/__main__.py from policy/, where `keybuzz_policy` is top level and the program is not on the path.
    Imported that way, the pack must load (relative imports only) and pull in none of the program's modules."""
    program = {"components", "render", "ops", "lab", "scripts", "tests", "policy"}
    probe = f"import sys, keybuzz_policy.pack; print(sorted({{m.split('.')[0] for m in sys.modules}} & {program!r}))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=POLICY_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_docs_list_every_rule_once_in_the_packs_order() -> None:
    """docs/policy.md is the one home of the rule table: it names each policy of the pack (stack rules
    marked), and the README links to it rather than carrying a copy."""
    section = (REPO / "docs" / "policy.md").read_text().split("### Rules", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)`( \(stack\))? \|", section, re.MULTILINE)
    assert [name for name, _ in rows] == list(POLICY_KEYS)
    assert {name for name, stack in rows if stack} == STACK_RULES
    readme = (REPO / "README.md").read_text()
    assert "](docs/policy.md)" in readme
    assert [name for name in POLICY_KEYS if f"| `{name}`" in readme] == []
