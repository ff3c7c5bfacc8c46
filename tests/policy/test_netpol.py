"""The NetworkPolicies of DEV and PROD, judged by a real evaluator (issue 18): IBM's network-config-analyzer
reads the rendered manifests of both stacks as one cluster (`render/netpol.py`) and its connectivity map
must equal the edges declared below, no more and no less.

`DECLARED` is the one place an edge is declared: a new allowance (SMTP for the api, Redis for another app,
monitoring ingress) is a row here, and the tests say which row is missing or which edge is undeclared.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import yaml

from render import REPO, Rendering, stack_file
from render.netpol import (
    ANY,
    ANY_POD,
    Addresses,
    Connection,
    Endpoint,
    Workload,
    allowed_connections,
    canonical,
    network_objects,
    surroundings,
)
from render.netpol_matrix import (
    NODE_PORTS,
    cross_environment,
    markdown,
    namespaces_of,
    node_addresses,
    reaching,
)
from render.unseeded import unseeded

STACKS = ("dev", "prod")

#: Every edge the program declares today, per environment: (from, to, ports). Roles:
#:   "api", "backend", "client", "worker": every pod of that app's namespace (the backend's also runs the
#:       migrations Job: NetworkPolicies select namespaces' pods, not a workload);
#:   "<app> pods": the app's Deployment (its ``allow-http`` selects its pods only);
#:   "every app": every app namespace's pods; "every namespace": those and the platform's;
#:   "reloader", "rotate-root": the platform namespaces (Reloader; the rotate-root CronJob);
#:   "dns": kube-system's pods; "ingress": the ingress controller namespace's pods;
#:   "postgres LB", "redis LB": the stack's LB address (``/32``);
#:   "any IPv4 address": 0.0.0.0/0; "anywhere": every address, v4 and v6, and every pod under no policy;
#:   "public": every IPv4 address but the private ranges (RFC 1918, 100.64/10, 169.254/16, 127/8), the
#:       test's own list, not the program's;
#:   "vault", "api server": the addresses the stack gives them (keybuzz:vaultCidrs, keybuzz:kubernetesApiEgress:
#:       the stand-ins of render/unseeded.py, since the shipped files leave them unset);
#:   "namespace <name>": the pods of a namespace the program does not create (a monitoring namespace);
#:   "cidr <CIDR>[,<CIDR>...]": those addresses (a mail relay, Vault's address).
#: A row naming an app the environment does not run declares nothing there.
DECLARED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("every namespace", "dns", ("UDP 53", "TCP 53")),
    ("api", "postgres LB", ("TCP 5432",)),
    ("api", "redis LB", ("TCP 6379",)),  # TOPO: cache applicatif, rate limiting
    ("api", "public", ("TCP 587",)),  # PH28.2 §6.1: the OTP mail, SMTP submission to a relay
    ("backend", "public", ("TCP 443",)),  # PH15: Amazon SP-API and OAuth
    ("client", "public", ("TCP 443",)),  # PH28.2 §5.1: server-side rendering calls the public API
    ("worker", "public", ("TCP 443",)),  # TOPO: Amazon polling
    ("backend", "postgres LB", ("TCP 5432",)),
    ("worker", "postgres LB", ("TCP 5432",)),
    ("worker", "redis LB", ("TCP 6379",)),
    ("every app", "api pods", ("TCP 3001",)),
    ("every app", "backend pods", ("TCP 4000",)),
    ("every app", "client pods", ("TCP 3000",)),
    ("ingress", "api pods", ("TCP 3001",)),
    ("ingress", "backend pods", ("TCP 4000",)),
    ("ingress", "client pods", ("TCP 3000",)),
    # Vault's addresses (keybuzz:vaultCidrs: Vault is addressed by host name) on its port only.
    ("rotate-root", "vault", ("TCP 8200",)),
    # The API server's endpoints (Reloader watches Secrets and patches Deployments), and nothing else.
    ("reloader", "api server", ("TCP 6443",)),
)

#: Where each role lives: the naming module's names, repeated here so that a renamed namespace is a
#: visible change of the test, not something the test follows silently.
NAMESPACES = {
    "api": "keybuzz-api-{env}",
    "backend": "keybuzz-backend-{env}",
    "client": "keybuzz-client-{env}",
    "worker": "keybuzz-worker-{env}",
    "reloader": "keybuzz-reloader-{env}",
    "rotate-root": "keybuzz-ops-{env}",
}
APPS = ("api", "backend", "client", "worker")
PLATFORM = ("reloader", "rotate-root")


#: The address ranges the test holds outside "public" (written here, not imported from the program).
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8")


def stack_config(stack: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(stack_file(stack).read_text())["config"]
    return config


def _host(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[0]


class Environment:
    """One stack's roles resolved to what NCA answers with (workloads, address sets)."""

    def __init__(self, stack: str, objects: list[dict[str, Any]], everything: list[dict[str, Any]]):
        self.stack = stack
        config = stack_config(stack)
        self.apps = [a for a in APPS if a in config["keybuzz:apps"]]
        self.namespaces = {role: NAMESPACES[role].format(env=stack) for role in [*self.apps, *PLATFORM]}
        self.workloads: dict[str, list[Workload]] = {ns: [] for ns in self.namespaces.values()}
        for obj in objects:
            if obj["kind"] in {"Deployment", "Job", "CronJob", "StatefulSet", "DaemonSet", "Pod"}:
                ns = obj["metadata"]["namespace"]
                self.workloads.setdefault(ns, []).append(Workload(ns, obj["metadata"]["name"], obj["kind"]))
        self.outside = [
            Workload(o["metadata"]["namespace"], ANY_POD, o["kind"])
            for o in surroundings(everything)
            if o["kind"] != "Namespace"
        ]
        stand_ins = unseeded(stack)
        self.ingress = config.get("keybuzz:ingressNamespace", stand_ins.get("ingressNamespace"))
        vault = config.get("keybuzz:vaultCidrs", stand_ins.get("vaultCidrs"))
        api_server = config.get("keybuzz:kubernetesApiEgress", stand_ins.get("kubernetesApiEgress"))
        self.lbs = {
            "postgres LB": Addresses.of([f"{_host(config['keybuzz:postgresWriteEndpoint'])}/32"]),
            "redis LB": Addresses.of([f"{_host(config['keybuzz:redisEndpoint'])}/32"]),
            "vault": Addresses.of(vault),
            "api server": Addresses.of([_host(e) for e in api_server]),
            "public": Addresses.outside(PRIVATE),
        }

    def sources(self, role: str) -> list[Endpoint]:
        if role == "every namespace":
            roles = [*self.apps, *PLATFORM]
        elif role == "every app":
            roles = self.apps
        elif role == "ingress":
            return [Workload(self.ingress, ANY_POD, "Deployment")]
        elif role.startswith("namespace "):
            return [Workload(role.removeprefix("namespace "), ANY_POD, "Deployment")]
        elif role in (*APPS, *PLATFORM):
            roles = [role] if role in self.namespaces else []
        else:
            raise AssertionError(f"DECLARED names an unknown source role {role!r}")
        return [w for r in roles for w in self.workloads[self.namespaces[r]]]

    def destinations(self, role: str) -> list[Endpoint]:
        if role.endswith(" pods"):
            app = role.removesuffix(" pods")
            return [Workload(self.namespaces[app], f"keybuzz-{app}", "Deployment")] if app in self.apps else []
        if role == "dns":
            return [Workload("kube-system", ANY_POD, "Deployment")]
        if role in self.lbs:
            return [self.lbs[role]]
        if role == "any IPv4 address":
            return [Addresses.of(["0.0.0.0/0"])]
        if role == "anywhere":
            return [Addresses.of(["0.0.0.0/0", "::/0"]), *self.outside]
        if role.startswith("namespace "):
            return [Workload(role.removeprefix("namespace "), ANY_POD, "Deployment")]
        if role.startswith("cidr "):
            return [Addresses.of(role.removeprefix("cidr ").split(","))]
        raise AssertionError(f"DECLARED names an unknown destination role {role!r}")

    def declared(self) -> list[Connection]:
        return canonical(
            (source, destination, ports)
            for from_, to, ports in DECLARED
            for source in self.sources(from_)
            for destination in self.destinations(to)
        )


