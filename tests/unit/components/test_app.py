"""app.Service and app.Migrations: SA, Deployment (names, probes, command, resources, security), Service, PDB and
spread for replicated apps; the migrations' credentials and Job, and what each waits for."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.app import Migrations, MigrationsArgs, Service, ServiceArgs
from components.catalog import CATALOG, DEFAULT_RESOURCES, EMPTY_DIR_LIMIT, MIGRATIONS_COMMAND, RUN_AS_USER
from components.spec import DatabaseSecret, Endpoint, VaultLogin
from render import Recorded, run_under_mocks

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
JOB = "kubernetes:batch/v1:Job"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
GENERATOR = "kubernetes:generators.external-secrets.io/v1alpha1:VaultDynamicSecret"
SA = "kubernetes:core/v1:ServiceAccount"


def _render(app: str, replicas: int = 2, **kw: Any) -> list[Recorded]:
    def program() -> None:
        Service(
            app,
            ServiceArgs(
                kind=CATALOG[app],
                env="prod",
                workload=f"keybuzz-{app}",
                namespace=f"keybuzz-{app}-prod",
                service_account=f"keybuzz-{app}",
                image=f"repo/{app}:v1",
                replicas=replicas,
                port=CATALOG[app].port,
                command=CATALOG[app].command,
                **kw,
            ),
        )

    return run_under_mocks(program, stack="prod")


def _one(resources: list[Recorded], type_: str) -> Recorded:
    [found] = [r for r in resources if r.type == type_]
    return found


def _pod(resources: list[Recorded]) -> dict[str, Any]:
    return _one(resources, DEPLOYMENT).inputs["spec"]["template"]["spec"]


def _container(resources: list[Recorded]) -> dict[str, Any]:
    [container] = _pod(resources)["containers"]
    return container


def test_api_has_health_probes_env_from_its_secret_and_a_service() -> None:
    resources = _render("api", secret_env_from=["keybuzz-api-postgres"])
    d = _one(resources, DEPLOYMENT).inputs
    container = _container(resources)
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    # Liveness asks only that the process accepts connections: a slow database fails readiness, not liveness.
    assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}
    assert "httpGet" not in container["livenessProbe"]
    assert container["envFrom"] == [{"secretRef": {"name": "keybuzz-api-postgres"}}]
    assert container["image"] == "repo/api:v1"
    assert "command" not in container  # the image's own entry point
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["template"]["spec"]["serviceAccountName"] == "keybuzz-api"
    assert any(r.type == "kubernetes:core/v1:Service" for r in resources)
    # Reloader restarts it when the Secret it reads changes (ESO re-issued the credentials).
    assert d["metadata"]["annotations"] == {
        "pulumi.com/patchForce": "true",
        "secret.reloader.stakater.com/reload": "keybuzz-api-postgres",
    }
    # ... by setting a pod-template annotation the program itself never sets (no fight with Pulumi).
    assert "reloader.stakater.com/last-reloaded-from" not in d["spec"]["template"]["metadata"]["annotations"]
    assert not any(r.type == "kubernetes:core/v1:Namespace" for r in resources)  # AppNamespace's job


@pytest.mark.parametrize("app", ["api", "backend", "client", "worker"])
def test_container_is_named_as_the_seeds_rollback_names_it(app: str) -> None:
    """PH28.2 §8.2: `kubectl set image deployment/keybuzz-api keybuzz-api=ghcr.io/...`."""
    resources = _render(app)
    assert _one(resources, DEPLOYMENT).inputs["metadata"]["name"] == f"keybuzz-{app}"
    assert _container(resources)["name"] == f"keybuzz-{app}"


@pytest.mark.parametrize("app", ["backend", "client"])
def test_http_apps_without_a_known_health_path_get_a_tcp_probe_on_their_port(app: str) -> None:
    container = _container(_render(app))
    assert container["ports"] == [{"name": "http", "containerPort": CATALOG[app].port, "protocol": "TCP"}]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert "httpGet" not in container["readinessProbe"]
    # The port is the only check: the same one as liveness would restart pods that are merely busy.
    assert "livenessProbe" not in container


def test_worker_runs_its_worker_command_and_serves_nothing() -> None:
    resources = _render("worker", plain_env={"REDIS_URL": "redis://10.0.0.10:6379"})
    container = _container(resources)
    assert container["command"] == list(CATALOG["worker"].command or ())
    assert container["command"] != []
    assert "ports" not in container
    assert "readinessProbe" not in container
    assert container["env"] == [{"name": "REDIS_URL", "value": "redis://10.0.0.10:6379"}]
    assert not any(r.type == "kubernetes:core/v1:Service" for r in resources)


def test_memory_requests_equal_limits_as_the_catalog_says() -> None:
    resources = _container(_render("api"))["resources"]
    assert resources == DEFAULT_RESOURCES
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    assert "cpu" not in resources["limits"]
    assert resources["requests"]["ephemeral-storage"] == "128Mi"
    assert resources["limits"]["ephemeral-storage"] == "1Gi"


@pytest.mark.parametrize("app", ["api", "backend", "client", "worker"])
def test_every_pod_runs_restricted_with_a_writable_tmp(app: str) -> None:
    resources = _render(app)
    pod, container = _pod(resources), _container(resources)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == RUN_AS_USER != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts) == {"/tmp", *CATALOG[app].writable_dirs}
    volumes = {v["name"]: v["emptyDir"] for v in pod["volumes"]}
    assert set(volumes) == set(mounts.values())
    assert all(v == {"sizeLimit": EMPTY_DIR_LIMIT} for v in volumes.values())


def test_the_nextjs_client_writes_its_cache_to_an_empty_dir_not_its_root() -> None:
    assert {a: kind.writable_dirs for a, kind in CATALOG.items() if kind.writable_dirs} == {
        "client": ("/app/.next/cache",)
    }


def test_replicated_apps_get_a_disruption_budget_and_spread_over_nodes() -> None:
    resources = _render("api", replicas=2)
    pdb = _one(resources, PDB).inputs
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "keybuzz-api"}}}
    assert pdb["metadata"]["namespace"] == "keybuzz-api-prod"
    [spread] = _pod(resources)["topologySpreadConstraints"]
    assert spread == {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "keybuzz-api"}},
    }


def test_a_single_replica_gets_neither_budget_nor_spread() -> None:
    """A PDB over one replica would block every node drain."""
    resources = _render("api", replicas=1)
    assert not [r for r in resources if r.type == PDB]
    assert "topologySpreadConstraints" not in _pod(resources)


def test_lab_stacks_skip_await_explicitly() -> None:
    d = _one(_render("client", skip_await=True), DEPLOYMENT)
    assert d.inputs["metadata"]["annotations"] == {"pulumi.com/patchForce": "true", "pulumi.com/skipAwait": "true"}


def test_the_deployment_rolls_after_what_it_is_told_to() -> None:
    def program() -> None:
        gate = pulumi.CustomResource("test:index:Gate", "gate", {})
        Service(
            "backend",
            ServiceArgs(
                kind=CATALOG["backend"],
                env="dev",
                workload="keybuzz-backend",
                namespace="keybuzz-backend-dev",
                service_account="keybuzz-backend",
                image="repo/backend:v1",
                replicas=1,
                port=4000,
                command=None,
                rollout_after=[gate],
            ),
        )

    resources = run_under_mocks(program)
    gate = next(r for r in resources if r.type == "test:index:Gate")
    assert gate.urn in _one(resources, DEPLOYMENT).dependencies
    assert gate.urn not in _one(resources, SA).dependencies


# ---- migrations -------------------------------------------------------------------------------------
LOGIN = VaultLogin("https://vault.keybuzz.io:8200", "kubernetes", "keybuzz-dev-migrations", "keybuzz-migrations")
SECRET = DatabaseSecret(
    "keybuzz-backend-migrations-db",
    "database-dev/creds/keybuzz-migrations-dev",
    LOGIN,
    Endpoint("10.0.0.10", 5432),
    "keybuzz_backend",
    "require",
    with_database_url=True,
)


def _migrations(skip_await: bool = False) -> list[Recorded]:
    def program() -> None:
        Migrations(
            "mig",
            MigrationsArgs(
                env="dev",
                workload="keybuzz-migrations",
                namespace="keybuzz-backend-dev",
                service_account="keybuzz-migrations",
                image="repo/backend:v1",
                command=MIGRATIONS_COMMAND,
                secret=SECRET,
                refresh_seconds=1200,
                store_name="vault",
                skip_await=skip_await,
            ),
        )

    return run_under_mocks(program)


def test_migrations_job_uses_its_own_secret_and_service_account() -> None:
    resources = _migrations()
    pod = _one(resources, JOB).inputs["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "keybuzz-migrations"
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["name"] == "keybuzz-migrations"
    # The image's own Prisma CLI (npx would download a missing one: blocked by the egress policy), its caches
    # under the writable /tmp.
    assert pod["containers"][0]["command"] == ["node_modules/.bin/prisma", "migrate", "deploy"]
    assert pod["containers"][0]["env"] == [
        {"name": "HOME", "value": "/tmp"},
        {"name": "NPM_CONFIG_CACHE", "value": "/tmp/.npm"},
    ]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "keybuzz-backend-migrations-db"}}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    generator = _one(resources, GENERATOR).inputs
    assert generator["spec"]["path"] == "database-dev/creds/keybuzz-migrations-dev"
    assert generator["spec"]["provider"]["auth"]["kubernetes"]["serviceAccountRef"] == {
        "name": "keybuzz-migrations",
        "audiences": ["vault"],
    }
    data = _one(resources, EXTERNAL_SECRET).inputs["spec"]["target"]["template"]["data"]
    assert data["DATABASE_URL"].endswith("@10.0.0.10:5432/keybuzz_backend?sslmode=require")


def test_migrations_wait_for_synced_credentials_then_the_job() -> None:
    """SA -> generator -> ExternalSecret (awaited until ESO says Ready) -> Job (awaited until complete)."""
    resources = _migrations()
    sa, generator = _one(resources, SA), _one(resources, GENERATOR)
    secret, job = _one(resources, EXTERNAL_SECRET), _one(resources, JOB)
    assert sa.urn in generator.dependencies
    assert {sa.urn, generator.urn} <= set(secret.dependencies)
    assert {sa.urn, generator.urn, secret.urn} <= set(job.dependencies)
    assert secret.inputs["metadata"]["annotations"] == {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/patchForce": "true",
    }
    assert job.inputs["metadata"]["annotations"] == {"pulumi.com/replaceUnready": "true"}


def test_lab_migrations_keep_the_order_but_await_nothing() -> None:
    resources = _migrations(skip_await=True)
    secret, job = _one(resources, EXTERNAL_SECRET), _one(resources, JOB)
    assert secret.urn in job.dependencies
    assert "pulumi.com/waitFor" not in secret.inputs["metadata"]["annotations"]
    # No kubelet: a Job never completes, so replaceUnready would replace it at every `up`.
    assert job.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
