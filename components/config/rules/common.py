"""What every cross-key rule takes: the parsed values and a `report` callback.

Each rule takes the parsed values (missing keys failed their own validation) and reports problems; a rule
whose inputs did not parse is skipped, the field error is already listed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from ..model import StackConfig

Values = Mapping[str, Any]
Report = Callable[[str, Any, str, str], None]


def _needs(values: Values, *fields: str) -> bool:
    return all(f in values for f in fields)


def _alias(field_name: str) -> str:
    return cast(str, StackConfig.model_fields[field_name].alias)
