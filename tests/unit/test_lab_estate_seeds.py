"""The seeds-shaped estate's manifests and the Endpoints judgement (lab/estate_seeds.py), without a lab."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lab.estate_seeds import (
    DATABASE_SECRET,
    PULL_SECRET,
    SMTP_SECRET,
    deployment_manifest,
    endpoint_problems,
    service_manifest,
)

pytestmark = pytest.mark.unit


def test_the_estate_api_is_written_as_the_seeds_show_it_not_as_the_program_would() -> None:
    deployment = deployment_manifest("api", "v0.4.31-replacement")
    template = deployment["spec"]["template"]
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "keybuzz-api"}}
    assert template["metadata"]["labels"] == {"app": "keybuzz-api"}
    assert not any(k.startswith("app.kubernetes.io/") for k in deployment["metadata"]["labels"])
    assert "serviceAccountName" not in template["spec"]  # the namespace's default
    assert template["spec"]["imagePullSecrets"] == [{"name": PULL_SECRET}]
    [container] = template["spec"]["containers"]
    assert container["name"] == "keybuzz-api"
    assert container["ports"] == [{"containerPort": 3001}]  # unnamed
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == [DATABASE_SECRET, SMTP_SECRET]
    service = service_manifest("api")
    assert service["spec"] == {
        "selector": {"app": "keybuzz-api"},
        "ports": [{"name": "web", "port": 80, "targetPort": 3001}],
    }


def test_the_estate_service_selects_the_estate_pods() -> None:
    assert endpoint_problems(service_manifest("api"), deployment_manifest("api", "t")) == []


def test_a_program_shaped_service_would_select_none_of_the_estate_pods() -> None:
    """What a force-applied Service of today's program does to the estate's pods (issue 17, item 1)."""
    program: dict[str, Any] = {
        "spec": {
            "selector": {"app.kubernetes.io/name": "keybuzz-api"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        }
    }
    problems = endpoint_problems(program, deployment_manifest("api", "t"))
    assert len(problems) == 2
    assert "app.kubernetes.io/name" in problems[0]
    assert "'http', which no container names" in problems[1]


def test_a_named_target_port_needs_a_container_port_of_that_name() -> None:
    deployment = deployment_manifest("api", "t")
    named = copy.deepcopy(deployment)
    named["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 3001}]
    service = service_manifest("api")
    service["spec"]["ports"][0]["targetPort"] = "http"
    assert endpoint_problems(service, named) == []
    assert endpoint_problems(service, deployment) != []
    service["spec"]["selector"] = {}
    assert "the Service has no selector" in endpoint_problems(service, named)
