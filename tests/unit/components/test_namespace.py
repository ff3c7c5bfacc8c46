"""AppNamespace: the namespace, default-deny, and exactly the exceptions an app needs (DNS, its LBs, its
environment's HTTP apps, ingress on its port)."""

from __future__ import annotations

from typing import Any

from components.namespace import AppNamespace, AppNamespaceArgs
from components.spec import Endpoint
from render import Recorded, run_under_mocks

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PG, REDIS = Endpoint("10.0.0.10", 5432), Endpoint("10.0.0.10", 6379)
DEV_NAMESPACES = ["keybuzz-api-dev", "keybuzz-backend-dev", "keybuzz-client-dev", "keybuzz-worker-dev"]


def _render(app: str, port: int | None, lbs: list[Endpoint], **kw: Any) -> list[Recorded]:
    def program() -> None:
        AppNamespace(
            f"keybuzz-dev-{app}",
            AppNamespaceArgs(
                workload=f"keybuzz-{app}",
                env="dev",
                namespace=f"keybuzz-{app}-dev",
                http_port=port,
                http_pods={"app.kubernetes.io/name": f"keybuzz-{app}"},
                lb_egress=lbs,
                environment_namespaces=DEV_NAMESPACES,
                environment_http_ports=[3001, 4000, 3000],
                ingress_namespace="ingress-nginx",
                **kw,
            ),
        )

    return run_under_mocks(program)


def _policies(resources: list[Recorded]) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in resources if r.type == POLICY}


def _named(names: list[str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {
            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(names)}]
        }
    }


def test_default_deny_covers_every_pod_both_ways_with_no_exception() -> None:
    deny = _policies(_render("client", 3000, []))["default-deny"]
    assert deny["metadata"]["namespace"] == "keybuzz-client-dev"
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_dns_is_allowed_to_kube_system_only_on_53() -> None:
    dns = _policies(_render("client", 3000, []))["allow-dns"]["spec"]
    assert dns["policyTypes"] == ["Egress"]
    [rule] = dns["egress"]
    assert rule["to"] == [_named(["kube-system"])]
    assert rule["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_each_lb_is_one_ip_on_its_own_port() -> None:
    worker = _policies(_render("worker", None, [PG, REDIS]))["allow-lb"]["spec"]
    assert worker["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.0.0.10/32"}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {"to": [{"ipBlock": {"cidr": "10.0.0.10/32"}}], "ports": [{"protocol": "TCP", "port": 6379}]},
    ]
    api = _policies(_render("api", 3001, [PG]))["allow-lb"]["spec"]
    assert [rule["ports"] for rule in api["egress"]] == [[{"protocol": "TCP", "port": 5432}]]


def test_an_app_without_database_or_redis_reaches_no_lb() -> None:
    assert "allow-lb" not in _policies(_render("client", 3000, []))


def test_http_ingress_only_on_the_apps_port_from_the_ingress_controller_and_its_environment() -> None:
    http = _policies(_render("api", 3001, [PG]))["allow-http"]["spec"]
    assert http["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "keybuzz-api"}}
    assert http["policyTypes"] == ["Ingress"]
    [rule] = http["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 3001}]
    assert rule["from"] == [_named(["ingress-nginx"]), _named(DEV_NAMESPACES)]


def test_an_app_serving_nothing_accepts_no_ingress() -> None:
    policies = _policies(_render("worker", None, [PG, REDIS]))
    assert "allow-http" not in policies
    assert not [p for p in policies.values() if "Ingress" in p["spec"]["policyTypes"] and p["spec"].get("ingress")]


def test_egress_inside_the_environment_is_to_its_own_namespaces_on_http_ports() -> None:
    env = _policies(_render("client", 3000, []))["allow-environment"]["spec"]
    [rule] = env["egress"]
    assert rule["to"] == [_named(DEV_NAMESPACES)]
    assert rule["ports"] == [{"protocol": "TCP", "port": p} for p in (3000, 3001, 4000)]


def test_no_policy_opens_anything_to_everyone() -> None:
    """Every peer is a named namespace or an LB /32: no empty `from`/`to`, no 0.0.0.0/0."""
    for app, port, lbs in (("api", 3001, [PG]), ("worker", None, [PG, REDIS]), ("client", 3000, [])):
        for policy in _policies(_render(app, port, lbs)).values():
            for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
                peers = rule.get("from", rule.get("to"))
                assert peers, (app, policy["metadata"]["name"])
                for peer in peers:
                    if "ipBlock" in peer:
                        assert peer["ipBlock"]["cidr"].endswith("/32")
                    else:
                        assert peer["namespaceSelector"]["matchExpressions"][0]["operator"] == "In"
                assert rule["ports"]


def test_the_namespace_is_adopted() -> None:
    resources = _render("api", 3001, [PG], adopt=True)
    [ns] = [r for r in resources if r.type == "kubernetes:core/v1:Namespace"]
    assert ns.import_id == "keybuzz-api-dev"
    assert ns.name == "keybuzz-dev-api-namespace"
    policies = [r for r in resources if r.type == POLICY]
    assert all(ns.urn in p.dependencies for p in policies)


def test_lab_namespaces_skip_await() -> None:
    [ns] = [r for r in _render("api", 3001, [PG], skip_await=True) if r.type == "kubernetes:core/v1:Namespace"]
    assert ns.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
