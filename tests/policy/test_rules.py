"""Each rule on its own: a passing and a violating hand-built resource, with the violation's message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.keybuzz_policy import rules
from policy.keybuzz_policy.config import PackConfig
from policy.keybuzz_policy.model import Resource
from tests.policy.engine import pack_config

#: The committed config files (policy/config/<env>.json, written from the environment table).
PROD = pack_config("prod")
DEV = pack_config("dev")
PG_PROVIDER = "urn:pulumi:prod::keybuzz::pulumi:providers:postgresql::keybuzz-prod-postgresql"


def res(
    type_: str,
    props: dict[str, Any],
    *,
    name: str = "r",
    protect: bool = False,
    provider: str | None = None,
    secret_paths: set[str] | None = None,
) -> Resource:
    return Resource(
        type_,
        name,
        f"urn:pulumi:prod::keybuzz::{type_}::{name}",
        props,
        protect,
        provider,
        frozenset(secret_paths) if secret_paths is not None else None,
    )


def check(
    rule: Callable[[Resource, PackConfig, Callable[[str], None]], None],
    resource: Resource,
    config: PackConfig = PROD,
) -> list[str]:
    found: list[str] = []
    rule(resource, config, found.append)
    return found


def check_stack(rule: Callable[..., None], resources: list[Resource], config: PackConfig = PROD) -> list[str]:
    found: list[str] = []
    rule(resources, config, lambda message, urn=None: found.append(message))
    return found


def env_deployment(
    env: list[dict[str, str]], image: str = "ghcr.io/keybuzzio/keybuzz-api:v0.4.31-replacement"
) -> Resource:
    return res(
        "kubernetes:apps/v1:Deployment",
        {
            "metadata": {
                "name": "keybuzz-api",
                "namespace": "keybuzz-api-prod",
                "labels": {"part-of": "keybuzz"},
            },
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": image, "env": env}]}}},
        },
    )


# ---- no-node-endpoints --------------------------------------------------------------------------
def test_lb_endpoints_pass() -> None:
    ok = env_deployment(
        [
            {"name": "PGHOST", "value": "10.0.0.10"},
            {"name": "PGPORT", "value": "5432"},
            {"name": "REDIS_URL", "value": "redis://10.0.0.10:6379"},
        ]
    )
    assert check(rules.no_node_endpoints, ok) == []


def test_a_node_address_anywhere_is_reported() -> None:
    bad = res("vault:index/policy:Policy", {"policy": "# db at 10.0.0.122\n"})
    [message] = check(rules.no_node_endpoints, bad)
    assert "input 'policy' contains node address 10.0.0.122" in message
    assert "Use the LB (10.0.0.10:5432 for PostgreSQL" in message


def test_the_stack_configs_own_node_lists_on_a_provider_are_not_connections() -> None:
    """The default pulumi-python provider (the program's dynamic resources) receives the whole stack config:
    its node lists are the lists that name the nodes, not a connection; any other key with a node is one."""
    provider = "pulumi:providers:pulumi-python"
    lists = res(provider, {"keybuzz:postgresNodes": '["10.0.0.120","10.0.0.121"]', "keybuzz:redisNodes": "10.0.0.123"})
    assert check(rules.no_node_endpoints, lists) == []
    pinned = res(provider, {"keybuzz:postgresWriteEndpoint": "10.0.0.121:5432"})
    assert check(rules.no_node_endpoints, pinned)
    elsewhere = res("vault:index/policy:Policy", {"postgresNodes": "10.0.0.121"})  # only a provider's config
    assert check(rules.no_node_endpoints, elsewhere)


def test_a_longer_address_is_not_a_node() -> None:
    # 10.0.0.12 is a node prefix of 10.0.0.120..125 only as text; the rule matches whole addresses.
    config = pack_config("prod", nodeAddresses=["10.0.0.12"])
    assert check(rules.no_node_endpoints, res("x:y:Z", {"a": "10.0.0.120:5432"}), config) == []


def test_redis_lb_used_as_postgres_is_reported() -> None:
    bad = env_deployment([{"name": "DATABASE_URL", "value": "postgresql://{{u}}:{{p}}@10.0.0.10:6379/keybuzz_prod"}])
    [message] = check(rules.no_node_endpoints, bad)
    assert "points PostgreSQL at 10.0.0.10:6379, not at its LB 10.0.0.10:5432" in message


def test_provider_host_must_be_the_lb() -> None:
    good = res("pulumi:providers:postgresql", {"host": "10.0.0.10", "port": "5432"})
    bad = res("pulumi:providers:postgresql", {"host": "pg.internal", "port": 5433})
    assert check(rules.no_node_endpoints, good) == []
    assert ["points PostgreSQL at pg.internal:5433" in m for m in check(rules.no_node_endpoints, bad)] == [True]


def test_node_address_inside_kv_json_is_reported() -> None:
    bad = res(
        "vault:kv/secretV2:SecretV2",
        {"dataJson": '{"PGHOST": "10.0.0.121", "PGPORT": "5432"}'},
        secret_paths={"dataJson"},
    )
    messages = check(rules.no_node_endpoints, bad)
    assert any("contains node address 10.0.0.121" in m for m in messages)
    assert any("points PostgreSQL at 10.0.0.121:5432" in m for m in messages)


def test_unknown_values_are_not_endpoints() -> None:
    unknown = env_deployment([{"name": "PGHOST", "value": UNKNOWN_STRING_VALUE}])
    assert check(rules.no_node_endpoints, unknown) == []


# ---- environment-isolation ----------------------------------------------------------------------
def test_own_names_pass_and_the_product_label_is_not_a_legacy_name() -> None:
    ok = res(
        "kubernetes:core/v1:Namespace",
        {"metadata": {"name": "keybuzz-api-prod", "labels": {"app.kubernetes.io/part-of": "keybuzz"}}},
    )
    assert check(rules.environment_isolation, ok) == []


def test_another_environments_marker_is_reported() -> None:
    bad = res(
        "vault:index/policy:Policy",
        {"name": "keybuzz-prod-api", "policy": 'path "database-dev/creds/keybuzz-api-dev" {}'},
    )
    [message] = check(rules.environment_isolation, bad)
    assert "input 'policy'" in message
    assert "names the DEV environment (token 'dev') in a PROD stack" in message


def test_another_environments_legacy_name_is_reported() -> None:
    bad = res("postgresql:index/grant:Grant", {"database": "keybuzz_backend", "role": "keybuzz_api_prod_owner"})
    [message] = check(rules.environment_isolation, bad)
    assert "uses 'keybuzz_backend', a legacy DEV name, in a PROD stack" in message


def test_legacy_names_are_their_own_environments() -> None:
    ok = res("postgresql:index/database:Database", {"name": "keybuzz", "owner": "keybuzz_api_dev_owner"})
    assert check(rules.environment_isolation, ok, DEV) == []


def test_a_secret_value_is_never_echoed() -> None:
    bad = res("vault:kv/secretV2:SecretV2", {"dataJson": '{"TOKEN": "tok-dev-fake"}'}, secret_paths={"dataJson"})
    [message] = check(rules.environment_isolation, bad)
    assert "a secret value" in message
    assert "tok-dev-fake" not in message


def test_a_legacy_database_in_a_url_is_reported() -> None:
    bad = res("x:y:Z", {"url": "postgresql://{{username}}:{{password}}@10.0.0.10:5432/keybuzz?sslmode=require"})
    [message] = check(rules.environment_isolation, bad)
    assert "uses 'keybuzz', a legacy DEV name" in message


# ---- client-build-matches-environment ------------------------------------------------------------
CLIENT = "ghcr.io/keybuzzio/keybuzz-client"


@pytest.mark.parametrize(
    ("config", "tag"), [(PROD, "prod-2026-02-01"), (DEV, "v0.2.38-dev"), (DEV, "v0.5.33-replacement")]
)
def test_a_client_built_for_its_environment_passes(config: PackConfig, tag: str) -> None:
    assert check(rules.client_build_matches_environment, env_deployment([], f"{CLIENT}:{tag}"), config) == []
    pinned = env_deployment([], f"{CLIENT}:{tag}@sha256:{'a' * 64}")
    assert check(rules.client_build_matches_environment, pinned, config) == []


def test_other_images_are_not_judged_as_client_builds() -> None:
    # The api has no build-time config: PROD runs the -replacement build DEV validated (PH28.2 §5).
    api = env_deployment([], "ghcr.io/keybuzzio/keybuzz-api:v0.4.31-replacement")
    assert check(rules.client_build_matches_environment, api) == []


@pytest.mark.parametrize(
    ("config", "image", "fragment"),
    [
        (PROD, f"{CLIENT}:v0.5.33-replacement", "has tag 'v0.5.33-replacement', which is no PROD build"),
        (PROD, f"{CLIENT}:prod-latest", "has tag 'prod-latest', which is no PROD build"),
        (PROD, f"{CLIENT}@sha256:{'b' * 64}", "has no tag, which is no PROD build"),
        (DEV, f"{CLIENT}:prod-2026-02-01", "has tag 'prod-2026-02-01', which is no DEV build"),
    ],
)
def test_a_client_built_for_another_environment_is_refused(config: PackConfig, image: str, fragment: str) -> None:
    [message] = check(rules.client_build_matches_environment, env_deployment([], image), config)
    assert fragment in message
    assert "PH28.2 §5.1" in message
    assert "keybuzz:clientImageTag" in message


def test_the_registry_port_is_not_a_tag() -> None:
    on_port = pack_config("prod", clientImageRepositories=["registry:5000/client"])
    [message] = check(rules.client_build_matches_environment, env_deployment([], "registry:5000/client"), on_port)
    assert "has no tag" in message


# ---- pinned-images ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/keybuzzio/keybuzz-api:v0.4.31-replacement",
        "ghcr.io/keybuzzio/keybuzz-client:prod-2026-02-01",
        "ghcr.io/keybuzzio/keybuzz-api@sha256:" + "a" * 64,
    ],
)
def test_release_tags_pass(image: str) -> None:
    assert check(rules.pinned_images, env_deployment([], image)) == []


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("ghcr.io/keybuzzio/keybuzz-api:v0.1.72-dev", "uses the DEV build 'v0.1.72-dev'"),
        ("ghcr.io/keybuzzio/keybuzz-api:latest", "uses the moving tag 'latest'"),
        ("ghcr.io/keybuzzio/keybuzz-api", "has no tag"),
        ("localhost:5000/keybuzz-api", "has no tag"),
        ("ghcr.io/keybuzzio/keybuzz-api:release", "no release tag"),
    ],
)
def test_moving_or_dev_tags_are_reported_in_prod(image: str, problem: str) -> None:
    [message] = check(rules.pinned_images, env_deployment([], image))
    assert problem in message
    assert "containers[0].image" in message


def test_dev_may_run_dev_builds() -> None:
    assert check(rules.pinned_images, env_deployment([], "ghcr.io/keybuzzio/keybuzz-api:v0.1.72-dev"), DEV) == []


# ---- no-plaintext-secrets -----------------------------------------------------------------------
def test_secret_credentials_and_templates_pass() -> None:
    ok = res(
        "vault:database/secretBackendConnection:SecretBackendConnection",
        {
            "postgresql": {
                "connectionUrl": "postgresql://{{username}}:{{password}}@10.0.0.10:5432/keybuzz_prod",
                "passwordWo": "fake-test-only",
            }
        },
        secret_paths={"postgresql"},
    )
    es = res(
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        {"spec": {"target": {"template": {"data": {"PGPASSWORD": "{{ .password }}"}}}}},
        secret_paths=set(),
    )
    assert check(rules.no_plaintext_secrets, ok) == []
    assert check(rules.no_plaintext_secrets, es) == []


def test_kubernetes_secret_with_literal_data_is_reported() -> None:
    bad = res("kubernetes:core/v1:Secret", {"stringData": {"PGPASSWORD": "fake"}}, name="keybuzz-api-postgres")
    [message] = check(rules.no_plaintext_secrets, bad)
    assert "Kubernetes Secret 'keybuzz-api-postgres' carries literal data (PGPASSWORD)" in message
    assert "fake" not in message


def test_a_credential_that_is_not_a_pulumi_secret_is_reported() -> None:
    bad = res(
        "postgresql:index/role:Role",
        {"name": "keybuzz_vault_prod", "password": "fake-plain"},
        secret_paths=set(),
    )
    [message] = check(rules.no_plaintext_secrets, bad)
    assert "input 'password' is a credential passed in plain text" in message
    assert "fake-plain" not in message


def test_secretness_unknown_skips_only_the_secretness_check() -> None:
    unknown = res("postgresql:index/role:Role", {"password": "fake-plain"}, secret_paths=None)
    assert check(rules.no_plaintext_secrets, unknown) == []
    env_literal = res(
        "kubernetes:apps/v1:Deployment",
        {"spec": {"template": {"spec": {"containers": [{"env": [{"name": "PGPASSWORD", "value": "fake"}]}]}}}},
        secret_paths=None,
    )
    assert len(check(rules.no_plaintext_secrets, env_literal)) == 1


def test_password_env_literal_is_reported() -> None:
    [message] = check(rules.no_plaintext_secrets, env_deployment([{"name": "JWT_SECRET", "value": "fake"}]))
    assert "sets env var JWT_SECRET to a literal" in message


def test_literal_password_in_an_eso_template_or_url_is_reported() -> None:
    es = res(
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        {
            "spec": {
                "target": {
                    "template": {
                        "data": {
                            "PGPASSWORD": "fake",
                            "DATABASE_URL": "postgresql://u:fake@10.0.0.10:5432/db",
                        }
                    }
                }
            }
        },
        secret_paths=set(),
    )
    messages = check(rules.no_plaintext_secrets, es)
    assert any("ExternalSecret template key PGPASSWORD" in m for m in messages)
    assert any("holds a URL with a literal password" in m for m in messages)


# ---- credentials-renew-before-expiry ------------------------------------------------------------
def eso_chain(refresh: str | None, ttl: int | None) -> list[Resource]:
    role_props: dict[str, Any] = {"backend": "database-prod", "name": "keybuzz-api-prod"}
    if ttl is not None:
        role_props["defaultTtl"] = ttl
    spec: dict[str, Any] = {
        "dataFrom": [
            {
                "sourceRef": {
                    "generatorRef": {
                        "apiVersion": "generators.external-secrets.io/v1alpha1",
                        "kind": "VaultDynamicSecret",
                        "name": "keybuzz-api-postgres-creds",
                    }
                }
            }
        ]
    }
    if refresh is not None:
        spec["refreshInterval"] = refresh
    return [
        res("vault:database/secretBackendRole:SecretBackendRole", role_props),
        res(
            "kubernetes:generators.external-secrets.io/v1alpha1:VaultDynamicSecret",
            {
                "metadata": {"name": "keybuzz-api-postgres-creds", "namespace": "keybuzz-api-prod"},
                "spec": {"path": "database-prod/creds/keybuzz-api-prod"},
            },
        ),
        res(
            "kubernetes:external-secrets.io/v1:ExternalSecret",
            {"metadata": {"name": "keybuzz-api-postgres", "namespace": "keybuzz-api-prod"}, "spec": spec},
            name="es",
        ),
    ]


def test_refresh_below_half_the_ttl_passes() -> None:
    assert check_stack(rules.credentials_renew_before_expiry, eso_chain("20m0s", 3600)) == []


@pytest.mark.parametrize(
    ("refresh", "ttl", "expected"),
    [
        ("30m0s", 3600, "refreshes every 30m0s (1800s)"),
        (None, 3600, "refreshes every 1h (3600s)"),  # ESO's default refreshInterval
        ("0s", 3600, "refreshes every 0 (never refreshed)"),
    ],
)
def test_refresh_at_or_above_half_the_ttl_is_reported(refresh: str | None, ttl: int, expected: str) -> None:
    [message] = check_stack(rules.credentials_renew_before_expiry, eso_chain(refresh, ttl))
    assert expected in message
    assert "default_ttl 3600s" in message
    assert "= 1800s" in message


def test_a_role_without_ttl_cannot_be_proven() -> None:
    [message] = check_stack(rules.credentials_renew_before_expiry, eso_chain("20m0s", None))
    assert "no Vault role of this stack issues it with a default_ttl" in message


def test_kv_external_secrets_are_not_concerned() -> None:
    kv = res(
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        {"spec": {"refreshInterval": "24h", "dataFrom": [{"extract": {"key": "k"}}]}},
    )
    assert check_stack(rules.credentials_renew_before_expiry, [kv]) == []


# ---- protect-prod-data --------------------------------------------------------------------------
def test_protected_prod_data_passes_and_dev_is_not_concerned() -> None:
    db = res("postgresql:index/database:Database", {"name": "keybuzz_prod"}, protect=True)
    assert check_stack(rules.protect_prod_data, [db]) == []
    dev_db = res("postgresql:index/database:Database", {"name": "keybuzz"}, protect=False)
    assert check_stack(rules.protect_prod_data, [dev_db], DEV) == []


def test_unprotected_prod_mount_is_reported() -> None:
    mount = res("vault:index/mount:Mount", {"path": "database-prod"}, name="mount")
    [message] = check_stack(rules.protect_prod_data, [mount])
    assert "vault:index/mount:Mount 'mount' holds PROD data and is not protected" in message


# ---- namespaces-default-deny --------------------------------------------------------------------
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def namespace(name: str) -> Resource:
    return res("kubernetes:core/v1:Namespace", {"metadata": {"name": name}}, name=name)


def netpol(namespace_name: str, spec: dict[str, Any], name: str = "default-deny") -> Resource:
    return res(NETPOL, {"metadata": {"name": name, "namespace": namespace_name}, "spec": spec}, name=name)


DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_a_namespace_with_its_default_deny_passes() -> None:
    allow_dns = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53}]}]}
    resources = [
        namespace("keybuzz-api-prod"),
        netpol("keybuzz-api-prod", DENY_ALL),
        netpol("keybuzz-api-prod", allow_dns, "allow-dns"),
    ]
    assert check_stack(rules.namespaces_default_deny, resources) == []


@pytest.mark.parametrize(
    "policies",
    [
        [],  # none at all
        [netpol("keybuzz-client-prod", DENY_ALL)],  # another namespace's
        [netpol("keybuzz-api-prod", {"podSelector": {}, "policyTypes": ["Ingress"]})],  # egress left open
        [
            netpol(
                "keybuzz-api-prod", {"podSelector": {"matchLabels": {"a": "b"}}, "policyTypes": ["Ingress", "Egress"]}
            )
        ],
        [netpol("keybuzz-api-prod", {**DENY_ALL, "egress": [{}]})],  # an empty rule allows all egress
    ],
)
def test_a_namespace_without_a_deny_all_policy_is_refused(policies: list[Resource]) -> None:
    [message] = check_stack(rules.namespaces_default_deny, [namespace("keybuzz-api-prod"), *policies])
    assert "Namespace 'keybuzz-api-prod' has no default-deny NetworkPolicy" in message
    assert "AppNamespace" in message


def test_a_policy_namespace_unknown_in_preview_is_left_for_up() -> None:
    resources = [namespace("keybuzz-api-prod"), netpol(UNKNOWN_STRING_VALUE, DENY_ALL)]
    assert check_stack(rules.namespaces_default_deny, resources) == []


# ---- explicit-providers -------------------------------------------------------------------------
def test_explicit_provider_passes_and_components_are_not_concerned() -> None:
    assert check(rules.explicit_providers, res("postgresql:index/role:Role", {}, provider=PG_PROVIDER)) == []
    assert check(rules.explicit_providers, res("keybuzz:app:Service", {})) == []


@pytest.mark.parametrize(
    "provider",
    [
        "urn:pulumi:prod::keybuzz::pulumi:providers:vault::default_7_10_0::0b6c-id",
        "urn:pulumi:prod::keybuzz::pulumi:providers:vault::default",
        "default_7_10_0",
    ],
)
def test_default_provider_is_reported(provider: str) -> None:
    [message] = check(rules.explicit_providers, res("vault:index/mount:Mount", {}, provider=provider))
    assert "uses the default vault provider 'default" in message


def test_missing_provider_is_reported() -> None:
    [message] = check(rules.explicit_providers, res("kubernetes:core/v1:Namespace", {}))
    assert "names no provider" in message
