"""Rules on the estate: the stack's name, LB-only endpoints, NetworkPolicy needs, credential TTLs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Final
from urllib.parse import urlparse

from pydantic import SecretStr

from ...naming import Naming
from ..errors import Problem
from ..model import LOGIN_MARGIN_SECONDS
from ..types import Egress, Endpoint
from .common import ParsedConfig


def stack_name(parsed: ParsedConfig) -> Iterator[Problem]:
    """A stack's name says its environment (``dev``, ``lab-dev``); its ``environment`` key must agree."""
    env, stack = parsed.environment, parsed.stack
    if env is None:
        return
    if stack != env and not stack.endswith(f"-{env}"):
        yield parsed.problem(
            "environment",
            env,
            f"stack '{stack}' declares environment '{env}'; a stack's name must be '{env}' or end with '-{env}'",
            f"use the stack '{env}' (or e.g. 'lab-{env}'), or set the environment this stack really is",
        )


#: The node lists themselves, which the scan for node addresses skips.
_NODE_KEYS: Final = frozenset({"postgresNodes", "redisNodes"})


def node_pattern(address: str) -> re.Pattern[str]:
    """`address` as a whole host: 10.0.0.12 does not match inside 10.0.0.120, 110.0.0.12 or db-10.0.0.12.
    The policy pack's no-node-endpoints uses the same boundaries (tests/policy/test_agreement.py)."""
    return re.compile(rf"(?<![A-Za-z0-9.-]){re.escape(address)}(?![A-Za-z0-9-]|\.\d)", re.IGNORECASE)


def _lb_suggestion(parsed: ParsedConfig, own: Endpoint | None, nodes: Mapping[str, str], port: int) -> str | None:
    """The LB endpoint to suggest: the configured one (`own`) when it is sound. When that one is itself a
    node, the LB host seen in the stack's other endpoints, with the service's standard port only if the
    stack uses standard ports (the estate's HAProxy listens on 5432/6379; a lab's LB on its own ports cannot
    be guessed, and a made-up port would be a wrong fix)."""
    if own is not None and own.host not in nodes:
        return str(own)
    endpoints = (
        (parsed.postgres_write_endpoint, 5432),
        (parsed.postgres_read_endpoint, 5432),
        (parsed.redis_endpoint, 6379),
    )
    for endpoint, standard in endpoints:
        if endpoint is not None and endpoint.host not in nodes:
            if endpoint.port == standard and (own is None or own.port == port):
                return f"{endpoint.host}:{port}"
            return f"{endpoint.host}:<the LB's port>"
    return None


def no_node_addresses(parsed: ParsedConfig) -> Iterator[Problem]:
    """No value anywhere in the config may be a node address behind a LB (PH16, topology report)."""
    postgres_nodes, redis_nodes = parsed.postgres_nodes or [], parsed.redis_nodes or []
    nodes: dict[str, str] = {a: "Patroni (PostgreSQL) node" for a in postgres_nodes}
    nodes.update({a: "Redis node" for a in redis_nodes})
    if not nodes:
        return
    for address in sorted(set(postgres_nodes) & set(redis_nodes)):
        yield parsed.problem(
            "redisNodes",
            address,
            f"{address} is listed both as a Patroni node and as a Redis node",
            "a host is one or the other: fix the node lists",
        )
    lb_pg = _lb_suggestion(parsed, parsed.postgres_write_endpoint, nodes, 5432)
    lb_redis = _lb_suggestion(parsed, parsed.redis_endpoint, nodes, 6379)
    patterns = {a: node_pattern(a) for a in nodes}
    for key, value in parsed.by_key.items():
        if key in _NODE_KEYS or isinstance(value, SecretStr):
            continue
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if text is None or isinstance(text, bool | int):
                continue
            rendered = str(text)
            for address, kind in nodes.items():
                if not patterns[address].search(rendered):
                    continue
                is_redis_key = key == "redisEndpoint"
                if is_redis_key and kind.startswith("Patroni"):
                    why = f"{address} is a {kind}, never Redis"
                elif not is_redis_key and kind == "Redis node" and key.startswith("postgres"):
                    why = f"{address} is a {kind}, never PostgreSQL (the topology report's migration-script bug)"
                else:
                    why = f"{address} is a {kind}; connections never target a node (PH16: the node became a replica)"
                lb = lb_redis if is_redis_key else lb_pg
                fix = f"use the LB {lb}" if lb else "use the HAProxy load-balancer endpoint"
                yield parsed.problem(key, rendered, why, fix)


