"""Per-app settings as a typed model (issue 20): a validated config hands out one `AppSettings` per enabled
app, and every key's name comes from keys.py."""

from __future__ import annotations

from typing import Any

import pytest

from components.catalog import CATALOG
from components.config import (
    APP_SETTINGS,
    SETTINGS,
    AppSettings,
    StackConfig,
    key,
    key_name,
    key_specs,
    load_config,
)
from render import stack_config


def _load(stack: str, **overrides: Any) -> StackConfig:
    raw, secret_keys = stack_config(stack, overrides)
    return load_config(raw, stack, secret_keys)


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
        database="keybuzz",  # DEV's legacy name
        database_app="api",
        legacy_roles=("keybuzz_api_dev",),
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