def atoms(connections: Iterable[Connection]) -> set[tuple[str, str, str]]:
    return {(str(c.source), str(c.destination), port) for c in connections for port in c.ports}


@pytest.fixture(scope="module")
def objects(dev: Rendering, prod: Rendering) -> dict[str, list[dict[str, Any]]]:
    return {"dev": network_objects(dev), "prod": network_objects(prod)}


@pytest.fixture(scope="module")
def everything(objects: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [o for stack in STACKS for o in objects[stack]]


@pytest.fixture(scope="module")
def connections(everything: list[dict[str, Any]]) -> list[Connection]:
    """NCA's answer for DEV and PROD together."""
    return allowed_connections(everything)


@pytest.fixture(scope="module")
def by_env(objects: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    return {stack: namespaces_of(objects[stack]) for stack in STACKS}


@pytest.fixture(scope="module")
def environments(objects: dict[str, list[dict[str, Any]]], everything: list[dict[str, Any]]) -> dict[str, Environment]:
    return {stack: Environment(stack, objects[stack], everything) for stack in STACKS}


def test_the_table_knows_every_namespace_of_both_stacks(
    environments: dict[str, Environment], by_env: dict[str, set[str]]
) -> None:
    for stack, env in environments.items():
        assert set(env.namespaces.values()) == by_env[stack]


def test_dev_and_prod_pods_never_reach_each_other(connections: list[Connection], by_env: dict[str, set[str]]) -> None:
    assert cross_environment(connections, by_env) == []
    # ...and the evaluation did see both: each environment's pods reach their own.
    for own in by_env.values():
        assert any(isinstance(c.destination, Workload) and c.destination.namespace in own for c in connections)


def test_no_program_pod_reaches_a_node_on_its_service_ports(
    connections: list[Connection], by_env: dict[str, set[str]]
) -> None:
    nodes = sorted({a for stack in STACKS for a in node_addresses(stack)})
    assert nodes == [f"10.0.0.{i}" for i in range(120, 126)]  # both stack files list the same estate
    assert reaching(connections, set().union(*by_env.values()), nodes, NODE_PORTS) == []


def test_no_program_pod_reaches_a_node_at_all(connections: list[Connection], by_env: dict[str, set[str]]) -> None:
    nodes = sorted({a for stack in STACKS for a in node_addresses(stack)})
    found = reaching(connections, set().union(*by_env.values()), nodes)
    assert [f"{c.source} -> {c.destination}: {c.ports}" for c, _ in found] == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_declared_edge_is_allowed(
    stack: str, environments: dict[str, Environment], connections: list[Connection], by_env: dict[str, set[str]]
) -> None:
    actual = atoms(c for c in connections if c.touches(by_env[stack]))
    missing = sorted(atoms(environments[stack].declared()) - actual)
    assert missing == []


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_else_reaches_or_leaves_the_namespaces(
    stack: str, environments: dict[str, Environment], connections: list[Connection], by_env: dict[str, set[str]]
) -> None:
    actual = atoms(c for c in connections if c.touches(by_env[stack]))
    undeclared = sorted(actual - atoms(environments[stack].declared()))
    assert undeclared == []


# --- the evaluator evaluates: a broken policy changes its answer -------------------------------------


def _mutated(everything: list[dict[str, Any]], change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> list:
    """The objects with `change` applied to a copy of each (None drops it)."""
    out = []
    for obj in everything:
        changed = change(copy.deepcopy(obj))
        if changed is not None:
            out.append(changed)
    return out


def _is(obj: dict[str, Any], kind: str, namespace: str, name: str) -> bool:
    meta = obj["metadata"]
    return obj["kind"] == kind and meta.get("namespace") == namespace and meta["name"] == name


def test_a_missing_default_deny_opens_the_namespace_to_prod_and_to_everyone(
    everything: list[dict[str, Any]], connections: list[Connection], by_env: dict[str, set[str]]
) -> None:
    # The worker serves nothing: no allow-http selects its pods, so default-deny is all that closes them.
    broken = allowed_connections(
        _mutated(
            everything,
            lambda o: None if _is(o, "NetworkPolicy", "keybuzz-worker-dev", "default-deny") else o,
        )
    )
    worker = Workload("keybuzz-worker-dev", "keybuzz-worker", "Deployment")
    new = set(broken) - set(connections)
    into_worker = {(str(c.source), c.ports) for c in new if c.destination == worker}
    assert ("elsewhere/any-pod", (ANY,)) in into_worker
    assert ("0.0.0.0/0, ::/0", (ANY,)) in into_worker
    # Every PROD egress names its peers (own namespaces, LBs, public addresses, Vault, the API server): even
    # with DEV's worker open to all, no PROD pod may reach it.
    assert cross_environment(broken, by_env) == []
    assert all(c.destination == worker for c in new)


def test_an_lb_block_widened_to_the_subnet_reaches_every_node(
    everything: list[dict[str, Any]], by_env: dict[str, set[str]]
) -> None:
    def widen(obj: dict[str, Any]) -> dict[str, Any]:
        if _is(obj, "NetworkPolicy", "keybuzz-worker-dev", "allow-lb"):
            for rule in obj["spec"]["egress"]:
                rule["to"] = [{"ipBlock": {"cidr": "10.0.0.0/24"}}]
        return obj

    broken = allowed_connections(_mutated(everything, widen))
    nodes = node_addresses("dev")
    found = reaching(broken, set().union(*by_env.values()), nodes, NODE_PORTS)
    assert [(str(c.source), str(c.destination), c.ports, hit) for c, hit in found] == [
        ("keybuzz-worker-dev/keybuzz-worker", "10.0.0.0/24", ("TCP 5432", "TCP 6379"), nodes)
    ]


def test_prod_ingress_opened_to_every_namespace_is_no_dev_edge_but_opens_it_to_the_cluster(
    everything: list[dict[str, Any]], connections: list[Connection], by_env: dict[str, set[str]]
) -> None:
    """Both ends must allow a connection: DEV's egress still stops DEV, not the rest of the cluster."""

    def from_everywhere(obj: dict[str, Any]) -> dict[str, Any]:
        if _is(obj, "NetworkPolicy", "keybuzz-api-prod", "allow-http"):
            obj["spec"]["ingress"][0]["from"] = [{"namespaceSelector": {}}]
        return obj

    broken = allowed_connections(_mutated(everything, from_everywhere))
    assert cross_environment(broken, by_env) == []
    new = sorted((str(c.source), str(c.destination), c.ports) for c in set(broken) - set(connections))
    assert new == [
        ("elsewhere/any-pod", "keybuzz-api-prod/keybuzz-api", ("TCP 3001",)),
        ("kube-system/any-pod", "keybuzz-api-prod/keybuzz-api", ("TCP 3001",)),
    ]


def test_the_reading_of_ports_and_blocks() -> None:
    """Port ranges, several protocols, a port-less rule, ``except`` blocks: as NCA computes them."""
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "out", "namespace": "a"},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}],
                    "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}, {"protocol": "UDP", "port": 53}],
                },
                {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}]},
                {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"protocol": "SCTP"}]},
            ],
        },
    }
    pod = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "a"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x", "image": "x"}]}},
        },
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}
    out = [c for c in allowed_connections([namespace, pod, policy]) if str(c.source) == "a/x"]
    assert [(str(c.destination), c.ports) for c in out] == [
        ("192.0.2.0/25", ("TCP 8000-8100", "UDP 53")),
        ("198.51.100.0/24", (ANY,)),
        ("203.0.113.0/24", ("SCTP any",)),
    ]
    block = out[0].destination
    assert isinstance(block, Addresses)
    assert "192.0.2.1" in block
    assert "192.0.2.200" not in block


# --- the committed matrix ----------------------------------------------------------------------------


def test_the_committed_network_matrix_is_current(objects: dict[str, list[dict[str, Any]]]) -> None:
    committed = (REPO / "docs" / "network-matrix.md").read_text()
    assert committed == markdown(objects), "docs/network-matrix.md is stale: python -m render.netpol_matrix > it"
