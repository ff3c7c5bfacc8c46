"""CiIdentity: the CI's Vault JWT auth, a preview role that can change nothing, a deploy role bound to the
protected environment, each environment's names only (the real program rendered under mocks)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.ci_identity import READ_RESOURCES
from components.config import ConfigError, load_config
from components.environments import environments
from render import Recorded, Rendering, render_stack, stack_config
from tests.policy.engine import PackUnderTest, from_recorded
from tests.policy.engine import load_config as pack_config

REPOSITORY = "keybuzzio/keybuzz-platform"
CI = {"ciRepository": REPOSITORY, "ciDeployEnvironment": "production"}
#: Not a key: the shape of one (the unit tier never reaches Vault).
FAKE_PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfakefakefakefake\n-----END PUBLIC KEY-----"

JWT_BACKEND = "vault:jwt/authBackend:AuthBackend"
JWT_ROLE = "vault:jwt/authBackendRole:AuthBackendRole"
POLICY = "vault:index/policy:Policy"
DB_ROLE = "vault:database/secretBackendRole:SecretBackendRole"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"


@pytest.fixture(scope="module", params=["dev", "prod"])
def ci(request: pytest.FixtureRequest) -> Rendering:
    return render_stack(request.param, CI)


def _ci_only(rendering: Rendering) -> list[Recorded]:
    return [r for r in rendering.resources if "-ci-" in r.name or r.type == "keybuzz:ci_identity:CiIdentity"]


def _role(rendering: Rendering, kind: str) -> dict[str, Any]:
    return rendering.one(JWT_ROLE, roleName=f"keybuzz-{rendering.stack}-ci-{kind}").inputs


def _policy_paths(rendering: Rendering, kind: str) -> dict[str, list[str]]:
    """path -> capabilities of the CI identity's policy."""
    doc = rendering.one(POLICY, name=f"keybuzz-{rendering.stack}-ci-{kind}").inputs["policy"]
    blocks = re.findall(r'path "([^"]+)" \{\s*capabilities = \[([^\]]*)\]', doc)
    return {path: re.findall(r'"([^"]+)"', caps) for path, caps in blocks}


def test_the_shipped_stacks_declare_no_ci_identity_until_the_repository_is_set(rendering: Rendering) -> None:
    assert _ci_only(rendering) == []
    assert not rendering.of_type(JWT_BACKEND)


def test_the_jwt_mount_is_this_environments_and_trusts_githubs_issuer(ci: Rendering) -> None:
    backend = ci.one(JWT_BACKEND).inputs
    assert backend["path"] == f"jwt-ci-{ci.stack}"
    assert backend["type"] == "jwt"
    assert backend["boundIssuer"] == "https://token.actions.githubusercontent.com"
    assert backend["oidcDiscoveryUrl"] == "https://token.actions.githubusercontent.com"
    assert "jwtValidationPubkeys" not in backend


def test_a_local_issuer_is_trusted_by_its_public_keys_without_discovery() -> None:
    rendering = render_stack("dev", {**CI, "ciOidcIssuer": "https://oidc.lab.invalid", "ciOidcPublicKeys": [FAKE_PEM]})
    backend = rendering.one(JWT_BACKEND).inputs
    assert backend["jwtValidationPubkeys"] == [FAKE_PEM]
    assert backend["boundIssuer"] == "https://oidc.lab.invalid"
    assert "oidcDiscoveryUrl" not in backend
    assert backend["jwtSupportedAlgs"] == ["RS256"]


def test_preview_is_bound_to_the_repository_and_deploy_also_to_the_protected_environment(ci: Rendering) -> None:
    preview, deploy, drift = _role(ci, "preview"), _role(ci, "deploy"), _role(ci, "drift")
    assert preview["boundClaims"] == {"repository": REPOSITORY}
    assert deploy["boundClaims"] == {"repository": REPOSITORY, "environment": "production"}
    assert drift["boundClaims"] == {"repository": REPOSITORY, "ref": "refs/heads/main"}
    assert len(ci.of_type(JWT_ROLE)) == 3
    for kind, role in (("preview", preview), ("deploy", deploy), ("drift", drift)):
        assert role["backend"] == f"jwt-ci-{ci.stack}"
        assert role["roleType"] == "jwt"
        assert role["boundAudiences"] == ["keybuzz-vault"]
        assert role["userClaim"] == "sub"
        assert role["tokenPolicies"] == [f"keybuzz-{ci.stack}-ci-{kind}"]
        assert not role.get("tokenNoDefaultPolicy")  # the provider needs lookup-self
        assert role["tokenTtl"] == role["tokenMaxTtl"] == 1800


