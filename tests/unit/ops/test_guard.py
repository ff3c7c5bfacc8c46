"""The estate guard: dev and prod are reachable only on explicit request."""

from __future__ import annotations

import pytest

from ops.errors import EXIT_REFUSED_PROTECTED, OpsError
from ops.guard import check_destroy_approved, check_stack_allowed


def test_the_estate_guard_opens_only_on_explicit_request() -> None:
    with pytest.raises(OpsError, match="refusing to run on stack 'prod'"):
        check_stack_allowed("prod", estate_flag=False, environ={})
    check_stack_allowed("prod", estate_flag=True, environ={})
    check_stack_allowed("dev", estate_flag=False, environ={"KEYBUZZ_ESTATE_ACCESS": "yes"})
    check_stack_allowed("lab-prod", estate_flag=False, environ={})


GUARD_URN = (
    "urn:pulumi:dev::keybuzz::keybuzz:environment:Environment$pulumi-python:dynamic:Resource::keybuzz-dev-destroy-guard"
)
DB_URN = (
    "urn:pulumi:dev::keybuzz::keybuzz:environment:Environment$postgresql:index/database:Database::keybuzz-dev-keybuzz"
)


def _state(approved: bool, protect: bool = False) -> list[dict[str, object]]:
    return [
        {"urn": GUARD_URN, "inputs": {"stack": "dev", "approved": approved}},
        {"urn": DB_URN, "inputs": {"name": "keybuzz"}, "protect": protect},
    ]


def test_ops_destroy_is_refused_until_the_config_approves_it() -> None:
    for approval in (None, "false"):
        with pytest.raises(OpsError, match="decommissioning is not approved") as refused:
            check_destroy_approved("dev", approval, _state(approved=True))
        assert refused.value.code == EXIT_REFUSED_PROTECTED
        assert "keybuzz:decommission: true" in refused.value.fix


def test_ops_destroy_is_refused_until_an_up_recorded_the_approval() -> None:
    """A destroy runs no program: the guard's delete sees the state, so a config edit alone approves nothing."""
    with pytest.raises(OpsError, match="the state does not record it yet"):
        check_destroy_approved("dev", "true", _state(approved=False))
    with pytest.raises(OpsError, match="the state does not record it yet"):
        check_destroy_approved("dev", "true", _state(approved=True)[1:])  # no guard at all (an older program)


def test_ops_destroy_names_what_is_protected_and_how_to_release_it() -> None:
    with pytest.raises(OpsError, match=r"1 resource\(s\) are protected \(keybuzz-dev-keybuzz\)") as refused:
        check_destroy_approved("dev", "true", _state(approved=True, protect=True))
    assert "pulumi state unprotect --all" in refused.value.fix
    check_destroy_approved("dev", "true", _state(approved=True))  # approved, recorded, nothing protected
