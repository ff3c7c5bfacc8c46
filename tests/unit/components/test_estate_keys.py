"""What an adopted app keeps of the estate (issue 17 items 1-3): ``<app>SelectorLabels``,
``<app>ServicePortName``, ``<app>ExtraEnvFrom``, ``<app>ImagePullSecrets``, ``<app>EstateExternalSecret``,
the numeric Service targetPort and the awaited database ExternalSecrets, rendered by the real program
under mocks for the PROD stack file; and the config errors where a fact cannot be kept safely."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import ConfigError
from components.external_secrets import WAIT_FOR_READY
from components.k8s import NAME_LABEL
from components.pickup import RELOAD_ANNOTATION
from render import Recorded, Rendering, render_stack

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
ESTATE_SELECTOR = {"app": "keybuzz-api"}
#: The config lines a preflight of the seeds-shaped estate gives (lab/estate_seeds.py).
KEEP = {
    "apiSelectorLabels": json.dumps(ESTATE_SELECTOR),
    "apiServicePortName": "web",
    "apiExtraEnvFrom": ["secret:keybuzz-api-smtp", "configmap:keybuzz-api-flags"],
    "apiImagePullSecrets": ["ghcr-pull"],
    "apiEstateExternalSecret": "keybuzz-api-postgres-sync",
}


def _named(r: Rendering, type_: str, name: str, namespace: str = "keybuzz-api-prod") -> Recorded:
    [found] = [
        x
        for x in r.of_type(type_)
        if x.inputs["metadata"]["name"] == name and x.inputs["metadata"]["namespace"] == namespace
    ]
    return found


def _api(r: Rendering) -> dict[str, Any]:
    return dict(_named(r, DEPLOYMENT, "keybuzz-api").inputs)


@pytest.fixture(scope="module")
def kept() -> Rendering:
    return render_stack("prod", KEEP)


@pytest.fixture(scope="module")
def kept_dynamic() -> Rendering:
    return render_stack("prod", {**KEEP, "legacyLoginPhase": "dynamic"})


def test_by_default_the_service_targets_the_port_number_and_the_program_selects(prod: Rendering) -> None:
    """Old pods whose container port has no name (or another) stay endpoints: targetPort is the number."""
    service = _named(prod, SERVICE, "keybuzz-api").inputs["spec"]
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": 3001}]
    assert service["selector"] == {NAME_LABEL: "keybuzz-api"}
    client = _named(prod, SERVICE, "keybuzz-client", "keybuzz-client-prod").inputs["spec"]
    assert client["ports"] == [{"name": "http", "port": 80, "targetPort": 3000}]
    api = _api(prod)["spec"]
    assert api["selector"] == {"matchLabels": {NAME_LABEL: "keybuzz-api"}}
    assert "imagePullSecrets" not in api["template"]["spec"]


def test_the_estate_selector_is_kept_by_the_deployment_service_budget_spread_and_policies(kept: Rendering) -> None:
    api = _api(kept)["spec"]
    assert api["selector"] == {"matchLabels": ESTATE_SELECTOR}
    labels = api["template"]["metadata"]["labels"]
    assert labels["app"] == "keybuzz-api"
    assert labels[NAME_LABEL] == "keybuzz-api"  # the program's own labels stay on the pods
    [spread] = api["template"]["spec"]["topologySpreadConstraints"]  # PROD runs 2 replicas
    assert spread["labelSelector"] == {"matchLabels": ESTATE_SELECTOR}
    assert _named(kept, SERVICE, "keybuzz-api").inputs["spec"]["selector"] == ESTATE_SELECTOR
    assert _named(kept, PDB, "keybuzz-api").inputs["spec"]["selector"] == {"matchLabels": ESTATE_SELECTOR}
    selecting = [
        p.inputs["spec"]["podSelector"]
        for p in kept.of_type(NETPOL)
        if p.inputs["metadata"]["namespace"] == "keybuzz-api-prod" and p.inputs["spec"]["podSelector"]
    ]
    assert selecting  # allow-http: the estate's pods keep their ingress under default-deny
    assert all(s == {"matchLabels": ESTATE_SELECTOR} for s in selecting)
    # Another app's are untouched.
    client = _named(kept, DEPLOYMENT, "keybuzz-client", "keybuzz-client-prod").inputs["spec"]
    assert client["selector"] == {"matchLabels": {NAME_LABEL: "keybuzz-client"}}


def test_the_service_port_keeps_the_estate_name_and_targets_the_number(kept: Rendering) -> None:
    assert _named(kept, SERVICE, "keybuzz-api").inputs["spec"]["ports"] == [
        {"name": "web", "port": 80, "targetPort": 3001}
    ]


def test_extra_env_from_follows_the_programs_own_and_reloader_watches_the_extra_secrets(kept: Rendering) -> None:
    api = _api(kept)
    [container] = api["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [
        {"secretRef": {"name": "keybuzz-api-postgres"}},
        {"secretRef": {"name": "keybuzz-api-env"}},
        {"secretRef": {"name": "keybuzz-api-smtp"}},
        {"configMapRef": {"name": "keybuzz-api-flags"}},
    ]
    reloaded = api["metadata"]["annotations"][RELOAD_ANNOTATION].split(",")
    assert reloaded == ["keybuzz-api-postgres", "keybuzz-api-env", "keybuzz-api-smtp"]  # no ConfigMap: ignored


def test_image_pull_secrets_are_set_on_the_pods(kept: Rendering) -> None:
    assert _api(kept)["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "ghcr-pull"}]


def test_in_phase_kept_the_estate_external_secret_is_left_alone(kept: Rendering) -> None:
    names = {x.inputs["metadata"]["name"] for x in kept.of_type(EXTERNAL_SECRET)}
    assert names == {"keybuzz-api-env"}  # the app's KV secret only; no database ExternalSecret yet


def test_from_phase_dynamic_the_database_external_secret_takes_the_estate_ones_name(kept_dynamic: Rendering) -> None:
    synced = _named(kept_dynamic, EXTERNAL_SECRET, "keybuzz-api-postgres-sync")
    spec = synced.inputs["spec"]
    assert spec["target"]["name"] == "keybuzz-api-postgres"
    assert spec["data"] == []  # whatever the estate read from its KV path is replaced...
    [source] = spec["dataFrom"]  # ...by the program's generator alone
    assert source["sourceRef"]["generatorRef"]["name"] == "keybuzz-api-postgres-creds"
    assert synced.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    names = {x.inputs["metadata"]["name"] for x in kept_dynamic.of_type(EXTERNAL_SECRET)}
    assert "keybuzz-api-postgres" not in names  # one owner of the Secret, never two


def test_app_database_external_secrets_are_awaited(prod_on_vault: Rendering) -> None:
    synced = _named(prod_on_vault, EXTERNAL_SECRET, "keybuzz-api-postgres")
    assert WAIT_FOR_READY.items() <= synced.inputs["metadata"]["annotations"].items()
    assert synced.inputs["spec"]["data"] == []
    kv = _named(prod_on_vault, EXTERNAL_SECRET, "keybuzz-api-env")
    assert "pulumi.com/waitFor" not in kv.inputs["metadata"]["annotations"]


def _problems(overrides: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        render_stack("prod", overrides)
    return [(p.key, p.message) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"apiSelectorLabels": '{"app.kubernetes.io/name": "api"}'}, "apiSelectorLabels", "could never select"),
        ({"apiSelectorLabels": '{"app": "keybuzz api"}'}, "apiSelectorLabels", "is not a Kubernetes label value"),
        ({"apiSelectorLabels": '{"-app": "x"}'}, "apiSelectorLabels", "is not a Kubernetes label key"),
        ({"apiSelectorLabels": '["app"]'}, "apiSelectorLabels", "expected a JSON object"),
        ({"apiExtraEnvFrom": ["secret:keybuzz-api-postgres"]}, "apiExtraEnvFrom", "already mounts the Secret"),
        ({"apiExtraEnvFrom": ["keybuzz-api-smtp"]}, "apiExtraEnvFrom", "is not secret:<name> or configmap:<name>"),
        ({"apiExtraEnvFrom": ["secret:a", "secret:a"]}, "apiExtraEnvFrom", "more than once"),
        ({"apiImagePullSecrets": ["Ghcr_Pull"]}, "apiImagePullSecrets", "is not a Kubernetes object name"),
        ({"apiServicePortName": "a-port-name-too-long"}, "apiServicePortName", "expected a port name"),
        ({"apiEstateExternalSecret": "keybuzz-api-env"}, "apiEstateExternalSecret", "another ExternalSecret"),
        ({"backendImagePullSecrets": ["ghcr-pull"]}, "backendImagePullSecrets", "'backend' is not in apps"),
    ],
)
def test_what_cannot_be_kept_safely_is_refused(overrides: dict[str, Any], key: str, fragment: str) -> None:
    [(problem_key, message)] = _problems(overrides)
    assert (problem_key, fragment in message) == (key, True), message
