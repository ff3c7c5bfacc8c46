"""AppSecrets: v1 APIs, LB host/port in templates, generator per credential, ESO defaults spelled out."""

from __future__ import annotations

from components.external_secrets import (
    ESO_API,
    GENERATORS_API,
    AppSecrets,
    AppSecretsArgs,
    DatabaseSecret,
    KvSecret,
    VaultLogin,
    database_template,
)
from components.spec import Endpoint
from render import Recorded, run_under_mocks

LB = Endpoint("10.0.0.10", 5432)
LOGIN = VaultLogin("https://vault.keybuzz.io:8200", "kubernetes", "keybuzz-dev-backend", "keybuzz-backend")
SECRET = DatabaseSecret(
    "keybuzz-backend-db",
    "database-dev/creds/keybuzz-backend-dev",
    LOGIN,
    LB,
    "keybuzz_backend",
    "require",
    with_database_url=True,
)


def _render() -> list[Recorded]:
    def program() -> None:
        AppSecrets(
            "eso",
            AppSecretsArgs(
                namespace="keybuzz-backend-dev",
                store_login=LOGIN,
                kv_mount="secret",
                database_secrets=[SECRET],
                kv_secrets=[KvSecret("keybuzz-backend-env", "keybuzz/dev/backend/env")],
                refresh_seconds=1200,
            ),
        )

    return run_under_mocks(program)


def _kind(resources: list[Recorded], kind: str) -> list[Recorded]:
    return [r for r in resources if r.type.endswith(f":{kind}")]


def test_template_has_exactly_the_keys_apps_read_with_the_lb() -> None:
    data = database_template(SECRET)
    assert set(data) == {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "DATABASE_URL"}
    assert (data["PGHOST"], data["PGPORT"], data["PGDATABASE"]) == ("10.0.0.10", "5432", "keybuzz_backend")
    assert data["DATABASE_URL"].endswith("@10.0.0.10:5432/keybuzz_backend?sslmode=require")
    no_url = DatabaseSecret("s", "p", LOGIN, LB, "keybuzz", "require", with_database_url=False)
    assert "DATABASE_URL" not in database_template(no_url)


def test_each_driver_reads_the_stacks_mode_in_its_own_spelling() -> None:
    """node-postgres verifies the certificate for `require`: its "encrypt, verify nothing" is `no-verify`;
    Prisma reads `require` as libpq does. Every other mode is spelled alike."""
    spelled = {}
    for mode in ("disable", "require", "verify-ca", "verify-full"):
        data = database_template(DatabaseSecret("s", "p", LOGIN, LB, "keybuzz", mode, with_database_url=True))
        spelled[mode] = (data["PGSSLMODE"], data["DATABASE_URL"].rsplit("?sslmode=", 1)[1])
    assert spelled == {
        "disable": ("disable", "disable"),
        "require": ("no-verify", "require"),
        "verify-ca": ("verify-ca", "verify-ca"),
        "verify-full": ("verify-full", "verify-full"),
    }


def test_store_uses_kubernetes_auth_and_kv_v2() -> None:
    [store] = _kind(_render(), "SecretStore")
    vault = store.inputs["spec"]["provider"]["vault"]
    assert store.type == f"kubernetes:{ESO_API}:SecretStore"
    assert vault["path"] == "secret"
    assert vault["version"] == "v2"
    assert vault["auth"]["kubernetes"] == {
        "mountPath": "kubernetes",
        "role": "keybuzz-dev-backend",
        "serviceAccountRef": {"name": "keybuzz-backend", "audiences": ["vault"]},
    }


def test_generator_reads_the_creds_path_with_get() -> None:
    [gen] = _kind(_render(), "VaultDynamicSecret")
    assert gen.type == f"kubernetes:{GENERATORS_API}:VaultDynamicSecret"
    assert gen.inputs["spec"]["path"] == "database-dev/creds/keybuzz-backend-dev"
    assert gen.inputs["spec"]["method"] == "GET"


def test_external_secrets_spell_out_defaults_and_refresh() -> None:
    secrets = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in _kind(_render(), "ExternalSecret")}
    db, kv = secrets["keybuzz-backend-db"], secrets["keybuzz-backend-env"]
    assert db["refreshInterval"] == "20m0s" == kv["refreshInterval"]
    assert db["target"]["creationPolicy"] == "Owner"
    assert db["target"]["template"]["engineVersion"] == "v2"
    assert db["dataFrom"][0]["sourceRef"]["generatorRef"] == {
        "apiVersion": GENERATORS_API,
        "kind": "VaultDynamicSecret",
        "name": "keybuzz-backend-db-creds",
    }
    assert kv["dataFrom"][0]["extract"] == {
        "key": "keybuzz/dev/backend/env",
        "conversionStrategy": "Default",
        "decodingStrategy": "None",
        "metadataPolicy": "None",
    }
