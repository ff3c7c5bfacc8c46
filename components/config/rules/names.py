"""Rules on the names a stack gives: environment isolation, adoption lists, legacy roles."""

from __future__ import annotations

from ...catalog import APP_NAMES
from ...naming import ENVIRONMENTS, Naming, ownership_problem, tokens
from ..errors import NAMESPACE
from ..model import database_apps, database_name
from .common import Report, Values, _alias, _needs


def _rule_isolation(values: Values, stack: str, report: Report) -> None:
    """Config-provided names must belong to this stack's environment (PH28.2)."""
    if not _needs(values, "environment"):
        return
    env = values["environment"]
    named = [
        "api_database",
        "backend_database",
        "adopt_databases",
        "adopt_roles",
        "adopt_namespaces",
        "adopt_vault_mounts",
        "api_legacy_roles",
        "backend_legacy_roles",
    ]
    for field_name in named:
        if field_name not in values:
            continue
        raw = values[field_name]
        for name in raw if isinstance(raw, list) else [raw]:
            if not name:
                continue
            problem = ownership_problem(name, env)
            if problem:
                report(
                    _alias(field_name),
                    name,
                    problem,
                    f"leave it empty to get the derived {env.upper()} name, or name a {env.upper()} object",
                )
    # Hosts and image tags carry no marker in PROD, but must never carry another environment's.
    foreign = [e for e in ENVIRONMENTS if e != env]
    for app in APP_NAMES:
        for setting in ("host", "image_tag"):
            field_name = f"{app}_{setting}"
            value = values.get(field_name)
            if not value:
                continue
            hit = [e for e in foreign if e in tokens(value)]
            if hit:
                report(
                    _alias(field_name),
                    value,
                    f"'{value}' is a {hit[0].upper()} {setting.replace('_', ' ')}; {env.upper()} never "
                    f"uses another environment's hosts or builds",
                    f"use this environment's {setting.replace('_', ' ')}",
                )


def _declared_names(values: Values) -> dict[str, set[str]]:
    env = values["environment"]
    naming = Naming(env)
    apps = values["apps"]
    db_apps = database_apps(apps)
    databases = {database_name(env, a, values[f"{a}_database"]) for a in db_apps}
    roles: set[str] = set()
    for a in db_apps:
        roles |= {naming.owner_group(a), naming.reader_group(a), naming.vault_login(a)}
    return {
        "adopt_databases": databases,
        "adopt_roles": roles,
        "adopt_namespaces": {naming.namespace(a) for a in apps} | {naming.ops_namespace()},
        "adopt_vault_mounts": {naming.database_mount()},
    }


def _rule_adoption(values: Values, stack: str, report: Report) -> None:
    if not _needs(values, "environment", "apps", "api_database", "backend_database"):
        return
    declared = _declared_names(values)
    for field_name, names in declared.items():
        for name in values.get(field_name, []):
            if name not in names and ownership_problem(name, values["environment"]) is None:
                report(
                    _alias(field_name),
                    name,
                    f"'{name}' is not something this stack declares",
                    f"adopt one of: {', '.join(sorted(names))}",
                )


def _rule_legacy_roles(values: Values, stack: str, report: Report) -> None:
    """Legacy roles belong to a database this stack runs, and are never a role the program itself owns."""
    if not _needs(values, "environment", "apps", "api_database", "backend_database"):
        return
    program_roles = _declared_names(values)["adopt_roles"]
    admin = values.get("postgres_admin_username")
    for app in ("api", "backend"):
        field_name = f"{app}_legacy_roles"
        for role in values.get(field_name, []):
            if app not in values["apps"]:
                report(
                    _alias(field_name),
                    role,
                    f"'{app}' is not in apps, so its database has no legacy role to retire",
                    f"remove {NAMESPACE}:{_alias(field_name)} or add '{app}' to apps",
                )
            elif role in program_roles or role == admin:
                report(
                    _alias(field_name),
                    role,
                    f"'{role}' is a role the program itself manages or connects as; retiring it would cut the program",
                    "list only the estate's hand-made roles (the logins and owners of before the adoption)",
                )
