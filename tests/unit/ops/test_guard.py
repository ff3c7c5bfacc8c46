"""The estate guard: dev and prod are reachable only on explicit request."""

from __future__ import annotations

import pytest

from ops.errors import OpsError
from ops.guard import check_stack_allowed


def test_the_estate_guard_opens_only_on_explicit_request() -> None:
    with pytest.raises(OpsError, match="refusing to run on stack 'prod'"):
        check_stack_allowed("prod", estate_flag=False, environ={})
    check_stack_allowed("prod", estate_flag=True, environ={})
    check_stack_allowed("dev", estate_flag=False, environ={"KEYBUZZ_ESTATE_ACCESS": "yes"})
    check_stack_allowed("lab-prod", estate_flag=False, environ={})
