"""Drive the policy pack the way the engine does, without the engine.

The engine talks to a pack over gRPC: GetAnalyzerInfo, Configure (per-policy config with schema
defaults filled in), Analyze per resource, AnalyzeStack once. `PackUnderTest` calls the same servicer
methods of pulumi_policy in-process with the same protobuf messages, so the pack's own deserialization
(unknowns, secrets, options, provider) is exercised. Resources come from `render/`
recordings (the real program under mocks) or are built by hand as `Resource`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi_policy.policy as analyzer
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from policy.keybuzz_policy.config import PackConfig
from policy.keybuzz_policy.model import Resource, join
from policy.keybuzz_policy.pack import PACK_NAME, POLICIES, track_secret_paths
from render import Recorded

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"


def from_recorded(rec: Recorded) -> Resource:
    """A recorded registration as the pack's plain `Resource` (provider reference -> provider URN)."""
    return Resource(
        type=rec.type,
        name=rec.name,
        urn=rec.urn,
        props=rec.inputs,
        protect=rec.protect,
        provider=rec.provider.rsplit("::", 1)[0] if rec.provider else None,
        secret_paths=frozenset(rec.secret_paths),
    )


def _mark_secrets(value: Any, secret_paths: frozenset[str], path: str = "") -> Any:
    if path and path in secret_paths:
        return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": _mark_secrets(value, frozenset(), path)}
    if isinstance(value, Mapping):
        return {k: _mark_secrets(v, secret_paths, join(path, k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mark_secrets(v, secret_paths, join(path, i)) for i, v in enumerate(value)]
    return value


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(json.loads(json.dumps(value)), struct_pb2.Struct())


def _provider(resource: Resource) -> proto.AnalyzerProviderResource | None:
    if not resource.provider:
        return None
    parts = resource.provider.split("::")
    ptype = parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else f"pulumi:providers:{resource.package}"
    return proto.AnalyzerProviderResource(type=ptype, urn=resource.provider, name=parts[-1], properties=struct({}))


def _wire(resource: Resource) -> dict[str, Any]:
    props = _mark_secrets(resource.props, resource.secret_paths or frozenset())
    return {
        "urn": resource.urn,
        "type": resource.type,
        "name": resource.name,
        "properties": struct(props),
        "options": proto.AnalyzerResourceOptions(protect=resource.protect),
        "provider": _provider(resource),
    }


@dataclass(frozen=True)
class Violation:
    policy: str
    message: str
    urn: str
    mandatory: bool


def load_config(environment: str) -> dict[str, Any]:
    """The committed --policy-pack-config file of an environment."""
    return json.loads((POLICY_DIR / "config" / f"{environment}.json").read_text())


def flat_config(environment: str) -> dict[str, Any]:
    """Every key of the committed config file, its policies' blocks merged (a key shared by two blocks
    must have one value: a rule is never judged by a fact another rule sees differently)."""
    merged: dict[str, Any] = {}
    for block in load_config(environment).values():
        for key, value in block.items():
            assert merged.setdefault(key, value) == value, f"{environment}.json: '{key}' differs between policies"
    return merged


def pack_config(file: str, /, **overrides: Any) -> PackConfig:
    """The `PackConfig` of the committed config file of environment `file`, with `overrides` (schema keys,
    ``environment`` included) on top."""
    return PackConfig.from_mapping({**flat_config(file), **overrides})


class PackUnderTest:
    """The pack's analyzer server, configured as the engine would configure it."""

    def __init__(self, config: Mapping[str, Mapping[str, Any]]):
        track_secret_paths()
        self.servicer = analyzer._PolicyAnalyzerServicer(  # the object PolicyPack serves over gRPC
            PACK_NAME, "0.1.0", POLICIES, analyzer.EnforcementLevel.MANDATORY
        )
        self.info = self.servicer.GetAnalyzerInfo(None, None)
        request = proto.ConfigureAnalyzerRequest()
        for policy in self.info.policies:
            # Engine reconciliation: schema defaults, then the given values; the policy's own level.
            schema = (
                json_format.MessageToDict(policy.configSchema.properties) if policy.HasField("configSchema") else {}
            )
            values = {k: v["default"] for k, v in schema.items() if "default" in v}
            values.update(config.get(policy.name, {}))
            missing = [k for k in policy.configSchema.required if k not in values]
            assert not missing, f"policy {policy.name}: required config {missing} missing"
            request.policyConfig[policy.name].CopyFrom(
                proto.PolicyConfig(enforcementLevel=policy.enforcementLevel, properties=struct(values))
            )
        self.servicer.Configure(request, None)

    def _violations(self, response: proto.AnalyzeResponse, urn: str = "") -> list[Violation]:
        return [
            Violation(d.policyName, d.message, d.urn or urn, d.enforcementLevel == proto.MANDATORY)
            for d in response.diagnostics
        ]

    def analyze(self, resource: Resource) -> list[Violation]:
        response = self.servicer.Analyze(proto.AnalyzeRequest(**_wire(resource)), None)
        return self._violations(response, resource.urn)

    def analyze_stack(self, resources: Iterable[Resource]) -> list[Violation]:
        request = proto.AnalyzeStackRequest(resources=[proto.AnalyzerResource(**_wire(r)) for r in resources])
        return self._violations(self.servicer.AnalyzeStack(request, None))

    def run(self, resources: Iterable[Resource]) -> list[Violation]:
        """Analyze every resource, then the stack: every violation the engine would print."""
        resources = list(resources)
        found = [v for r in resources for v in self.analyze(r)]
        return found + self.analyze_stack(resources)
