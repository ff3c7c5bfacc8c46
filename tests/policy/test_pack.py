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
from components.environments import environments, facts
from policy.keybuzz_policy.config import (
    ENVIRONMENT_FACTS,
    FACTS,
    POLICY_KEYS,
    SCHEMA,
    PackConfig,
    PackConfigError,
    config_document,
)
from policy.keybuzz_policy.model import Resource
from policy.keybuzz_policy.pack import POLICIES
from tests.policy.engine import POLICY_DIR, PackUnderTest, flat_config, load_config, pack_config, struct

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
def test_committed_config_files_are_laid_out_by_the_pack(env: str) -> None:
    """Each file is the pack's document of its own values (scripts/policy_config.py writes it from the table;
    tests/unit/test_environment_table.py fails when it drifts from there)."""
    assert load_config(env) == config_document(flat_config(env))


def test_a_config_file_without_the_environment_facts_is_refused_by_the_engine() -> None:
    """No default stands in for the table: a file that lacks a fact fails to configure, naming it."""
    without = {
        policy: {k: v for k, v in block.items() if k != "legacyNames"} for policy, block in load_config("prod").items()
    }
    with pytest.raises(AssertionError, match=r"policy environment-isolation: required config \['legacyNames'\]"):
        PackUnderTest(without)
    info = PackUnderTest(load_config("prod")).info
    required = {p.name: sorted(p.configSchema.required) for p in info.policies if p.configSchema.required}
    assert required == {
        policy: sorted(k for k in keys if k in ENVIRONMENT_FACTS)
        for policy, keys in POLICY_KEYS.items()
        if any(k in ENVIRONMENT_FACTS for k in keys)
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_config_files_agree_with_the_stack_files(env: str) -> None:
    stack = yaml.safe_load((REPO / f"Pulumi.{env}.yaml").read_text())["config"]
    config = load_config(env)
    nodes = config["no-node-endpoints"]
    assert nodes["postgresLb"] == stack["keybuzz:postgresWriteEndpoint"]
    assert nodes["redisLb"] == stack["keybuzz:redisEndpoint"]
    assert sorted(nodes["nodeAddresses"]) == sorted(stack["keybuzz:postgresNodes"] + stack["keybuzz:redisNodes"])
    legacy = config["environment-isolation"]["legacyNames"]
    assert {e: sorted(n) for e, n in legacy.items()} == {e: sorted(facts(e).legacy_names) for e in environments()}
    assert config["environment-isolation"]["environment"] == stack["keybuzz:environment"]


def test_the_client_repository_default_is_the_catalogs() -> None:
    assert SCHEMA["clientImageRepositories"]["default"] == [CATALOG["client"].image_repository]


def test_every_schema_property_is_described_used_and_read() -> None:
    used = {k for keys in POLICY_KEYS.values() for k in keys}
    assert used == set(SCHEMA)
    assert all(p.get("description") and p.get("type") for p in SCHEMA.values())
    assert sorted(f.key for f in FACTS) == sorted(SCHEMA)  # one PackConfig attribute per key
    # The environment table's facts: no default in the pack (scripts/policy_config.py writes them).
    assert ENVIRONMENT_FACTS == (
        "environment",
        "otherEnvironments",
        "legacyNames",
        "pinnedEnvironments",
        "protectedEnvironments",
        "clientBuildTags",
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"postgresLb": "10.0.0.10"}, "policy config 'postgresLb' is '10.0.0.10'; set it to the LB as 'host:port'"),
        ({"environment": "prod", "otherEnvironments": ["prod"]}, "contains the stack's own environment 'prod'"),
        ({"nodeAdresses": []}, "unknown policy config key(s) ['nodeAdresses']"),
        ({"maxRefreshTtlRatio": 2}, "'maxRefreshTtlRatio' must be a number in (0, 1]"),
        ({"nodeAddresses": "10.0.0.120"}, "'nodeAddresses' must be a list of non-empty strings"),
        ({"clientBuildTags": {"prod": "prod-(["}}, "'clientBuildTags' must map environment -> a regular expression"),
        ({"legacyNames": {"dev": "keybuzz"}}, "'legacyNames.dev' must be a list of non-empty strings"),
        ({"environment": ""}, "'environment' must be the stack's environment (dev, prod), got ''"),
    ],
)
def test_bad_config_names_the_key_and_the_fix(config: dict[str, object], message: str) -> None:
    with pytest.raises(PackConfigError) as error:
        pack_config("prod", **config)
    assert message in str(error.value)


def test_a_missing_environment_fact_names_the_key_and_the_fix() -> None:
    with pytest.raises(PackConfigError) as error:
        PackConfig.from_mapping({"environment": "prod"}, "protect-prod-data")
    assert "policy 'protect-prod-data' needs config 'protectedEnvironments', which has no default" in str(error.value)
    assert "components/environments.py" in str(error.value)
    assert "python -m scripts.policy_config" in str(error.value)
    with pytest.raises(PackConfigError, match="the pack needs config 'environment', 'otherEnvironments', 'legacy"):
        PackConfig.from_mapping({})


def test_a_rule_never_reads_a_fact_its_policy_does_not_declare() -> None:
    """The engine hands each policy its own keys: reading another's raises, it never falls back to a guess."""
    nodes_only = PackConfig.from_mapping(load_config("prod")["no-node-endpoints"], "no-node-endpoints")
    assert str(nodes_only.postgres_lb) == "10.0.0.10:5432"
    with pytest.raises(PackConfigError, match="policy 'no-node-endpoints' needs config 'environment'"):
        _ = nodes_only.environment


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
