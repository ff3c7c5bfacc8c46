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

The config lines are not written by the test: they are the ones the preflight (`ops preflight`) prints on
this estate, set as it says; after them (and the superuser's objects handed over by a person, step 2 of
the runbook) the preflight has nothing left to say. The estate's other consumers (its monitoring login and
the `v-…` users its old Vault connection still issues) keep their sessions and log in afresh after every
phase; the later phases follow the runbook: `refused` passes (no legacy session), `dropped` is refused
with nothing changed while the legacy role owns another database.

On today's main the same estate fails phase 1 (see the module's report in the issue note): the Service is
force-applied with ``app.kubernetes.io/name`` and ``targetPort: http``, then the Deployment's apply fails
on its immutable selector.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lab.cluster import Lab
from lab.estate import legacy_password
from lab.estate_seeds import (
    APPS,
    DATABASE,
    DATABASE_SECRET,
    ESTATE_EXTERNAL_SECRET,
    KV_PATH,
    LEGACY_ROLE,
    MONITORING_LOGIN,
    OLD_MOUNT,
    OLD_ROLE,
    OTHER_DATABASE,
    PULL_SECRET,
    SMTP_SECRET,
    SUPERUSER_OBJECTS,
    endpoint_problems,
    held_users,
    monitoring_password,
    seed,
    session_pids,
)
from tests.e2e.lab_support import k8s, pulumi, run

pytestmark = pytest.mark.e2e

STACK = "lab-prod"
ESO = "/apis/external-secrets.io/v1/namespaces/keybuzz-api-prod/externalsecrets"


#: What the config lines must hold, per key (the preflight prints them; these are what the seeds show).
EXPECTED_KEYS = {
    "apiExtraEnvFrom", "apiEstateExternalSecret", "databaseConsumers",
    *(f"{app}{key}" for app in APPS for key in ("SelectorLabels", "ServicePortName", "ImagePullSecrets")),
}  # fmt: skip


def preflight(lab: Lab, prog: Path, out: Path, expect: int) -> dict[str, Any]:
    """`ops preflight` of lab-prod on this lab (read-only); its JSON report."""
    argv = [sys.executable, "-m", "ops", "preflight", "--stack", STACK, "--cwd", str(prog),
            "--lab-state", str(lab.layout.state_dir), "--json", str(out)]  # fmt: skip
    run(lab, prog, argv, expect=expect)
    return dict(json.loads(out.read_text()))


def fix_lines(report: dict[str, Any]) -> dict[str, str | list[str]]:
    """The report's config lines (``keybuzz:<key>: <value>``) as key -> value (a list is an array key; an
    object key is set as its JSON text)."""
    lines: dict[str, str | list[str]] = {}
    for line in report["fixes"]:
        key, _, text = str(line).partition(": ")
        value = json.loads(text)
        assert key.startswith("keybuzz:"), line
        lines[key.removeprefix("keybuzz:")] = (
            [str(v) for v in value] if isinstance(value, list)
            else json.dumps(value) if isinstance(value, dict) else str(value)
        )  # fmt: skip
    return lines


def consumers_log_in(lab: Lab) -> None:
    """The estate's consumers keep working: the held sessions are still there, and the monitoring login, a
    `v-…` user newly issued by the estate's old Vault connection and the legacy login log in afresh."""
    held = held_users(lab)
    assert MONITORING_LOGIN in held.values(), held
    assert any(u.startswith("v-") for u in held.values()), held
    for user in held.values():
        assert session_pids(lab, user), f"{user}'s session was cut"
    issued = lab.vault().read(f"{OLD_MOUNT}/creds/{OLD_ROLE}")["data"]
    for user, password in ((MONITORING_LOGIN, monitoring_password(lab)),
                           (issued["username"], issued["password"]),
                           (LEGACY_ROLE, legacy_password(lab, LEGACY_ROLE))):  # fmt: skip
        with psycopg.connect(**lab.conninfo(dbname=DATABASE, user=user, password=password)) as conn:
            assert conn.execute("SELECT session_user").fetchone() == (user,)  # (a legacy login then SETs role)


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
        report = prog.parent / "preflight.json"
        lines = fix_lines(preflight(lab, prog, report, expect=5))  # 5: something blocks
        assert set(lines) == EXPECTED_KEYS, set(lines) ^ EXPECTED_KEYS
        for key, value in lines.items():
            set_config(lab, prog, key, value)
        after = preflight(lab, prog, report, expect=0)
        assert after["fixes"] == [], after["fixes"]
        pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", STACK)
        consumers_log_in(lab)
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
        consumers_log_in(lab)

    def test_phase_refused_then_dropped_follow_the_runbook(self, lab: Lab, prog: Path) -> None:
        """`refused`: no legacy session is connected, so the login is refused; `dropped`: refused with nothing
        changed, the legacy role owning another database (item 6); every other consumer still logs in."""
        pulumi(lab, prog, "config", "set", "keybuzz:legacyLoginPhase", "refused", "--stack", STACK)
        pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", STACK)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(**lab.conninfo(dbname=DATABASE, user=LEGACY_ROLE,
                                           password=legacy_password(lab, LEGACY_ROLE))).close()  # fmt: skip
        pulumi(lab, prog, "config", "set", "keybuzz:legacyLoginPhase", "dropped", "--stack", STACK)
        out = pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", STACK, expect=None)
        assert out.returncode != 0
        assert f"legacy role {LEGACY_ROLE}: phase dropped refused, nothing was changed" in out.stdout + out.stderr
        assert OTHER_DATABASE in out.stdout + out.stderr
        with psycopg.connect(**lab.conninfo(), autocommit=True) as conn:
            owner = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (OTHER_DATABASE,)
            ).fetchone()
        assert owner == (LEGACY_ROLE,)  # the role and what it owns are untouched
        held = held_users(lab)
        assert MONITORING_LOGIN in held.values(), held
        assert any(u.startswith("v-") for u in held.values()), held