def test_the_preview_policy_reads_and_never_writes_or_reads_a_secret_value(ci: Rendering) -> None:
    paths = _policy_paths(ci, "preview")
    assert paths[f"database-{ci.stack}/creds/keybuzz-ci-preview-{ci.stack}"] == ["read"]
    # Reading an auth mount's settings takes sudo on that one path: no create/update/delete/list anywhere.
    assert paths.pop(f"sys/auth/jwt-ci-{ci.stack}") == ["read", "sudo"]
    for path, caps in paths.items():
        assert caps == ["read"], (path, caps)
        assert "/data/" not in path  # KV data: the apps' secret values
        assert "rotate-root" not in path
    # Only its own credentials: no other role's creds under the mount.
    assert [p for p in paths if "/creds/" in p] == [f"database-{ci.stack}/creds/keybuzz-ci-preview-{ci.stack}"]


def test_the_drift_policy_reads_what_a_refresh_reads_and_writes_nothing(ci: Rendering) -> None:
    paths, preview = _policy_paths(ci, "drift"), _policy_paths(ci, "preview")
    assert set(paths) - set(preview) == {f"secret/data/keybuzz/{ci.stack}/+/env"}  # the apps' KV values
    assert all(set(caps) <= {"read", "sudo"} for caps in paths.values()), paths


def test_the_deploy_policy_writes_this_environments_paths(ci: Rendering) -> None:
    paths = _policy_paths(ci, "deploy")
    assert "create" in paths[f"sys/policies/acl/keybuzz-{ci.stack}-*"]
    assert "update" in paths[f"database-{ci.stack}/*"]
    assert "create" in paths[f"secret/data/keybuzz/{ci.stack}/*"]
    assert "sys/policies/acl/*" not in paths
    assert "secret/data/*" not in paths


@pytest.mark.parametrize("kind", ["preview", "deploy", "drift"])
def test_every_ci_path_is_this_environments_only(ci: Rendering, kind: str) -> None:
    """DEV's identities cannot name PROD's paths, and vice versa: isolation by construction."""
    others = [e for e in environments() if e != ci.stack]
    for path in _policy_paths(ci, kind):
        tokens = re.split(r"[^a-z0-9]+", path)
        assert not set(others) & set(tokens), path
        assert ci.stack in tokens or path == "sys/auth", path


def test_the_preview_login_can_connect_and_create_nothing(ci: Rendering) -> None:
    role = ci.one(DB_ROLE, name=f"keybuzz-ci-preview-{ci.stack}").inputs
    group = f"keybuzz_ci_{ci.stack}_preview"
    statements = " ".join(role["creationStatements"])
    assert f'IN ROLE "{group}";' in statements
    for forbidden in ("SUPERUSER NOCREATEDB", "NOCREATEROLE", "NOBYPASSRLS", "default_transaction_read_only = on"):
        assert forbidden in statements
    assert "GRANT" not in statements.upper()
    assert "owner" not in statements
    assert role["revocationStatements"] == ['DROP ROLE IF EXISTS "{{name}}";']
    grants = [r.inputs for r in ci.of_type("postgresql:index/grant:Grant") if r.inputs["role"] == group]
    databases = {r.inputs["name"] for r in ci.of_type("postgresql:index/database:Database")}
    assert {g["database"] for g in grants} == databases
    assert all(g["privileges"] == ["CONNECT"] and g["objectType"] == "database" for g in grants)
    connection = ci.one(
        "vault:database/secretBackendConnection:SecretBackendConnection", name=f"keybuzz-ci-{ci.stack}"
    ).inputs
    assert connection["allowedRoles"] == [f"keybuzz-ci-preview-{ci.stack}"]
    assert connection["backend"] == f"database-{ci.stack}"


def test_the_kubernetes_reader_never_reads_secrets_and_covers_what_the_program_declares(ci: Rendering) -> None:
    reader = ci.one(CLUSTER_ROLE, metadata={"name": f"keybuzz-ci-preview-{ci.stack}",
                                              "labels": _labels(ci)}).inputs  # fmt: skip
    readable = set()
    for rule in reader["rules"]:
        assert rule["verbs"] == ["get", "list", "watch"]
        assert "secrets" not in rule["resources"]
        assert "*" not in rule["resources"]
        readable |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    declared = {r.type for r in ci.resources if r.type.startswith("kubernetes:") and r.inputs.get("metadata", {})
                .get("namespace")}  # fmt: skip
    for type_ in declared:
        _, api, kind = type_.split(":")
        group = api.rsplit("/", 1)[0] if "/" in api and api.split("/")[0] != "core" else ""
        plural = {"NetworkPolicy": "networkpolicies", "PodDisruptionBudget": "poddisruptionbudgets"}.get(
            kind, kind.lower() + "s"
        )
        assert (group, plural) in readable, type_
    assert set(READ_RESOURCES) >= {g for g, _ in readable}


