"""Databases: groups, database, CONNECT hygiene, grants, Vault's admin option."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from components.pg_adoption import AdminConnection
from components.postgres import Databases, DatabasesArgs, DatabaseSpec
from render import Recorded, run_under_mocks

PG = "postgresql:index"


ADMIN = AdminConnection("10.0.0.10", 5432, "postgres", SecretStr("fake-test-only-admin"), "disable")


def _render(
    protect: bool = False,
    adopt: frozenset[str] = frozenset(),
    legacy: tuple[str, ...] = (),
    phase: str = "kept",
    consumers: tuple[str, ...] = (),
    prefixes: tuple[str, ...] = (),
    adopt_roles: frozenset[str] = frozenset(),
) -> list[Recorded]:
    def program() -> None:
        Databases(
            "pg",
            DatabasesArgs(
                databases=[
                    DatabaseSpec(
                        "keybuzz_prod",
                        "keybuzz_api_prod_owner",
                        "keybuzz_api_prod_reader",
                        "keybuzz_vault_prod_api",
                        legacy,
                    )
                ],
                vault_login_password=SecretStr("fake-test-only"),
                vault_login_password_version=3,
                admin=ADMIN,
                protect=protect,
                legacy_phase=phase,
                adopt_databases=adopt,
                adopt_roles=adopt_roles,
                consumers=consumers,
                consumer_prefixes=prefixes,
            ),
        )

    return run_under_mocks(program, stack="prod")


def _of(resources: list[Recorded], kind: str) -> list[Recorded]:
    return [r for r in resources if r.type == f"{PG}/{kind}"]


def test_groups_are_nologin_and_vault_login_can_create_roles() -> None:
    roles = {r.inputs["name"]: r.inputs for r in _of(_render(), "role:Role")}
    assert roles["keybuzz_api_prod_owner"]["login"] is False
    assert roles["keybuzz_api_prod_reader"]["login"] is False
    login = roles["keybuzz_vault_prod_api"]
    assert login["login"] is True
    assert login["createRole"] is True
    assert login["passwordWoVersion"] == "3"
    assert "password" not in login


def test_database_is_owned_by_the_owner_group_and_connect_is_revoked_from_public() -> None:
    resources = _render()
    [db] = _of(resources, "database:Database")
    assert db.inputs["owner"] == "keybuzz_api_prod_owner"
    grants = {(g.inputs["role"], g.inputs["objectType"]): g.inputs["privileges"] for g in _of(resources, "grant:Grant")}
    assert grants[("public", "database")] == []
    assert grants[("keybuzz_api_prod_owner", "database")] == ["CONNECT", "CREATE", "TEMPORARY"]
    assert grants[("keybuzz_api_prod_reader", "database")] == ["CONNECT"]
    assert grants[("keybuzz_api_prod_reader", "table")] == ["SELECT"]


def test_reader_gets_default_privileges_on_future_objects_of_the_owner() -> None:
    defaults = _of(_render(), "defaultPrivileges:DefaultPrivileges")
    assert {(d.inputs["objectType"], d.inputs["owner"], d.inputs["role"]) for d in defaults} == {
        ("table", "keybuzz_api_prod_owner", "keybuzz_api_prod_reader"),
        ("sequence", "keybuzz_api_prod_owner", "keybuzz_api_prod_reader"),
    }


def test_vault_login_gets_admin_option_on_the_owner_group() -> None:
    [grant] = _of(_render(), "grantRole:GrantRole")
    assert grant.inputs == {
        "role": "keybuzz_vault_prod_api",
        "grantRole": "keybuzz_api_prod_owner",
        "withAdminOption": True,
    }


def test_protection_and_adoption_apply_to_the_database_only() -> None:
    resources = _render(protect=True, adopt=frozenset({"keybuzz_prod"}))
    [db] = _of(resources, "database:Database")
    assert db.protect
    assert db.import_id == "keybuzz_prod"
    assert not any(r.protect for r in resources if r is not db and r.custom)
    unprotected = _render(protect=False)
    assert not any(r.protect for r in unprotected)


def test_every_child_is_parented_to_the_component() -> None:
    resources = _render()
    [component] = [r for r in resources if r.type == "keybuzz:postgres:Databases"]
    assert all(r.parent == component.urn for r in resources if r is not component)


DYNAMIC = "pulumi-python:dynamic:Resource"


def test_no_legacy_role_means_no_adoption_sql() -> None:
    assert [r for r in _render() if r.type == DYNAMIC] == []


def test_legacy_roles_get_their_objects_transferred_and_a_login_in_the_phase() -> None:
    resources = _render(adopt=frozenset({"keybuzz_prod"}), legacy=("keybuzz_api_prod",), phase="dynamic")
    dynamic = {r.name: r for r in resources if r.type == DYNAMIC}
    transfer, login = dynamic["pg-keybuzz_prod-ownership"], dynamic["pg-legacy-keybuzz_api_prod"]
    assert (transfer.inputs["database"], transfer.inputs["group"], transfer.inputs["roles"]) == (
        "keybuzz_prod",
        "keybuzz_api_prod_owner",
        ["keybuzz_api_prod"],
    )
    assert login.inputs["phase"] == "dynamic"
    assert login.inputs["grants"] == [{"database": "keybuzz_prod", "group": "keybuzz_api_prod_owner"}]
    for r in (transfer, login):  # through the LB, the admin password kept secret
        assert (r.inputs["host"], r.inputs["port"]) == ("10.0.0.10", 5432)
        assert "password" in r.secret_paths


def _public(resources: list[Recorded]) -> list[Recorded]:
    return [g for g in _of(resources, "grant:Grant") if g.inputs["role"] == "public"]


def test_public_loses_connect_only_after_the_legacy_logins_hold_theirs_and_the_check() -> None:
    resources = _render(adopt=frozenset({"keybuzz_prod"}), legacy=("keybuzz_api_prod",))
    login = next(r for r in resources if r.type == DYNAMIC and r.name == "pg-legacy-keybuzz_api_prod")
    check = next(r for r in resources if r.type == DYNAMIC and r.name == "pg-keybuzz_prod-consumers")
    [revoke] = _public(resources)
    assert revoke.inputs["privileges"] == []
    assert {login.urn, check.urn} <= set(revoke.dependencies)
    # The check depends on nothing: it runs in the engine's first wave, so a refused up changed little.
    assert check.dependencies == []
    assert check.inputs["consumers"] == ["keybuzz_api_prod"]  # the legacy logins hold their own CONNECT


@pytest.mark.parametrize("phase", ["kept", "dynamic", "refused", "dropped"])
def test_a_listed_prefix_keeps_publics_connect_on_an_estate_database(phase: str) -> None:
    """Issue 17 item 5: a login the estate's own Vault connection issues tomorrow (`v-`) cannot be granted
    CONNECT today: PUBLIC keeps it, in every phase, on a database the estate had (adopted, or with legacy
    roles), and no check runs."""
    for resources in (
        _render(adopt=frozenset({"keybuzz_prod"}), phase=phase, prefixes=("v-",)),
        _render(legacy=("keybuzz_api_prod",), phase=phase, prefixes=("v-",)),
    ):
        assert _public(resources) == []
        assert not any(r.name.endswith("-consumers") for r in resources)


def test_a_database_the_program_creates_loses_publics_connect_at_once_without_a_check() -> None:
    resources = _render(prefixes=("v-",))
    [revoke] = _public(resources)
    assert revoke.inputs["privileges"] == []
    assert [r.name for r in resources if r.type == DYNAMIC] == []


def test_listed_consumers_get_connect_before_publics_is_revoked_and_are_not_checked() -> None:
    resources = _render(adopt=frozenset({"keybuzz_prod"}), consumers=("monitoring", "cron_report"))
    connects = {
        g.inputs["role"]: g for g in _of(resources, "grant:Grant") if g.inputs["role"] in ("monitoring", "cron_report")
    }
    assert {role: g.inputs["privileges"] for role, g in connects.items()} == {
        "monitoring": ["CONNECT"],
        "cron_report": ["CONNECT"],
    }
    assert all(
        g.inputs["database"] == "keybuzz_prod" and g.inputs["objectType"] == "database" for g in connects.values()
    )
    [revoke] = _public(resources)
    assert {g.urn for g in connects.values()} <= set(revoke.dependencies)
    check = next(r for r in resources if r.name == "pg-keybuzz_prod-consumers")
    assert check.inputs["consumers"] == ["cron_report", "monitoring"]
    assert check.inputs["groups"] == ["keybuzz_api_prod_owner", "keybuzz_api_prod_reader"]


def test_databases_are_retained_and_adopted_roles_too_groups_as_before() -> None:
    """Issue 17 item 7: a delete of the stack's database drops it from the state only (the data stays live), and
    an adopted role is the estate's: retained as well; a role the program created is not."""
    named = _by_name(
        _render(protect=True, adopt=frozenset({"keybuzz_prod"}), adopt_roles=frozenset({"keybuzz_vault_prod_api"}))
    )
    assert named["pg-keybuzz_prod"].retain_on_delete
    assert named["pg-keybuzz_prod"].protect
    assert named["pg-keybuzz_prod-vault-login"].retain_on_delete
    assert named["pg-keybuzz_prod-owner"].retain_on_delete
    assert named["pg-keybuzz_prod-reader"].retain_on_delete
    created = _by_name(_render())
    assert created["pg-keybuzz_prod"].retain_on_delete  # a database always: it holds data
    assert not created["pg-keybuzz_prod-vault-login"].retain_on_delete


