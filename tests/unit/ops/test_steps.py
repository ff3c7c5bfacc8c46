"""The rollback's refusal rule and the drift list, on engine events as the engine emits them (JSON)."""

from __future__ import annotations

import pytest
from pulumi.automation import events

from ops.steps import changed_steps, protected_violations, steps_from_events

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the engine's marker of a secret value
URN = "urn:pulumi:lab-prod::keybuzz::postgresql:index/database:Database::keybuzz_api_prod"


def pre(op: str, *, protect: bool, urn: str = URN) -> events.EngineEvent:
    state = {"type": "postgresql:index/database:Database", "urn": urn, "protect": protect, "custom": True}
    meta = {"op": op, "urn": urn, "type": state["type"], "provider": "", "old": state, "new": state}
    return events.EngineEvent.from_json({"sequence": 1, "timestamp": 0, "resourcePreEvent": {"metadata": meta}})


@pytest.mark.parametrize("op", ["delete", "replace", "create-replacement", "delete-replaced"])
def test_deleting_or_replacing_a_protected_resource_is_a_violation(op: str) -> None:
    steps = steps_from_events([pre(op, protect=True)])
    assert [(s.op, s.urn) for s in protected_violations(steps)] == [(op, URN)]


@pytest.mark.parametrize(("op", "protect"), [("delete", False), ("replace", False), ("update", True), ("same", True)])
def test_other_steps_are_not_violations(op: str, protect: bool) -> None:
    assert protected_violations(steps_from_events([pre(op, protect=protect)])) == []


def test_a_refresh_reports_the_resources_whose_state_changed() -> None:
    urn = "urn:pulumi:lab-a::p::pulumi:pulumi:StackReference::org/p/lab-b"
    state = {"type": "pulumi:pulumi:StackReference", "urn": urn, "custom": True}
    old = {**state, "outputs": {"outputs": {"image": "a:1", "token": {SECRET_SIG: "1", "value": "x"}}}}
    new = {**state, "outputs": {"outputs": {"image": "a:2", "token": {SECRET_SIG: "1", "value": "y"}}}}
    meta = {"urn": urn, "type": state["type"], "provider": "", "old": old, "new": new}
    evts = [
        events.EngineEvent.from_json(
            {"sequence": 1, "timestamp": 0, "resourcePreEvent": {"metadata": {**meta, "op": "refresh"}}}
        ),
        events.EngineEvent.from_json(
            {"sequence": 2, "timestamp": 0, "resOutputsEvent": {"metadata": {**meta, "op": "update"}}}
        ),
    ]
    [step] = changed_steps(steps_from_events(evts))
    assert step.op == "update"
    assert step.diffs == ('outputs.image: "a:1" => "a:2"',)  # the secret differs but is never shown


def test_a_clean_refresh_reports_nothing() -> None:
    meta = {"urn": URN, "type": "t", "provider": "", "old": {"type": "t", "urn": URN}, "new": {"type": "t", "urn": URN}}
    evts = [
        events.EngineEvent.from_json(
            {"sequence": 1, "timestamp": 0, "resourcePreEvent": {"metadata": {**meta, "op": "refresh"}}}
        ),
        events.EngineEvent.from_json(
            {"sequence": 2, "timestamp": 0, "resOutputsEvent": {"metadata": {**meta, "op": "same"}}}
        ),
    ]
    assert changed_steps(steps_from_events(evts)) == []


def _refreshed(urn: str, type_: str, custom: bool) -> list[events.EngineEvent]:
    state = {"type": type_, "urn": urn, "custom": custom}
    meta = {"urn": urn, "type": type_, "provider": "", "old": {**state, "outputs": {"a": 1}},
            "new": {**state, "outputs": {"a": 2}}}  # fmt: skip
    return [
        events.EngineEvent.from_json(
            {"sequence": 1, "timestamp": 0, "resourcePreEvent": {"metadata": {**meta, "op": "refresh"}}}
        ),
        events.EngineEvent.from_json(
            {"sequence": 2, "timestamp": 0, "resOutputsEvent": {"metadata": {**meta, "op": "update"}}}
        ),
    ]


def test_a_refresh_that_runs_the_program_reports_no_component_stack_or_provider() -> None:
    """`ops drift` refreshes with the program run (the providers take the current config, e.g. a CI identity's
    short-lived credentials): the components, the stack and the providers it re-registers are not drift."""
    evts = [
        *_refreshed("urn:pulumi:s::p::keybuzz:app:Service::api", "keybuzz:app:Service", False),
        *_refreshed("urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", "pulumi:pulumi:Stack", False),
        *_refreshed("urn:pulumi:s::p::pulumi:providers:vault::v", "pulumi:providers:vault", True),
        *_refreshed(URN, "postgresql:index/database:Database", True),
    ]
    assert [s.urn for s in changed_steps(steps_from_events(evts))] == [URN]
