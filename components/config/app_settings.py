"""One app's settings, typed: `AppInput` (what the rules see while keys may still be invalid) and
`AppSettings` (what a validated `StackConfig` hands out).

The per-app keys are parsed as flat model fields (``api_image_tag``, key ``apiImageTag``: per_app.py), since
Pulumi config is flat and each key needs its own type, default, description and error. They are gathered
here, once, into one typed object per app; nothing outside config/ reads the flat fields.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..catalog import AppKind
from ..k8s import EnvFrom
from ..naming import Naming
from ..spec import Egress
from .keys import SETTINGS, Setting, field_name, key

T = TypeVar("T")


def database_name(env: str, app: str, explicit: str) -> str:
    """Physical database of a database-owning app: the configured (legacy) name, else the derived one."""
    return explicit or Naming(env).database(app)


@dataclass(frozen=True)
class AppInput:
    """One catalog app's per-app keys as far as they parsed: what the cross-key rules read.

    A setting is None when the app has no key for it (the worker has no host) or when its key failed its
    own validation (that problem is already listed, so a rule needing the value skips it). `settings` tells
    the two apart.
    """

    name: str
    kind: AppKind
    #: The settings this app has a key for (APP_SETTINGS' `applies`), whether or not the value parsed.
    settings: frozenset[Setting]
    image_tag: str | None
    image_repository: str | None
    replicas: int | None
    host: str | None
    port: int | None
    command: tuple[str, ...] | None
    egress: tuple[Egress, ...] | None
    #: The configured database name as written: "" means the derived one.
    database: str | None
    database_app: str | None
    legacy_roles: tuple[str, ...] | None
    #: What its adopted Kubernetes objects keep of the estate (each None when its key did not parse).
    selector_labels: Mapping[str, str] | None = None
    service_port_name: str | None = None
    extra_env_from: tuple[str, ...] | None = None
    image_pull_secrets: tuple[str, ...] | None = None
    estate_external_secret: str | None = None

    def key(self, setting: Setting) -> str:
        """The config key of this app's `setting` (``apiImageTag``)."""
        return key(self.name, setting)


@dataclass(frozen=True)
class AppSettings:
    """One enabled app of a validated stack: its catalog entry and its per-app keys, with its database
    resolved (the derived name unless the stack names a legacy one; another app's for the worker)."""

    #: The app.
    name: str
    #: Its catalog entry.
    kind: AppKind
    image_tag: str
    image_repository: str
    replicas: int
    #: None when the app has no host key (it serves nothing: the worker).
    host: str | None
    #: The port it serves HTTP on; None when it serves nothing.
    port: int | None
    #: Its container's command; None keeps the image's entry point.
    command: tuple[str, ...] | None
    #: Where its pods may connect besides DNS, its LBs and this environment's HTTP apps.
    egress: tuple[Egress, ...]
    #: The physical database it owns or uses (derived name or legacy); None without one.
    database: str | None
    #: Whose database it uses (itself for an owner); None without one.
    database_app: str | None
    #: Legacy roles of the database it owns; () otherwise.
    legacy_roles: tuple[str, ...]
    #: The adopted Deployment's selector (``<app>SelectorLabels``); {} keeps the program's.
    selector_labels: Mapping[str, str] = field(default_factory=dict)
    #: Name of its Service's port (``<app>ServicePortName``); None when it serves nothing.
    service_port_name: str | None = None
    #: Secrets and ConfigMaps its container also reads (``<app>ExtraEnvFrom``), after the program's own.
    extra_env_from: tuple[EnvFrom, ...] = ()
    #: Pull secrets of its pods (``<app>ImagePullSecrets``).
    image_pull_secrets: tuple[str, ...] = ()
    #: The estate ExternalSecret that owns its database Secret (``<app>EstateExternalSecret``); None if none.
    estate_external_secret: str | None = None

    @property
    def image(self) -> str:
        """The image reference ``<repository>:<tag>``."""
        return f"{self.image_repository}:{self.image_tag}"


def app_inputs(
    values: Mapping[str, Any], declared: Collection[str], catalog: Mapping[str, AppKind]
) -> dict[str, AppInput]:
    """Every catalog app's `AppInput`, in catalog order, from the parsed flat fields (`values`: field ->
    value, only those that parsed) and the fields the model declares."""
    inputs = {}
    for app, kind in catalog.items():
        settings = frozenset(s for s in SETTINGS if field_name(app, s) in declared)
        parsed: dict[str, Any] = {s: values.get(field_name(app, s)) for s in SETTINGS}
        for listed in ("legacy_roles", "command", "egress", "extra_env_from", "image_pull_secrets"):
            if parsed[listed] is not None:
                parsed[listed] = tuple(parsed[listed])
        inputs[app] = AppInput(app, kind, settings, **parsed)
    return inputs


def _given(value: T | None, app: AppInput, setting: Setting) -> T:
    if value is None:  # a validated model has every declared key; reaching this is a bug of the model
        raise ValueError(f"{app.key(setting)} has no value")
    return value


def settle(inputs: Mapping[str, AppInput], enabled: Iterable[str], env: str) -> dict[str, AppSettings]:
    """The `AppSettings` of the `enabled` apps, in catalog order, from complete inputs (a validated model's)."""
    wanted = set(enabled)
    settled = {}
    for app, given in inputs.items():
        if app not in wanted:
            continue
        owner = app if given.kind.owns_database else given.database_app
        settled[app] = AppSettings(
            name=app,
            kind=given.kind,
            image_tag=_given(given.image_tag, given, "image_tag"),
            image_repository=_given(given.image_repository, given, "image_repository"),
            replicas=_given(given.replicas, given, "replicas"),
            host=given.host,
            port=given.port,
            command=given.command,
            egress=given.egress or (),
            database=None if owner is None else database_name(env, owner, inputs[owner].database or ""),
            database_app=owner,
            legacy_roles=given.legacy_roles or (),
            selector_labels=dict(given.selector_labels or {}),
            service_port_name=given.service_port_name,
            extra_env_from=tuple(EnvFrom.parse(e) for e in given.extra_env_from or ()),
            image_pull_secrets=given.image_pull_secrets or (),
            estate_external_secret=given.estate_external_secret or None,
        )
    return settled
