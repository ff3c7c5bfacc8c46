"""The pack's rules: one plain function per rule, on plain data (`Resource`, `PackConfig`).

Resource rules take ``(resource, config, report)``; stack rules take ``(resources, config, report)``
where ``report(message, urn)``. They read estate facts from the config only. Messages name the input
path and the fix, and never echo a secret value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from .config import Endpoint, PackConfig
from .model import Report, Resource, StackReport, get, go_duration_seconds, leaves, nodes, number

_UNKNOWNS = frozenset(
    {
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


def _known_str(value: Any) -> bool:
    return isinstance(value, str) and value not in _UNKNOWNS


def _with_json(value: Any) -> Any:
    """Props with JSON-object strings (Vault KV ``dataJson``) parsed, so their keys are checked too."""
    if isinstance(value, Mapping):
        return {k: _with_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_with_json(v) for v in value]
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, dict):
            return _with_json(parsed)
    return value


def _where(resource: Resource, path: str) -> str:
    return f"{resource.type} '{resource.name}' input '{path}'"


# ------------------------------------------------------------------------------------------------
# no-node-endpoints
# ------------------------------------------------------------------------------------------------
_URL = re.compile(
    r"(?P<scheme>postgres(?:ql)?|rediss?)://(?:(?P<userinfo>[^@/\s]*)@)?(?P<host>\[[^\]]+\]|[^:/?#\s]+)(?::(?P<port>\d+))?",
    re.IGNORECASE,
)
_PG_HOST_KEYS = {
    "PGHOST": "PGPORT",
    "POSTGRES_HOST": "POSTGRES_PORT",
    "DB_HOST": "DB_PORT",
    "DATABASE_HOST": "DATABASE_PORT",
}
_REDIS_HOST_KEYS = {"REDIS_HOST": "REDIS_PORT"}


def node_pattern(address: str) -> re.Pattern[str]:
    """Where `address` stands in a string as a whole address (the program's config check matches the same)."""
    # 10.0.0.12 must not match 10.0.0.120; a host name matches as a whole label sequence.
    return re.compile(rf"(?<![A-Za-z0-9.-]){re.escape(address)}(?![A-Za-z0-9-]|\.\d)", re.IGNORECASE)


def _env_mapping(value: Any) -> dict[str, Any] | None:
    """A Kubernetes env list (``[{name, value}]``) or a plain string mapping, as NAME -> value."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(e, Mapping) and "name" in e for e in value)
    ):
        return {str(e["name"]): e.get("value") for e in value}
    return None


def _endpoints(resource: Resource, data: Any) -> Iterator[tuple[str, str, str, int]]:
    """Every (path, kind, host, port) a resource declares for PostgreSQL or Redis."""
    if resource.type == "pulumi:providers:postgresql":
        host, port = data.get("host"), number(data.get("port", 5432))
        if _known_str(host) and port is not None:
            yield "host/port", "PostgreSQL", host, int(port)
    for path, value in leaves(data):
        if not _known_str(value):
            continue
        for m in _URL.finditer(value):
            host = m.group("host").strip("[]")
            if "{{" in host:
                continue
            redis = m.group("scheme").lower().startswith("redis")
            port = int(m.group("port") or (6379 if redis else 5432))
            yield path, "Redis" if redis else "PostgreSQL", host, port
    for path, node in nodes(data):
        env = _env_mapping(node)
        if not env:
            continue
        for keys, kind, default_port in (
            (_PG_HOST_KEYS, "PostgreSQL", 5432),
            (_REDIS_HOST_KEYS, "Redis", 6379),
        ):
            for host_key, port_key in keys.items():
                host = env.get(host_key)
                if not _known_str(host) or "{{" in host:
                    continue
                port = number(env.get(port_key, default_port))
                yield f"{path}.{host_key}" if path else host_key, kind, host, int(port or default_port)


#: The stack's own config keys that list the nodes (so that nothing else may name one). A provider that
#: receives the whole stack config as its inputs (the default `pulumi-python` provider of the program's
#: dynamic resources) carries them: they are the lists, not a connection.
_NODE_LIST_KEYS = ("postgresNodes", "redisNodes")


def _is_node_list(resource: Resource, path: str) -> bool:
    key = path.split(".", 1)[0].split("[", 1)[0]
    return resource.type.startswith("pulumi:providers:") and key.rsplit(":", 1)[-1] in _NODE_LIST_KEYS


def no_node_endpoints(resource: Resource, config: PackConfig, report: Report) -> None:
    """No input contains a node address; every PostgreSQL/Redis endpoint is its LB."""
    data = _with_json(resource.props)
    patterns = [(a, node_pattern(a)) for a in config.node_addresses]
    for path, value in leaves(data):
        if not _known_str(value) or _is_node_list(resource, path):
            continue
        for address, pattern in patterns:
            if pattern.search(value):
                report(
                    f"{_where(resource, path)} contains node address {address}: nodes change role on "
                    f"failover (PH16: Vault pointed at 10.0.0.121 after it became a replica). Use the LB "
                    f"({config.postgres_lb} for PostgreSQL, {config.redis_lb} for Redis)."
                )
    lbs: dict[str, Endpoint] = {"PostgreSQL": config.postgres_lb, "Redis": config.redis_lb}
    seen: set[tuple[str, str, int]] = set()
    for path, kind, host, port in _endpoints(resource, data):
        lb = lbs[kind]
        if (host.lower(), port) == (lb.host.lower(), lb.port) or (path, host, port) in seen:
            continue
        seen.add((path, host, port))
        report(
            f"{_where(resource, path)} points {kind} at {host}:{port}, not at its LB {lb}: "
            f"set the host and port to {lb} (the LB follows the leader; a node or the other service's "
            f"LB does not)."
        )


# ------------------------------------------------------------------------------------------------
# environment-isolation
# ------------------------------------------------------------------------------------------------
#: Anything but a letter or a digit separates tokens (the program's components/naming.py splits the same way).
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.-]+$")
_QUOTED = re.compile(r"\"([^\"{}]+)\"|'([^'{}]+)'")
#: Free-form Kubernetes metadata: the product name `keybuzz` appears there as a label, not as a name.
_METADATA_MAPS = re.compile(r"(^|\.)(labels|annotations|matchLabels)(\.|$)")


def name_tokens(text: str) -> list[str]:
    """The lower-cased tokens of a name (``keybuzz-api-dev`` -> keybuzz, api, dev): a marker is a whole token."""
    return [t for t in _TOKEN_SPLIT.split(text.lower()) if t]


def _norm(name: str) -> str:
    return name.lower().replace("-", "_")


def _name_candidates(path: str, value: str) -> Iterator[str]:
    """Physical names a string can carry: itself, SQL-quoted identifiers, a URL's user and database."""
    if _METADATA_MAPS.search(path):
        return
    if _IDENTIFIER.match(value):
        yield value
    for m in _QUOTED.finditer(value):
        yield m.group(1) or m.group(2)
    for m in _URL.finditer(value):
        userinfo = (m.group("userinfo") or "").split(":", 1)[0]
        if userinfo:
            yield userinfo
        rest = value[m.end() :]
        database = re.match(r"/([A-Za-z0-9_.-]+)", rest)
        if database:
            yield database.group(1)


def environment_isolation(resource: Resource, config: PackConfig, report: Report) -> None:
    """No input names another environment (its marker token, or one of its legacy names)."""
    env = config.environment
    others = set(config.other_environments)
    foreign_legacy = {_norm(n): e for e, names in config.legacy_names.items() if e != env for n in names}
    own_legacy = {_norm(n) for n in config.legacy_names.get(env, ())}
    checked = [("<resource name>", resource.name), *leaves(_with_json(resource.props))]
    for path, value in checked:
        if not _known_str(value):
            continue
        secret = resource.is_secret(path)
        shown = "a secret value" if secret else repr(value)
        markers = sorted(others & set(name_tokens(value)))
        if markers:
            report(
                f"{_where(resource, path)} = {shown} names the {markers[0].upper()} environment (token "
                f"'{markers[0]}') in a {env.upper()} stack: use this environment's own name "
                f"(naming.py derives it from the stack) and never point one environment at another's objects."
            )
            continue
        for candidate in _name_candidates(path, value):
            key = _norm(candidate)
            if key in foreign_legacy and key not in own_legacy:
                owner = foreign_legacy[key]
                what = "a secret value" if secret else f"'{candidate}'"
                report(
                    f"{_where(resource, path)} uses {what}, a legacy {owner.upper()} name, in a "
                    f"{env.upper()} stack (PH28.2: PROD must not touch DEV's databases or roles): use the "
                    f"{env.upper()} name."
                )
                break


# ------------------------------------------------------------------------------------------------
# pinned-images
# ------------------------------------------------------------------------------------------------
def _image_problem(image: str, config: PackConfig) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (it resolves to the moving 'latest')"
    tag = last.rsplit(":", 1)[1]
    if tag.lower() in config.mutable_tags:
        return f"uses the moving tag '{tag}'"
    markers = sorted(set(config.other_environments) & set(name_tokens(tag)))
    if markers:
        return f"uses the {markers[0].upper()} build '{tag}'"
    if not re.search(r"\d", tag):
        return f"uses '{tag}', which is no release tag (a release tag carries a version or a date)"
    return None


def pinned_images(resource: Resource, config: PackConfig, report: Report) -> None:
    """In pinned environments every container image carries an immutable release tag or a digest."""
    env = config.environment
    if env not in config.pinned_environments:
        return
    for path, value in leaves(resource.props):
        if _last_key(path) != "image" or not _known_str(value):
            continue
        problem = _image_problem(value, config)
        if problem:
            report(
                f"{_where(resource, path)} = '{value}' {problem}. {env.upper()} deploys only release tags "
                f"promoted from DEV (e.g. v0.4.31-replacement, prod-2026-02-01) or a @sha256 digest: "
                f"set keybuzz:<app>ImageTag to the validated release."
            )


# ------------------------------------------------------------------------------------------------
# client-build-matches-environment
# ------------------------------------------------------------------------------------------------
def _image_parts(image: str) -> tuple[str, str | None]:
    """(repository, tag or None) of ``repo[:tag][@digest]``; a registry port is not a tag."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, None


def client_build_matches_environment(resource: Resource, config: PackConfig, report: Report) -> None:
    """Images that bake environment settings in at build (the Next.js client) are this environment's build."""
    env = config.environment
    pattern = config.client_build_tags.get(env)
    if pattern is None:
        return
    for path, value in leaves(resource.props):
        if _last_key(path) != "image" or not _known_str(value):
            continue
        repository, tag = _image_parts(value)
        if repository not in config.client_image_repositories:
            continue
        if tag is None or not re.fullmatch(pattern, tag):
            shown = "no tag" if tag is None else f"tag '{tag}'"
            report(
                f"{_where(resource, path)} = '{value}' has {shown}, which is no {env.upper()} build "
                f"(clientBuildTags: {pattern}). Its NEXT_PUBLIC_* settings were baked in when the image was "
                f"built (PH28.2 §5.1: the PROD client is prod-2026-02-01, built for https://api.keybuzz.io), so "
                f"another build calls another environment's API whatever the runtime env says. Deploy the "
                f"client built for {env.upper()} (keybuzz:clientImageTag)."
            )


# ------------------------------------------------------------------------------------------------
# no-plaintext-secrets
# ------------------------------------------------------------------------------------------------
#: Inputs that hold a credential whatever the resource (provider passwords, KV data, tokens).
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "passwordWo",
        "token",
        "kubeconfig",
        "dataJson",
        "privateKey",
        "clientKey",
        "secretKey",
        "apiKey",
    }
)
_SENSITIVE_NAME = re.compile(r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)")
_LITERAL_PASSWORD_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^:@/\s]+:(?P<password>[^@/\s]+)@", re.IGNORECASE)


