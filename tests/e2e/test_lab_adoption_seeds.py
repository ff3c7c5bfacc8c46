"""Adopting the seeds-shaped estate (lab/estate_seeds.py), issue 17 items 1-3: PROD's hand-written
Deployments and Services (``app:`` selectors, an unnamed container port, a number-only ``targetPort`` on a
port named ``web``), the api's extra SMTP ``envFrom``, a pod-spec pull secret, and an estate ExternalSecret
of another name owning the api's database Secret from KV ``keybuzz/prod/db_api``.

With the config lines that keep those facts (``<app>SelectorLabels``, ``<app>ServicePortName``,
``<app>ExtraEnvFrom``, ``<app>ImagePullSecrets``, ``<app>EstateExternalSecret``: what a preflight prints),
phase 1 `up` of lab-prod succeeds, every estate pod template stays selected by its Service (judged as the
endpoints controller would: the lab runs no pod), no Secret reference disappears from a pod template and
the pull secret stays; phase `dynamic` then leaves the database Secret owned by one ExternalSecret (the
estate's object, taken over) reading the program's generator, not the estate's KV path.

On today's main the same estate fails phase 1 (see the module's report in the issue note): the Service is
force-applied with ``app.kubernetes.io/name`` and ``targetPort: http``, then the Deployment's apply fails
on its immutable selector.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lab.cluster import Lab
from lab.estate_seeds import (
    APPS,
    DATABASE,
    DATABASE_SECRET,
    ESTATE_EXTERNAL_SECRET,
    KV_PATH,
    LEGACY_ROLE,
    PULL_SECRET,
    SMTP_SECRET,
    SUPERUSER_OBJECTS,
    endpoint_problems,
    seed,
)
from tests.e2e.lab_support import k8s, pulumi

pytestmark = pytest.mark.e2e

STACK = "lab-prod"
ESO = "/apis/external-secrets.io/v1/namespaces/keybuzz-api-prod/externalsecrets"


def _config_lines() -> dict[str, str | list[str]]:
    """What keeps the seeds-shaped estate, per app (a list is an array key)."""
    lines: dict[str, str | list[str]] = {
        "apiExtraEnvFrom": [f"secret:{SMTP_SECRET}"],
        "apiEstateExternalSecret": ESTATE_EXTERNAL_SECRET,
    }
    for app in APPS:
        lines[f"{app}SelectorLabels"] = json.dumps({"app": f"keybuzz-{app}"})
        lines[f"{app}ServicePortName"] = "web"
        lines[f"{app}ImagePullSecrets"] = [PULL_SECRET]
    return lines


def set_config(lab: Lab, prog: Path, key: str, value: str | list[str]) -> None:
    """`pulumi config set`, an array one `--path` element at a time; `--plaintext`: the CLI takes a key
    naming a Secret for a secret value (these are names, not secrets)."""
    if isinstance(value, str):
        pulumi(lab, prog, "config", "set", "--plaintext", f"keybuzz:{key}", value, "--stack", STACK)
        return
    for i, item in enumerate(value):
        pulumi(lab, prog, "config", "set", "--plaintext", "--path", f"keybuzz:{key}[{i}]", item, "--stack", STACK)


def workload(lab: Lab, app: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Deployment, Service) of `app` as the API server has them."""
    ns = f"keybuzz-{app}-prod"
    return (
        dict(k8s(lab, f"/apis/apps/v1/namespaces/{ns}/deployments/keybuzz-{app}")),
        dict(k8s(lab, f"/api/v1/namespaces/{ns}/services/keybuzz-{app}")),
    )


def secret_refs(deployment: dict[str, Any]) -> set[tuple[str, str]]:
    """Every Secret or ConfigMap the pod template reads (envFrom, env, volumes, pull secrets)."""
    spec = deployment["spec"]["template"]["spec"]
    refs = {("pull", s["name"]) for s in spec.get("imagePullSecrets") or []}
    for container in spec["containers"]:
        for source in container.get("envFrom") or []:
            refs |= {(kind, ref["name"]) for kind, ref in source.items() if kind.endswith("Ref")}
        for var in container.get("env") or []:
            refs |= {
                (kind, ref["name"]) for kind, ref in (var.get("valueFrom") or {}).items() if kind.endswith("KeyRef")
            }
    refs |= {("volume", v["secret"]["secretName"]) for v in spec.get("volumes") or [] if "secret" in v}
    return refs


