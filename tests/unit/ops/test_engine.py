"""What ops shows of a failed engine run: the program's own problem lines, not the engine's generic exit."""

from __future__ import annotations

from ops.engine import engine_errors


def test_engine_errors_keeps_every_problem_line_and_drops_the_generic_exit() -> None:
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
    assert "program exited" in engine_errors(
        " stderr: error: an unhandled error occurred: program exited with non-zero exit code: 1"
    )
    assert engine_errors("something odd\nlast words") == "last words"
