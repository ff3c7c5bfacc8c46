"""Access: least-privilege policies, auth roles bound to one namespace/SA, KV secrets kept secret."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from components.vault_access import Access, AccessArgs, AppAccess, policy_document
from render import Recorded, run_under_mocks

API = AppAccess(
    app="api",
    policy="keybuzz-prod-api",
    auth_role="keybuzz-prod-api",
    namespace="keybuzz-api-prod",
    service_account="keybuzz-api",
    kv_prefix="keybuzz/prod/api",
    creds_paths=["database-prod/creds/keybuzz-api-prod"],
)


def test_policy_reads_only_its_own_kv_prefix_and_credentials() -> None:
    doc = policy_document("secret", API)
    paths = [line.split('"')[1] for line in doc.splitlines() if line.startswith("path ")]
    assert paths == [
        "secret/data/keybuzz/prod/api/*",
        "secret/metadata/keybuzz/prod/api/*",
        "database-prod/creds/keybuzz-api-prod",
    ]
    assert "create" not in doc
    assert "update" not in doc
    assert "delete" not in doc


def test_policy_without_kv_has_only_credentials() -> None:
    doc = policy_document("secret", AppAccess("migrations", "p", "r", "ns", "sa", None, ["database-dev/creds/x"]))
    assert [line.split('"')[1] for line in doc.splitlines() if line.startswith("path ")] == ["database-dev/creds/x"]


def _render(token_ttl: int = 3660, credential_ttl: int = 3600) -> list[Recorded]:
    def program() -> None:
        Access(
            "access",
            AccessArgs(
                kv_mount="secret",
                kubernetes_auth_mount="kubernetes",
                workloads=[API],
                token_ttl=token_ttl,
                credential_ttl=credential_ttl,
                kv_secrets={"keybuzz/prod/api/env": SecretStr(json.dumps({"JWT_SECRET": "fake-x"}))},
            ),
        )

    return run_under_mocks(program, stack="prod")


def test_auth_role_is_bound_to_exactly_one_namespace_and_service_account() -> None:
    [role] = [r for r in _render() if r.type == "vault:kubernetes/authBackendRole:AuthBackendRole"]
    assert role.inputs["boundServiceAccountNamespaces"] == ["keybuzz-api-prod"]
    assert role.inputs["boundServiceAccountNames"] == ["keybuzz-api"]
    assert role.inputs["tokenPolicies"] == ["keybuzz-prod-api"]
    assert role.inputs["tokenTtl"] == 3660  # ESO's token outlives the credential it fetches (ESO#2198)
    assert role.inputs["tokenMaxTtl"] >= role.inputs["tokenTtl"]
    assert role.inputs["audience"] == "vault"  # never a token issued for the Kubernetes API (issue 17 item 9)


@pytest.mark.parametrize("token_ttl", [3600, 1800])
def test_a_login_that_dies_before_its_credentials_is_refused(token_ttl: int) -> None:
    # Vault revokes a token's leases when it expires; ESO never renews a generator's login.
    with pytest.raises(ValueError, match=r"token_ttl .* must exceed credential_ttl 3600s.*external-secrets#2198"):
        _render(token_ttl=token_ttl)


def test_kv_data_is_a_secret() -> None:
    [kv] = [r for r in _render() if r.type == "vault:kv/secretV2:SecretV2"]
    assert kv.inputs["mount"] == "secret"
    assert kv.inputs["name"] == "keybuzz/prod/api/env"
    assert "dataJson" in kv.secret_paths
