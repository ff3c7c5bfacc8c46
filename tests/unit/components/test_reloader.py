"""Reloader: pinned image, arguments shared with the lab, RBAC only in the environment's app namespaces,
and every app Deployment wired to the Secrets it reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components.pickup import (
    RELOAD_ANNOTATION,
    RELOADED_FROM_ANNOTATION,
    RELOADER_IMAGE,
    RELOADER_VERSION,
    reloader_args,
)
from components.reloader import Reloader, ReloaderArgs
from components.spec import Egress
from render import Recorded, Rendering, run_under_mocks

REPO = Path(__file__).resolve().parents[3]
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_WIDE = (
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
)


#: The API server as the stack lists it (keybuzz:kubernetesApiEgress).
API_SERVER = Egress("192.0.2.10/32", 6443)


def _render(**kw: Any) -> list[Recorded]:
    def program() -> None:
        Reloader(
            "reloader",
            ReloaderArgs(
                env="prod",
                namespace="keybuzz-reloader-prod",
                service_account="keybuzz-reloader",
                app_namespaces={"keybuzz-api-prod": "keybuzz-api-prod", "keybuzz-worker-prod": "keybuzz-worker-prod"},
                api_server=[API_SERVER],
                **kw,
            ),
        )

    return run_under_mocks(program, stack="prod")


def _reloader_container(resources: list[Recorded] | Rendering) -> dict[str, Any]:
    items = resources.resources if isinstance(resources, Rendering) else resources
    [d] = [r for r in items if r.type == DEPLOYMENT and r.inputs["metadata"]["name"] == "keybuzz-reloader"]
    [container] = d.inputs["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_image_is_the_pinned_release_the_lab_builds() -> None:
    pins = dict(
        line.split("=", 1)
        for line in (REPO / "toolchain" / "pins.env").read_text().splitlines()
        if re.match(r"^\w+=", line)
    )
    assert pins["RELOADER_VERSION"] == RELOADER_VERSION
    assert f"ghcr.io/stakater/reloader:v{RELOADER_VERSION}" == RELOADER_IMAGE
    assert _reloader_container(_render())["image"] == RELOADER_IMAGE


def test_arguments_watch_only_the_given_namespaces_with_the_annotations_strategy() -> None:
    args = _reloader_container(_render())["args"]
    assert args == reloader_args(["keybuzz-worker-prod", "keybuzz-api-prod"])
    assert args[0] == "--namespaces=keybuzz-api-prod,keybuzz-worker-prod"
    assert "--reload-strategy=annotations" in args  # a field Pulumi does not own (no fight on `up`)
    assert "--ignored-workload-types=jobs,cronjobs" in args  # never re-runs the migrations Job
    assert not any(a.startswith(("--auto-reload-all", "--namespace-selector", "--enable-ha")) for a in args)
    with pytest.raises(ValueError, match="at least one namespace"):
        reloader_args([])


def test_rbac_is_a_role_per_app_namespace_bound_to_reloaders_service_account_and_nothing_cluster_wide() -> None:
    resources = _render()
    assert not [r for r in resources if r.type in CLUSTER_WIDE]
    roles = [r for r in resources if r.type == ROLE]
    bindings = [r for r in resources if r.type == BINDING]
    assert sorted(r.inputs["metadata"]["namespace"] for r in roles) == ["keybuzz-api-prod", "keybuzz-worker-prod"]
    assert sorted(r.inputs["metadata"]["namespace"] for r in bindings) == ["keybuzz-api-prod", "keybuzz-worker-prod"]
    for b in bindings:
        assert b.inputs["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "keybuzz-reloader",
        }
        assert b.inputs["subjects"] == [
            {"kind": "ServiceAccount", "name": "keybuzz-reloader", "namespace": "keybuzz-reloader-prod"}
        ]
    for role in roles:
        grants = {(g, res, v) for rule in role.inputs["rules"] for g in rule["apiGroups"] for res in rule["resources"]
                  for v in rule["verbs"]}  # fmt: skip
        writes = {(g, res) for g, res, v in grants if v in ("create", "update", "patch", "delete", "deletecollection")}
        assert writes == {("apps", "deployments"), ("", "events")}, writes  # it patches Deployments, nothing else
        assert ("", "secrets", "watch") in grants
        assert not any(res in ("configmaps", "jobs", "cronjobs", "pods") for _, res, _ in grants)
        assert not any("*" in (g, res, v) for g, res, v in grants)


def test_its_own_namespace_service_account_and_a_single_recreated_replica() -> None:
    resources = _render(skip_await=True)
    [ns] = [r for r in resources if r.type == "kubernetes:core/v1:Namespace"]
    assert ns.inputs["metadata"]["name"] == "keybuzz-reloader-prod"
    [sa] = [r for r in resources if r.type == "kubernetes:core/v1:ServiceAccount"]
    assert (sa.inputs["metadata"]["namespace"], sa.inputs["metadata"]["name"]) == (
        "keybuzz-reloader-prod",
        "keybuzz-reloader",
    )
    [d] = [r for r in resources if r.type == DEPLOYMENT]
    assert d.inputs["spec"]["replicas"] == 1
    assert d.inputs["spec"]["strategy"] == {"type": "Recreate"}
    assert d.inputs["spec"]["template"]["spec"]["serviceAccountName"] == "keybuzz-reloader"
    assert d.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    container = _reloader_container(resources)
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"


@pytest.mark.parametrize(
    ("namespaces", "message"),
    [({}, "at least one app namespace"), ({"keybuzz-reloader-prod": "keybuzz-reloader-prod"}, "must not be an app")],
)
def test_bad_arguments_are_refused_before_anything_is_created(namespaces: dict[str, str], message: str) -> None:
    def program() -> None:
        Reloader("r", ReloaderArgs("prod", "keybuzz-reloader-prod", "keybuzz-reloader", namespaces, [API_SERVER]))

    with pytest.raises(ValueError, match=message):
        run_under_mocks(program, stack="prod")


# ---- the program: one Reloader per environment, every app wired ---------------------------------------


def test_each_environment_runs_one_reloader_watching_exactly_its_app_namespaces(rendering: Rendering) -> None:
    env = rendering.stack
    [component] = [r for r in rendering.resources if r.type == "keybuzz:reloader:Reloader"]
    assert component.name.endswith("-reloader")
    app_namespaces = sorted(rendering.outputs["namespaces"])  # not the reloader's, not the ops namespace
    assert all(ns.endswith(f"-{env}") for ns in app_namespaces)
    args = _reloader_container(rendering)["args"]
    assert args == reloader_args(app_namespaces)
    assert sorted(r.inputs["metadata"]["namespace"] for r in rendering.of_type(ROLE)) == app_namespaces
    for binding in rendering.of_type(BINDING):
        assert binding.inputs["subjects"][0]["namespace"] == f"keybuzz-reloader-{env}"


def test_every_app_deployment_names_exactly_the_secrets_it_reads(rendering: Rendering) -> None:
    apps = [d for d in rendering.of_type(DEPLOYMENT) if d.inputs["metadata"]["name"] != "keybuzz-reloader"]
    assert apps
    wired = 0
    for d in apps:
        [container] = d.inputs["spec"]["template"]["spec"]["containers"]
        read = [s["secretRef"]["name"] for s in container.get("envFrom", [])]
        annotation = d.inputs["metadata"]["annotations"].get(RELOAD_ANNOTATION)
        assert annotation == (",".join(read) if read else None), d.inputs["metadata"]
        wired += bool(read)
        # The reload marker is Reloader's alone: the program never sets it (its own pod-template annotation
        # says where the database credentials come from, components/app.py).
        assert RELOADED_FROM_ANNOTATION not in d.inputs["spec"]["template"]["metadata"].get("annotations", {})
    assert wired >= 1


def test_esos_vault_login_outlives_the_credentials_in_the_rendered_program(rendering: Rendering) -> None:
    ttl = {r.inputs["defaultTtl"] for r in rendering.of_type("vault:database/secretBackendRole:SecretBackendRole")}
    for role in rendering.of_type("vault:kubernetes/authBackendRole:AuthBackendRole"):
        if role.inputs["roleName"].endswith("-rotate-root"):  # fetches no credential: rotates, then ends
            continue
        assert role.inputs["tokenTtl"] > max(ttl), role.inputs["roleName"]
        assert role.inputs["tokenMaxTtl"] >= role.inputs["tokenTtl"]