def _last_key(path: str) -> str:
    return re.split(r"[.\[]", path)[-1].rstrip("]")


def no_plaintext_secrets(resource: Resource, config: PackConfig, report: Report) -> None:
    """No Kubernetes Secret with literal data, no credential input that is not a Pulumi secret,
    no password literal in an env var, ESO template or URL."""
    props = resource.props
    if resource.type == "kubernetes:core/v1:Secret":
        keys = sorted({*(get(props, "data") or {}), *(get(props, "stringData") or {})})
        if keys:
            report(
                f"Kubernetes Secret '{resource.name}' carries literal data ({', '.join(keys)}) in the "
                f"program and the state (PH16: a static password pasted into keybuzz-api-postgres). Store "
                f"the value in Vault and let an ExternalSecret sync it."
            )
    for path, value in leaves(props):
        if not _known_str(value) or not value:
            continue
        key = _last_key(path)
        if key in SENSITIVE_KEYS:
            if resource.secret_paths is not None and not resource.is_secret(path):
                report(
                    f"{_where(resource, path)} is a credential passed in plain text: it would be stored "
                    f"unencrypted in the state. Pass it as a Pulumi secret (config --secret, "
                    f"pulumi.Output.secret)."
                )
            continue
        if resource.is_secret(path):
            continue
        m = _LITERAL_PASSWORD_URL.search(value)
        if m and "{{" not in m.group("password"):
            report(
                f"{_where(resource, path)} holds a URL with a literal password: template it "
                f"(Vault: {{{{username}}}}:{{{{password}}}}; ESO: {{{{ .password }}}}) or read it from a "
                f"secret."
            )
    for path, node in nodes(props):
        is_env = path.endswith(".env") or path == "env"
        is_template = path.endswith("template.data")
        if not (is_env or is_template):
            continue
        env = _env_mapping(node) or {}
        for name, value in env.items():
            if not _SENSITIVE_NAME.search(name) or not _known_str(value) or not value or "{{" in value:
                continue
            where = "env var" if is_env else "ExternalSecret template key"
            report(
                f"{_where(resource, path)} sets {where} {name} to a literal: a password in a manifest is a "
                f"plaintext copy outside Vault. Use envFrom/secretKeyRef on an ESO-synced Secret "
                f"(template values come from Vault: {{{{ .password }}}})."
            )


