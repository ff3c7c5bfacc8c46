"""Loading: raw config (as Pulumi hands it over) to a validated `StackConfig`, or one `ConfigError`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, cast, get_args, get_origin

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from .errors import NAMESPACE, ConfigError, Problem, problem
from .model import StackConfig
from .per_app import STACK_CONFIG_MODEL
from .rules import RULES, ParsedConfig
from .schema import KeySpec, key_specs

_ADAPTERS: dict[tuple[type[StackConfig], str], TypeAdapter[Any]] = {}


def _adapter(model: type[StackConfig], field_name: str) -> TypeAdapter[Any]:
    if (model, field_name) not in _ADAPTERS:
        info = model.model_fields[field_name]
        annotation = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        _ADAPTERS[model, field_name] = TypeAdapter(cast(Any, annotation))
    return _ADAPTERS[model, field_name]


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


def _fix_for(spec: KeySpec, model: type[StackConfig]) -> str:
    how = "pulumi config set --secret" if spec.secret else "pulumi config set"
    if spec.type == "array":
        return f"set it as a list, e.g. `{how} --path '{NAMESPACE}:{spec.name}[0]' <value>`"
    choices = get_args(model.model_fields[spec.field].annotation)
    if get_origin(model.model_fields[spec.field].annotation) is Literal:
        return (
            f"set it to one of {', '.join(choices)} in Pulumi.<stack>.yaml, saying why in a comment "
            f"(`{how} {NAMESPACE}:{spec.name} <value>`). {spec.description}"
        )
    return f"{spec.description[0].lower()}{spec.description[1:]} (`{how} {NAMESPACE}:{spec.name} <value>`)"


def load_config(
    raw: Mapping[str, Any],
    stack: str,
    secret_keys: Iterable[str] = (),
    model: type[StackConfig] = STACK_CONFIG_MODEL,
) -> StackConfig:
    """Validate raw config (keys like ``keybuzz:environment``; values as Pulumi hands them over).

    Raises ConfigError listing every problem. `secret_keys` are the keys stored encrypted; a secret key
    stored in plain text is itself a problem (the value sits readable in the stack file). `model` is the
    model of this program's catalog unless a test builds one for another (`stack_config_model`).
    """
    problems: list[Problem] = []
    secret_keys = set(secret_keys)
    specs = key_specs(model)
    by_name = {s.name: s for s in specs}
    secrets = {s.name for s in specs if s.secret}

    def report(key: str, value: Any, message: str, fix: str) -> None:
        problems.append(problem(key, value, message, fix, key in secrets))

    prefix = f"{NAMESPACE}:"
    for full_key in sorted(raw):
        if not full_key.startswith(prefix):
            continue
        name = full_key[len(prefix) :]
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f"did you mean {NAMESPACE}:{close[0]}?" if close else "remove it"
            report(name, raw[full_key], "is not a key this program reads (a typo?)", hint)

    values: dict[str, Any] = {}
    for spec in specs:
        full_key = f"{prefix}{spec.name}"
        if full_key in raw and raw[full_key] is not None:
            candidate = raw[full_key]
        elif spec.default is not None:
            candidate = model.model_fields[spec.field].default
        else:
            report(spec.name, None, "is required and not set", _fix_for(spec, model))
            continue
        if spec.secret and full_key in raw and full_key not in secret_keys:
            report(
                spec.name,
                None,
                "is stored in plain text in the stack file",
                f"remove it and run `pulumi config set --secret {NAMESPACE}:{spec.name} <value>`",
            )
        try:
            values[spec.field] = _adapter(model, spec.field).validate_python(candidate)
        except PydanticValidationError as exc:
            for error in exc.errors():
                report(spec.name, None if spec.secret else candidate, _describe(error), _fix_for(spec, model))

    parsed = ParsedConfig.of(values, stack, model, secrets)
    for rule in RULES:
        problems.extend(rule(parsed))

    if problems:
        raise ConfigError(stack, problems)
    return model.model_validate({model.key_of(k): v for k, v in values.items()})


def _engine_config() -> dict[str, Any]:
    """Every config value the engine set for this run, by full key (``keybuzz:apiImageTag``).

    The one read of an SDK internal (`pulumi.runtime.config.CONFIG`): the public API reads a key by name
    (`pulumi.Config.get`, `pulumi.runtime.get_config`) but cannot list the keys that are set, and the
    program must see every key to refuse a typo instead of ignoring it. Which keys are secret has a public
    API (`pulumi.runtime.is_config_secret`), used by `read_stack_config`.
    """
    from pulumi.runtime import config as runtime_config

    return dict(runtime_config.CONFIG.get())


def read_stack_config(model: type[StackConfig] = STACK_CONFIG_MODEL) -> StackConfig:
    """Read this stack's ``keybuzz:*`` config from the Pulumi runtime and validate it (once per run)."""
    from pulumi import get_stack, runtime

    raw: dict[str, Any] = dict(runtime.get_config_env())
    raw.update(_engine_config())
    for spec in key_specs(model):
        full_key = f"{NAMESPACE}:{spec.name}"
        if full_key not in raw:
            value = runtime.get_config(full_key)
            if value is not None:
                raw[full_key] = value
    secret_keys = [k for k in raw if runtime.is_config_secret(k)]
    secret_keys += runtime.get_config_secret_keys_env()
    return load_config(raw, get_stack(), secret_keys, model)
