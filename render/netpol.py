"""Which connections the rendered NetworkPolicies allow, as a real evaluator computes them.

    connections = allowed_connections([*network_objects(dev), *network_objects(prod)])

The evaluator is IBM's network-config-analyzer (NCA, `requirements-dev.txt`): it reads manifests
(Namespaces, NetworkPolicies, the workloads that own pods) offline and computes the connectivity map
with Kubernetes' semantics (policies union per direction, a pod selected by no policy of a direction
is open in it, ``ipBlock`` peers, named ports). The project's own reading of its policies is not
involved: what is judged is the manifests `render.manifests` writes from the real program.

Both stacks are evaluated together, as one cluster, so an edge between DEV and PROD would show. The
cluster around them is modelled by `surroundings`: every namespace a policy names but the program does
not create (``kube-system`` for DNS, the ingress controller's) exists with one pod that has no policy of
its own, as does ``elsewhere``, a namespace no policy names (any other tenant of the cluster). Addresses
outside the cluster are NCA's IP blocks.

The answer is data: one `Connection` per (source, destination) with the ports allowed, canonical
(addresses merged per source and port, then grouped by address set), so two answers compare with ``==``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import ipaddress
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from nca.CoreDS.ConnectivityProperties import ConnectivityProperties
from nca.CoreDS.Peer import BasePeerSet, IpBlock, Pod
from nca.CoreDS.ProtocolSet import ProtocolSet
from nca.FWRules.ConnectivityGraph import ConnectivityGraph
from nca.NetworkConfig.NetworkConfig import PolicyConnectionsFilter
from nca.NetworkConfig.ResourcesHandler import ResourcesHandler
from nca.Utils.OutputConfiguration import OutputConfiguration

from render import Rendering
from render.manifests import manifests

#: Kinds the evaluator needs: the rest (ExternalSecrets, RBAC, ...) carries no network fact, and NCA skips
#: a whole file that contains Go-template braces (`{{ .password }}` in an ExternalSecret template).
NETWORK_KINDS = frozenset(
    {"Namespace", "NetworkPolicy", "Service", "Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
)
POD_OWNER_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"})
#: The label the API server sets on every namespace from its name.
NAME_LABEL = "kubernetes.io/metadata.name"
#: A namespace no policy names: stands for every other namespace of the cluster.
ELSEWHERE = "elsewhere"
#: The one workload `surroundings` puts in each namespace it models.
ANY_POD = "any-pod"
#: Port notation of `Connection.ports` for "every protocol, every port" (what a pod without policy accepts).
ANY = "any"
_PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")


class EvaluatorError(RuntimeError):
    """NCA did not read what it was given (a file skipped, an object dropped): its answer would be wrong."""


@dataclass(frozen=True, order=True)
class Workload:
    """The pods of one owner (Deployment, Job, CronJob, ...) in one namespace."""

    namespace: str
    name: str
    kind: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class Addresses:
    """A set of IP addresses outside the cluster's pods, as the smallest list of CIDRs."""

    cidrs: tuple[str, ...]

    @classmethod
    def of(cls, networks: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network]) -> Addresses:
        parsed = [ipaddress.ip_network(n) for n in networks]
        v4 = ipaddress.collapse_addresses(n for n in parsed if isinstance(n, ipaddress.IPv4Network))
        v6 = ipaddress.collapse_addresses(n for n in parsed if isinstance(n, ipaddress.IPv6Network))
        return cls(tuple(str(n) for n in [*v4, *v6]))

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(c) for c in self.cidrs]

    def __contains__(self, address: object) -> bool:
        ip = ipaddress.ip_address(str(address))
        return any(ip in network for network in self.networks())

    def __str__(self) -> str:
        return ", ".join(self.cidrs)

    @classmethod
    def outside(cls, excluded: Iterable[str]) -> Addresses:
        """Every IPv4 address but `excluded` (CIDRs): how NCA answers ``0.0.0.0/0`` with ``except`` blocks."""
        remaining = [ipaddress.IPv4Network("0.0.0.0/0")]
        for hole in map(ipaddress.IPv4Network, excluded):
            remaining = [
                piece
                for network in remaining
                for piece in (network.address_exclude(hole) if hole.subnet_of(network) else [network])
                if not piece.subnet_of(hole)
            ]
        return cls.of(remaining)


Endpoint = Workload | Addresses


