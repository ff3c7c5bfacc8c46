"""The key declarations derived from the model: Pulumi.yaml's ``config:`` block and the README table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, cast, get_args, get_origin

from pydantic import BeforeValidator, SecretStr

from .model import StackConfig
from .per_app import STACK_CONFIG_MODEL
from .types import _parse_json_list


@dataclass(frozen=True)
class KeySpec:
    name: str
    field: str
    type: str
    description: str
    secret: bool
    default: Any  # the Pulumi.yaml default (typed), or None when the key is required


def _pulumi_type(annotation: Any) -> str:
    base = annotation
    if get_origin(base) is Annotated:
        base = get_args(base)[0]
    if get_origin(base) is list or base is list:
        return "array"
    if base is bool:
        return "boolean"
    if base is int:
        return "integer"
    return "string"


def _typed_default(kind: str, raw: Any) -> Any:
    if kind == "array":
        return json.loads(raw)
    if kind == "integer":
        return int(raw)
    if kind == "boolean":
        return raw == "true"
    return raw


def key_specs(model: type[StackConfig] = STACK_CONFIG_MODEL) -> list[KeySpec]:
    """One KeySpec per config key of `model` (this program's by default), in Pulumi.yaml's order."""
    specs = []
    for field_name in model.key_fields:
        info = model.model_fields[field_name]
        kind = _pulumi_type(info.annotation)
        for meta in info.metadata:
            if isinstance(meta, BeforeValidator) and meta.func is _parse_json_list:
                kind = "array"
        secret = SecretStr in (get_args(info.annotation) or (info.annotation,))
        required = info.is_required()
        specs.append(
            KeySpec(
                name=cast(str, info.alias),
                field=field_name,
                type=kind,
                description=info.description or "",
                secret=secret,
                default=None if required else _typed_default(kind, info.default),
            )
        )
    return specs


def pulumi_config_schema(model: type[StackConfig] = STACK_CONFIG_MODEL) -> dict[str, dict[str, Any]]:
    """The `config:` block Pulumi.yaml must carry (every key: type, description, secret, default).

    Keys are declared without the ``keybuzz:`` prefix: they live in the project's own namespace.
    """
    block: dict[str, dict[str, Any]] = {}
    for spec in key_specs(model):
        entry: dict[str, Any] = {"type": spec.type, "description": spec.description}
        if spec.type == "array":
            entry["items"] = {"type": "string"}
        if spec.secret:
            entry["secret"] = True
        if spec.default is not None:
            entry["default"] = spec.default
        block[spec.name] = entry  # the project's own namespace (project name `keybuzz`): no prefix
    return block
