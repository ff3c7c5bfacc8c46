"""Rules on the apps a stack runs: image tags, databases, the client's build, app secrets."""

from __future__ import annotations

import json
import re
from typing import Final

from ...environments import environments, facts
from ...naming import Naming, tokens
from ..app_settings import database_name
from ..errors import NAMESPACE, SECRET_PLACEHOLDER
from .common import Model, Report, Values, _needs, _per_app_fields

#: Tags that move, never a release (the policy pack's `mutableTags` default is the same list: a test checks).
_MOVING_TAGS: Final = frozenset({"latest", "main", "master", "stable", "edge", "nightly", "develop", "dev"})


def _rule_apps(values: Values, stack: str, report: Report, model: Model) -> None:
    if not _needs(values, "apps"):
        return
    apps = values["apps"]
    env = values.get("environment")
    for app in apps:
        tag_field = f"{app}_image_tag"
        tag = values.get(tag_field)
        if tag_field in values and not tag:
            report(
                model.key_of(tag_field),
                "",
                f"'{app}' is in apps but has no image tag",
                f"set {NAMESPACE}:{model.key_of(tag_field)} to the release to deploy, e.g. v0.4.31",
            )
        elif tag and env in environments() and facts(env).pinned_tags and tag.lower() in _MOVING_TAGS:
            report(
                model.key_of(tag_field),
                tag,
                f"'{tag}' is a moving tag; {env.upper()} deploys immutable release tags only",
                "use a release tag such as v0.4.31-replacement",
            )
    for app in model.apps_with["database_app"]:  # apps on another app's database (the worker)
        field_name = f"{app}_database_app"
        if app in apps and field_name in values and values[field_name] not in apps:
            owner, key = values[field_name], model.key_of(field_name)
            report(
                key,
                owner,
                f"the {app} uses the {owner}'s database but '{owner}' is not in apps",
                f"add '{owner}' to apps or point {key} at an app this stack runs",
            )
    database_fields = _per_app_fields(model, "database")
    for app, field_name in zip(model.apps_with["database"], database_fields, strict=True):
        if values.get(field_name) and app not in apps:
            report(
                model.key_of(field_name),
                values[field_name],
                f"'{app}' is not in apps, so it has no database",
                f"remove {NAMESPACE}:{model.key_of(field_name)} or add '{app}' to apps",
            )
    if _needs(values, *database_fields, "environment"):
        env = values["environment"]
        first_owner: dict[str, str] = {}  # database -> the first app (catalog order) that would own it
        for app, field_name in zip(model.apps_with["database"], database_fields, strict=True):
            if app not in apps:
                continue
            database = database_name(env, app, values[field_name])
            if database in first_owner:
                report(
                    model.key_of(field_name),
                    database,
                    f"the {first_owner[database]} and the {app} would share one database (PH15)",
                    "give each app its own database",
                )
            first_owner.setdefault(database, app)


def _rule_client_build(values: Values, stack: str, report: Report, model: Model) -> None:
    """The client image is a build of this environment: its NEXT_PUBLIC_* were baked in when it was built
    (PH28.2 §5.1), so a runtime setting cannot point it at this environment's API; only its tag tells."""
    if not _needs(values, "environment", "apps"):
        return
    env = values["environment"]
    build = Naming(env).client_build
    for app in values["apps"]:
        tag_field = f"{app}_image_tag"
        if app not in model.catalog or not model.catalog[app].is_public_client or not values.get(tag_field):
            continue
        tag = values[tag_field]
        if any(e != env and e in tokens(tag) for e in environments()):
            continue  # another environment's build: _rule_isolation reports it
        if not re.fullmatch(build.pattern, tag):
            report(
                model.key_of(tag_field),
                tag,
                f"'{tag}' is not {build.described}: the client's NEXT_PUBLIC_API_URL and NEXT_PUBLIC_APP_ENV are "
                f"baked in at image build (PH28.2 §5.1), so only a {env.upper()} build calls the {env.upper()} API",
                f"deploy the client image built for {env.upper()} (see docs/runbook-promotion.md)",
            )


_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_RESERVED_ENV: Final = frozenset(
    {
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "PGSSLMODE",
        "DATABASE_URL",
        "REDIS_URL",
        "REDIS_HOST",
        "REDIS_PORT",
    }
)


def _rule_secret_env(values: Values, stack: str, report: Report, model: Model) -> None:
    if "app_secret_env" not in values:
        return
    try:
        data = json.loads(values["app_secret_env"].get_secret_value())
    except json.JSONDecodeError:
        report(
            "appSecretEnv",
            SECRET_PLACEHOLDER,
            "is not valid JSON",
            'set it to a JSON object such as \'{"api": {"JWT_SECRET": "..."}}\' or \'{}\'',
        )
        return
    if not isinstance(data, dict):
        report("appSecretEnv", SECRET_PLACEHOLDER, "is not a JSON object", "use '{}' or {app: {VAR: value}}")
        return
    apps = values.get("apps", [])
    for app, env_vars in data.items():
        if app not in model.catalog or app not in apps:
            report(
                "appSecretEnv",
                SECRET_PLACEHOLDER,
                f"names app '{app}', which this stack does not run",
                f"use only apps of keybuzz:apps ({', '.join(apps)})",
            )
            continue
        if not isinstance(env_vars, dict) or not all(isinstance(v, str) for v in env_vars.values()):
            report(
                "appSecretEnv",
                SECRET_PLACEHOLDER,
                f"'{app}' must map env var names to string values",
                'use {"VAR": "value"}',
            )
            continue
        for var in env_vars:
            if not _ENV_VAR.match(var):
                report(
                    "appSecretEnv",
                    SECRET_PLACEHOLDER,
                    f"'{app}': '{var}' is not an env var name",
                    "use upper-case names such as JWT_SECRET",
                )
            elif var.startswith("NEXT_PUBLIC_"):
                report(
                    "appSecretEnv",
                    SECRET_PLACEHOLDER,
                    f"'{app}': {var} is baked into the Next.js image at build time (PH28.2 §5.1); "
                    f"a runtime value does nothing",
                    f"remove {var}; build the image with it instead",
                )
            elif var in _RESERVED_ENV:
                report(
                    "appSecretEnv",
                    SECRET_PLACEHOLDER,
                    f"'{app}': {var} is set by the program (LB endpoint, dynamic credentials)",
                    f"remove {var}; it is never stored in KV",
                )