def _by_name(resources: list[Recorded]) -> dict[str, Recorded]:
    return {r.name: r for r in resources}


def test_the_transfer_runs_after_the_legacy_logins_of_its_database() -> None:
    """Issue 17 item 4: a legacy login is a member of the owner group before its tables change owner, so its
    sessions keep their rights (as members) instead of meeting "permission denied"."""
    named = _by_name(_render(adopt=frozenset({"keybuzz_prod"}), legacy=("keybuzz_api_prod", "keybuzz_old")))
    transfer = named["pg-keybuzz_prod-ownership"]
    assert {named["pg-legacy-keybuzz_api_prod"].urn, named["pg-legacy-keybuzz_old"].urn} <= set(transfer.dependencies)


def test_acl_changes_of_ours_are_ordered_after_the_providers_on_the_same_rows() -> None:
    """Issue 17 item 8, where the provider takes no lock we could share: its `Database` update (ALTER DATABASE
    OWNER, the database's catalog row) before a legacy login's GRANT CONNECT on it; the transfer (every
    table's catalog row) before the reader's GRANT SELECT ON ALL TABLES."""
    named = _by_name(_render(adopt=frozenset({"keybuzz_prod"}), legacy=("keybuzz_api_prod",)))
    assert named["pg-keybuzz_prod"].urn in named["pg-legacy-keybuzz_api_prod"].dependencies
    assert named["pg-keybuzz_prod-ownership"].urn in named["pg-keybuzz_prod-reader-tables"].dependencies
    assert named["pg-keybuzz_prod-ownership"].urn not in named["pg-keybuzz_prod-reader-connect"].dependencies


def test_the_admin_role_cannot_be_a_legacy_role() -> None:
    """LegacyLogin would turn the admin's sessions into the group, then refuse its login and drop it."""
    with pytest.raises(ValueError, match=r"postgres is the admin role .* keybuzz:<app>LegacyRoles.*Fix: remove it"):
        _render(legacy=("keybuzz_api_prod", "postgres"))