@dataclass(frozen=True, order=True)
class Connection:
    """Traffic NCA allows from `source` to `destination`: ``ports`` like ``TCP 5432``, ``UDP 53``,
    ``TCP 1000-2000``, ``TCP any`` (every port of one protocol), ``other protocols``, or ``any``."""

    source: Endpoint
    destination: Endpoint
    ports: tuple[str, ...]

    def touches(self, namespaces: Iterable[str]) -> bool:
        names = set(namespaces)
        return any(isinstance(end, Workload) and end.namespace in names for end in (self.source, self.destination))


# --- the model NCA evaluates ------------------------------------------------------------------------


def network_objects(rendering: Rendering) -> list[dict[str, Any]]:
    """The objects of a rendering that decide who talks to whom (`NETWORK_KINDS`)."""
    return [obj for obj in manifests(rendering) if obj["kind"] in NETWORK_KINDS]


def _named_namespaces(selector: Mapping[str, Any]) -> set[str]:
    """The namespaces a namespaceSelector picks by their name label (the only way the program selects)."""
    names = set()
    if NAME_LABEL in (selector.get("matchLabels") or {}):
        names.add(selector["matchLabels"][NAME_LABEL])
    for expression in selector.get("matchExpressions") or []:
        if expression.get("key") == NAME_LABEL and expression.get("operator") == "In":
            names.update(expression.get("values") or [])
    return names


def _policy_peers(policy: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = policy.get("spec") or {}
    for rule in spec.get("ingress") or []:
        yield from rule.get("from") or []
    for rule in spec.get("egress") or []:
        yield from rule.get("to") or []


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {NAME_LABEL: name}}}


def _any_pod(namespace: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": ANY_POD}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": ANY_POD, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "any", "image": "any"}]}},
        },
    }


def surroundings(objects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The cluster around `objects`: each namespace their policies name but they do not create, and
    `ELSEWHERE`, each with one workload (`ANY_POD`) under no policy."""
    created = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    named: set[str] = set()
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        for peer in _policy_peers(policy):
            named |= _named_namespaces(peer.get("namespaceSelector") or {})
    outside = sorted((named - created) | {ELSEWHERE})
    return [obj for ns in outside for obj in (_namespace(ns), _any_pod(ns))]


def _with_name_labels(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Objects with the name label the API server adds to every Namespace (NCA adds it too; explicit here
    so the model does not depend on that)."""
    out = []
    for obj in objects:
        own = copy.deepcopy(dict(obj))
        if own["kind"] == "Namespace":
            own["metadata"]["labels"] = {**(own["metadata"].get("labels") or {}), NAME_LABEL: own["metadata"]["name"]}
        out.append(own)
    return out


# --- running NCA ----------------------------------------------------------------------------------


_WORKLOAD = re.compile(r"^(?P<namespace>[^/]+)/(?P<name>.+)\((?P<kind>[^()]+)\)$")


def _workload(pod: Any) -> Workload:
    found = _WORKLOAD.match(pod.workload_name)
    if not found:
        raise EvaluatorError(f"cannot read NCA's workload name {pod.workload_name!r}")
    return Workload(found["namespace"], found["name"], found["kind"])


def _ports(props: Any) -> tuple[str, ...]:
    """NCA connection properties (no peers) as port notations."""
    if props.is_all():
        return (ANY,)
    found: list[str] = []
    with_ports = ConnectivityProperties.make_conn_props_from_dict({"protocols": ProtocolSet()})
    for protocol in _PORT_PROTOCOLS:
        only = ConnectivityProperties.make_conn_props_from_dict(
            {"protocols": ProtocolSet.get_protocol_set_with_single_protocol(protocol)}
        )
        with_ports |= only
        of_protocol = props & only
        for cube in of_protocol:
            fields = of_protocol.get_cube_dict(cube)
            unexpected = set(fields) - {"protocols", "dst_ports"}
            if unexpected:
                raise EvaluatorError(f"NCA answered with {sorted(unexpected)}, which this reading does not handle")
            items = fields.get("dst_ports")
            found += [f"{protocol} {item}" for item in items] if items else [f"{protocol} any"]
    if props - with_ports:
        found.append("other protocols")
    return tuple(sorted(set(found), key=_port_key))


def _port_key(notation: str) -> tuple[str, int, str]:
    protocol, _, port = notation.partition(" ")
    first = port.split("-", 1)[0]
    return protocol, int(first) if first.isdigit() else -1, port


def _run_nca(folder: Path) -> tuple[Any, Any]:
    """NCA's network config of every YAML file in `folder`, and its allowed connections."""
    BasePeerSet.reset()  # NCA keeps every peer it ever parsed in a singleton: start from none
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        config = ResourcesHandler().get_network_config(None, None, None, [f"{folder}/**"])
        allowed = config.allowed_connections(res_conns_filter=PolicyConnectionsFilter.only_all_allowed_connections())
        conns = config.filter_conns_by_peer_types(allowed.all_allowed_conns)
    if "Skipping" in err.getvalue() or "Error" in err.getvalue():
        raise EvaluatorError(f"NCA did not read every file:\n{err.getvalue()}")
    return config, conns


def _check_read(config: Any, objects: Sequence[Mapping[str, Any]]) -> None:
    """Every policy and every pod owner given is in NCA's model (it drops what it cannot parse)."""
    given_policies = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in objects if o["kind"] == "NetworkPolicy"
    }
    read_policies = {name for name, _ in config.policies_container.policies}
    given_owners = {
        Workload(o["metadata"]["namespace"], o["metadata"]["name"], o["kind"])
        for o in objects
        if o["kind"] in POD_OWNER_KINDS
    }
    read_owners = {_workload(p) for p in config.peer_container.get_all_peers_group() if isinstance(p, Pod)}
    if given_policies != read_policies or given_owners != read_owners:
        raise EvaluatorError(
            "NCA's model differs from its input: "
            f"policies not read {sorted(given_policies - read_policies)}, "
            f"workloads not read {sorted(map(str, given_owners - read_owners))}, "
            f"workloads it made up {sorted(map(str, read_owners - given_owners))}"
        )


