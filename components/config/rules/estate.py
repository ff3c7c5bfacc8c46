"""Rules on the estate: the stack's name, LB-only endpoints, NetworkPolicy needs, credential TTLs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Final

from pydantic import SecretStr

from ...naming import Naming
from ..model import LOGIN_MARGIN_SECONDS
from .common import Model, Report, Values, _needs


def _rule_stack_name(values: Values, stack: str, report: Report, model: Model) -> None:
    if not _needs(values, "environment"):
        return
    env = values["environment"]
    if stack != env and not stack.endswith(f"-{env}"):
        report(
            "environment",
            env,
            f"stack '{stack}' declares environment '{env}'; a stack's name must be '{env}' or end with '-{env}'",
            f"use the stack '{env}' (or e.g. 'lab-{env}'), or set the environment this stack really is",
        )


_ENDPOINT_FIELDS: Final = ("postgres_write_endpoint", "postgres_read_endpoint", "redis_endpoint")
_SKIP_SCAN: Final = {"postgres_nodes", "redis_nodes"}


def node_pattern(address: str) -> re.Pattern[str]:
    """`address` as a whole host: 10.0.0.12 does not match inside 10.0.0.120, 110.0.0.12 or db-10.0.0.12.
    The policy pack's no-node-endpoints uses the same boundaries (tests/policy/test_agreement.py)."""
    return re.compile(rf"(?<![A-Za-z0-9.-]){re.escape(address)}(?![A-Za-z0-9-]|\.\d)", re.IGNORECASE)


def _lb_suggestion(values: Values, field_name: str, nodes: Mapping[str, str], port: int) -> str | None:
    """The LB endpoint to suggest: the configured one when it is sound. When that one is itself a node,
    the LB host seen in the stack's other endpoints, with the service's standard port only if the stack
    uses standard ports (the estate's HAProxy listens on 5432/6379; a lab's LB on its own ports cannot be
    guessed, and a made-up port would be a wrong fix)."""
    own = values.get(field_name)
    if own is not None and own.host not in nodes:
        return str(own)
    standard = {"postgres_write_endpoint": 5432, "postgres_read_endpoint": 5432, "redis_endpoint": 6379}
    for other in _ENDPOINT_FIELDS:
        endpoint = values.get(other)
        if endpoint is not None and endpoint.host not in nodes:
            if endpoint.port == standard.get(other) and (own is None or own.port == port):
                return f"{endpoint.host}:{port}"
            return f"{endpoint.host}:<the LB's port>"
    return None


def _rule_no_node_addresses(values: Values, stack: str, report: Report, model: Model) -> None:
    """No value anywhere in the config may be a node address behind a LB (PH16, topology report)."""
    nodes: dict[str, str] = {a: "Patroni (PostgreSQL) node" for a in values.get("postgres_nodes", [])}
    nodes.update({a: "Redis node" for a in values.get("redis_nodes", [])})
    if not nodes:
        return
    overlap = set(values.get("postgres_nodes", [])) & set(values.get("redis_nodes", []))
    for address in sorted(overlap):
        report(
            "redisNodes",
            address,
            f"{address} is listed both as a Patroni node and as a Redis node",
            "a host is one or the other: fix the node lists",
        )
    lb_pg = _lb_suggestion(values, "postgres_write_endpoint", nodes, 5432)
    lb_redis = _lb_suggestion(values, "redis_endpoint", nodes, 6379)
    patterns = {a: node_pattern(a) for a in nodes}
    for field_name, value in values.items():
        if field_name in _SKIP_SCAN or isinstance(value, SecretStr):
            continue
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if text is None or isinstance(text, bool | int):
                continue
            rendered = str(text)
            for address, kind in nodes.items():
                if not patterns[address].search(rendered):
                    continue
                is_redis_field = field_name == "redis_endpoint"
                if is_redis_field and kind.startswith("Patroni"):
                    why = f"{address} is a {kind}, never Redis"
                elif not is_redis_field and kind == "Redis node" and field_name.startswith("postgres"):
                    why = f"{address} is a {kind}, never PostgreSQL (the topology report's migration-script bug)"
                else:
                    why = f"{address} is a {kind}; connections never target a node (PH16: the node became a replica)"
                lb = lb_redis if is_redis_field else lb_pg
                fix = f"use the LB {lb}" if lb else "use the HAProxy load-balancer endpoint"
                report(model.key_of(field_name), rendered, why, fix)