def credential_ttls(parsed: ParsedConfig) -> Iterator[Problem]:
    """The credentials' TTLs leave ESO time to re-issue them, and ESO's Vault login outlives them."""
    ttl = parsed.credential_ttl_seconds
    if ttl is None:
        return
    max_ttl = parsed.credential_max_ttl_seconds
    if max_ttl is not None:
        if max_ttl < ttl:
            yield parsed.problem(
                "credentialMaxTtlSeconds",
                max_ttl,
                f"max_ttl {max_ttl}s is below default_ttl {ttl}s",
                "raise credentialMaxTtlSeconds to at least credentialTtlSeconds",
            )
        if ttl < 60:
            yield parsed.problem(
                "credentialTtlSeconds",
                ttl,
                "a TTL under 60 s leaves no time to roll out new credentials",
                "use at least 60 (seconds)",
            )
    refresh = parsed.secret_refresh_seconds
    if refresh is not None and refresh * 2 >= ttl:
        yield parsed.problem(
            "secretRefreshSeconds",
            refresh,
            f"ESO re-issues credentials only every refresh, never renews a lease; a refresh of {refresh}s "
            f"is not below half of credentialTtlSeconds ({ttl}s / 2 = {ttl // 2}s), so apps would hold "
            f"expired credentials (PH16; external-secrets#2184)",
            f"set secretRefreshSeconds to at most {max(1, (ttl - 1) // 2)} or raise credentialTtlSeconds",
        )
    login = parsed.vault_login_ttl_seconds
    if login is None:
        return
    wanted = ttl + LOGIN_MARGIN_SECONDS
    if login < 0:
        yield parsed.problem(
            "vaultLoginTtlSeconds", login, "must not be negative", f"use 0 (derived: {wanted}) or >= {wanted}"
        )
    elif login and login < wanted:
        yield parsed.problem(
            "vaultLoginTtlSeconds",
            login,
            f"ESO's Vault login would expire before the credentials it fetches (credentialTtlSeconds {ttl}s): "
            f"ESO logs in anew for every re-issue and neither renews nor revokes that token, and Vault revokes "
            f"a token's leases when it expires, so the database users would be dropped after ~{login}s "
            f"instead of {ttl}s (external-secrets#2198)",
            f"set vaultLoginTtlSeconds to at least {wanted} (credentialTtlSeconds + {LOGIN_MARGIN_SECONDS} s "
            f"for ESO's time between login and read), or to 0 to derive it, or lower credentialTtlSeconds",
        )


def network(parsed: ParsedConfig) -> Iterator[Problem]:
    """NetworkPolicies allow egress to the LBs by ipBlock, and ingress from the ingress controller only."""
    apps = parsed.apps or []
    kinds = [parsed.catalog[a] for a in apps if a in parsed.catalog]
    needed = (
        ("postgresWriteEndpoint", parsed.postgres_write_endpoint, any(k.uses_database for k in kinds)),
        ("redisEndpoint", parsed.redis_endpoint, any(k.uses_redis for k in kinds)),
    )
    for key, endpoint, used in needed:
        if not used or endpoint is None:
            continue
        try:
            ipaddress.ip_address(endpoint.host)
        except ValueError:
            yield parsed.problem(
                key,
                str(endpoint),
                f"'{endpoint.host}' is a host name; the apps' NetworkPolicies allow egress to the LB as an ipBlock "
                f"(a NetworkPolicy cannot name a DNS host)",
                "use the LB's IP address, e.g. 10.0.0.10",
            )
    if parsed.environment is None:
        return
    own = {Naming(parsed.environment).namespace(a) for a in apps}
    outside = (
        ("ingressNamespace", parsed.ingress_namespace, "an ingress controller's", "the ingress controller"),
        ("monitoringNamespace", parsed.monitoring_namespace, "a monitoring namespace", "Prometheus"),
    )
    for key, namespace, what, runs in outside:
        if namespace and namespace in own:
            yield parsed.problem(
                key,
                namespace,
                f"is one of this stack's app namespaces, not {what}",
                f"set it to the namespace {runs} runs in",
            )


def egress(parsed: ParsedConfig) -> Iterator[Problem]:
    """No egress the stack allows reaches a node, whatever its CIDR (PH16 made impossible at the network level
    too); the platform's egress names addresses, never the public internet; Vault has an address a
    NetworkPolicy can name."""
    nodes = [ipaddress.ip_address(a) for a in (parsed.postgres_nodes or []) + (parsed.redis_nodes or [])]
    listed: list[tuple[str, list[Egress] | list[str]]] = [
        (a.key("egress"), list(a.egress)) for a in parsed.per_app.values() if a.egress is not None
    ]
    listed += [("kubernetesApiEgress", parsed.kubernetes_api_egress or []), ("vaultCidrs", parsed.vault_cidrs or [])]
    for key, entries in listed:
        for entry in entries:
            cidr = entry.cidr if isinstance(entry, Egress) else entry
            if cidr is None:
                if key == "kubernetesApiEgress":
                    yield parsed.problem(
                        key, str(entry), "the platform's egress names the API server, never the public internet",
                        "list the API server's endpoints: `kubectl get endpoints kubernetes -n default`",
                    )  # fmt: skip
                continue
            network = ipaddress.ip_network(cidr)
            inside = [str(n) for n in nodes if n in network]
            if inside:
                yield parsed.problem(
                    key, str(entry), f"{cidr} contains the node address(es) {', '.join(inside)}: connections never "
                    "target a node (PH16), so no egress may reach one",
                    "narrow the CIDR to the destination's own addresses",
                )  # fmt: skip
    address = parsed.vault_in_cluster_address or parsed.vault_address
    if address and not parsed.vault_cidrs:
        host = urlparse(address).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            yield parsed.problem(
                "vaultCidrs", "", f"Vault is '{host}', a host name: the rotate-root job's NetworkPolicy needs "
                "its addresses (a NetworkPolicy cannot name a DNS host)",
                f"set keybuzz:vaultCidrs to the addresses {host} resolves to, e.g. [\"203.0.113.10/32\"]",
            )  # fmt: skip
