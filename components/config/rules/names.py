"""Rules on the names a stack gives: environment isolation, adoption lists, legacy roles."""

from __future__ import annotations

from collections.abc import Iterator

from ...environments import environments
from ...naming import Naming, ownership_problem, tokens
from ..app_settings import database_name
from ..errors import NAMESPACE, Problem
from ..keys import Setting
from .common import ParsedConfig


def _adoption_lists(parsed: ParsedConfig) -> list[tuple[str, list[str] | None]]:
    """The adoption lists (key, names; None when it did not parse): objects that already exist, which the
    stack's environment must own."""
    return [
        ("adoptDatabases", parsed.adopt_databases),
        ("adoptRoles", parsed.adopt_roles),
        ("adoptNamespaces", parsed.adopt_namespaces),
        ("adoptVaultMounts", parsed.adopt_vault_mounts),
    ]


def isolation(parsed: ParsedConfig) -> Iterator[Problem]:
    """Config-provided names must belong to this stack's environment (PH28.2)."""
    env = parsed.environment
    if env is None:
        return
    # In Pulumi.yaml's order: the databases, the adoption lists, the legacy roles.
    named = [(a.key("database"), [a.database]) for a in parsed.owners() if a.database is not None]
    named += [(key, names) for key, names in _adoption_lists(parsed) if names is not None]
    named += [(a.key("legacy_roles"), list(a.legacy_roles)) for a in parsed.per_app.values() if a.legacy_roles]
    for key, names in named:
        for name in names:
            if not name:
                continue
            problem = ownership_problem(name, env)
            if problem:
                yield parsed.problem(
                    key,
                    name,
                    problem,
                    f"leave it empty to get the derived {env.upper()} name, or name a {env.upper()} object",
                )
    # Hosts and image tags carry no marker in PROD, but must never carry another environment's.
    foreign = [e for e in environments() if e != env]
    for given in parsed.per_app.values():
        marked: tuple[tuple[Setting, str | None], ...] = (("host", given.host), ("image_tag", given.image_tag))
        for setting, value in marked:
            if not value:
                continue
            hit = [e for e in foreign if e in tokens(value)]
            if hit:
                what = setting.replace("_", " ")
                yield parsed.problem(
                    given.key(setting),
                    value,
                    f"'{value}' is a {hit[0].upper()} {what}; {env.upper()} never uses another environment's "
                    f"hosts or builds",
                    f"use this environment's {what}",
                )


def declared_names(parsed: ParsedConfig) -> dict[str, set[str]] | None:
    """What the stack itself declares, per adoption list (key -> names); None until the environment, the
    apps and every database key parsed."""
    env, apps = parsed.environment, parsed.apps
    if env is None or apps is None or not parsed.databases_parsed():
        return None
    naming = Naming(env)
    owners = [a for a in parsed.owners() if a.name in apps]
    roles: set[str] = set()
    for a in owners:
        roles |= {naming.owner_group(a.name), naming.reader_group(a.name), naming.vault_login(a.name)}
    return {
        "adoptDatabases": {database_name(env, a.name, a.database or "") for a in owners},
        "adoptRoles": roles,
        "adoptNamespaces": {naming.namespace(a) for a in apps} | {naming.ops_namespace()},
        "adoptVaultMounts": {naming.database_mount()},
    }


def adoption(parsed: ParsedConfig) -> Iterator[Problem]:
    """An adoption list names only objects this stack declares (another environment's: `isolation`)."""
    declared = declared_names(parsed)
    if declared is None or parsed.environment is None:
        return
    for key, adopted in _adoption_lists(parsed):
        for name in adopted or []:
            if name not in declared[key] and ownership_problem(name, parsed.environment) is None:
                yield parsed.problem(
                    key,
                    name,
                    f"'{name}' is not something this stack declares",
                    f"adopt one of: {', '.join(sorted(declared[key]))}",
                )


def legacy_roles(parsed: ParsedConfig) -> Iterator[Problem]:
    """Legacy roles belong to a database this stack runs, and are never a role the program itself owns."""
    declared = declared_names(parsed)
    if declared is None or parsed.apps is None:
        return
    program_roles = declared["adoptRoles"]
    admin = parsed.postgres_admin_username
    for given in parsed.per_app.values():
        key = given.key("legacy_roles")
        for role in given.legacy_roles or ():
            if given.name not in parsed.apps:
                yield parsed.problem(
                    key,
                    role,
                    f"'{given.name}' is not in apps, so its database has no legacy role to retire",
                    f"remove {NAMESPACE}:{key} or add '{given.name}' to apps",
                )
            elif role in program_roles or role == admin:
                yield parsed.problem(
                    key,
                    role,
                    f"'{role}' is a role the program itself manages or connects as; retiring it would cut the program",
                    "list only the estate's hand-made roles (the logins and owners of before the adoption)",
                )
