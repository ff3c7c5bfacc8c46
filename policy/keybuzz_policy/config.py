"""The pack's configuration: estate facts the rules read, never hard-code.

`SCHEMA` is the JSON schema of every property (type, description, default). Each policy declares the
subset it reads (`POLICY_KEYS`) as its ``PolicyConfigSchema``; the engine fills the defaults in and
validates the ``--policy-pack-config`` file against it. Defaults describe the KeyBuzz estate (DOMAIN.md);
``environment`` and ``otherEnvironments`` have none, so a stack that forgets its config fails to start
instead of being judged as the wrong environment.

`PackConfig.from_mapping` is the same in Python: defaults, then a check of every value, raising
`PackConfigError` naming the key and the fix. `per_policy_config(env)` writes the committed
``policy/config/<env>.json`` files (``python -m keybuzz_policy.config dev``).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

#: Every property any policy of the pack reads.
SCHEMA: Final[dict[str, dict[str, Any]]] = {
    "environment": {
        "type": "string",
        "minLength": 1,
        "description": "Environment of the stack under preview (dev, prod): the marker token of its names.",
    },
    "otherEnvironments": {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "description": "Marker tokens of every other environment: none may appear in this stack's inputs.",
    },
    "legacyNames": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "description": "Per environment, the names it owns without its marker (adopted legacy names).",
        "default": {"dev": ["keybuzz", "keybuzz_backend", "kb_backend"], "prod": []},
    },
    "postgresLb": {
        "type": "string",
        "pattern": "^[^:/ ]+:[0-9]+$",
        "description": "PostgreSQL write LB host:port (HAProxy to the Patroni leader): the only PG endpoint.",
        "default": "10.0.0.10:5432",
    },
    "redisLb": {
        "type": "string",
        "pattern": "^[^:/ ]+:[0-9]+$",
        "description": "Redis LB host:port (HAProxy to the Redis master): the only Redis endpoint.",
        "default": "10.0.0.10:6379",
    },
    "nodeAddresses": {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "description": "Addresses (IPs or host names) of the PostgreSQL and Redis nodes behind the LBs.",
        "default": ["10.0.0.120", "10.0.0.121", "10.0.0.122", "10.0.0.123", "10.0.0.124", "10.0.0.125"],
    },
    "pinnedEnvironments": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Environments whose images must carry an immutable release tag.",
        "default": ["prod"],
    },
    "mutableTags": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Tags that move (never a release), compared case-insensitively.",
        "default": ["latest", "main", "master", "stable", "edge", "nightly", "develop", "dev"],
    },
    "protectedEnvironments": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Environments whose data resources must be protected from deletion.",
        "default": ["prod"],
    },
    "protectedTypes": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Resource types holding data (protected in protectedEnvironments).",
        "default": ["postgresql:index/database:Database", "vault:index/mount:Mount"],
    },
    "maxRefreshTtlRatio": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1,
        "description": "An ExternalSecret's refreshInterval must stay below this fraction of the default_ttl "
        "of the Vault role it reads (ESO re-issues, never renews: external-secrets#2184).",
        "default": 0.5,
    },
    "clientImageRepositories": {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "description": "Repositories of images that bake environment settings in at build (the Next.js client: "
        "NEXT_PUBLIC_*, PH28.2 §5.1): their tag must be a build of the stack's environment.",
        "default": ["ghcr.io/keybuzzio/keybuzz-client"],
    },
    "clientBuildTags": {
        "type": "object",
        "additionalProperties": {"type": "string", "minLength": 1},
        "description": "Per environment, the regular expression a clientImageRepositories tag must match (PROD "
        "prod-YYYY-MM-DD, PH28.2 §5; DEV -dev or -replacement, PH16 and PH28.2 §11). No entry: no check.",
        "default": {
            "dev": "^[A-Za-z0-9_.-]+-(dev|replacement)$",
            "prod": "^prod-[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        },
    },
    "providerPackages": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Packages whose resources must name an explicit provider (never a default one).",
        "default": ["postgresql", "vault", "kubernetes"],
    },
}

#: The keys each policy reads; those without a default are required.
POLICY_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "no-node-endpoints": ("postgresLb", "redisLb", "nodeAddresses"),
    "environment-isolation": ("environment", "otherEnvironments", "legacyNames"),
    "pinned-images": ("environment", "otherEnvironments", "pinnedEnvironments", "mutableTags"),
    "no-plaintext-secrets": (),
    "credentials-renew-before-expiry": ("maxRefreshTtlRatio",),
    "protect-prod-data": ("environment", "protectedEnvironments", "protectedTypes"),
    "explicit-providers": ("providerPackages",),
    "client-build-matches-environment": ("environment", "clientImageRepositories", "clientBuildTags"),
    "namespaces-default-deny": (),
}


class PackConfigError(ValueError):
    """A policy config value is missing or malformed; the message names the key and the fix."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_endpoint(key: str, value: Any) -> Endpoint:
    text = str(value).strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in text:
        raise PackConfigError(
            f"policy config '{key}' is {value!r}; set it to the LB as 'host:port' (e.g. 10.0.0.10:5432)"
        )
    return Endpoint(host.strip("[]"), int(port))


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


