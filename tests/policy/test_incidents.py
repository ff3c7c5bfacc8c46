"""The seed incidents, injected as resources built directly (the program's config validation would refuse
them: these are what a hand edit, a copied manifest or a future refactor could still produce), each
caught by the rule meant for it when the pack runs as the engine runs it."""

from __future__ import annotations

from typing import Any

import pytest

from policy.keybuzz_policy.model import Resource
from tests.policy.engine import PackUnderTest, Violation, load_config

K8S = "urn:pulumi:prod::keybuzz::pulumi:providers:kubernetes::keybuzz-prod-kubernetes"
VAULT = "urn:pulumi:prod::keybuzz::pulumi:providers:vault::keybuzz-prod-vault"
PG = "urn:pulumi:prod::keybuzz::pulumi:providers:postgresql::keybuzz-prod-postgresql"


def resource(type_: str, name: str, props: dict[str, Any], provider: str, **kwargs: Any) -> Resource:
    kwargs.setdefault("secret_paths", frozenset())
    return Resource(type_, name, f"urn:pulumi:prod::keybuzz::{type_}::{name}", props, provider=provider, **kwargs)


def run(env: str, *resources: Resource) -> list[Violation]:
    return PackUnderTest(load_config(env)).run(resources)


def by_policy(found: list[Violation], policy: str) -> list[str]:
    return [v.message for v in found if v.policy == policy]


def test_ph16_vault_connection_url_at_a_replica_node() -> None:
    conn = resource(
        "vault:database/secretBackendConnection:SecretBackendConnection",
        "keybuzz-postgres",
        {
            "backend": "database-dev",
            "name": "keybuzz",
            "postgresql": {"connectionUrl": "postgresql://{{username}}:{{password}}@10.0.0.121:5432/keybuzz"},
        },
        VAULT,
    )
    [message, *_] = by_policy(run("dev", conn), "no-node-endpoints")
    assert "input 'postgresql.connectionUrl' contains node address 10.0.0.121" in message


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("10.0.0.120", "contains node address 10.0.0.120"),  # PH16: the secret was re-pointed at a node
        ("10.0.0.123", "contains node address 10.0.0.123"),  # topology report: a Redis node as PostgreSQL
    ],
)
def test_ph16_app_secret_pointing_at_a_node(host: str, expected: str) -> None:
    secret = resource(
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        "keybuzz-api-postgres",
        {
            "metadata": {"name": "keybuzz-api-postgres", "namespace": "keybuzz-api-dev"},
            "spec": {"target": {"template": {"data": {"PGHOST": host, "PGPORT": "5432", "PGDATABASE": "keybuzz"}}}},
        },
        K8S,
    )
    messages = by_policy(run("dev", secret), "no-node-endpoints")
    assert any(expected in m for m in messages)
    assert any(f"points PostgreSQL at {host}:5432, not at its LB 10.0.0.10:5432" in m for m in messages)


def test_ph28_dev_database_name_in_prod() -> None:
    database = resource(
        "postgresql:index/database:Database", "keybuzz-prod-keybuzz", {"name": "keybuzz"}, PG, protect=True
    )
    secret = resource(
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        "keybuzz-api-postgres",
        {"spec": {"target": {"template": {"data": {"PGDATABASE": "keybuzz_backend", "PGUSER": "keybuzz_api_dev"}}}}},
        K8S,
    )
    found = run("prod", database, secret)
    isolation = by_policy(found, "environment-isolation")
    assert any("uses 'keybuzz', a legacy DEV name, in a PROD stack" in m for m in isolation)
    assert any("uses 'keybuzz_backend', a legacy DEV name" in m for m in isolation)
    assert any("'keybuzz_api_dev' names the DEV environment" in m for m in isolation)
    assert _policies(found) == {"environment-isolation"}


def test_dev_image_in_prod() -> None:
    deployment = resource(
        "kubernetes:apps/v1:Deployment",
        "keybuzz-prod-api-deployment",
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "api", "image": "ghcr.io/keybuzzio/keybuzz-api:v0.1.72-dev"}]}
                }
            }
        },
        K8S,
    )
    [message] = by_policy(run("prod", deployment), "pinned-images")
    assert "'ghcr.io/keybuzzio/keybuzz-api:v0.1.72-dev' uses the DEV build 'v0.1.72-dev'" in message


def test_ph16_plaintext_password() -> None:
    # kubectl create secret generic keybuzz-api-postgres --from-literal=PGPASSWORD=... (value here is fake)
    secret = resource(
        "kubernetes:core/v1:Secret",
        "keybuzz-api-postgres",
        {
            "metadata": {"name": "keybuzz-api-postgres"},
            "stringData": {"PGUSER": "keybuzz_api_dev", "PGPASSWORD": "fake-static-password"},
        },
        K8S,
    )
    role = resource(
        "postgresql:index/role:Role",
        "keybuzz_api_dev",
        {"name": "keybuzz_api_dev", "login": True, "password": "fake-static-password"},
        PG,
    )
    found = run("dev", secret, role)
    messages = by_policy(found, "no-plaintext-secrets")
    assert any(
        "Kubernetes Secret 'keybuzz-api-postgres' carries literal data (PGPASSWORD, PGUSER)" in m for m in messages
    )
    assert any("input 'password' is a credential passed in plain text" in m for m in messages)
    assert all("fake-static-password" not in v.message for v in found)


def test_refresh_longer_than_the_ttl() -> None:
    role = resource(
        "vault:database/secretBackendRole:SecretBackendRole",
        "role",
        {"backend": "database-dev", "name": "keybuzz-api-dev", "defaultTtl": 3600},
        VAULT,
    )
    generator = resource(
        "kubernetes:generators.external-secrets.io/v1alpha1:VaultDynamicSecret",
        "gen",
        {
            "metadata": {"name": "keybuzz-api-postgres-creds", "namespace": "keybuzz-api-dev"},
            "spec": {"path": "database-dev/creds/keybuzz-api-dev"},
        },
        K8S,
    )
    external = resource(
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        "es",
        {
            "metadata": {"name": "keybuzz-api-postgres", "namespace": "keybuzz-api-dev"},
            "spec": {
                "refreshInterval": "2h",
                "dataFrom": [
                    {
                        "sourceRef": {
                            "generatorRef": {"kind": "VaultDynamicSecret", "name": "keybuzz-api-postgres-creds"}
                        }
                    }
                ],
            },
        },
        K8S,
    )
    found = run("dev", role, generator, external)
    [message] = by_policy(found, "credentials-renew-before-expiry")
    assert "refreshes every 2h (7200s) but database-dev/creds/keybuzz-api-dev" in message
    assert _policies(found) == {"credentials-renew-before-expiry"}
    assert [v.urn for v in found] == [external.urn]


def test_unprotected_prod_database() -> None:
    database = resource(
        "postgresql:index/database:Database",
        "keybuzz-prod-postgres-keybuzz_prod",
        {"name": "keybuzz_prod"},
        PG,
        protect=False,
    )
    found = run("prod", database)
    [message] = by_policy(found, "protect-prod-data")
    assert "'keybuzz-prod-postgres-keybuzz_prod' holds PROD data and is not protected" in message
    assert found[0].urn == database.urn


def test_default_provider() -> None:
    mount = resource(
        "vault:index/mount:Mount",
        "database-prod",
        {"path": "database-prod"},
        "urn:pulumi:prod::keybuzz::pulumi:providers:vault::default_7_10_0",
        protect=True,
    )
    assert by_policy(run("prod", mount), "explicit-providers") != []


def _policies(found: list[Violation]) -> set[str]:
    return {v.policy for v in found}
