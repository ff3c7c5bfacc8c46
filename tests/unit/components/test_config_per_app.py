"""A fifth app is one catalog entry plus its stack values: keys, validation, rules and resources follow.

`reports` is a synthetic app that owns a database (like the api). The tests build the config model from a
copy of the catalog with it (`stack_config_model`) and never touch the shipped catalog or model.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

import components.config
from components.catalog import CATALOG, AppKind
from components.config import (
    STACK_CONFIG_MODEL,
    ConfigError,
    StackConfig,
    key_specs,
    load_config,
    pulumi_config_schema,
    read_stack_config,
    stack_config_model,
)
from render import render_stack, stack_config

REPORTS: AppKind = dataclasses.replace(
    CATALOG["api"],
    name="reports",  # not one of AppName: the point is an app no code names
    port=3002,
    health_path=None,
    db_secret_name="keybuzz-reports-db",
    image_repository="ghcr.io/keybuzzio/keybuzz-reports",
)
CATALOG_APPS = list(CATALOG)
FIVE_APPS = [*CATALOG_APPS, "reports"]
#: What each stack runs, plus `reports` (PROD runs the api and the client).
APPS = {"dev": FIVE_APPS, "prod": ["api", "client", "reports"]}
#: The databases the DEV stack file adopts.
DEV_DATABASES = ["keybuzz", "keybuzz_backend"]
MODEL = stack_config_model({**CATALOG, "reports": REPORTS})


def _load(stack: str, overrides: dict[str, Any]) -> StackConfig:
    raw, secret_keys = stack_config(stack, {"apps": APPS[stack], "reportsImageTag": "v1.0.0", **overrides})
    return load_config(raw, stack, secret_keys, MODEL)


def _problems(stack: str, overrides: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        _load(stack, overrides)
    return [(p.key, p.message) for p in caught.value.problems]


def test_its_keys_are_declared_from_the_catalog_entry() -> None:
    schema = pulumi_config_schema(MODEL)
    assert {k for k in schema if k.startswith("reports")} == {
        "reportsImageTag",
        "reportsImageRepository",
        "reportsReplicas",
        "reportsHost",  # it serves a port
        "reportsPort",  # its port is the stack's (the catalog's by default)
        "reportsEgress",  # every app's egress allow-list
        "reportsDatabase",  # it owns a database
        "reportsLegacyRoles",
        "reportsSelectorLabels",  # what its adopted objects keep of the estate
        "reportsServicePortName",  # it serves a port
        "reportsExtraEnvFrom",
        "reportsImagePullSecrets",
        "reportsEstateExternalSecret",  # it has a database Secret
    }
    assert schema["reportsImageRepository"]["default"] == "ghcr.io/keybuzzio/keybuzz-reports"
    assert schema["reportsDatabase"]["description"] == "Database of the reports. Empty means keybuzz_reports_<env>."
    assert schema["apps"]["description"] == "Apps this stack runs, among api, backend, client, worker, reports."
    assert "api or backend or reports" in schema["workerDatabaseApp"]["description"]
    # Each setting's keys keep their place: the new app's after the others' of the same setting.
    names = [s.name for s in key_specs(MODEL)]
    assert names.index("workerImageTag") < names.index("reportsImageTag") < names.index("apiImageRepository")
    assert names.index("backendLegacyRoles") < names.index("reportsLegacyRoles") < names.index("legacyLoginPhase")


def test_the_shipped_model_is_untouched_and_refuses_the_unknown_app() -> None:
    assert not [s for s in key_specs() if s.name.startswith("reports")]
    assert [s.name for s in key_specs()] == [s.name for s in key_specs(MODEL) if not s.name.startswith("reports")]
    raw, secret_keys = stack_config("dev", {"apps": FIVE_APPS})
    with pytest.raises(ConfigError, match="unknown app reports; known apps are api, backend, client, worker"):
        load_config(raw, "dev", secret_keys, STACK_CONFIG_MODEL)


def test_its_values_validate_and_the_views_use_them() -> None:
    config = _load("dev", {"reportsReplicas": 2, "reportsHost": "reports.dev.keybuzz.io"})
    reports = config.app("reports")
    assert (reports.replicas, reports.host, reports.database_app) == (2, "reports.dev.keybuzz.io", "reports")
    assert list(config.app_settings) == FIVE_APPS
    assert config.image("reports") == "ghcr.io/keybuzzio/keybuzz-reports:v1.0.0"
    assert config.database_of("reports") == "keybuzz_reports_dev"
    assert config.database_apps == ["api", "backend", "reports"]
    assert _load("dev", {"adoptDatabases": [*DEV_DATABASES, "keybuzz_reports_dev"]}).adopt_databases[-1] == (
        "keybuzz_reports_dev"
    )
    assert _load("dev", {"workerDatabaseApp": "reports"}).database_of("worker") == "keybuzz_reports_dev"
    prod = _load("prod", {"reportsDatabase": "reports_prod"})
    assert prod.database_of("reports") == "reports_prod"


@pytest.mark.parametrize(
    ("stack", "overrides", "key", "fragment"),
    [
        ("dev", {"reportsImageTag": ""}, "reportsImageTag", "'reports' is in apps but has no image tag"),
        ("prod", {"reportsImageTag": "latest"}, "reportsImageTag", "moving tag"),
        ("prod", {"reportsImageTag": "v1.0.0-dev"}, "reportsImageTag", "DEV image tag"),
        ("dev", {"reportsHost": "reports.prod.keybuzz.io"}, "reportsHost", "PROD host"),
        ("dev", {"reportsReplicas": 0}, "reportsReplicas", "must be a positive number"),
        ("prod", {"reportsDatabase": "keybuzz"}, "reportsDatabase", "a DEV name"),
        ("dev", {"reportsDatabase": "keybuzz_backend"}, "reportsDatabase", "the backend and the reports would share"),
        ("prod", {"reportsLegacyRoles": ["keybuzz_reports_prod_owner"]}, "reportsLegacyRoles", "manages"),
        ("prod", {"reportsLegacyRoles": ["keybuzz_api_dev"]}, "reportsLegacyRoles", "DEV marker"),
        # reports not in apps: its database is not the stack's to adopt
        (
            "dev",
            {"adoptDatabases": [*DEV_DATABASES, "keybuzz_reports_dev"], "apps": CATALOG_APPS},
            "adoptDatabases",
            "'keybuzz_reports_dev' is not something this stack declares",
        ),
        ("dev", {"workerDatabaseApp": "client"}, "workerDatabaseApp", "Input should be 'api', 'backend' or 'reports'"),
    ],
)
def test_the_rules_apply_to_it(stack: str, overrides: dict[str, Any], key: str, fragment: str) -> None:
    [(problem_key, message)] = _problems(stack, overrides)
    assert (problem_key, fragment in message) == (key, True), message


def test_the_whole_program_renders_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """__main__.py reads its config with `components.config.read_stack_config`: given the model with `reports`,
    the real program declares the app's database, Vault role and policy, namespace, secrets and Deployment."""
    monkeypatch.setattr(components.config, "read_stack_config", functools.partial(read_stack_config, MODEL))
    rendering = render_stack("dev", overrides={"apps": FIVE_APPS, "reportsImageTag": "v1.0.0-dev"})
    assert rendering.one("postgresql:index/database:Database", name="keybuzz_reports_dev")
    assert rendering.one("vault:database/secretBackendRole:SecretBackendRole", name="keybuzz-reports-dev")
    assert rendering.one("vault:index/policy:Policy", name="keybuzz-dev-reports")
    namespaces = [r.inputs["metadata"]["name"] for r in rendering.of_type("kubernetes:core/v1:Namespace")]
    assert "keybuzz-reports-dev" in namespaces
    [deployment] = [r for r in rendering.of_type("kubernetes:apps/v1:Deployment") if "reports" in r.name]
    [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/keybuzzio/keybuzz-reports:v1.0.0-dev"
    assert container["ports"][0]["containerPort"] == 3002
    externals = rendering.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
    [external] = [r for r in externals if "-reports-" in r.name]
    assert external.inputs["spec"]["target"]["name"] == "keybuzz-reports-db"
