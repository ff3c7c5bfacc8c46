"""The pack's configuration: estate facts the rules read, never hard-code.

`SCHEMA` is the JSON schema of every property (type, description, default). Each policy declares the
subset it reads (`POLICY_KEYS`) as its ``PolicyConfigSchema``; the engine fills the defaults in and
refuses a ``--policy-pack-config`` file that lacks a key without one.

The environment facts (`ENVIRONMENT_FACTS`: the stack's environment, the others, their legacy names,
which are pinned to release tags or protected, how their client images are tagged) have no default. They
are the program's environment table (components/environments.py), which the pack may not import (the
policy host runs it on its own, from policy/), and a copy here would drift from it; so they come only from
``policy/config/<env>.json``, written from the table by ``python -m scripts.policy_config`` (a test fails
when a committed file drifts). A stack run without its config file is refused, never judged as the wrong
environment. The other keys describe the KeyBuzz estate (DOMAIN.md: the LBs, the nodes) or are the pack's
own thresholds; their defaults are spelled out in the config files too.

`PackConfig.from_mapping` is the same check in Python: defaults, every key the policy reads present, every
value checked; `PackConfigError` names the key and the fix. `config_document` lays a full set of values
out as a config file (one block per policy).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar, overload


def _strings(description: str, **extra: Any) -> dict[str, Any]:
    """Schema of a list of non-empty strings (what `PackConfig` accepts for every list)."""
    return {"type": "array", "items": {"type": "string", "minLength": 1}, "description": description, **extra}


def _per_environment(description: str, value: dict[str, Any]) -> dict[str, Any]:
    """Schema of an object keyed by environment."""
    return {"type": "object", "additionalProperties": value, "description": description}


_ENDPOINT: Final = {"type": "string", "pattern": "^[^:/ ]+:[0-9]+$"}

#: Every property any policy of the pack reads.
SCHEMA: Final[dict[str, dict[str, Any]]] = {
    "environment": {
        "type": "string",
        "minLength": 1,
        "description": "Environment of the stack under preview (dev, prod): the marker token of its names.",
    },
    "otherEnvironments": _strings("Marker tokens of every other environment: none may appear in this stack's inputs."),
    "legacyNames": _per_environment(
        "Per environment, the names it owns without its marker (adopted legacy names).",
        _strings("The environment's legacy names."),
    ),
    "postgresLb": {
        **_ENDPOINT,
        "description": "PostgreSQL write LB host:port (HAProxy to the Patroni leader): the only PG endpoint.",
        "default": "10.0.0.10:5432",
    },
    "redisLb": {
        **_ENDPOINT,
        "description": "Redis LB host:port (HAProxy to the Redis master): the only Redis endpoint.",
        "default": "10.0.0.10:6379",
    },
    "nodeAddresses": _strings(
        "Addresses (IPs or host names) of the PostgreSQL and Redis nodes behind the LBs.",
        default=["10.0.0.120", "10.0.0.121", "10.0.0.122", "10.0.0.123", "10.0.0.124", "10.0.0.125"],
    ),
    "pinnedEnvironments": _strings("Environments whose images must carry an immutable release tag."),
    "mutableTags": _strings(
        "Tags that move (never a release), compared case-insensitively.",
        default=["latest", "main", "master", "stable", "edge", "nightly", "develop", "dev"],
    ),
    "protectedEnvironments": _strings("Environments whose data resources must be protected from deletion."),
    "protectedTypes": _strings(
        "Resource types holding data (protected in protectedEnvironments).",
        default=["postgresql:index/database:Database", "vault:index/mount:Mount"],
    ),
    "maxRefreshTtlRatio": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1,
        "description": "An ExternalSecret's refreshInterval must stay below this fraction of the default_ttl "
        "of the Vault role it reads (ESO re-issues, never renews: external-secrets#2184).",
        "default": 0.5,
    },
    "clientImageRepositories": _strings(
        "Repositories of images that bake environment settings in at build (the Next.js client: "
        "NEXT_PUBLIC_*, PH28.2 §5.1): their tag must be a build of the stack's environment.",
        default=["ghcr.io/keybuzzio/keybuzz-client"],
    ),
    "clientBuildTags": _per_environment(
        "Per environment, the regular expression a clientImageRepositories tag must match (PROD "
        "prod-YYYY-MM-DD, PH28.2 §5; DEV -dev or -replacement, PH16 and PH28.2 §11). No entry: no check.",
        {"type": "string", "minLength": 1},
    ),
    "providerPackages": _strings(
        "Packages whose resources must name an explicit provider (never a default one).",
        default=["postgresql", "vault", "kubernetes"],
    ),
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

#: The keys that carry the environment table's facts: no default, the config file must give them.
ENVIRONMENT_FACTS: Final = tuple(k for k, p in SCHEMA.items() if "default" not in p)


def policy_schema(policy: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Properties and required keys of one policy's config schema."""
    keys = POLICY_KEYS[policy]
    return {k: copy.deepcopy(SCHEMA[k]) for k in keys}, [k for k in keys if k in ENVIRONMENT_FACTS]


class PackConfigError(ValueError):
    """A policy config value is missing or malformed; the message names the key and the fix."""


def _missing(keys: Sequence[str], policy: str | None) -> str:
    reader = f"policy '{policy}'" if policy else "the pack"
    return (
        f"{reader} needs config {', '.join(repr(k) for k in keys)}, which has no default: the environment "
        "facts come from the program's environment table (components/environments.py). Pass "
        "--policy-pack-config policy/config/<env>.json, written from the table by `python -m scripts.policy_config`"
    )


