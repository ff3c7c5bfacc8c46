"""`render.manifests`: the program's Kubernetes objects as the plain YAML peers' tools read."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from render import Rendering
from render.manifests import is_manifest, main, manifest, manifests


def _numbers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_kubernetes_resource_is_one_object(stack: str, request: pytest.FixtureRequest) -> None:
    rendering: Rendering = request.getfixturevalue(stack)
    objects = manifests(rendering)
    assert len(objects) == sum(1 for r in rendering.resources if r.type.startswith("kubernetes:") and r.custom)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "NetworkPolicy", "Deployment", "CronJob", "Service"} <= kinds
    assert all(list(o)[:3] == ["apiVersion", "kind", "metadata"] and o["metadata"]["name"] for o in objects)
    assert objects[0]["kind"] == "Namespace"  # what the rest lives in comes first
    assert all(type(n) is int for n in _numbers(objects))  # the wire's 53.0 is 53 again


def test_api_versions_follow_the_resource_type(dev: Rendering) -> None:
    by_kind = {o["kind"]: o["apiVersion"] for o in manifests(dev)}
    assert by_kind["Namespace"] == "v1"
    assert by_kind["NetworkPolicy"] == "networking.k8s.io/v1"
    assert by_kind["CronJob"] == "batch/v1"
    assert by_kind["ExternalSecret"] == "external-secrets.io/v1"


def test_an_unnamed_object_takes_its_logical_name(dev: Rendering) -> None:
    [job] = [o for o in manifests(dev) if o["kind"] == "Job"]
    assert job["metadata"]["name"] == "keybuzz-dev-migrations-job"


def test_secret_inputs_are_never_written(dev: Rendering) -> None:
    namespace = next(r for r in dev.resources if is_manifest(r) and r.type.endswith(":Namespace"))
    with pytest.raises(ValueError, match=r"secret inputs \['metadata.name'\]; not written as YAML"):
        manifest(dataclasses.replace(namespace, secret_paths={"metadata.name"}))


def test_the_cli_writes_one_file_per_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str], prod: Rendering) -> None:
    assert main(["--stack", "prod", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "prod.yaml")]
    assert list(yaml.safe_load_all((tmp_path / "prod.yaml").read_text())) == manifests(prod)
