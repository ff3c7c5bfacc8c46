"""Wiring of the rules into CrossGuard policies, as the engine calls them.

`POLICIES` holds one ``ResourceValidationPolicy``/``StackValidationPolicy`` per rule (kebab-case name,
a description that says how to fix, ``MANDATORY``, the config schema of the keys it reads). Each
``validate`` turns the engine's arguments into a plain `Resource` and a `PackConfig`, then calls the
rule in `rules`.

Secretness: pulumi_policy 1.21 unwraps secret inputs before a validation sees them (only remediations
get them marked), although the engine sends them marked. `track_secret_paths()` wraps the
deserializer the analyzer server calls so that each resource's props also carry the list of their
secret paths under `SECRET_PATHS_KEY`; `resource_of()` pops it into `Resource.secret_paths`. Without
it (another pulumi_policy), secretness is unknown and `no-plaintext-secrets` falls back to what it can
see (literal Kubernetes Secret data, password literals in env vars, templates and URLs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

import pulumi_policy.policy as _analyzer
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from . import rules
from .config import PackConfig, policy_schema
from .model import Report, Resource, StackReport, join, plain

PACK_NAME = "keybuzz-platform"
SECRET_PATHS_KEY = "__keybuzzSecretPaths"


# ------------------------------------------------------------------------------------------------
# Engine arguments -> plain data
# ------------------------------------------------------------------------------------------------
def secret_paths_of(raw: Any, path: str = "") -> Iterator[str]:
    """Paths of the values marked secret in wire-format props (``{<sig>: <secret sig>, value}``)."""
    if isinstance(raw, Mapping):
        if raw.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            yield path
            return
        for key, value in raw.items():
            yield from secret_paths_of(value, join(path, str(key)))
    elif isinstance(raw, list | tuple):
        for index, value in enumerate(raw):
            yield from secret_paths_of(value, join(path, index))


def track_secret_paths() -> None:
    """Make the analyzer server keep each resource's secret paths (idempotent)."""
    original = _analyzer.deserialize_properties
    if getattr(original, "keybuzz_tracks_secrets", False):
        return

    def deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
        result = original(props, proxy_secrets)
        if not proxy_secrets and isinstance(result, dict):
            result[SECRET_PATHS_KEY] = sorted(secret_paths_of(props))
        return result

    deserialize_properties.keybuzz_tracks_secrets = True  # type: ignore[attr-defined]
    _analyzer.deserialize_properties = deserialize_properties  # type: ignore[assignment]


class _EngineResource(Protocol):
    resource_type: str
    props: Mapping[str, Any]
    urn: str
    name: str


def resource_of(args: ResourceValidationArgs | PolicyResource) -> Resource:
    """The plain `Resource` of the engine's per-resource or per-stack view of one resource."""
    props = plain(args.props)
    tracked = props.pop(SECRET_PATHS_KEY, None)
    provider = None
    if args.provider is not None:
        provider = args.provider.urn or args.provider.name
    return Resource(
        type=args.resource_type,
        name=args.name,
        urn=args.urn,
        props=props,
        protect=bool(args.opts.protect),
        provider=provider,
        secret_paths=frozenset(tracked) if tracked is not None else None,
    )


# ------------------------------------------------------------------------------------------------
# Policies
# ------------------------------------------------------------------------------------------------
ResourceRule = Callable[[Resource, PackConfig, Report], None]
StackRule = Callable[[list[Resource], PackConfig, StackReport], None]
PolicyT = TypeVar("PolicyT", ResourceValidationPolicy, StackValidationPolicy)


def _mandatory(
    kind: type[PolicyT], name: str, description: str, validate: Callable[..., None], severity: Severity
) -> PolicyT:
    """A policy of the pack: MANDATORY, with the config schema of the keys it reads (the engine refuses a
    config file that lacks one of its environment facts)."""
    properties, required = policy_schema(name)
    return kind(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(properties, required or None) if properties else None,
        severity=severity,
    )


