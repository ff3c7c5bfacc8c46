"""Every config key is named by one function (keys.py): a model field in camelCase, a per-app key the app
then its setting."""

from __future__ import annotations

from components.catalog import CATALOG
from components.config import APP_SETTINGS, SETTINGS, key, key_name, key_specs


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
