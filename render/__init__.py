"""Run the real program (``__main__.py``) under Pulumi mocks and record every registration.

    rendering = render_stack("prod")
    rendering.of_type("postgresql:index/database:Database")

Config comes from the real stack file (``Pulumi.<stack>.yaml``; a ``lab-<env>`` stack reads
``Pulumi.<env>.yaml``), with obviously fake values for the secret keys and optional overrides. The
recorder keeps what the engine would see: type, logical name, inputs (camelCase, secrets unwrapped
and their paths listed), parent URN, provider reference, protect, import id, dependencies and aliases.

It lives outside `tests/` because more than the tests render the program: `bench/eval_bench.py` times it
and `scripts/graph_digest.py` digests it. It is no part of the program (`__main__.py` never imports it).
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs, Mocks, set_mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from render.unseeded import unseeded

REPO = Path(__file__).resolve().parents[1]
PROJECT = "keybuzz"

#: Obviously fake secret values: never real, never reused anywhere.
FAKE_SECRETS: Mapping[str, str] = {
    "keybuzz:postgresAdminPassword": "fake-test-only-pg-admin",
    "keybuzz:vaultToken": "fake-test-only-vault-token",
    "keybuzz:vaultDbPassword": "fake-test-only-vault-db-bootstrap",
    "keybuzz:appSecretEnv": json.dumps({"api": {"JWT_SECRET": "fake-test-only-jwt"}}),
    "keybuzz:kubeconfig": "fake-test-only-kubeconfig",
}


@dataclass
class Recorded:
    """One registered resource as the engine would receive it."""

    type: str
    name: str
    urn: str
    custom: bool
    parent: str
    provider: str
    protect: bool
    import_id: str
    inputs: dict[str, Any]
    secret_paths: set[str] = field(default_factory=set)
    dependencies: list[str] = field(default_factory=list)
    #: Alias specs as (name, parent URN), empty strings where the spec leaves them to default.
    aliases: list[tuple[str, str]] = field(default_factory=list)
    #: Deleting it from the stack leaves the live object (the estate's objects, the data).
    retain_on_delete: bool = False

    @property
    def package(self) -> str:
        return self.type.split(":", 1)[0]


@dataclass
class Rendering:
    """Everything one mocked run registered."""

    stack: str
    resources: list[Recorded]
    outputs: dict[str, Any]

    def of_type(self, type_: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, **inputs: Any) -> Recorded:
        found = [r for r in self.of_type(type_) if all(r.inputs.get(k) == v for k, v in inputs.items())]
        assert len(found) == 1, f"expected one {type_} with {inputs}, found {len(found)}"
        return found[0]

    def by_urn(self) -> dict[str, Recorded]:
        return {r.urn: r for r in self.resources}

    def custom(self) -> Iterator[Recorded]:
        return (r for r in self.resources if r.custom and not r.type.startswith("pulumi:providers:"))


def _unwrap(value: Any, path: str, secrets: set[str]) -> Any:
    if rpc.is_rpc_secret(value):
        secrets.add(path)
        return _unwrap(rpc.unwrap_rpc_secret(value), path, secrets)
    if isinstance(value, dict):
        return {k: _unwrap(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


class _Mocks(Mocks):
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        state = dict(args.inputs)
        if args.typ == "kubernetes:batch/v1:Job":
            state.setdefault("metadata", {}).setdefault("name", f"{args.name}-mock")
        return f"{args.name}-id", state

    def call(self, args: Any) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(MockMonitor):
    """MockMonitor that also keeps the registration request (parent, provider, protect, import)."""

    def __init__(self, mocks: Mocks):
        super().__init__(mocks)
        self.recorded: list[Recorded] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            secrets: set[str] = set()
            inputs = _unwrap(rpc.deserialize_properties(request.object), "", secrets)
            self.recorded.append(
                Recorded(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    custom=bool(request.custom),
                    parent=request.parent,
                    provider=request.provider,
                    protect=bool(request.protect),
                    import_id=request.importId,
                    inputs=inputs,
                    secret_paths=secrets,
                    dependencies=list(request.dependencies),
                    aliases=[(a.spec.name, a.spec.parentUrn) for a in request.aliases if a.HasField("spec")],
                    retain_on_delete=bool(request.retainOnDelete),
                )
            )
        return response


def stack_file(stack: str) -> Path:
    base = stack.removeprefix("lab-")
    return REPO / f"Pulumi.{base}.yaml"


def _config_text(value: Any) -> str:
    """Config values as the engine hands them to the program: JSON for lists, text for scalars."""
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def stack_config(
    stack: str, overrides: Mapping[str, Any] | None = None, remove: tuple[str, ...] = ()
) -> tuple[dict[str, str], list[str]]:
    """Raw config of a stack (real stack file + fake secrets + overrides) and its secret keys."""
    data = yaml.safe_load(stack_file(stack).read_text())["config"]
    raw = {k: _config_text(v) for k, v in data.items()}
    env = stack.removeprefix("lab-")
    for key, value in unseeded(env).items():
        raw.setdefault(f"{PROJECT}:{key}", _config_text(value))
    raw.update(FAKE_SECRETS)
    secret_keys = list(FAKE_SECRETS)
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        raw[full] = _config_text(value)
    for key in remove:
        raw.pop(key if ":" in key else f"{PROJECT}:{key}", None)
    return raw, secret_keys


def render_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    preview: bool = False,
    raw_config: tuple[dict[str, str], list[str]] | None = None,
) -> Rendering:
    """Run __main__.py as `stack` under mocks and return what it registered.

    Raises whatever the program raises (a ConfigError for bad config); `Rendering.resources` of a
    failed run is available as `RecordingMonitor.recorded` through `last_monitor()`.
    """
    raw, secret_keys = raw_config or stack_config(stack, overrides, remove)
    namespace: dict[str, Any] = {}

    def program() -> None:
        namespace.update(runpy.run_path(str(REPO / "__main__.py"), run_name="__pulumi_main__"))

    resources = run_under_mocks(program, stack, raw, secret_keys, preview)
    env = namespace.get("environment")
    outputs = dict(env.outputs) if env is not None else {}
    return Rendering(stack=stack, resources=resources, outputs=outputs)


def run_under_mocks(
    program: Callable[[], None],
    stack: str = "dev",
    raw: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    preview: bool = False,
) -> list[Recorded]:
    """Run any callable as a Pulumi program under mocks; return what it registered.

    Per-component tests use it to build one component from hand-made Args.
    """
    monitor = RecordingMonitor(_Mocks())
    settings.ROOT.set(None)
    set_mocks(_Mocks(), project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(dict(raw or {}), secret_keys or [])
    _LAST[0] = monitor
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(program))
    return list(monitor.recorded)


_LAST: list[RecordingMonitor | None] = [None]


def last_monitor() -> RecordingMonitor | None:
    """The monitor of the most recent render (inspect what a failed run registered)."""
    return _LAST[0]