def _rule_ttls(values: Values, stack: str, report: Report, model: Model) -> None:
    if _needs(values, "credential_ttl_seconds", "credential_max_ttl_seconds"):
        ttl, max_ttl = values["credential_ttl_seconds"], values["credential_max_ttl_seconds"]
        if max_ttl < ttl:
            report(
                "credentialMaxTtlSeconds",
                max_ttl,
                f"max_ttl {max_ttl}s is below default_ttl {ttl}s",
                "raise credentialMaxTtlSeconds to at least credentialTtlSeconds",
            )
        if ttl < 60:
            report(
                "credentialTtlSeconds",
                ttl,
                "a TTL under 60 s leaves no time to roll out new credentials",
                "use at least 60 (seconds)",
            )
    if _needs(values, "credential_ttl_seconds", "secret_refresh_seconds"):
        ttl, refresh = values["credential_ttl_seconds"], values["secret_refresh_seconds"]
        if refresh * 2 >= ttl:
            report(
                "secretRefreshSeconds",
                refresh,
                f"ESO re-issues credentials only every refresh, never renews a lease; a refresh of {refresh}s "
                f"is not below half of credentialTtlSeconds ({ttl}s / 2 = {ttl // 2}s), so apps would hold "
                f"expired credentials (PH16; external-secrets#2184)",
                f"set secretRefreshSeconds to at most {max(1, (ttl - 1) // 2)} or raise credentialTtlSeconds",
            )
    if _needs(values, "credential_ttl_seconds", "vault_login_ttl_seconds"):
        ttl, login = values["credential_ttl_seconds"], values["vault_login_ttl_seconds"]
        wanted = ttl + LOGIN_MARGIN_SECONDS
        if login < 0:
            report("vaultLoginTtlSeconds", login, "must not be negative", f"use 0 (derived: {wanted}) or >= {wanted}")
        elif login and login < wanted:
            report(
                "vaultLoginTtlSeconds",
                login,
                f"ESO's Vault login would expire before the credentials it fetches (credentialTtlSeconds {ttl}s): "
                f"ESO logs in anew for every re-issue and neither renews nor revokes that token, and Vault revokes "
                f"a token's leases when it expires, so the database users would be dropped after ~{login}s "
                f"instead of {ttl}s (external-secrets#2198)",
                f"set vaultLoginTtlSeconds to at least {wanted} (credentialTtlSeconds + {LOGIN_MARGIN_SECONDS} s "
                f"for ESO's time between login and read), or to 0 to derive it, or lower credentialTtlSeconds",
            )


def _rule_network(values: Values, stack: str, report: Report, model: Model) -> None:
    """NetworkPolicies allow egress to the LBs by ipBlock, and ingress from the ingress controller only."""
    apps = values.get("apps", [])
    needed = {
        "postgres_write_endpoint": any(model.catalog[a].uses_database for a in apps if a in model.catalog),
        "redis_endpoint": any(model.catalog[a].uses_redis for a in apps if a in model.catalog),
    }
    for field_name, used in needed.items():
        endpoint = values.get(field_name)
        if not used or endpoint is None:
            continue
        try:
            ipaddress.ip_address(endpoint.host)
        except ValueError:
            report(
                model.key_of(field_name),
                str(endpoint),
                f"'{endpoint.host}' is a host name; the apps' NetworkPolicies allow egress to the LB as an ipBlock "
                f"(a NetworkPolicy cannot name a DNS host)",
                "use the LB's IP address, e.g. 10.0.0.10",
            )
    if _needs(values, "environment", "ingress_namespace"):
        own = {Naming(values["environment"]).namespace(a) for a in apps}
        if values["ingress_namespace"] in own:
            report(
                "ingressNamespace",
                values["ingress_namespace"],
                "is one of this stack's app namespaces, not an ingress controller's",
                "set it to the namespace the ingress controller runs in (e.g. ingress-nginx)",
            )
