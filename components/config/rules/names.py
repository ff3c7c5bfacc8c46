"""Rules on the names a stack gives: environment isolation, adoption lists, legacy roles."""

from __future__ import annotations

from typing import Final

from ...environments import environments
from ...naming import Naming, ownership_problem, tokens
from ..app_settings import database_name
from ..errors import NAMESPACE
from ..model import database_apps
from .common import Model, Report, Values, _needs, _per_app_fields

#: The adoption lists: names of objects that already exist, which the stack's environment must own.
_ADOPTED: Final = ("adopt_databases", "adopt_roles", "adopt_namespaces", "adopt_vault_mounts")


def _rule_isolation(values: Values, stack: str, report: Report, model: Model) -> None:
    """Config-provided names must belong to this stack's environment (PH28.2)."""
    if not _needs(values, "environment"):
        return
    env = values["environment"]
    per_app = _per_app_fields(model, "database") + _per_app_fields(model, "legacy_roles")
    named = [f for f in model.key_fields if f in per_app or f in _ADOPTED]
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
                    model.key_of(field_name),
                    name,
                    problem,
                    f"leave it empty to get the derived {env.upper()} name, or name a {env.upper()} object",
                )
    # Hosts and image tags carry no marker in PROD, but must never carry another environment's.
    foreign = [e for e in environments() if e != env]
    for app in model.catalog:
        for setting in ("host", "image_tag"):
            field_name = f"{app}_{setting}"
            value = values.get(field_name)
            if not value:
                continue
            hit = [e for e in foreign if e in tokens(value)]
            if hit:
                report(
                    model.key_of(field_name),
                    value,
                    f"'{value}' is a {hit[0].upper()} {setting.replace('_', ' ')}; {env.upper()} never "
                    f"uses another environment's hosts or builds",
                    f"use this environment's {setting.replace('_', ' ')}",
                )


def _declared_names(values: Values, model: Model) -> dict[str, set[str]]:
    env = values["environment"]
    naming = Naming(env)
    apps = values["apps"]
    db_apps = database_apps(apps, model.catalog)
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


def _rule_adoption(values: Values, stack: str, report: Report, model: Model) -> None:
    if not _needs(values, "environment", "apps", *_per_app_fields(model, "database")):
        return
    declared = _declared_names(values, model)
    for field_name, names in declared.items():
        for name in values.get(field_name, []):
            if name not in names and ownership_problem(name, values["environment"]) is None:
                report(
                    model.key_of(field_name),
                    name,
                    f"'{name}' is not something this stack declares",
                    f"adopt one of: {', '.join(sorted(names))}",
                )


def _rule_legacy_roles(values: Values, stack: str, report: Report, model: Model) -> None:
    """Legacy roles belong to a database this stack runs, and are never a role the program itself owns."""
    if not _needs(values, "environment", "apps", *_per_app_fields(model, "database")):
        return
    program_roles = _declared_names(values, model)["adopt_roles"]
    admin = values.get("postgres_admin_username")
    for app in model.apps_with["legacy_roles"]:
        field_name = f"{app}_legacy_roles"
        for role in values.get(field_name, []):
            if app not in values["apps"]:
                report(
                    model.key_of(field_name),
                    role,
                    f"'{app}' is not in apps, so its database has no legacy role to retire",
                    f"remove {NAMESPACE}:{model.key_of(field_name)} or add '{app}' to apps",
                )
            elif role in program_roles or role == admin:
                report(
                    model.key_of(field_name),
                    role,
                    f"'{role}' is a role the program itself manages or connects as; retiring it would cut the program",
                    "list only the estate's hand-made roles (the logins and owners of before the adoption)",
                )
