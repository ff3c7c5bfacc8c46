"""What every cross-key rule takes: the parsed values, the stack's name, a `report` callback and the model.

Each rule takes the parsed values (missing keys failed their own validation) and reports problems; a rule
whose inputs did not parse is skipped, the field error is already listed. The model gives the keys' names
(`key_of`), the catalog and which apps have which per-app setting (`apps_with`), so that a rule about the
apps iterates the catalog instead of naming apps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..keys import Setting, field_name
from ..model import StackConfig

Values = Mapping[str, Any]
Report = Callable[[str, Any, str, str], None]
Model = type[StackConfig]
Rule = Callable[[Values, str, Report, Model], None]


def _needs(values: Values, *fields: str) -> bool:
    return all(f in values for f in fields)


def _per_app_fields(model: Model, setting: Setting) -> list[str]:
    """The fields of one per-app setting (``api_database``, ``backend_database``), in catalog order."""
    return [field_name(app, setting) for app in model.apps_with[setting]]