# ------------------------------------------------------------------------------------------------
# credentials-renew-before-expiry (stack)
# ------------------------------------------------------------------------------------------------
VAULT_ROLE = "vault:database/secretBackendRole:SecretBackendRole"
ESO_DEFAULT_REFRESH = "1h"


def _is_kind(resource: Resource, kind: str) -> bool:
    return resource.type.startswith("kubernetes:") and resource.type.endswith(f":{kind}")


def credentials_renew_before_expiry(
    resources: Sequence[Resource], config: PackConfig, report: StackReport
) -> None:
    """Every ExternalSecret fed by a Vault dynamic-secret generator refreshes below ratio x default_ttl."""
    ttl_of: dict[str, float | None] = {}
    for r in resources:
        if r.type == VAULT_ROLE and _known_str(get(r.props, "backend")) and _known_str(get(r.props, "name")):
            ttl_of[f"{r.props['backend']}/creds/{r.props['name']}"] = number(get(r.props, "defaultTtl"))
    generators: dict[tuple[str | None, str], str] = {}
    for r in resources:
        if _is_kind(r, "VaultDynamicSecret"):
            name, path = get(r.props, "metadata", "name"), get(r.props, "spec", "path")
            if _known_str(name) and _known_str(path):
                generators[(get(r.props, "metadata", "namespace"), name)] = path.strip("/")
    ratio = config.max_refresh_ttl_ratio
    for r in resources:
        if not _is_kind(r, "ExternalSecret"):
            continue
        spec = get(r.props, "spec") or {}
        namespace = get(r.props, "metadata", "namespace")
        for source in get(spec, "dataFrom") or []:
            ref = get(source, "sourceRef", "generatorRef") or {}
            if get(ref, "kind") != "VaultDynamicSecret" or not _known_str(get(ref, "name")):
                continue
            path = generators.get((namespace, ref["name"]))
            if path is None:
                same_name = [p for (_, n), p in generators.items() if n == ref["name"]]
                path = same_name[0] if len(same_name) == 1 else None
            if path is None:
                report(
                    f"ExternalSecret '{r.name}' reads generator '{ref['name']}', which this stack does not "
                    f"declare: declare the VaultDynamicSecret in the same stack so its TTL can be checked.",
                    r.urn,
                )
                continue
            ttl = ttl_of.get(path)
            if not ttl:
                report(
                    f"ExternalSecret '{r.name}' reads {path}, and no Vault role of this stack issues it with "
                    f"a default_ttl: declare the role with an explicit default_ttl.",
                    r.urn,
                )
                continue
            raw_refresh = spec.get("refreshInterval", ESO_DEFAULT_REFRESH)
            refresh = go_duration_seconds(raw_refresh) if _known_str(raw_refresh) else None
            if refresh is None:
                report(
                    f"ExternalSecret '{r.name}' has refreshInterval {raw_refresh!r}, not a duration: "
                    f"use a Go duration such as 20m0s.",
                    r.urn,
                )
            elif refresh <= 0 or refresh >= ratio * ttl:
                shown = "0 (never refreshed)" if refresh <= 0 else f"{raw_refresh} ({refresh:g}s)"
                report(
                    f"ExternalSecret '{r.name}' refreshes every {shown} but {path} issues credentials for "
                    f"default_ttl {ttl:g}s: ESO re-issues instead of renewing, so the Secret outlives its "
                    f"credentials (PH16: expired dynamic credentials). Keep refreshInterval below "
                    f"{ratio:g} x default_ttl = {ratio * ttl:g}s (keybuzz:secretRefreshSeconds).",
                    r.urn,
                )


