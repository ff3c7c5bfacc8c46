"""The real program (mocked DEV and PROD) through the pack as the engine runs it: zero violations.

And, so that zero means something: the same recordings with one realistic mutation each are caught.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from render import Rendering
from tests.policy.engine import PackUnderTest, Violation, from_recorded, load_config


def _pack_run(rendering: Rendering, resources: list[Any] | None = None) -> list[Violation]:
    pack = PackUnderTest(load_config(rendering.stack))
    return pack.run(resources if resources is not None else [from_recorded(r) for r in rendering.resources])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_real_program_passes_every_rule(stack: str, request: pytest.FixtureRequest) -> None:
    rendering: Rendering = request.getfixturevalue(stack)
    assert len(rendering.resources) > 30  # the whole environment was rendered
    assert _pack_run(rendering) == []


def _mutated(rendering: Rendering, type_: str, change: Any) -> list[Any]:
    """Every resource of the rendering, the first of `type_` changed by change(resource) -> resource."""
    resources = [from_recorded(r) for r in rendering.resources]
    index = next(i for i, r in enumerate(resources) if r.type == type_)
    resources[index] = change(resources[index])
    return resources


def _policies(violations: list[Violation]) -> set[str]:
    return {v.policy for v in violations}


def test_real_prod_database_unprotected_is_caught(prod: Rendering) -> None:
    resources = _mutated(prod, "postgresql:index/database:Database", lambda r: dataclasses.replace(r, protect=False))
    found = _pack_run(prod, resources)
    assert _policies(found) == {"protect-prod-data"}
    assert all(v.mandatory for v in found)


def test_real_vault_connection_at_a_node_is_caught(dev: Rendering) -> None:
    def to_node(r: Any) -> Any:
        props = json.loads(json.dumps(r.props))
        props["postgresql"]["connectionUrl"] = props["postgresql"]["connectionUrl"].replace("10.0.0.10", "10.0.0.121")
        return dataclasses.replace(r, props=props)

    found = _pack_run(dev, _mutated(dev, "vault:database/secretBackendConnection:SecretBackendConnection", to_node))
    assert _policies(found) == {"no-node-endpoints"}


def test_real_kv_secret_sent_in_plain_text_is_caught(prod: Rendering) -> None:
    # The secretness comes through the engine's wire format: unmarking dataJson must be noticed.
    found = _pack_run(
        prod, _mutated(prod, "vault:kv/secretV2:SecretV2", lambda r: dataclasses.replace(r, secret_paths=frozenset()))
    )
    assert _policies(found) == {"no-plaintext-secrets"}
    assert "input 'dataJson' is a credential passed in plain text" in found[0].message
    assert "fake-test-only-jwt" not in found[0].message


def test_real_refresh_above_half_the_ttl_is_caught(prod_on_vault: Rendering) -> None:
    prod = prod_on_vault

    def slow(r: Any) -> Any:
        return dataclasses.replace(r, props={**r.props, "spec": {**r.props["spec"], "refreshInterval": "13h0m0s"}})

    resources = [from_recorded(r) for r in prod.resources]
    resources = [
        slow(r)
        if r.type.endswith(":ExternalSecret")
        and "dataFrom" in r.props["spec"]
        and "sourceRef" in r.props["spec"]["dataFrom"][0]
        else r
        for r in resources
    ]
    found = _pack_run(prod, resources)
    assert _policies(found) == {"credentials-renew-before-expiry"}
    assert "refreshes every 13h0m0s (46800s)" in found[0].message


def test_real_prod_client_from_a_dev_build_is_caught(prod: Rendering) -> None:
    """v0.5.33-replacement is DEV's client (PH28.2 §11): a release tag to pinned-images, the wrong build here."""

    def dev_client(r: Any) -> Any:
        text = json.dumps(r.props).replace("keybuzz-client:prod-2026-02-01", "keybuzz-client:v0.5.33-replacement")
        return dataclasses.replace(r, props=json.loads(text))

    resources = [
        dev_client(r) if r.type == "kubernetes:apps/v1:Deployment" else r for r in map(from_recorded, prod.resources)
    ]
    found = _pack_run(prod, resources)
    assert _policies(found) == {"client-build-matches-environment"}
    assert len(found) == 1


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_real_namespace_without_its_default_deny_is_caught(stack: str, request: pytest.FixtureRequest) -> None:
    rendering: Rendering = request.getfixturevalue(stack)
    resources = [
        r
        for r in map(from_recorded, rendering.resources)
        if not (r.type.endswith(":NetworkPolicy") and r.props["metadata"]["name"] == "default-deny"
                and r.props["metadata"]["namespace"] == f"keybuzz-api-{stack}")
    ]  # fmt: skip
    found = _pack_run(rendering, resources)
    assert _policies(found) == {"namespaces-default-deny"}
    [violation] = found
    assert f"Namespace 'keybuzz-api-{stack}' has no default-deny NetworkPolicy" in violation.message
    assert violation.mandatory


def test_the_pack_reads_its_config_not_the_keybuzz_estate(prod: Rendering) -> None:
    # Another estate whose LB is elsewhere: the real program's endpoints are then wrong for it.
    config = load_config("prod")
    config["no-node-endpoints"]["postgresLb"] = "192.0.2.10:5432"
    found = PackUnderTest(config).run([from_recorded(r) for r in prod.resources])
    assert _policies(found) == {"no-node-endpoints"}
    assert any("not at its LB 192.0.2.10:5432" in v.message for v in found)
