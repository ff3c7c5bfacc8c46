"""Issue 17 item 7: the destroy guard stands before every resource, and what the estate had is retained."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError, load_config
from components.decommission import DecommissionRefused, _GuardProvider
from components.environment import UPSERTED_KINDS
from render import Recorded, render_stack, stack_config

GUARD = "pulumi-python:dynamic:Resource"


def _guard(resources: list[Recorded]) -> Recorded:
    [guard] = [r for r in resources if r.type == GUARD and r.name.endswith("-destroy-guard")]
    return guard


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_guard_depends_on_every_other_resource_of_the_stack(stack: str) -> None:
    """The engine deletes a resource only after everything that depends on it (ScheduleDeletes' antichains),
    so a guard depending on every custom resource (providers included) is deleted first, alone."""
    resources = render_stack(stack).resources
    guard = _guard(resources)
    others = {r.urn for r in resources if r.custom and r is not guard}
    assert len(others) > 50
    assert others - set(guard.dependencies) == set()
    # Nothing may depend on the guard (it would be deleted before it) nor be parented to a custom resource
    # (the SDK does not expand those children into dependencies).
    assert not any(guard.urn in r.dependencies for r in resources)
    customs = {r.urn for r in resources if r.custom}
    assert not any(r.parent in customs for r in resources)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_shipped_stacks_do_not_approve_a_destroy(stack: str) -> None:
    guard = _guard(render_stack(stack).resources)
    assert guard.inputs["approved"] is False
    assert guard.inputs["stack"] == stack
    approved = _guard(render_stack(stack, overrides={"decommission": True}).resources)
    assert approved.inputs["approved"] is True


def test_the_guards_delete_refuses_unless_the_state_approves() -> None:
    provider = _GuardProvider()
    with pytest.raises(DecommissionRefused, match=r"destroy of stack 'prod' refused before anything was deleted"):
        provider.delete("destroy-guard-prod", {"stack": "prod", "approved": False})
    with pytest.raises(DecommissionRefused, match=r"keybuzz:decommission: true"):
        provider.delete("destroy-guard-prod", {"stack": "prod"})  # a state without the input approves nothing
    provider.delete("destroy-guard-prod", {"stack": "prod", "approved": True})  # approved: nothing raised


def test_approving_shows_in_the_diff() -> None:
    provider = _GuardProvider()
    assert provider.diff("g", {"stack": "dev", "approved": False}, {"stack": "dev", "approved": True}).changes
    assert not provider.diff("g", {"stack": "dev", "approved": False}, {"stack": "dev", "approved": False}).changes


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_what_the_estate_had_is_retained_on_delete(stack: str) -> None:
    """Adopted namespaces, the kinds upserted in them, the databases, the database mount (unmounting revokes
    every lease) and the KV secrets: a destroy or an app removed drops them from the state only."""
    resources = render_stack(stack).resources
    cfg = load_config(*_raw(stack))
    adopted = set(cfg.adopt_namespaces)
    assert adopted
    kept = {(r.type, r.name) for r in resources if r.retain_on_delete}
    for r in resources:
        if r.type == "kubernetes:core/v1:Namespace" and r.inputs["metadata"]["name"] in adopted:
            assert (r.type, r.name) in kept, r.name
        namespace = r.inputs.get("metadata", {}).get("namespace") if isinstance(r.inputs, dict) else None
        if r.type in UPSERTED_KINDS and namespace in adopted:
            assert (r.type, r.name) in kept, r.name
        if r.type in ("postgresql:index/database:Database", "vault:index/mount:Mount", "vault:kv/secretV2:SecretV2"):
            assert (r.type, r.name) in kept, r.name
    # What the program alone made in them goes (a NetworkPolicy, Reloader's Role): not every resource is kept.
    assert any(r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and not r.retain_on_delete for r in resources)


def test_upserted_kinds_outside_adopted_namespaces_are_not_retained() -> None:
    resources = render_stack("prod", overrides={"adoptNamespaces": json.dumps([])}).resources
    assert not any(r.type in UPSERTED_KINDS and r.retain_on_delete for r in resources)
    assert not any(r.type == "kubernetes:core/v1:Namespace" and r.retain_on_delete for r in resources)


def _raw(stack: str, **overrides: object) -> tuple[dict[str, str], str, list[str]]:
    raw, secret_keys = stack_config(stack, overrides or None)
    return raw, stack, secret_keys


def test_database_consumers_take_logins_and_prefixes() -> None:
    cfg = load_config(*_raw("prod", databaseConsumers=json.dumps(["monitoring", "v-*", "v-root-"])))
    assert cfg.consumer_logins == ["monitoring"]
    assert cfg.consumer_prefixes == ["v-", "v-root-"]
    default = load_config(*_raw("prod"))  # no consumer but the apps and the legacy logins
    assert (default.consumer_logins, default.consumer_prefixes) == ([], [])
    with pytest.raises(ConfigError, match="is not a login"):
        load_config(*_raw("prod", databaseConsumers=json.dumps(["bad login"])))
    with pytest.raises(ConfigError, match="more than once"):
        load_config(*_raw("prod", databaseConsumers=json.dumps(["monitoring", "monitoring"])))
