"""The per-app keys, derived from the catalog: one table of settings x the catalog's apps.

Each row of `APP_SETTINGS` is one setting an app may have (its image tag, its database, ...): the setting
(``image_tag``, one of `keys.Setting`), its type, a description template, its default, and which apps get
it (a predicate on the app's catalog entry: ``database`` only for apps that own one).
`stack_config_model(catalog)` crosses the table with a catalog and returns the `StackConfig` subclass that
has one flat field per app and setting (``api_image_tag``, key ``apiImageTag``, both named by keys.py).

The flat fields are the parse layer only: Pulumi config is flat, and each key needs its own type, default,
description, error and place in Pulumi.yaml, which a pydantic field per key gives (and `schema.py` reads).
The validated model gathers them into one typed `AppSettings` per app (`StackConfig.app`), the rules read
them as `AppInput`s: nothing reads a flat field by a built-up name. Adding an app is one catalog entry: its
keys, their validation and the cross-key rules follow.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, cast

from pydantic import Field, create_model

from ..catalog import CATALOG, AppKind
from .keys import Setting, field_name, key
from .model import StackConfig
from .types import (
    CommandT,
    EgressListT,
    EnvFromListT,
    HostT,
    IdentListT,
    IdentT,
    LabelsT,
    ObjectNameListT,
    OptionalObjectNameT,
    PortNameT,
    PositiveIntT,
    RepoT,
    TagT,
    apps_type,
)

Catalog = Mapping[str, AppKind]


@dataclass(frozen=True)
class AppSetting:
    """One per-app setting: a key ``<app><Suffix>`` for every app of the catalog it `applies` to."""

    #: The setting: the model field is ``<app>_<name>``, the key ``<app><Name>`` (keys.field_name, keys.key).
    name: Setting
    #: The value's type (an alias of types.py), or None when `choices` gives it.
    type: Any
    #: Description of the key; ``{app}`` is the app, ``{owners}`` the catalog's database-owning apps.
    description: str
    #: Pulumi.yaml default (as Pulumi hands it over), or a function of the app's catalog entry.
    default: str | Callable[[AppKind], str | None]
    #: Which apps get the key.
    applies: Callable[[AppKind], bool]
    #: The key field after which this setting's keys stand in Pulumi.yaml (their place before the table).
    after: str
    #: For a choice among the catalog's apps: the apps to choose from.
    choices: Callable[[Catalog], tuple[str, ...]] | None = None
    #: Descriptions kept as written where an app's key says more than the template (facts about that app).
    wording: Mapping[str, str] = field(default_factory=dict)

    def annotation(self, catalog: Catalog) -> Any:
        if self.choices is None:
            return self.type
        return cast(Any, Literal)[self.choices(catalog)]  # a Literal of the catalog's apps, built at run time

    def describe(self, app: str, catalog: Catalog) -> str:
        if app in self.wording:
            return self.wording[app]
        return self.description.format(app=app, owners=" or ".join(_database_owners(catalog)))

    def default_for(self, kind: AppKind) -> str | None:
        return self.default(kind) if callable(self.default) else self.default


def _database_owners(catalog: Catalog) -> tuple[str, ...]:
    return tuple(name for name, kind in catalog.items() if kind.owns_database)


def _every_app(kind: AppKind) -> bool:
    return True


APP_SETTINGS: Final[tuple[AppSetting, ...]] = (
    AppSetting(
        "image_tag",
        TagT,
        "Image tag of the {app}.",
        "",
        _every_app,
        after="apps",
        wording={
            "api": "Image tag of the api (required when api is in apps).",
            "client": "Image tag of the Next.js client.",
        },
    ),
    AppSetting(
        "image_repository",
        RepoT,
        "Image repository of the {app}.",
        lambda kind: kind.image_repository,
        _every_app,
        after="apps",
    ),
    AppSetting("replicas", PositiveIntT, "Replicas of the {app} Deployment.", "1", _every_app, after="apps"),
    AppSetting(
        "host",
        HostT,
        "Public host of the {app}.",
        "",
        lambda kind: kind.port is not None,  # an app that serves nothing (the worker) has no host
        after="apps",
        wording={
            "api": "Public host of the api. The client image is built with NEXT_PUBLIC_API_URL=https://<apiHost> "
            "(not set at runtime: Next.js bakes it in).",
        },
    ),
    AppSetting(
        "port",
        PositiveIntT,
        "Port the {app}'s container serves HTTP on (its probes, Service and NetworkPolicies follow).",
        lambda kind: str(kind.port),
        lambda kind: kind.port is not None,
        after="apps",
    ),
    AppSetting(
        "command",
        CommandT,
        "Command the {app}'s container runs (JSON list), instead of its image's entry point.",
        lambda kind: json.dumps(list(kind.command or ())),
        lambda kind: kind.command is not None,
        after="apps",
    ),
    AppSetting(
        "egress",
        EgressListT,
        "Where the {app}'s pods may connect besides DNS, its LBs and this environment's HTTP apps: a JSON list of "
        "<cidr>:<port> or public:<port> (every IPv4 address but the private ranges and the nodes).",
        lambda kind: json.dumps(list(kind.egress)),
        _every_app,
        after="apps",
    ),
    AppSetting(
        "database",
        IdentT,
        "Database of the {app}. Empty means keybuzz_{app}_<env>.",
        "",
        lambda kind: kind.owns_database,
        after="apps",
        wording={"api": "Database of the api. Empty means keybuzz_api_<env>; DEV adopts its legacy 'keybuzz'."},
    ),
    AppSetting(
        "database_app",
        None,
        "Whose database the {app} uses ({owners}).",
        lambda kind: kind.default_database_app,
        lambda kind: kind.uses_database and not kind.owns_database,
        after="apps",
        choices=_database_owners,
    ),
    AppSetting(
        "legacy_roles",
        IdentListT,
        "Roles of the estate that own objects in or log in to the {app}'s database.",
        "[]",
        lambda kind: kind.owns_database,
        after="adopt_vault_mounts",
        wording={
            "api": "Roles of the estate that own objects in or log in to the api's database (e.g. keybuzz_api_prod): "
            "their objects go to the owner group, and legacyLoginPhase retires them.",
        },
    ),
    # What the {app}'s adopted Kubernetes objects keep of the estate (docs/runbook-adopting-the-estate.md,
    # "Before the first up"): facts the program cannot read at preview (no I/O), written down as config.
    AppSetting(
        "selector_labels",
        LabelsT,
        'Selector of the {app}\'s adopted Deployment as a JSON object (e.g. {{"app": "keybuzz-{app}"}}): kept as '
        "its immutable selector, added to its pod labels, and used by its Service, PodDisruptionBudget, spread and "
        "NetworkPolicies. Empty: the program's app.kubernetes.io/name. Set once, before the first up; never change.",
        "",
        _every_app,
        after="adopt_vault_mounts",
    ),
    AppSetting(
        "service_port_name",
        PortNameT,
        "Name of the {app}'s Service port (an Ingress may name it; its targetPort is always the number {app}Port).",
        "http",
        lambda kind: kind.port is not None,
        after="adopt_vault_mounts",
    ),
    AppSetting(
        "extra_env_from",
        EnvFromListT,
        "Secrets and ConfigMaps the {app}'s container also reads as env (JSON list of secret:<name> or "
        "configmap:<name>), after the program's own: envFrom is replaced whole, so what is not listed is dropped.",
        "[]",
        _every_app,
        after="adopt_vault_mounts",
    ),
    AppSetting(
        "image_pull_secrets",
        ObjectNameListT,
        "Pull secrets of the {app}'s pods (JSON list of Secret names in its namespace).",
        "[]",
        _every_app,
        after="adopt_vault_mounts",
    ),
    AppSetting(
        "estate_external_secret",
        OptionalObjectNameT,
        "The estate ExternalSecret that owns the {app}'s database Secret today: from phase dynamic the program's "
        "ExternalSecret takes its name over (same object), so ESO's owner check passes and nothing is deleted; keep "
        "it set from then on.",
        "",
        lambda kind: kind.db_secret_name is not None,
        after="adopt_vault_mounts",
    ),
)


def stack_config_model(catalog: Catalog) -> type[StackConfig]:
    """The `StackConfig` subclass for `catalog`: `apps` among its apps, and the per-app keys of `APP_SETTINGS`."""
    fields: dict[str, Any] = {
        "apps": (
            apps_type(tuple(catalog)),
            Field(alias="apps", description=f"Apps this stack runs, among {', '.join(catalog)}."),
        )
    }
    apps_with: dict[Setting, tuple[str, ...]] = {}
    for setting in APP_SETTINGS:
        apps_with[setting.name] = tuple(app for app, kind in catalog.items() if setting.applies(kind))
        for app in apps_with[setting.name]:
            default = setting.default_for(catalog[app])
            fields[field_name(app, setting.name)] = (
                setting.annotation(catalog),
                Field(
                    ... if default is None else default,  # no default: the key is required
                    alias=key(app, setting.name),
                    description=setting.describe(app, catalog),
                ),
            )
    model = create_model("StackConfig", __base__=StackConfig, __module__=__name__, **fields)
    model.catalog = MappingProxyType(dict(catalog))
    model.key_fields = tuple(_key_order(model, apps_with))
    return model


def _key_order(model: type[StackConfig], apps_with: Mapping[Setting, tuple[str, ...]]) -> list[str]:
    """The model's fields in Pulumi.yaml's order: each setting's keys after the key its `after` names."""
    per_app = {field_name(app, s) for s, apps in apps_with.items() for app in apps}
    order = []
    for name in model.model_fields:
        if name in per_app:
            continue
        order.append(name)
        for setting in APP_SETTINGS:
            if setting.after == name:
                order += [field_name(app, setting.name) for app in apps_with[setting.name]]
    return order


#: The model of this program's catalog: what `load_config` validates a stack with.
STACK_CONFIG_MODEL: Final = stack_config_model(CATALOG)
