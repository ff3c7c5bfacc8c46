"""AppService and Migrations: namespace, SA, Deployment with probes/env, Service, the migrations Job."""

from __future__ import annotations

from typing import Any

from components.app import AppService, AppServiceArgs, Migrations, MigrationsArgs
from components.catalog import CATALOG, MIGRATIONS_COMMAND
from tests.support.render import Recorded, run_under_mocks


def _render(app: str, **kw: Any) -> list[Recorded]:
    def program() -> None:
        AppService(
            app,
            AppServiceArgs(
                kind=CATALOG[app],
                env="prod",
                namespace=f"keybuzz-{app}-prod",
                service_account=f"keybuzz-{app}",
                image=f"repo/{app}:v1",
                replicas=2,
                **kw,
            ),
        )

    return run_under_mocks(program, stack="prod")


def _deployment(resources: list[Recorded]) -> dict[str, Any]:
    [d] = [r for r in resources if r.type == "kubernetes:apps/v1:Deployment"]
    return d.inputs


def test_api_has_health_probes_env_from_its_secret_and_a_service() -> None:
    resources = _render("api", secret_env_from=["keybuzz-api-postgres"])
    d = _deployment(resources)
    container = d["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["envFrom"] == [{"secretRef": {"name": "keybuzz-api-postgres"}}]
    assert container["image"] == "repo/api:v1"
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["template"]["spec"]["serviceAccountName"] == "keybuzz-api"
    assert container["resources"]["limits"]["memory"]
    assert any(r.type == "kubernetes:core/v1:Service" for r in resources)
    # Reloader restarts it when the Secret it reads changes (ESO re-issued the credentials).
    assert d["metadata"]["annotations"] == {
        "pulumi.com/patchForce": "true",
        "secret.reloader.stakater.com/reload": "keybuzz-api-postgres",
    }
    # ... by setting a pod-template annotation the program itself never sets (no fight with Pulumi).
    assert "annotations" not in d["spec"]["template"]["metadata"]


def test_worker_has_no_probe_and_no_service() -> None:
    resources = _render("worker", plain_env={"REDIS_URL": "redis://10.0.0.10:6379"})
    container = _deployment(resources)["spec"]["template"]["spec"]["containers"][0]
    assert "readinessProbe" not in container
    assert "ports" not in container
    assert container["env"] == [{"name": "REDIS_URL", "value": "redis://10.0.0.10:6379"}]
    assert not any(r.type == "kubernetes:core/v1:Service" for r in resources)


def test_lab_stacks_skip_await_explicitly() -> None:
    d = _deployment(_render("client", skip_await=True))
    assert d["metadata"]["annotations"] == {"pulumi.com/patchForce": "true", "pulumi.com/skipAwait": "true"}


def test_adopted_namespace_is_imported() -> None:
    [ns] = [r for r in _render("api", adopt_namespace=True) if r.type == "kubernetes:core/v1:Namespace"]
    assert ns.import_id == "keybuzz-api-prod"


def test_migrations_job_uses_its_own_secret_and_service_account() -> None:
    def program() -> None:
        Migrations(
            "mig",
            MigrationsArgs(
                env="dev",
                namespace="keybuzz-backend-dev",
                service_account="keybuzz-migrations",
                image="repo/backend:v1",
                command=MIGRATIONS_COMMAND,
                secret_name="keybuzz-backend-migrations-db",
            ),
        )

    resources = run_under_mocks(program)
    [job] = [r for r in resources if r.type == "kubernetes:batch/v1:Job"]
    pod = job.inputs["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "keybuzz-migrations"
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["command"] == ["npx", "prisma", "migrate", "deploy"]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "keybuzz-backend-migrations-db"}}]