def schema_defaults() -> dict[str, Any]:
    """The default of every key that has one (a fresh copy)."""
    return {k: copy.deepcopy(p["default"]) for k, p in SCHEMA.items() if "default" in p}


# ------------------------------------------------------------------------------------------------
# Values: each key's check, raising PackConfigError that names the key
# ------------------------------------------------------------------------------------------------
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


def _string_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) and v for v in value):
        raise PackConfigError(f"policy config '{key}' must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _lower_list(key: str, value: Any) -> tuple[str, ...]:
    return tuple(v.lower() for v in _string_list(key, value))


def _lower_set(key: str, value: Any) -> frozenset[str]:
    return frozenset(_lower_list(key, value))


def _string_set(key: str, value: Any) -> frozenset[str]:
    return frozenset(_string_list(key, value))


def _environment_name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PackConfigError(f"policy config '{key}' must be the stack's environment (dev, prod), got {value!r}")
    return value.lower()


def _names_per_environment(key: str, value: Any) -> Mapping[str, frozenset[str]]:
    if not isinstance(value, Mapping):
        raise PackConfigError(f"policy config '{key}' must map environment -> list of names, got {value!r}")
    return MappingProxyType({str(e).lower(): _string_set(f"{key}.{e}", v) for e, v in value.items()})


def _compiles(pattern: Any) -> bool:
    try:
        re.compile(pattern)
    except (re.error, TypeError):
        return False
    return True


def _patterns_per_environment(key: str, value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) and _compiles(v) for v in value.values()):
        raise PackConfigError(f"policy config '{key}' must map environment -> a regular expression, got {value!r}")
    return MappingProxyType({str(e).lower(): v for e, v in value.items()})


def _ratio(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise PackConfigError(f"policy config '{key}' must be a number in (0, 1], got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------------------
# PackConfig
# ------------------------------------------------------------------------------------------------
_T = TypeVar("_T")


class _Fact(Generic[_T]):
    """One attribute of `PackConfig`: the key it is read from and its check. Reading a key the config
    does not hold (the engine hands each policy only the keys it declares) raises `PackConfigError`."""

    def __init__(self, key: str, parse: Callable[[str, Any], _T]) -> None:
        self.key = key
        self.parse = parse

    @overload
    def __get__(self, config: None, owner: type) -> _Fact[_T]: ...

    @overload
    def __get__(self, config: PackConfig, owner: type) -> _T: ...

    def __get__(self, config: PackConfig | None, owner: type) -> _Fact[_T] | _T:
        if config is None:
            return self
        value: _T = config.fact(self.key)
        return value


class PackConfig:
    """Validated estate facts, shared by every rule (built by `from_mapping`, read-only)."""

    __slots__ = ("_facts", "_policy")

    environment = _Fact("environment", _environment_name)
    other_environments = _Fact("otherEnvironments", _lower_list)
    legacy_names = _Fact("legacyNames", _names_per_environment)
    postgres_lb = _Fact("postgresLb", parse_endpoint)
    redis_lb = _Fact("redisLb", parse_endpoint)
    node_addresses = _Fact("nodeAddresses", _string_list)
    pinned_environments = _Fact("pinnedEnvironments", _lower_set)
    mutable_tags = _Fact("mutableTags", _lower_set)
    protected_environments = _Fact("protectedEnvironments", _lower_set)
    protected_types = _Fact("protectedTypes", _string_set)
    max_refresh_ttl_ratio = _Fact("maxRefreshTtlRatio", _ratio)
    provider_packages = _Fact("providerPackages", _string_set)
    client_image_repositories = _Fact("clientImageRepositories", _string_set)
    client_build_tags = _Fact("clientBuildTags", _patterns_per_environment)

    def __init__(self, facts: Mapping[str, Any], policy: str | None = None) -> None:
        self._facts = MappingProxyType(dict(facts))
        self._policy = policy

    def fact(self, key: str) -> Any:
        """The checked value of `key`; PackConfigError naming it when the config does not hold it."""
        try:
            return self._facts[key]
        except KeyError:
            raise PackConfigError(_missing([key], self._policy)) from None

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None, policy: str | None = None) -> PackConfig:
        """Defaults, then the given values, checked: every key `policy` reads (every key of the schema
        when None) must be there. Raises `PackConfigError` naming the key and the fix."""
        raw = {**schema_defaults(), **dict(config or {})}
        raw.pop("enforcementLevel", None)
        unknown = sorted(set(raw) - set(SCHEMA))
        if unknown:
            raise PackConfigError(f"unknown policy config key(s) {unknown}; known keys: {sorted(SCHEMA)}")
        missing = [k for k in (POLICY_KEYS[policy] if policy else SCHEMA) if k not in raw]
        if missing:
            raise PackConfigError(_missing(missing, policy))
        facts = {f.key: f.parse(f.key, raw[f.key]) for f in FACTS if f.key in raw}
        environment, others = facts.get("environment"), facts.get("otherEnvironments", ())
        if environment in others:
            raise PackConfigError(
                f"policy config 'otherEnvironments' {list(others)} contains the stack's own environment "
                f"'{environment}'; list only the other environments"
            )
        return cls(facts, policy)


#: Every attribute of `PackConfig`, one per `SCHEMA` key (a test keeps them one to one).
FACTS: Final = tuple(v for v in vars(PackConfig).values() if isinstance(v, _Fact))


def config_document(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``--policy-pack-config`` document: one block per policy, each key it reads spelled out.

    `values` holds the environment facts (and may override a default); the document is checked as the
    pack will read it, so a file that would be refused is never written."""
    full = {**schema_defaults(), **values}
    PackConfig.from_mapping(full)
    return {policy: {k: full[k] for k in keys} for policy, keys in POLICY_KEYS.items()}
