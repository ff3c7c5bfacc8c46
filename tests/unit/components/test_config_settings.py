"""Per-app settings as a typed model, and the cross-key rules as plain functions over a typed view (issue 20).

A validated config hands out one `AppSettings` per enabled app; every key's name comes from keys.py; each
rule is `rule(parsed) -> Iterable[Problem]` over `ParsedConfig`, where a key that failed its own validation
is None and the rules needing it stay silent.
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

import pytest

from components.catalog import CATALOG
from components.config import (
    APP_SETTINGS,
    SETTINGS,
    STACK_CONFIG_MODEL,
    AppSettings,
    ConfigError,
    ParsedConfig,
    StackConfig,
    key,
    key_name,
    key_specs,
    load_config,
)
from components.config.rules import credential_ttls, images_and_databases, isolation
from components.config.types import Endpoint
from components.spec import Egress
from render import stack_config


def _load(stack: str, **overrides: Any) -> StackConfig:
    raw, secret_keys = stack_config(stack, overrides)
    return load_config(raw, stack, secret_keys)


def _parsed(stack: str = "dev", **values: Any) -> ParsedConfig:
    """A view built by hand: the model fields given, as if only they had parsed."""
    return ParsedConfig.of(values, stack, STACK_CONFIG_MODEL)


def test_each_enabled_app_has_its_typed_settings_in_catalog_order() -> None:
    dev = _load("dev")
    assert list(dev.app_settings) == ["api", "backend", "client", "worker"]
    assert dev.app("api") == AppSettings(
        name="api",
        kind=CATALOG["api"],
        image_tag="v0.4.31-replacement",
        image_repository="ghcr.io/keybuzzio/keybuzz-api",
        replicas=1,
        host="api-dev.keybuzz.io",
        port=3001,
        command=None,
        egress=(Egress(None, 587),),
        database="keybuzz",  # DEV's legacy name
        database_app="api",
        legacy_roles=("keybuzz_api_dev",),
        service_port_name="http",  # the others keep what the estate has: none set in the shipped stacks
    )
    assert dev.app("api").image == "ghcr.io/keybuzzio/keybuzz-api:v0.4.31-replacement"
    worker = dev.app("worker")
    assert (worker.host, worker.database, worker.database_app, worker.legacy_roles) == (
        None,  # it serves nothing: no host key
        "keybuzz_backend",  # the backend's
        "backend",
        (),
    )
    client = dev.app("client")
    assert (client.host, client.database, client.database_app) == ("client-dev.keybuzz.io", None, None)


def test_only_enabled_apps_have_settings_and_the_mapping_is_read_only() -> None:
    prod = _load("prod")
    assert list(prod.app_settings) == ["api", "client"]
    assert prod.app("api").replicas == 2
    with pytest.raises(KeyError, match="'worker' is not an app this stack runs"):
        prod.app("worker")
    with pytest.raises(TypeError):
        prod.app_settings["worker"] = prod.app("api")  # type: ignore[index]
    # The views of before delegate to the settings.
    assert prod.database_of("api") == prod.app("api").database == "keybuzz_prod"
    assert prod.legacy_roles("api") == ["keybuzz_api_prod"]
    with pytest.raises(ValueError, match="the client uses no database"):
        prod.database_of("client")


def test_the_settings_follow_the_keys() -> None:
    cfg = _load("dev", workerDatabaseApp="api", workerReplicas=3, backendDatabase="", adoptDatabases=["keybuzz"])
    assert (cfg.app("worker").database_app, cfg.app("worker").database) == ("api", "keybuzz")
    assert cfg.app("worker").replicas == 3
    assert cfg.app("backend").database == "keybuzz_backend_dev"  # empty: the derived name


def test_every_key_is_named_by_one_function() -> None:
    assert key("api", "image_tag") == "apiImageTag"
    assert key("worker", "database_app") == "workerDatabaseApp"
    assert key_name("postgres_write_endpoint") == "postgresWriteEndpoint"
    assert {s.name for s in APP_SETTINGS} == set(SETTINGS)
    per_app = {(app, s.name) for s in APP_SETTINGS for app, kind in CATALOG.items() if s.applies(kind)}
    expected = {key(app, setting) for app, setting in per_app}
    names = {spec.name for spec in key_specs()}
    assert expected <= names
    common = [spec for spec in key_specs() if spec.name not in expected]
    assert [spec.name for spec in common] == [key_name(spec.field) for spec in common]


def test_the_view_types_each_key_as_the_model_does() -> None:
    hints = get_type_hints(ParsedConfig, localns={"Endpoint": Endpoint})
    structure = ("stack", "catalog", "per_app", "by_key", "secrets")
    typed = [f.name for f in dataclasses.fields(ParsedConfig) if f.name not in structure]
    assert typed, "the view types some keys"
    for name in typed:
        annotation = STACK_CONFIG_MODEL.model_fields[name].annotation
        assert hints[name] == annotation | None, name


def test_a_key_that_failed_is_absent_and_the_rules_needing_it_stay_silent() -> None:
    """A refresh of 1800 s is too slow for a 3600 s TTL, but with the TTL itself invalid only that is said."""
    with pytest.raises(ConfigError) as caught:
        _load("dev", credentialTtlSeconds="soon", secretRefreshSeconds=1800)
    assert [p.key for p in caught.value.problems] == ["credentialTtlSeconds"]
    with pytest.raises(ConfigError) as caught:
        _load("dev", credentialTtlSeconds=3600, secretRefreshSeconds=1800)
    assert [p.key for p in caught.value.problems] == ["secretRefreshSeconds"]


def test_a_rule_is_a_plain_function_of_the_view() -> None:
    [problem] = credential_ttls(_parsed(credential_ttl_seconds=3600, secret_refresh_seconds=1800))
    assert (problem.key, problem.value) == ("secretRefreshSeconds", "'1800'")
    assert "at most 1799" in problem.fix
    assert list(credential_ttls(_parsed(secret_refresh_seconds=1800))) == []  # no TTL: nothing to compare


def test_the_app_rules_read_each_apps_typed_input() -> None:
    # apiImageTag parsed empty: said; backendImageTag did not parse: its own problem, not this rule's.
    parsed = _parsed(environment="dev", apps=["api", "backend"], api_image_tag="")
    assert parsed.per_app["api"].image_tag == ""
    assert parsed.per_app["backend"].image_tag is None
    assert [(p.key, p.message) for p in images_and_databases(parsed)] == [
        ("apiImageTag", "'api' is in apps but has no image tag")
    ]
    foreign = _parsed(environment="prod", api_host="api-dev.keybuzz.io", worker_image_tag="v1-dev")
    assert [(p.key, p.fix) for p in isolation(foreign)] == [
        ("apiHost", "use this environment's host"),
        ("workerImageTag", "use this environment's image tag"),
    ]
