"""Every component's type token is keybuzz:<module>:<ClassName> (Pulumi's component guidance).

A token is part of every URN under the component: changing one replaces the component and all its
children on existing stacks unless an alias says where they were. So a mismatch is fixed by renaming the
class, and this test keeps the two from parting again.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

COMPONENTS = Path(__file__).resolve().parents[3] / "components"


def is_component(cls: ast.ClassDef) -> bool:
    return any(ast.unparse(base).endswith("ComponentResource") for base in cls.bases)


def component_tokens() -> dict[str, str]:
    """Class name -> the token its __init__ passes to ComponentResource, for every component class."""
    found: dict[str, str] = {}
    for path in sorted(COMPONENTS.glob("*.py")):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef) or not is_component(cls):
                continue
            for call in ast.walk(cls):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "__init__":
                    assert isinstance(call.args[0], ast.Constant), f"{cls.name}: token is not a literal"
                    found[cls.name] = call.args[0].value
    return found


def test_every_token_ends_with_its_class_name() -> None:
    tokens = component_tokens()
    assert len(tokens) == 11  # every ComponentResource of components/ was found
    assert {c: t for c, t in tokens.items() if not re.fullmatch(rf"keybuzz:[a-z_]+:{c}", t)} == {}
