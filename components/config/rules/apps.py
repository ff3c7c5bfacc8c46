"""Rules on the apps a stack runs: image tags, databases, the client's build, app secrets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Final

from ...catalog import MIGRATIONS_SECRET
from ...environments import environments, facts
from ...k8s import labels_of
from ...naming import Naming, tokens
from ..app_settings import database_name
from ..errors import NAMESPACE, SECRET_PLACEHOLDER, Problem
from .common import ParsedConfig

#: Tags that move, never a release (the policy pack's `mutableTags` default is the same list: a test checks).
MOVING_TAGS: Final = frozenset({"latest", "main", "master", "stable", "edge", "nightly", "develop", "dev"})


def images_and_databases(parsed: ParsedConfig) -> Iterator[Problem]:
    """Every app a stack runs has an image tag (a release where the environment pins tags), the database
    it uses belongs to an app it runs, and no two apps share a database (PH15)."""
    if parsed.apps is None:
        return
    apps, env = parsed.apps, parsed.environment
    enabled = [parsed.per_app[a] for a in apps if a in parsed.per_app]
    for given in enabled:
        tag, key = given.image_tag, given.key("image_tag")
        if tag == "":
            yield parsed.problem(
                key,
                "",
                f"'{given.name}' is in apps but has no image tag",
                f"set {NAMESPACE}:{key} to the release to deploy, e.g. v0.4.31",
            )
        elif tag and env in environments() and facts(env).pinned_tags and tag.lower() in MOVING_TAGS:
            yield parsed.problem(
                key,
                tag,
                f"'{tag}' is a moving tag; {env.upper()} deploys immutable release tags only",
                "use a release tag such as v0.4.31-replacement",
            )
    for given in parsed.per_app.values():  # apps on another app's database (the worker), in catalog order
        owner = given.database_app
        if given.name in apps and owner is not None and owner not in apps:
            key = given.key("database_app")
            yield parsed.problem(
                key,
                owner,
                f"the {given.name} uses the {owner}'s database but '{owner}' is not in apps",
                f"add '{owner}' to apps or point {key} at an app this stack runs",
            )
    for given in parsed.owners():
        if given.database and given.name not in apps:
            yield parsed.problem(
                given.key("database"),
                given.database,
                f"'{given.name}' is not in apps, so it has no database",
                f"remove {NAMESPACE}:{given.key('database')} or add '{given.name}' to apps",
            )
    if env is not None and parsed.databases_parsed():
        first_owner: dict[str, str] = {}  # database -> the first app (catalog order) that would own it
        for given in parsed.owners():
            if given.name not in apps:
                continue
            database = database_name(env, given.name, given.database or "")
            if database in first_owner:
                yield parsed.problem(
                    given.key("database"),
                    database,
                    f"the {first_owner[database]} and the {given.name} would share one database (PH15)",
                    "give each app its own database",
                )
            first_owner.setdefault(database, given.name)


def client_build(parsed: ParsedConfig) -> Iterator[Problem]:
    """The client image is a build of this environment: its NEXT_PUBLIC_* were baked in when it was built
    (PH28.2 §5.1), so a runtime setting cannot point it at this environment's API; only its tag tells."""
    env = parsed.environment
    if env is None or parsed.apps is None:
        return
    build = Naming(env).client_build
    for app in parsed.apps:
        given = parsed.per_app.get(app)
        if given is None or not given.kind.is_public_client or not given.image_tag:
            continue
        tag = given.image_tag
        if any(e != env and e in tokens(tag) for e in environments()):
            continue  # another environment's build: names.isolation reports it
        if not re.fullmatch(build.pattern, tag):
            yield parsed.problem(
                given.key("image_tag"),
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


def secret_env(parsed: ParsedConfig) -> Iterator[Problem]:
    """appSecretEnv maps apps this stack runs to env var names the program does not set itself."""
    if parsed.app_secret_env is None:
        return
    try:
        data = json.loads(parsed.app_secret_env.get_secret_value())
    except json.JSONDecodeError:
        yield parsed.problem(
            "appSecretEnv",
            SECRET_PLACEHOLDER,
            "is not valid JSON",
            'set it to a JSON object such as \'{"api": {"JWT_SECRET": "..."}}\' or \'{}\'',
        )
        return
    if not isinstance(data, dict):
        yield parsed.problem(
            "appSecretEnv", SECRET_PLACEHOLDER, "is not a JSON object", "use '{}' or {app: {VAR: value}}"
        )
        return
    apps = parsed.apps or []
    for app, env_vars in data.items():
        if app not in parsed.catalog or app not in apps:
            yield parsed.problem(
                "appSecretEnv",
                SECRET_PLACEHOLDER,
                f"names app '{app}', which this stack does not run",
                f"use only apps of keybuzz:apps ({', '.join(apps)})",
            )
            continue
        if not isinstance(env_vars, dict) or not all(isinstance(v, str) for v in env_vars.values()):
            yield parsed.problem(
                "appSecretEnv",
                SECRET_PLACEHOLDER,
                f"'{app}' must map env var names to string values",
                'use {"VAR": "value"}',
            )
            continue
        for var in env_vars:
            if not _ENV_VAR.match(var):
                yield parsed.problem(
                    "appSecretEnv",
                    SECRET_PLACEHOLDER,
                    f"'{app}': '{var}' is not an env var name",
                    "use upper-case names such as JWT_SECRET",
                )
            elif var.startswith("NEXT_PUBLIC_"):
                yield parsed.problem(
                    "appSecretEnv",
                    SECRET_PLACEHOLDER,
                    f"'{app}': {var} is baked into the Next.js image at build time (PH28.2 §5.1); "
                    f"a runtime value does nothing",
                    f"remove {var}; build the image with it instead",
                )
            elif var in _RESERVED_ENV:
                yield parsed.problem(
                    "appSecretEnv",
                    SECRET_PLACEHOLDER,
                    f"'{app}': {var} is set by the program (LB endpoint, dynamic credentials)",
                    f"remove {var}; it is never stored in KV",
                )


#: The keys that keep an adopted app's estate facts, and their "not set" values.
_ESTATE_KEYS: Final = {
    "selector_labels": {},
    "extra_env_from": (),
    "image_pull_secrets": (),
    "estate_external_secret": "",
}


def estate_objects(parsed: ParsedConfig) -> Iterator[Problem]:
    """The estate facts an app keeps (``<app>SelectorLabels``, ``<app>ExtraEnvFrom``,
    ``<app>ImagePullSecrets``, ``<app>EstateExternalSecret``) can be kept safely: set only for an app the
    stack runs, no selector label contradicting a label the program puts on the app's pods (the pod
    template carries both), no extra envFrom naming a Secret the program already mounts, and no estate
    ExternalSecret name that another ExternalSecret of the program already takes in that namespace."""
    if parsed.apps is None:
        return
    env = parsed.environment if parsed.environment in environments() else None
    for given in parsed.per_app.values():
        if given.name not in parsed.apps:
            for setting, unset in _ESTATE_KEYS.items():
                value = getattr(given, setting)
                if setting in given.settings and value is not None and value != unset:
                    yield parsed.problem(
                        given.key(setting),
                        value,
                        f"'{given.name}' is not in apps, so it has no Kubernetes objects to keep this for",
                        f"remove {NAMESPACE}:{given.key(setting)} or add '{given.name}' to apps",
                    )
            continue
        if env is None:
            continue
        naming = Naming(env)
        own = labels_of(naming.workload(given.name), env)
        for label, value in (given.selector_labels or {}).items():
            if label in own and own[label] != value:
                yield parsed.problem(
                    given.key("selector_labels"),
                    json.dumps(dict(given.selector_labels or {})),
                    f"selects {label}={value}, but the program labels the {given.name}'s pods {label}={own[label]}: "
                    "the Deployment could never select its own pods",
                    f"an estate Deployment selecting on {label} with another value cannot be adopted in place: "
                    "re-create it with the program's labels (docs/runbook-adopting-the-estate.md)",
                )
        program_secrets = {s for s in (given.kind.db_secret_name, naming.kv_secret_name(given.name)) if s}
        for entry in given.extra_env_from or ():
            kind, _, name = entry.partition(":")
            if kind == "secret" and name in program_secrets:
                yield parsed.problem(
                    given.key("extra_env_from"),
                    entry,
                    f"the program already mounts the Secret {name} in the {given.name}'s envFrom",
                    f"remove {entry} from {NAMESPACE}:{given.key('extra_env_from')}",
                )
        taken = {naming.kv_secret_name(given.name)} | ({MIGRATIONS_SECRET} if given.kind.runs_migrations else set())
        if given.estate_external_secret and given.estate_external_secret in taken:
            yield parsed.problem(
                given.key("estate_external_secret"),
                given.estate_external_secret,
                f"is the name of another ExternalSecret the program declares in the {given.name}'s namespace",
                "an estate ExternalSecret of that name writes another Secret: the program cannot take it over for the "
                "database Secret; retire it by hand (it is not the database Secret's owner) and unset the key",
            )
