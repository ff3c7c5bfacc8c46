"""The rollback's refusal rule and the drift list, on engine events as the engine emits them (JSON)."""

from __future__ import annotations

import pytest
from pulumi.automation import events

from ops.errors import OpsError
from ops.guard import check_stack_allowed
from ops.record import GitRevision, deployments_from_history, format_message, parse_message
from ops.steps import changed_steps, protected_violations, steps_from_events

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the engine's marker of a secret value
URN = "urn:pulumi:lab-prod::keybuzz::postgresql:index/database:Database::keybuzz_api_prod"


def event(kind: str, meta: dict[str, object], op: str, seq: int = 1) -> events.EngineEvent:
    return events.EngineEvent.from_json({"sequence": seq, "timestamp": 0, kind: {"metadata": {**meta, "op": op}}})


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
    state = {"type": "pulumi:pulumi:StackReference", "urn": urn}
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


def test_the_message_round_trips_and_numbers_follow_time() -> None:
    message = format_message("rollback", GitRevision("abc123", dirty=False), to=2)
    assert parse_message(message) == ("rollback", {"rev": "abc123", "dirty": "0", "to": "2"})
    entries = [  # newest first, as `pulumi stack history` lists them; a refresh is no deployment
        {"kind": "update", "startTime": "2026-01-03", "message": message, "result": "succeeded", "config": {}},
        {"kind": "refresh", "startTime": "2026-01-02", "message": "", "result": "succeeded"},
        {
            "kind": "update",
            "startTime": "2026-01-01",
            "message": "",
            "environment": {"git.head": "f00", "git.dirty": "true"},
        },
    ]
    first, second = deployments_from_history(entries)
    assert (first.number, first.action, first.revision, first.dirty) == (1, "", "f00", True)
    assert (second.number, second.action, second.rolled_back_to) == (2, "rollback", 2)


def test_the_estate_guard_opens_only_on_explicit_request() -> None:
    with pytest.raises(OpsError, match="refusing to run on stack 'prod'"):
        check_stack_allowed("prod", estate_flag=False, environ={})
    check_stack_allowed("prod", estate_flag=True, environ={})
    check_stack_allowed("dev", estate_flag=False, environ={"KEYBUZZ_ESTATE_ACCESS": "yes"})
    check_stack_allowed("lab-prod", estate_flag=False, environ={})


def test_engine_errors_keeps_every_problem_line_and_drops_the_generic_exit() -> None:
    from ops.engine import engine_errors

    text = (
        "\n code: 1\n stdout: Previewing update (lab-dev):\nResources:\n    1 unchanged\n"
        " stderr: error: invalid configuration for stack 'lab-dev' (2 problems); nothing was registered:\n"
        "  - keybuzz:postgresReadEndpoint = '127.0.0.12:15412': 127.0.0.12 is a Patroni (PostgreSQL) node.\n"
        "      fix: Use the LB 127.0.0.1:15400.\n"
        "  - keybuzz:secretRefreshSeconds = '1200': not below half of credentialTtlSeconds.\n"
        "      fix: Set secretRefreshSeconds to at most 299 or raise credentialTtlSeconds.\n"
        "error: an unhandled error occurred: program exited with non-zero exit code: 1"
    )
    shown = engine_errors(text)
    assert "(2 problems)" in shown
    assert "fix: Use the LB 127.0.0.1:15400." in shown
    assert "fix: Set secretRefreshSeconds to at most 299" in shown
    assert "program exited with non-zero exit code" not in shown


def test_engine_errors_falls_back_to_the_generic_line_and_then_to_the_last_line() -> None:
    from ops.engine import engine_errors

    assert "program exited" in engine_errors(
        " stderr: error: an unhandled error occurred: program exited with non-zero exit code: 1"
    )
    assert engine_errors("something odd\nlast words") == "last words"