# ------------------------------------------------------------------------------------------------
# protect-prod-data (stack)
# ------------------------------------------------------------------------------------------------
def protect_prod_data(resources: Sequence[Resource], config: PackConfig, report: StackReport) -> None:
    """In protected environments every data resource (databases, Vault mounts) is protected."""
    env = config.environment
    if env not in config.protected_environments:
        return
    for r in resources:
        if r.type in config.protected_types and not r.protect:
            report(
                f"{r.type} '{r.name}' holds {env.upper()} data and is not protected: a refactor or a "
                f"`pulumi destroy` would delete it. Create it with protect=True (naming.protected does "
                f"it for {env.upper()}).",
                r.urn,
            )


# ------------------------------------------------------------------------------------------------
# namespaces-default-deny (stack)
# ------------------------------------------------------------------------------------------------
NAMESPACE = "kubernetes:core/v1:Namespace"


def _denies_all(policy: Resource) -> bool:
    """A NetworkPolicy selecting every pod, for both directions, with no rule that lets anything through."""
    spec = get(policy.props, "spec") or {}
    selector = spec.get("podSelector")
    every_pod = isinstance(selector, Mapping) and not selector.get("matchLabels") and not selector.get(
        "matchExpressions"
    )
    types = spec.get("policyTypes") or []
    both = isinstance(types, list | tuple) and {"Ingress", "Egress"} <= set(types)
    return every_pod and both and not spec.get("ingress") and not spec.get("egress")