def _raw_connections(config: Any, conns: Any) -> Iterator[tuple[Endpoint, Endpoint, tuple[str, ...]]]:
    graph = ConnectivityGraph(conns.get_all_peers(), config.get_allowed_labels(), OutputConfiguration({}))
    graph.add_props_to_graph(conns, config.peer_container)

    def endpoint(peer: Any) -> Endpoint:
        if isinstance(peer, Pod):
            return _workload(peer)
        if isinstance(peer, IpBlock):
            return Addresses.of(peer.get_cidr_list())
        raise EvaluatorError(f"NCA answered with a peer of kind {type(peer).__name__} ({peer})")

    for props, pairs in graph.props_to_peers.items():
        if not props:
            continue
        ports = _ports(props)
        for source, destination in pairs:
            yield endpoint(source), endpoint(destination), ports


def canonical(triples: Iterable[tuple[Endpoint, Endpoint, Iterable[str]]]) -> list[Connection]:
    """Connections from (source, destination, ports) triples, whatever their grouping: ports merged per
    workload pair; addresses merged per (workload, direction, port), then grouped by address set."""
    between: dict[tuple[Workload, Workload], set[str]] = defaultdict(set)
    addresses: dict[tuple[Workload, bool, str], list[str]] = defaultdict(list)
    for source, destination, ports in triples:
        if isinstance(source, Workload) and isinstance(destination, Workload):
            between[source, destination] |= set(ports)
        elif isinstance(source, Workload) and isinstance(destination, Addresses):
            for port in ports:
                addresses[source, True, port] += destination.cidrs
        elif isinstance(source, Addresses) and isinstance(destination, Workload):
            for port in ports:
                addresses[destination, False, port] += source.cidrs
    grouped: dict[tuple[Workload, bool, Addresses], set[str]] = defaultdict(set)
    for (workload, outgoing, port), cidrs in addresses.items():
        grouped[workload, outgoing, Addresses.of(cidrs)].add(port)
    found = [Connection(s, d, tuple(sorted(p, key=_port_key))) for (s, d), p in between.items()]
    for (workload, outgoing, block), ports in grouped.items():
        ordered = tuple(sorted(ports, key=_port_key))
        found.append(Connection(workload, block, ordered) if outgoing else Connection(block, workload, ordered))
    return sorted(found, key=_connection_key)


def _connection_key(c: Connection) -> tuple[str, str, tuple[str, ...]]:
    return str(c.source), str(c.destination), c.ports


def allowed_connections(objects: Sequence[Mapping[str, Any]]) -> list[Connection]:
    """Every connection NCA allows among `objects` and their `surroundings`, canonical (see `canonical`).

    Raises EvaluatorError if NCA did not read every policy and workload it was given.
    """
    given = _with_name_labels([*objects, *surroundings(objects)])
    with tempfile.TemporaryDirectory(prefix="keybuzz-netpol-") as tmp:
        folder = Path(tmp)
        (folder / "cluster.yaml").write_text(yaml.safe_dump_all(given, sort_keys=False))
        config, conns = _run_nca(folder)
    _check_read(config, given)
    return canonical(_raw_connections(config, conns))
