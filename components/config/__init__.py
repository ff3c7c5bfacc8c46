"""The stack's configuration, read once into a frozen, validated model.

`StackConfig` (model.py) is the single source of truth for every ``keybuzz:*`` key: its fields carry the
key name (alias), type, description, default and secrecy, and `pulumi_config_schema()` (schema.py)
derives the ``config:`` block of Pulumi.yaml from it (a unit test keeps the two identical). The per-app
keys (``apiImageTag``, ``backendDatabase``, ...) are the catalog's apps crossed with one table of
per-app settings (per_app.py): `stack_config_model(catalog)` builds the model of a catalog, and
`STACK_CONFIG_MODEL` is this program's. Every key's name comes from keys.py (`key(app, "image_tag")`). A
validated config hands out one typed `AppSettings` per enabled app (app_settings.py): `config.app("api")`,
`config.app_settings`.

`load_config()` (load.py) validates every key (types.py), then every cross-key rule (rules/: LB-only
endpoints, environment isolation, TTL versus refresh, adoption lists), and raises one `ConfigError`
(errors.py) listing *all* problems, each naming the key, the bad value and the fix. It runs before any
resource is registered. Each rule is a plain function of a typed `ParsedConfig` (rules/common.py) yielding
`Problem`s.
"""

from __future__ import annotations

from ..spec import Endpoint, SslMode
from .app_settings import AppInput, AppSettings, database_name
from .errors import NAMESPACE, SECRET_PLACEHOLDER, ConfigError, Problem
from .keys import SETTINGS, Setting, key, key_name
from .load import load_config, read_stack_config
from .model import LOGIN_MARGIN_SECONDS, StackConfig, app_names, database_apps
from .per_app import APP_SETTINGS, STACK_CONFIG_MODEL, AppSetting, stack_config_model
from .rules import RULES, ParsedConfig, Rule
from .schema import KeySpec, key_specs, pulumi_config_schema
from .types import LEGACY_PHASES, LegacyPhaseT

__all__ = [
    "APP_SETTINGS",
    "LEGACY_PHASES",
    "LOGIN_MARGIN_SECONDS",
    "NAMESPACE",
    "RULES",
    "SECRET_PLACEHOLDER",
    "SETTINGS",
    "STACK_CONFIG_MODEL",
    "AppInput",
    "AppSetting",
    "AppSettings",
    "ConfigError",
    "Endpoint",
    "KeySpec",
    "LegacyPhaseT",
    "ParsedConfig",
    "Problem",
    "Rule",
    "Setting",
    "SslMode",
    "StackConfig",
    "app_names",
    "database_apps",
    "database_name",
    "key",
    "key_name",
    "key_specs",
    "load_config",
    "pulumi_config_schema",
    "read_stack_config",
    "stack_config_model",
]