def namespaces_default_deny(resources: Sequence[Resource], config: PackConfig, report: StackReport) -> None:
    """Every namespace the stack declares has a NetworkPolicy denying all ingress and egress to its pods."""
    deny = [r for r in resources if _is_kind(r, "NetworkPolicy") and _denies_all(r)]
    denied = {get(r.props, "metadata", "namespace") for r in deny}
    if any(not _known_str(n) for n in denied):
        return  # a policy's namespace is unknown until apply: judged then, not guessed now
    for r in resources:
        name = get(r.props, "metadata", "name")
        if r.type != NAMESPACE or not _known_str(name) or name in denied:
            continue
        report(
            f"Namespace '{name}' has no default-deny NetworkPolicy (podSelector {{}}, policyTypes Ingress and "
            f"Egress, no rules): every pod in it may reach anything and be reached from anywhere, the other "
            f"environment's namespaces included (PH28.2: DEV and PROD run side by side). Declare it with the "
            f"namespace (components/namespace.py AppNamespace does), then allow only what the app needs.",
            r.urn,
        )


# ------------------------------------------------------------------------------------------------
# explicit-providers
# ------------------------------------------------------------------------------------------------
_DEFAULT_PROVIDER = re.compile(r"^default(_[0-9a-z_-]+)?$", re.IGNORECASE)


def provider_name(reference: str) -> str:
    """Name of a provider from its URN or its reference ``<urn>::<id>``."""
    parts = reference.split("::")  # urn:pulumi:<stack>::<project>::<type>::<name>[::<id>]
    return parts[3] if len(parts) >= 4 else parts[-1]


def explicit_providers(resource: Resource, config: PackConfig, report: Report) -> None:
    """Resources of the managed packages name an explicit provider, never a default one."""
    if resource.type.startswith("pulumi:providers:") or resource.package not in config.provider_packages:
        return
    if not resource.provider:
        report(
            f"{resource.type} '{resource.name}' names no provider: pass the environment's explicit provider "
            f"(ResourceOptions(provider=...)/providers=[...]) so no ambient credential reaches it."
        )
        return
    name = provider_name(resource.provider)
    if _DEFAULT_PROVIDER.match(name):
        report(
            f"{resource.type} '{resource.name}' uses the default {resource.package} provider '{name}', built "
            f"from ambient environment variables or kube context (which may be another environment's). "
            "Pass the environment's explicit provider and keep pulumi:disable-default-providers listing "
            "kubernetes, postgresql and vault."
        )
