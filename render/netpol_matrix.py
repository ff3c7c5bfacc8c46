"""The network matrix of DEV and PROD as NCA evaluates their NetworkPolicies, as Markdown.

    python -m render.netpol_matrix > docs/network-matrix.md

tests/policy/test_netpol.py fails when the committed file differs from what this prints.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from components.spec import PRIVATE_RANGES
from render import render_stack, stack_file
from render.netpol import ANY_POD, Addresses, Connection, Endpoint, Workload, allowed_connections, network_objects

STACKS = ("dev", "prod")
#: Ports a node serves that no program pod may reach: PostgreSQL, Redis, Patroni's REST API.
NODE_PORTS = (5432, 6379, 8008)


def node_addresses(stack: str) -> list[str]:
    """The PostgreSQL and Redis nodes a stack file lists (the addresses behind its LBs)."""
    config = yaml.safe_load(stack_file(stack).read_text())["config"]
    return [*config.get("keybuzz:postgresNodes", []), *config.get("keybuzz:redisNodes", [])]


def namespaces_of(objects: Iterable[Mapping[str, Any]]) -> set[str]:
    return {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}


def allows_port(notation: str, port: int, protocol: str = "TCP") -> bool:
    """Whether a `Connection.ports` notation lets `protocol`/`port` through."""
    if notation == "any":
        return True
    proto, _, ports = notation.partition(" ")
    if proto != protocol:
        return False
    if ports == "any":
        return True
    first, _, last = ports.partition("-")
    return int(first) <= port <= int(last or first)


def cross_environment(connections: Iterable[Connection], by_env: Mapping[str, set[str]]) -> list[Connection]:
    """Connections whose two ends are workloads of two different environments."""
    env_of = {ns: env for env, names in by_env.items() for ns in names}
    return [
        c
        for c in connections
        if isinstance(c.source, Workload)
        and isinstance(c.destination, Workload)
        and c.source.namespace in env_of
        and c.destination.namespace in env_of
        and env_of[c.source.namespace] != env_of[c.destination.namespace]
    ]


def reaching(
    connections: Iterable[Connection], namespaces: set[str], addresses: Iterable[str], ports: Sequence[int] = ()
) -> list[tuple[Connection, list[str]]]:
    """Connections from a workload of `namespaces` to an address set holding one of `addresses` (on one of
    `ports` over TCP, or on any port when `ports` is empty), with the addresses they reach."""
    found = []
    for c in connections:
        if not (isinstance(c.source, Workload) and c.source.namespace in namespaces):
            continue
        if not isinstance(c.destination, Addresses):
            continue
        hit = [a for a in addresses if a in c.destination]
        if hit and (not ports or any(allows_port(n, p) for n in c.ports for p in ports)):
            found.append((c, hit))
    return found


def _label(endpoint: Endpoint, own: set[str]) -> str:
    if isinstance(endpoint, Addresses):
        # NCA answers the public internet as its ~40 CIDRs: named, so the grid stays readable.
        return (
            f"public IPv4 (all but {', '.join(PRIVATE_RANGES)})"
            if endpoint == Addresses.outside(PRIVATE_RANGES)
            else str(endpoint)
        )
    if endpoint.name == ANY_POD and endpoint.namespace not in own:
        return f"{endpoint.namespace} (any pod)"
    return f"{endpoint.namespace}/{endpoint.name}"


def _column_rank(endpoint: Endpoint, own: set[str]) -> tuple[int, str]:
    if isinstance(endpoint, Workload):
        return (0 if endpoint.namespace in own else 1), str(endpoint)
    return 2, str(endpoint)


def grid(connections: Sequence[Connection], own: set[str]) -> str:
    """A Markdown table: one row per source, one column per destination, the allowed ports in each cell;
    only connections with an end in `own` (one environment's namespaces)."""
    mine = [c for c in connections if c.touches(own)]
    sources = sorted({c.source for c in mine}, key=lambda e: _column_rank(e, own))
    destinations = sorted({c.destination for c in mine}, key=lambda e: _column_rank(e, own))
    cell = {(c.source, c.destination): ", ".join(c.ports) for c in mine}
    lines = [
        "| from \\ to | " + " | ".join(_label(d, own) for d in destinations) + " |",
        "|---|" + "---|" * len(destinations),
    ]
    for s in sources:
        lines.append(f"| {_label(s, own)} | " + " | ".join(cell.get((s, d), "") for d in destinations) + " |")
    return "\n".join(lines)


def markdown(objects_by_stack: Mapping[str, list[dict[str, Any]]]) -> str:
    """The whole document: the evaluation of every stack together, one grid per stack, and the checks'
    findings (edges between stacks, program pods reaching a node address)."""
    everything = [o for objects in objects_by_stack.values() for o in objects]
    connections = allowed_connections(everything)
    by_env = {stack: namespaces_of(objects) for stack, objects in objects_by_stack.items()}
    program = set().union(*by_env.values())
    nodes = sorted({a for stack in objects_by_stack for a in node_addresses(stack)})
    out = [
        "# Network matrix (generated)",
        "",
        "<!-- python -m render.netpol_matrix > docs/network-matrix.md (tests/policy/test_netpol.py: not stale) -->",
        "",
        "What the NetworkPolicies of the rendered DEV and PROD manifests allow, evaluated together as one",
        "cluster by IBM's network-config-analyzer (`render/netpol.py`). Rows are sources, columns destinations,",
        "cells the allowed ports; an empty cell is denied. `(any pod)` is a namespace the program does not",
        "create: `kube-system` (DNS), the ingress controller's, and `elsewhere`, standing for every other",
        "namespace of the cluster. Addresses are outside the cluster's pods. The declared edges these must",
        "equal are the table `DECLARED` in tests/policy/test_netpol.py.",
        "",
    ]
    for stack, own in by_env.items():
        out += [f"## {stack.upper()}", "", grid(connections, own), ""]
    crossing = cross_environment(connections, by_env)
    out += ["## Checks", "", f"- Between environments: {len(crossing)} connections."]
    for c in crossing:
        out.append(f"  - {c.source} -> {c.destination}: {', '.join(c.ports)}")
    on_ports = reaching(connections, program, nodes, NODE_PORTS)
    at_all = reaching(connections, program, nodes)
    out.append(
        f"- Program pods reaching a node address ({', '.join(nodes)}) on "
        f"{'/'.join(map(str, NODE_PORTS))}: {len(on_ports)} connections."
    )
    for c, hit in on_ports:
        out.append(f"  - {c.source} -> {', '.join(hit)} (in {c.destination}): {', '.join(c.ports)}")
    out.append(f"- Program pods reaching a node address on any port: {len(at_all)} connections.")
    for c, hit in at_all:
        out.append(f"  - {c.source} -> {', '.join(hit)} (in {c.destination}): {', '.join(c.ports)}")
    return "\n".join(out) + "\n"


def render_objects(stacks: Sequence[str] = STACKS) -> dict[str, list[dict[str, Any]]]:
    return {stack: network_objects(render_stack(stack)) for stack in stacks}


def main() -> int:
    sys.stdout.write(markdown(render_objects()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
