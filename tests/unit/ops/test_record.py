"""The deployment record: the update message round-trips, and history entries number the deployments."""

from __future__ import annotations

from ops.record import GitRevision, deployments_from_history, format_message, parse_message


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