@dataclass(frozen=True)
class PackConfig:
    """Validated estate facts, shared by every rule."""

    environment: str
    other_environments: tuple[str, ...]
    legacy_names: Mapping[str, frozenset[str]]
    postgres_lb: Endpoint
    redis_lb: Endpoint
    node_addresses: tuple[str, ...]
    pinned_environments: frozenset[str]
    mutable_tags: frozenset[str]
    protected_environments: frozenset[str]
    protected_types: frozenset[str]
    max_refresh_ttl_ratio: float
    provider_packages: frozenset[str]
    client_image_repositories: frozenset[str]
    client_build_tags: Mapping[str, str]

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None) -> PackConfig:
        """Defaults from `SCHEMA`, then the given values; raises `PackConfigError` on a bad one."""
        raw = {k: copy.deepcopy(v["default"]) for k, v in SCHEMA.items() if "default" in v}
        raw.update(dict(config or {}))
        raw.pop("enforcementLevel", None)
        unknown = sorted(set(raw) - set(SCHEMA))
        if unknown:
            raise PackConfigError(f"unknown policy config key(s) {unknown}; known keys: {sorted(SCHEMA)}")

        def strings(key: str) -> tuple[str, ...]:
            value = raw.get(key, [])
            if (
                isinstance(value, str)
                or not isinstance(value, Sequence)
                or not all(isinstance(v, str) and v for v in value)
            ):
                raise PackConfigError(
                    f"policy config '{key}' must be a list of non-empty strings, got {value!r}"
                )
            return tuple(value)

        environment = raw.get("environment", "")
        if not isinstance(environment, str):
            raise PackConfigError(f"policy config 'environment' must be a string, got {environment!r}")
        others = tuple(e.lower() for e in strings("otherEnvironments"))
        if environment and environment.lower() in others:
            raise PackConfigError(
                f"policy config 'otherEnvironments' {list(others)} contains the stack's own environment "
                f"'{environment}'; list only the other environments"
            )
        legacy = raw["legacyNames"]
        if not isinstance(legacy, Mapping) or not all(
            isinstance(v, Sequence) and not isinstance(v, str) for v in legacy.values()
        ):
            raise PackConfigError(
                f"policy config 'legacyNames' must map environment -> list of names, got {legacy!r}"
            )
        ratio = raw["maxRefreshTtlRatio"]
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
            raise PackConfigError(
                f"policy config 'maxRefreshTtlRatio' must be a number in (0, 1], got {ratio!r}"
            )
        build_tags = raw["clientBuildTags"]
        if not isinstance(build_tags, Mapping) or not all(
            isinstance(v, str) and _compiles(v) for v in build_tags.values()
        ):
            raise PackConfigError(
                f"policy config 'clientBuildTags' must map environment -> a regular expression, got {build_tags!r}"
            )
        return cls(
            environment=environment.lower(),
            other_environments=others,
            legacy_names={str(k).lower(): frozenset(v) for k, v in legacy.items()},
            postgres_lb=parse_endpoint("postgresLb", raw["postgresLb"]),
            redis_lb=parse_endpoint("redisLb", raw["redisLb"]),
            node_addresses=strings("nodeAddresses"),
            pinned_environments=frozenset(e.lower() for e in strings("pinnedEnvironments")),
            mutable_tags=frozenset(t.lower() for t in strings("mutableTags")),
            protected_environments=frozenset(e.lower() for e in strings("protectedEnvironments")),
            protected_types=frozenset(strings("protectedTypes")),
            max_refresh_ttl_ratio=float(ratio),
            provider_packages=frozenset(strings("providerPackages")),
            client_image_repositories=frozenset(strings("clientImageRepositories")),
            client_build_tags={str(k).lower(): v for k, v in build_tags.items()},
        )

    def require_environment(self, rule: str) -> str:
        if not self.environment:
            raise PackConfigError(
                f"policy '{rule}' needs config 'environment' (and 'otherEnvironments'); pass "
                "--policy-pack-config policy/config/<env>.json"
            )
        return self.environment


def policy_schema(policy: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Properties and required keys of one policy's config schema."""
    keys = POLICY_KEYS[policy]
    return {k: copy.deepcopy(SCHEMA[k]) for k in keys}, [k for k in keys if "default" not in SCHEMA[k]]


#: Environments of the KeyBuzz estate (the committed config files are written for each).
KEYBUZZ_ENVIRONMENTS: Final = ("dev", "prod")


def per_policy_config(environment: str, environments: Sequence[str] = KEYBUZZ_ENVIRONMENTS) -> dict[str, Any]:
    """The ``--policy-pack-config`` document for one environment: every policy's keys spelled out."""
    values: dict[str, Any] = {k: copy.deepcopy(v["default"]) for k, v in SCHEMA.items() if "default" in v}
    values["environment"] = environment
    values["otherEnvironments"] = [e for e in environments if e != environment]
    return {policy: {k: values[k] for k in keys} for policy, keys in POLICY_KEYS.items()}


if __name__ == "__main__":  # python -m keybuzz_policy.config dev > config/dev.json
    print(json.dumps(per_policy_config(sys.argv[1]), indent=2))
