"""DatabaseEngine: mount, LB connection per database, roles with owner-group statements."""

from __future__ import annotations

from pydantic import SecretStr

from components.spec import Endpoint
from components.vault_engine import (
    DatabaseEngine,
    DatabaseEngineArgs,
    EngineDatabase,
    EngineRole,
    connection_url,
    creation_statements,
    revocation_statements,
)
from render import Recorded, run_under_mocks

LB = Endpoint("10.0.0.10", 5432)


def _render(protect: bool = True) -> list[Recorded]:
    def program() -> None:
        DatabaseEngine(
            "db",
            DatabaseEngineArgs(
                mount="database-dev",
                databases=[
                    EngineDatabase("keybuzz", "keybuzz", "keybuzz_vault_dev_api"),
                    EngineDatabase("keybuzz_backend", "keybuzz-backend", "keybuzz_vault_dev_backend"),
                ],
                roles=[
                    EngineRole("keybuzz-api-dev", "keybuzz", "keybuzz_api_dev_owner"),
                    EngineRole("keybuzz-backend-dev", "keybuzz_backend", "keybuzz_backend_dev_owner"),
                    EngineRole("keybuzz-migrations-dev", "keybuzz_backend", "keybuzz_backend_dev_owner"),
                ],
                lb=LB,
                ssl_mode="require",
                login_password=SecretStr("fake-test-only"),
                login_password_version=2,
                default_ttl=3600,
                max_ttl=86400,
                protect=protect,
            ),
        )

    return run_under_mocks(program)


def test_statements_put_users_in_the_owner_group_and_clean_up_on_revoke() -> None:
    assert creation_statements("g") == [
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE \"g\";",
        "ALTER ROLE \"{{name}}\" SET role = 'g';",
    ]
    assert revocation_statements("g") == [
        'GRANT "{{name}}" TO CURRENT_USER;',
        'REASSIGN OWNED BY "{{name}}" TO "g";',
        'DROP OWNED BY "{{name}}";',
        'DROP ROLE IF EXISTS "{{name}}";',
    ]


def test_connection_url_is_templated_and_targets_the_lb() -> None:
    assert connection_url(LB, "keybuzz", "disable") == (
        "postgresql://{{username}}:{{password}}@10.0.0.10:5432/keybuzz?sslmode=disable"
    )


def test_one_connection_per_database_with_its_allowed_roles() -> None:
    conns = {r.inputs["name"]: r.inputs for r in _render() if r.type.endswith("SecretBackendConnection")}
    assert conns["keybuzz"]["allowedRoles"] == ["keybuzz-api-dev"]
    assert conns["keybuzz-backend"]["allowedRoles"] == ["keybuzz-backend-dev", "keybuzz-migrations-dev"]
    pg = conns["keybuzz-backend"]["postgresql"]
    assert pg["connectionUrl"].endswith("@10.0.0.10:5432/keybuzz_backend?sslmode=require")
    assert pg["passwordWoVersion"] == 2
    assert "password" not in pg
    assert pg["username"] == "keybuzz_vault_dev_backend"  # its own login: a rotate-root touches no other
    assert conns["keybuzz"]["postgresql"]["username"] == "keybuzz_vault_dev_api"
    assert conns["keybuzz"]["verifyConnection"] is True


def test_roles_carry_ttls_and_their_database_connection() -> None:
    roles = {r.inputs["name"]: r.inputs for r in _render() if r.type.endswith("SecretBackendRole")}
    assert set(roles) == {"keybuzz-api-dev", "keybuzz-backend-dev", "keybuzz-migrations-dev"}
    migrations = roles["keybuzz-migrations-dev"]
    assert migrations["dbName"] == "keybuzz-backend"
    assert migrations["defaultTtl"] == 3600
    assert migrations["maxTtl"] == 86400
    assert 'IN ROLE "keybuzz_backend_dev_owner"' in migrations["creationStatements"][0]


def test_mount_is_protected_when_asked() -> None:
    [mount] = [r for r in _render(protect=True) if r.type == "vault:index/mount:Mount"]
    assert mount.protect
    assert mount.inputs["type"] == "database"
    assert mount.inputs["path"] == "database-dev"
    [mount] = [r for r in _render(protect=False) if r.type == "vault:index/mount:Mount"]
    assert not mount.protect
