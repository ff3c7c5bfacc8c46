"""`ops drift`'s field-manager check (ops/drift_fields.py) on recorded live objects, and the read-only
client's refusals (ops/preflight_sources.py).

`fixtures/drift_live_objects.json` was read back from a lab after `ops up --stack lab-dev` adopted the
seeded estate (created with kubectl's field manager, so the estate's creator still owns the server's
defaults) and then: a `kubectl-patch` manager added a sidecar, an env var from another Secret, a Secret
volume and its mount, a nodeSelector and a second Service port; a `kubectl-edit` manager replaced the
container's `envFrom` (atomic) with one that adds a ConfigMap. The backend's Deployment and the namespace
were left alone.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ops.drift_fields import api_path, drift, field_paths, foreign_fields, show
from ops.errors import OpsError
from ops.preflight_sources import (
    ENV_KUBECONFIG,
    ENV_PG,
    ENV_VAULT_TOKEN_FILE,
    METADATA_ONLY,
    KubeReader,
    from_environment,
)

OBJECTS: list[dict[str, Any]] = json.loads((Path(__file__).parent / "fixtures" / "drift_live_objects.json").read_text())


def live(kind: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(next(o for o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name))


def test_every_field_another_manager_set_is_named_with_the_manager_and_nothing_else() -> None:
    found = {(f.path, f.manager) for f in foreign_fields(live("Deployment", "keybuzz-api"))}
    pod = "spec.template.spec."
    assert found == {
        (f"{pod}containers[name=debug-sidecar]", "kubectl-patch"),
        (f"{pod}containers[name=keybuzz-api].env[name=SMTP_PASSWORD]", "kubectl-patch"),
        (f"{pod}containers[name=keybuzz-api].volumeMounts[mountPath=/certs]", "kubectl-patch"),
        (f"{pod}volumes[name=extra-certs]", "kubectl-patch"),
        (f"{pod}nodeSelector", "kubectl-patch"),
        (f"{pod}containers[name=keybuzz-api].envFrom", "kubectl-edit"),
    }


def test_a_second_service_port_is_named() -> None:
    (port,) = foreign_fields(live("Service", "keybuzz-api"))
    assert port.path == "spec.ports[port=9100,protocol=TCP]"
    assert port.manager == "kubectl-patch"
    assert port.operation == "Update"
    assert port.time
    assert port.line().startswith("Service keybuzz-api-dev/keybuzz-api spec.ports[port=9100,protocol=TCP]  set by")


def test_the_estate_creators_server_defaults_and_the_api_servers_label_are_not_drift() -> None:
    assert foreign_fields(live("Deployment", "keybuzz-backend")) == []
    assert foreign_fields(live("Namespace", "keybuzz-api-dev")) == []


def test_a_default_changed_by_hand_is_drift() -> None:
    backend = live("Deployment", "keybuzz-backend")
    backend["spec"]["revisionHistoryLimit"] = 3
    assert [f.path for f in foreign_fields(backend)] == ["spec.revisionHistoryLimit"]


def test_the_patch_field_manager_annotation_names_the_programs_manager() -> None:
    api = live("Deployment", "keybuzz-api")
    api["metadata"].setdefault("annotations", {})["pulumi.com/patchFieldManager"] = "kubectl-patch"
    paths = {f.path for f in foreign_fields(api)}
    assert "spec.template.spec.nodeSelector" not in paths  # kubectl-patch is the program's manager now
    assert any(p.startswith("spec.template.spec.containers[name=keybuzz-api].image") for p in paths)


def test_drift_collects_every_object() -> None:
    assert len(drift(OBJECTS)) == 7


def test_field_paths_of_a_fieldsv1_tree() -> None:
    tree = {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}}}, "f:x": {}}}
    assert {show(p) for p in field_paths(tree)} == {
        "spec.ports[port=80,protocol=TCP]",
        "spec.ports[port=80,protocol=TCP].name",
        "spec.x",
    }


def test_api_paths_of_the_programs_kinds() -> None:
    def path(api: str, kind: str, ns: str = "n") -> str:
        return api_path({"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": ns}})

    assert path("apps/v1", "Deployment") == "/apis/apps/v1/namespaces/n/deployments/x"
    assert path("v1", "Service") == "/api/v1/namespaces/n/services/x"
    assert path("networking.k8s.io/v1", "NetworkPolicy") == "/apis/networking.k8s.io/v1/namespaces/n/networkpolicies/x"
    assert path("external-secrets.io/v1", "SecretStore") == "/apis/external-secrets.io/v1/namespaces/n/secretstores/x"
    assert api_path({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}) == "/api/v1/namespaces/x"


# --- the read-only client ------------------------------------------------------------------------------


def test_the_kubernetes_client_reads_secrets_as_metadata_only_and_has_no_write() -> None:
    kube = KubeReader("https://127.0.0.1:1", None, "fake-test-only-token")
    for path in (
        "/api/v1/namespaces/n/secrets",
        "/api/v1/namespaces/n/secrets/keybuzz-api-postgres",
        "/api/v1/secrets",
    ):
        with pytest.raises(OpsError, match="metadata only"):
            kube.get(path)
    assert kube.requests == []
    assert not any(hasattr(kube, verb) for verb in ("post", "put", "patch", "delete", "request"))
    with pytest.raises(OpsError, match="unreachable"):  # a metadata request is let through (nothing listens)
        kube.secrets_metadata("n")
    assert kube.requests == [("/api/v1/namespaces/n/secrets", METADATA_ONLY)]


def test_without_read_only_settings_every_missing_one_is_named() -> None:
    with pytest.raises(OpsError) as exc:
        from_environment({ENV_PG: "host=x"}, "https://vault")
    assert ENV_KUBECONFIG in exc.value.message
    assert ENV_VAULT_TOKEN_FILE in exc.value.message
    assert ENV_PG not in exc.value.message


def test_the_kubeconfig_current_context_gives_server_and_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("fake-test-only-token\n")
    text = (
        "apiVersion: v1\nkind: Config\ncurrent-context: ro\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
        "users: [{name: u, user: {tokenFile: token}}, {name: admin, user: {token: other}}]\n"
        "contexts: [{name: ro, context: {cluster: c, user: u}}, {name: adm, context: {cluster: c, user: admin}}]\n"
    )
    kube = KubeReader.from_kubeconfig(text, base=tmp_path)
    assert kube.server == "https://127.0.0.1:6443"
    assert kube._token == "fake-test-only-token"