def resource_policy(
    name: str, description: str, rule: ResourceRule, severity: Severity
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        config = PackConfig.from_mapping(args.get_config(), name)
        rule(resource_of(args), config, lambda message: report_violation(message))

    return _mandatory(ResourceValidationPolicy, name, description, validate, severity)


def stack_policy(name: str, description: str, rule: StackRule, severity: Severity) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [resource_of(r) for r in args.resources]
        rule(resources, PackConfig.from_mapping(args.get_config(), name), report_violation)

    return _mandatory(StackValidationPolicy, name, description, validate, severity)


POLICIES: list[Policy] = [
    resource_policy(
        "no-node-endpoints",
        "No input may contain a PostgreSQL/Redis node address, and every PostgreSQL/Redis host, port, DSN or "
        "URL (provider, Vault connection_url, ESO templates, env vars, Jobs, KV data) must be the LB "
        "(config postgresLb/redisLb). Fix: replace the node or wrong host:port with the LB endpoint.",
        rules.no_node_endpoints,
        Severity.CRITICAL,
    ),
    resource_policy(
        "environment-isolation",
        "A resource of one environment may reference no name, namespace, database, role, Vault mount, path "
        "or policy of another (its marker token or its legacy names, config otherEnvironments/legacyNames). "
        "Fix: use the name naming.py derives for this stack's environment.",
        rules.environment_isolation,
        Severity.CRITICAL,
    ),
    resource_policy(
        "pinned-images",
        "Images of pinned environments (config pinnedEnvironments) carry an immutable release tag or a "
        "digest: no missing tag, no moving tag (latest...), no build of another environment (-dev). Fix: set "
        "the image tag to the release validated in DEV.",
        rules.pinned_images,
        Severity.HIGH,
    ),
    resource_policy(
        "no-plaintext-secrets",
        "No Kubernetes Secret with literal data, no credential input (passwords, tokens, KV data) that is "
        "not a Pulumi secret, no password literal in an env var, ESO template or URL. Fix: keep the value "
        "in Vault (ESO syncs it) or pass it with `pulumi config set --secret` / Output.secret.",
        rules.no_plaintext_secrets,
        Severity.CRITICAL,
    ),
    stack_policy(
        "credentials-renew-before-expiry",
        "Every ExternalSecret fed by a Vault dynamic-secret generator refreshes in less than "
        "maxRefreshTtlRatio (default 1/2) of the default_ttl of the Vault role it reads. Fix: lower "
        "keybuzz:secretRefreshSeconds or raise keybuzz:credentialTtlSeconds.",
        rules.credentials_renew_before_expiry,
        Severity.HIGH,
    ),
    stack_policy(
        "protect-prod-data",
        "In protected environments (config protectedEnvironments) databases and Vault mounts "
        "(protectedTypes) are protected from deletion. Fix: create them with protect=True (the program's "
        "stack-aware default), never turn it off in code.",
        rules.protect_prod_data,
        Severity.CRITICAL,
    ),
    resource_policy(
        "explicit-providers",
        "Resources of the managed packages (config providerPackages) use the environment's explicit "
        "provider, never a default one built from ambient credentials. Fix: pass providers=[...] and keep "
        "pulumi:disable-default-providers.",
        rules.explicit_providers,
        Severity.HIGH,
    ),
    resource_policy(
        "client-build-matches-environment",
        "Images that bake environment settings in at build (config clientImageRepositories: the Next.js "
        "client, whose NEXT_PUBLIC_* do nothing at runtime) carry a tag of this environment's builds (config "
        "clientBuildTags: PROD prod-YYYY-MM-DD, DEV -dev or -replacement). Fix: deploy the client image built "
        "for this environment.",
        rules.client_build_matches_environment,
        Severity.HIGH,
    ),
    stack_policy(
        "namespaces-default-deny",
        "Every namespace the stack declares has a NetworkPolicy that selects all its pods and denies all "
        "ingress and egress (podSelector {}, policyTypes [Ingress, Egress], no rules); the app's needs are "
        "allowed by other policies on top. Fix: declare the namespace through AppNamespace, which adds it.",
        rules.namespaces_default_deny,
        Severity.CRITICAL,
    ),
]


def serve() -> None:
    """Start the analyzer server the engine talks to (blocks until the engine stops it)."""
    from pulumi_policy import PolicyPack

    track_secret_paths()
    PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