def _labels(rendering: Rendering) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "keybuzz", "app.kubernetes.io/component": "ci-preview",
            "keybuzz.io/environment": rendering.stack}  # fmt: skip


def test_the_reader_is_bound_in_this_environments_namespaces_only(ci: Rendering) -> None:
    namespaces = {r.inputs["metadata"]["name"] for r in ci.of_type("kubernetes:core/v1:Namespace")}
    bindings = [r.inputs for r in ci.of_type(ROLE_BINDING) if r.inputs["metadata"]["name"] == "keybuzz-ci-preview"]
    assert {b["metadata"]["namespace"] for b in bindings} == namespaces
    for b in bindings:
        assert b["roleRef"]["name"] == f"keybuzz-ci-preview-{ci.stack}"
        assert b["subjects"] == [
            {"kind": "ServiceAccount", "name": "keybuzz-ci-preview", "namespace": f"keybuzz-ops-{ci.stack}"}
        ]
    cluster = ci.one(CLUSTER_ROLE, metadata={"name": f"keybuzz-ci-preview-{ci.stack}-cluster",
                                               "labels": _labels(ci)}).inputs  # fmt: skip
    assert cluster["rules"][0]["resourceNames"] == sorted(namespaces)
    assert all(rule["verbs"] == ["get"] and rule["resourceNames"] for rule in cluster["rules"])


def test_a_kubernetes_secrets_engine_issues_the_preview_its_service_accounts_token() -> None:
    rendering = render_stack("dev", {**CI, "ciKubernetesSecretsMount": "kubernetes-secrets"})
    role = rendering.one("vault:kubernetes/secretBackendRole:SecretBackendRole").inputs
    assert role["backend"] == "kubernetes-secrets"
    assert role["serviceAccountName"] == "keybuzz-ci-preview"
    assert role["allowedKubernetesNamespaces"] == ["keybuzz-ops-dev"]
    assert _policy_paths(rendering, "preview")["kubernetes-secrets/creds/keybuzz-dev-ci-preview"] == ["update"]


def test_both_identities_use_the_stacks_transit_key_when_named() -> None:
    rendering = render_stack("prod", {**CI, "ciSecretsTransitKey": "keybuzz-pulumi-prod"})
    for kind in ("preview", "deploy", "drift"):
        paths = _policy_paths(rendering, kind)
        assert paths["transit/decrypt/keybuzz-pulumi-prod"] == ["update"]
        assert paths["transit/encrypt/keybuzz-pulumi-prod"] == ["update"]
        assert not [p for p in paths if p.startswith("transit/") and "prod" not in p]
    assert not [p for p in _policy_paths(render_stack("prod", CI), "preview") if p.startswith("transit/")]


def test_the_pack_passes_with_the_ci_identities(ci: Rendering) -> None:
    assert PackUnderTest(pack_config(ci.stack)).run([from_recorded(r) for r in ci.resources]) == []


def _problems(**overrides: Any) -> str:
    raw, secret_keys = stack_config("dev", overrides)
    with pytest.raises(ConfigError) as caught:
        load_config(raw, "dev", secret_keys)
    return str(caught.value)


def test_a_repository_without_the_protected_environment_is_refused() -> None:
    message = _problems(ciRepository=REPOSITORY)
    assert "keybuzz:ciDeployEnvironment" in message
    assert "is required when ciRepository is set" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("ciRepository", "https://github.com/keybuzzio/x", "expected a GitHub repository as owner/name"),
        ("ciOidcPublicKeys", ["-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"], "holds a private key"),
        ("ciOidcPublicKeys", ["not a key"], "expected PEM public keys"),
        ("ciOidcIssuer", "token.actions.githubusercontent.com", "expected an http(s) URL"),
        ("ciSecretsTransitKey", "keybuzz-pulumi-prod", "carries the PROD marker"),
    ],
)
def test_bad_ci_keys_are_refused(key: str, value: Any, expected: str) -> None:
    message = _problems(**{**CI, key: value})
    assert f"keybuzz:{key}" in message
    assert expected in message
