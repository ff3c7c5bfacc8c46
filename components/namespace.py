"""An app's namespace and its network isolation: default-deny, then exactly the traffic the app needs."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .k8s import awaited, labels_of
from .spec import PRIVATE_RANGES, Egress, Endpoint

#: Name of the NetworkPolicy that denies all ingress and egress in an app namespace (the policy pack's
#: `namespaces-default-deny` rule looks for a policy of this shape, whatever its name).
DEFAULT_DENY = "default-deny"
#: Label every namespace carries since Kubernetes 1.22, set by the API server from the name: selecting
#: namespaces by it cannot be spoofed by labelling another namespace.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
#: Cluster DNS lives in kube-system and answers on port 53 (UDP, and TCP for large answers).
DNS_NAMESPACE = "kube-system"


def namespaces_named(names: Sequence[str]) -> dict[str, Any]:
    """A NetworkPolicy peer selecting exactly these namespaces, by their API-server-set name label."""
    return {
        "namespaceSelector": {
            "matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(set(names))}]
        }
    }


def baseline_policies() -> dict[str, dict[str, Any]]:
    """The NetworkPolicies every namespace of the stack starts with: ``default-deny`` (no ingress, no egress
    for any pod), then ``allow-dns`` (egress to the cluster DNS in ``kube-system`` on UDP/TCP 53)."""
    every_pod: dict[str, Any] = {}
    return {
        DEFAULT_DENY: {"podSelector": every_pod, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": every_pod,
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [namespaces_named([DNS_NAMESPACE])],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    }


def declare_policies(
    prefix: str,
    namespace: str,
    labels: dict[str, str],
    policies: dict[str, dict[str, Any]],
    opts: pulumi.ResourceOptions,
) -> list[str]:
    """One NetworkPolicy per entry of `policies` (name -> spec) in `namespace`; their names."""
    for policy_name, spec in policies.items():
        k8s.networking.v1.NetworkPolicy(
            f"{prefix}-{policy_name}",
            metadata={"name": policy_name, "namespace": namespace, "labels": labels},
            spec=spec,
            opts=opts,
        )
    return list(policies)


def platform_namespace(
    prefix: str,
    namespace: str,
    labels: dict[str, str],
    egress: list[dict[str, Any]],
    opts: pulumi.ResourceOptions,
    skip_await: bool = False,
    adopt: bool = False,
) -> tuple[k8s.core.v1.Namespace, pulumi.ResourceOptions]:
    """A namespace of the platform's own (not an app's): the baseline policies, then only `egress` (one
    ``allow-egress`` policy), no ingress. Returns it and the options of what goes in it."""
    created = k8s.core.v1.Namespace(
        f"{prefix}-namespace",
        metadata={"name": namespace, "labels": labels, "annotations": awaited(skip_await)},
        # An adopted namespace is the estate's: deleting it from the stack leaves it live (issue 17, item 7).
        opts=opts.merge(pulumi.ResourceOptions(import_=namespace if adopt else None, retain_on_delete=adopt)),
    )
    in_ns = opts.merge(pulumi.ResourceOptions(depends_on=[created]))
    policies = baseline_policies()
    policies["allow-egress"] = {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress}
    declare_policies(prefix, namespace, labels, policies, in_ns)
    return created, in_ns


def egress_rules(egress: Sequence[Egress], nodes: Sequence[str]) -> list[dict[str, Any]]:
    """One NetworkPolicy egress rule per destination of `egress`, its ports together. The public internet is
    ``0.0.0.0/0`` except `PRIVATE_RANGES` and every node address outside them (`nodes`): a node is never
    reachable, whatever the stack allows (PH16); a CIDR entry never contains one (a config rule)."""
    ports: dict[str | None, list[int]] = {}
    for entry in egress:
        ports.setdefault(entry.cidr, []).append(entry.port)
    rules = []
    for cidr, to_ports in sorted(ports.items(), key=lambda item: item[0] or ""):
        if cidr is None:
            private = [ipaddress.ip_network(r) for r in PRIVATE_RANGES]
            outside = [n for n in sorted(set(nodes)) if not any(ipaddress.ip_address(n) in r for r in private)]
            public = [host_cidr(n) for n in outside]
            block = {"cidr": "0.0.0.0/0", "except": [*PRIVATE_RANGES, *public]}
        else:
            block = {"cidr": cidr}
        rules.append(
            {"to": [{"ipBlock": block}], "ports": [{"protocol": "TCP", "port": p} for p in sorted(set(to_ports))]}
        )
    return rules


def host_cidr(host: str) -> str:
    """The ``/32`` (or ``/128``) ipBlock of one address (an LB, Vault, a node); a NetworkPolicy cannot name a DNS
    host, so a host name raises ValueError (the config's rules refuse one first)."""
    address = ipaddress.ip_address(host)
    return f"{address}/{address.max_prefixlen}"


@dataclass(frozen=True)
class AppNamespaceArgs:
    """Inputs of `AppNamespace`."""

    #: Physical name of the app's workload (``Naming.workload``): the namespace's and policies' labels.
    workload: str
    env: str
    namespace: str
    #: Port the app's pods serve HTTP on (container port); None when they serve nothing (worker).
    http_port: int | None
    #: Labels selecting the pods that serve `http_port`.
    http_pods: dict[str, str]
    #: The LBs the namespace's pods connect to: PostgreSQL for database apps, Redis for Redis apps.
    lb_egress: Sequence[Endpoint]
    #: Every app namespace of this environment (its own included): the only namespaces it talks to.
    environment_namespaces: Sequence[str]
    #: Container ports of this environment's HTTP apps, reachable from the namespace's pods.
    environment_http_ports: Sequence[int]
    #: Namespace of the ingress controller that routes the public hosts to the HTTP apps.
    ingress_namespace: str
    #: Where its pods connect besides DNS, the LBs and the environment (`egress_rules`).
    egress: Sequence[Egress] = ()
    #: The Patroni and Redis node addresses: never reachable, whatever `egress` allows.
    node_addresses: Sequence[str] = ()
    #: Namespace of the monitoring whose pods scrape the HTTP port; empty: none.
    scrape_namespace: str = ""
    skip_await: bool = False
    adopt: bool = False


class AppNamespace(pulumi.ComponentResource):
    """The namespace of one KeyBuzz app, isolated.

    Type token: ``keybuzz:namespace:AppNamespace``.

    Children: the ``Namespace`` and its ``NetworkPolicies``:

    - ``default-deny``: no ingress, no egress for any pod (everything below is an exception to it);
    - ``allow-dns``: egress to the cluster DNS in ``kube-system`` on UDP/TCP 53;
    - ``allow-lb`` (apps that use PostgreSQL or Redis): egress to each LB as an ipBlock ``/32`` on its port,
      never to a node, never to the LB's other port;
    - ``allow-environment`` (when the environment runs HTTP apps): egress to this environment's app
      namespaces on the HTTP apps' ports;
    - ``allow-egress`` (apps with a ``keybuzz:<app>Egress``): egress to those CIDRs, or to the public internet
      minus the private ranges and the nodes, on those ports only (SMTP for the api, HTTPS for the others);
    - ``allow-monitoring`` (HTTP apps, when ``keybuzz:monitoringNamespace`` is set): ingress on the app's
      port from the monitoring namespace (Prometheus' scrape);
    - ``allow-http`` (HTTP apps): ingress on the app's port from the ingress controller's namespace and from
      this environment's app namespaces.

    Peers are namespaces selected by name (``kubernetes.io/metadata.name``) among this environment's own, so
    DEV and PROD namespaces cannot reach each other in either direction. There is no egress to Vault: no pod
    of an app namespace talks to Vault (ESO's controller does, from its own namespace, which these policies
    do not select), and automounted API tokens are off.

    Outputs: ``namespace``, ``policies``.
    """

    def __init__(self, name: str, args: AppNamespaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:namespace:AppNamespace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = labels_of(args.workload, args.env)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            # Lab stacks: no namespace controller finalizes a deletion, so a destroy must not wait for it.
            metadata={
                "name": args.namespace,
                "labels": labels,
                "annotations": awaited(args.skip_await),
            },
            opts=child.merge(
                pulumi.ResourceOptions(
                    import_=args.namespace if args.adopt else None,
                    # The estate's namespace, with its pods and Secrets: a destroy or an app removed from the
                    # catalog drops it from the state, never from the cluster (issue 17, item 7).
                    retain_on_delete=args.adopt,
                )
            ),
        )
        in_ns = child.merge(pulumi.ResourceOptions(depends_on=[self.namespace]))

        every_pod: dict[str, Any] = {}
        policies = baseline_policies()
        if args.lb_egress:
            policies["allow-lb"] = {
                "podSelector": every_pod,
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": host_cidr(lb.host)}}], "ports": [{"protocol": "TCP", "port": lb.port}]}
                    for lb in args.lb_egress
                ],
            }
        if args.environment_http_ports:
            policies["allow-environment"] = {
                "podSelector": every_pod,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [namespaces_named(args.environment_namespaces)],
                        "ports": [{"protocol": "TCP", "port": p} for p in sorted(set(args.environment_http_ports))],
                    }
                ],
            }
        if args.egress:
            policies["allow-egress"] = {
                "podSelector": every_pod,
                "policyTypes": ["Egress"],
                "egress": egress_rules(args.egress, args.node_addresses),
            }
        if args.http_port is not None and args.scrape_namespace:
            policies["allow-monitoring"] = {
                "podSelector": {"matchLabels": dict(args.http_pods)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [namespaces_named([args.scrape_namespace])],
                        "ports": [{"protocol": "TCP", "port": args.http_port}],
                    }
                ],
            }
        if args.http_port is not None:
            policies["allow-http"] = {
                "podSelector": {"matchLabels": dict(args.http_pods)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            namespaces_named([args.ingress_namespace]),
                            namespaces_named(args.environment_namespaces),
                        ],
                        "ports": [{"protocol": "TCP", "port": args.http_port}],
                    }
                ],
            }

        self.policy_names = declare_policies(name, args.namespace, labels, policies, in_ns)
        self.register_outputs({"namespace": self.namespace.metadata["name"], "policies": self.policy_names})
