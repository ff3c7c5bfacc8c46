"""How config keys are named: the one place a key's name is built from a model field or an app's setting.

Every key is its model field in camelCase (``postgres_write_endpoint`` is ``postgresWriteEndpoint``); a
per-app key is the app followed by its setting (``api`` and ``image_tag`` give ``apiImageTag``, model
field ``api_image_tag``). Rules, messages and the model name keys through these functions only, so no
other module builds a key or a field name out of strings.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: The settings an app may have a key for (per_app.APP_SETTINGS declares each one: type, default, which apps).
Setting = Literal[
    "image_tag",
    "image_repository",
    "replicas",
    "host",
    "port",
    "command",
    "egress",
    "database",
    "database_app",
    "legacy_roles",
    "selector_labels",
    "service_port_name",
    "extra_env_from",
    "image_pull_secrets",
    "estate_external_secret",
]
SETTINGS: Final[tuple[Setting, ...]] = get_args(Setting)


def _camel(words: list[str]) -> str:
    return "".join(word.capitalize() for word in words)


def key_name(field: str) -> str:
    """The config key (without ``keybuzz:``) of a model field that is not per-app: the field in camelCase."""
    first, *rest = field.split("_")
    return first + _camel(rest)


def field_name(app: str, setting: Setting) -> str:
    """The model field that parses `app`'s key of `setting` (``api_image_tag``); read only inside config/."""
    return f"{app}_{setting}"


def key(app: str, setting: Setting) -> str:
    """The config key of `app`'s `setting` (``apiImageTag``): the app's name as the catalog spells it, then
    the setting in camelCase."""
    return app + _camel(setting.split("_"))
