"""Go duration strings as Kubernetes controllers write them back."""

from __future__ import annotations

import pytest

from components.durations import go_duration


@pytest.mark.parametrize(("seconds", "text"), [(1200, "20m0s"), (45, "45s"), (3600, "1h0m0s"), (3725, "1h2m5s")])
def test_go_duration_is_canonical(seconds: int, text: str) -> None:
    assert go_duration(seconds) == text