@pytest.fixture(scope="module")
def prog(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The program beside lab-prod, over the seeds-shaped estate instead of lab/estate.py's."""
    from lab.stacks import write_stack
    from tests.e2e.lab_support import copy_program

    program = copy_program(tmp_path_factory.mktemp("lab-program") / "program")
    seed(lab)
    # Runbook "Before the first up", step 2: the superuser's objects (PH28.2's schema copy) are checked and
    # handed over by a person; given to the legacy role, the first up's transfer moves them to the group.
    with psycopg.connect(**lab.conninfo(dbname=DATABASE), autocommit=True) as conn:
        for statement in SUPERUSER_OBJECTS:
            kind, name = statement.split()[1], statement.split()[2].split("(")[0]
            conn.execute(f"ALTER {kind} {name} OWNER TO {LEGACY_ROLE}")  # type: ignore[arg-type]
    write_stack(lab, "prod", root=program)
    return program


class TestAdoptingTheSeedsEstate:
    before: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def test_phase_1_with_the_config_lines_keeps_every_estate_pod_selected_and_every_secret(
        self, lab: Lab, prog: Path
    ) -> None:
        for app in APPS:
            self.before[app] = workload(lab, app)
        for key, value in _config_lines().items():
            set_config(lab, prog, key, value)
        pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", STACK)
        for app, (old, old_service) in self.before.items():
            deployment, service = workload(lab, app)
            assert deployment["metadata"]["uid"] == old["metadata"]["uid"]  # the same object, updated in place
            assert service["metadata"]["uid"] == old_service["metadata"]["uid"]
            assert (
                deployment["spec"]["selector"] == old["spec"]["selector"] == {"matchLabels": {"app": f"keybuzz-{app}"}}
            )
            # The running (estate) pods and the program's new ones are both the Service's endpoints.
            assert endpoint_problems(service, old) == []
            assert endpoint_problems(service, deployment) == []
            assert [(p["name"], p["targetPort"]) for p in service["spec"]["ports"]] == [("web", APPS[app][1])]
            assert secret_refs(old) <= secret_refs(deployment), secret_refs(old) - secret_refs(deployment)
            assert ("pull", PULL_SECRET) in secret_refs(deployment)
        api, _ = workload(lab, "api")
        [container] = api["spec"]["template"]["spec"]["containers"]
        assert [s["secretRef"]["name"] for s in container["envFrom"]] == [
            DATABASE_SECRET,
            "keybuzz-api-env",
            SMTP_SECRET,
        ]
        # Phase kept: the estate's ExternalSecret still owns the database Secret, on the legacy login.
        assert lab.kube.secret_data("keybuzz-api-prod", DATABASE_SECRET)["PGUSER"] == LEGACY_ROLE

    def test_phase_dynamic_leaves_one_external_secret_owning_the_database_secret_on_the_programs_path(
        self, lab: Lab, prog: Path
    ) -> None:
        estate = k8s(lab, f"{ESO}/{ESTATE_EXTERNAL_SECRET}")
        pulumi(lab, prog, "config", "set", "keybuzz:legacyLoginPhase", "dynamic", "--stack", STACK)
        pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", STACK)  # awaits ESO's Ready
        synced = k8s(lab, f"{ESO}/{ESTATE_EXTERNAL_SECRET}")
        assert synced["metadata"]["uid"] == estate["metadata"]["uid"]  # taken over, not deleted
        assert not synced["spec"].get("data")  # the estate's explicit key is gone...
        assert KV_PATH not in json.dumps(synced["spec"])  # ...and so is its KV path
        [source] = synced["spec"]["dataFrom"]
        assert source["sourceRef"]["generatorRef"]["name"] == f"{DATABASE_SECRET}-creds"
        owning = [
            e["metadata"]["name"] for e in k8s(lab, ESO)["items"] if e["spec"]["target"].get("name") == DATABASE_SECRET
        ]
        assert owning == [ESTATE_EXTERNAL_SECRET]
        secret = k8s(lab, f"/api/v1/namespaces/keybuzz-api-prod/secrets/{DATABASE_SECRET}")
        owners = [(o["kind"], o["name"], o["uid"]) for o in secret["metadata"]["ownerReferences"]]
        assert owners == [("ExternalSecret", ESTATE_EXTERNAL_SECRET, estate["metadata"]["uid"])]
        data = lab.kube.secret_data("keybuzz-api-prod", DATABASE_SECRET)
        assert data["PGUSER"] != LEGACY_ROLE  # a Vault user of the program's database-prod mount
        with psycopg.connect(**lab.conninfo(dbname=DATABASE, user=data["PGUSER"], password=data["PGPASSWORD"])) as c:
            assert c.execute("SELECT count(*) FROM tenants").fetchone() == (1,)
        for app, (old, _) in self.before.items():  # still nothing lost from any pod template
            deployment, service = workload(lab, app)
            assert secret_refs(old) <= secret_refs(deployment)
            assert endpoint_problems(service, old) == []
