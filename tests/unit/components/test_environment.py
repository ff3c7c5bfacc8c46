"""Environment: how one stack's config is composed into components (roles per app, migrations, worker)."""

from __future__ import annotations

import pytest

from components.catalog import MIGRATIONS_SECRET
from components.external_secrets import WAIT_FOR_READY
from components.k8s import PATCH_FORCE
from render import Recorded, Rendering, render_stack

#: An app database ExternalSecret: taken over (patchForce) and awaited until ESO synced it (issue 17 item 3).
AWAITED = {**PATCH_FORCE, **WAIT_FOR_READY}

DB_ROLE = "vault:database/secretBackendRole:SecretBackendRole"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"


def _db_roles(r: Rendering) -> dict[str, str]:
    return {x.inputs["name"]: x.inputs["dbName"] for x in r.of_type(DB_ROLE)}


def test_dev_has_a_vault_role_per_database_app_plus_migrations(dev: Rendering) -> None:
    assert _db_roles(dev) == {
        "keybuzz-api-dev": "keybuzz",
        "keybuzz-backend-dev": "keybuzz-backend",
        "keybuzz-worker-dev": "keybuzz-backend",
        "keybuzz-migrations-dev": "keybuzz-backend",
    }


def test_prod_runs_only_what_its_stack_lists(prod: Rendering) -> None:
    assert _db_roles(prod) == {"keybuzz-api-prod": "keybuzz-prod"}
    assert prod.of_type("kubernetes:batch/v1:Job") == []
    assert sorted(prod.outputs["namespaces"]) == ["keybuzz-api-prod", "keybuzz-client-prod"]


def test_worker_reads_the_backend_database_through_its_own_role(dev: Rendering) -> None:
    worker = dev.one(
        EXTERNAL_SECRET,
        metadata={"name": "keybuzz-worker-db", "namespace": "keybuzz-worker-dev", "annotations": AWAITED},
    )
    data = worker.inputs["spec"]["target"]["template"]["data"]
    assert data["PGDATABASE"] == "keybuzz_backend"
    generator = next(
        g
        for g in dev.resources
        if g.type.endswith("VaultDynamicSecret") and g.inputs["metadata"]["namespace"] == "keybuzz-worker-dev"
    )
    assert generator.inputs["spec"]["path"] == "database-dev/creds/keybuzz-worker-dev"
    assert generator.inputs["spec"]["provider"]["auth"]["kubernetes"]["serviceAccountRef"] == {
        "name": "keybuzz-worker",
        "audiences": ["vault"],
    }


def test_migrations_job_reads_a_secret_from_the_migrations_role(dev: Rendering) -> None:
    [job] = dev.of_type("kubernetes:batch/v1:Job")
    pod = job.inputs["spec"]["template"]["spec"]
    secret_name = pod["containers"][0]["envFrom"][0]["secretRef"]["name"]
    [es] = [
        e
        for e in dev.of_type(EXTERNAL_SECRET)
        if (e.inputs["metadata"]["name"], e.inputs["metadata"]["namespace"]) == (secret_name, "keybuzz-backend-dev")
    ]
    assert "DATABASE_URL" in es.inputs["spec"]["target"]["template"]["data"]
    gen_name = es.inputs["spec"]["dataFrom"][0]["sourceRef"]["generatorRef"]["name"]
    gen = next(
        g for g in dev.resources if g.type.endswith("VaultDynamicSecret") and g.inputs["metadata"]["name"] == gen_name
    )
    assert gen.inputs["spec"]["path"] == "database-dev/creds/keybuzz-migrations-dev"
    assert pod["serviceAccountName"] == "keybuzz-migrations"


def test_the_client_gets_no_database_access(rendering: Rendering) -> None:
    client_ns = f"keybuzz-client-{rendering.stack}"
    assert not [
        r
        for r in rendering.resources
        if r.type.startswith("kubernetes:external-secrets") and r.inputs["metadata"]["namespace"] == client_ns
    ]
    policy = next(
        p
        for p in rendering.of_type("vault:index/policy:Policy")
        if p.inputs["name"] == f"keybuzz-{rendering.stack}-client"
    )
    assert "creds" not in policy.inputs["policy"]


# ---- the cutover phases of the estate's legacy logins (issue 12) -----------------------------------
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DYNAMIC = "pulumi-python:dynamic:Resource"


def _db_secret_names(r: Rendering) -> set[tuple[str, str]]:
    return {
        (es.inputs["metadata"]["namespace"], es.inputs["spec"]["target"]["name"])
        for es in r.of_type(EXTERNAL_SECRET)
        if "PGHOST" in (es.inputs["spec"]["target"].get("template") or {}).get("data", {})
    }


def _credentials(r: Rendering) -> dict[str, str]:
    return {
        d.inputs["metadata"]["name"]: d.inputs["spec"]["template"]["metadata"]
        .get("annotations", {})
        .get("keybuzz.io/database-credentials", "")
        for d in r.of_type(DEPLOYMENT)
        if d.inputs["metadata"]["name"] != "keybuzz-reloader"
    }


def test_phase_kept_leaves_the_estates_secrets_to_the_apps_the_estate_runs(dev: Rendering) -> None:
    # api and backend keep reading the estate's own Secret (legacy login); the new worker starts on Vault.
    assert _db_secret_names(dev) == {
        ("keybuzz-backend-dev", "keybuzz-backend-migrations-db"),
        ("keybuzz-worker-dev", "keybuzz-worker-db"),
    }
    assert _credentials(dev) == {
        "keybuzz-api": "estate",
        "keybuzz-backend": "estate",
        "keybuzz-client": "",
        "keybuzz-worker": "vault",
    }
    phases = {r.inputs["role"]: r.inputs["phase"] for r in dev.of_type(DYNAMIC) if "role" in r.inputs}
    assert phases == {"kb_backend": "kept", "keybuzz_api_dev": "kept"}


def test_phase_dynamic_moves_the_apps_onto_vault_and_rolls_them() -> None:
    from render import render_stack

    dynamic = render_stack("dev", {"legacyLoginPhase": "dynamic"})
    assert ("keybuzz-api-dev", "keybuzz-api-postgres") in _db_secret_names(dynamic)
    assert ("keybuzz-backend-dev", "keybuzz-backend-db") in _db_secret_names(dynamic)
    assert set(_credentials(dynamic).values()) == {"vault", ""}
    logins = [r for r in dynamic.of_type(DYNAMIC) if "role" in r.inputs]
    assert {r.inputs["phase"] for r in logins} == {"dynamic"}
    # keybuzz_api_dev logs in to both DEV databases (PH16): one resource, both grants.
    [api_dev] = [r for r in logins if r.inputs["role"] == "keybuzz_api_dev"]
    assert sorted(g["database"] for g in api_dev.inputs["grants"]) == ["keybuzz", "keybuzz_backend"]


def test_the_upsert_choice_reaches_the_kubernetes_provider(dev: Rendering) -> None:
    from render import render_stack

    assert dev.one("pulumi:providers:kubernetes").inputs["upsertExistingObjects"] in (True, "true")
    after = render_stack("dev", {"kubernetesUpsertExisting": False})
    assert after.one("pulumi:providers:kubernetes").inputs.get("upsertExistingObjects") in (False, "false", None)


# ---- the order `up` follows (dependencies) -------------------------------------------------------------
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _deployment(r: Rendering, app: str) -> Recorded:
    return next(d for d in r.of_type(DEPLOYMENT) if d.inputs["metadata"]["name"] == f"keybuzz-{app}")


def _migrations_secret(r: Rendering) -> Recorded:
    return next(e for e in r.of_type(EXTERNAL_SECRET) if e.inputs["metadata"]["name"] == MIGRATIONS_SECRET)


@pytest.mark.parametrize("stack", ["dev", "lab-dev"])
def test_the_backend_rolls_after_migrations_which_run_after_their_credentials_sync(stack: str, dev: Rendering) -> None:
    rendering = dev if stack == "dev" else render_stack("lab-dev", overrides={"kubernetesSkipAwait": True})
    [job] = rendering.of_type(JOB)
    secret = _migrations_secret(rendering)
    assert secret.urn in job.dependencies
    assert job.urn in _deployment(rendering, "backend").dependencies
    # The worker runs the backend image on the backend's database (workerDatabaseApp): it waits too; the api not.
    assert job.urn in _deployment(rendering, "worker").dependencies
    assert job.urn not in _deployment(rendering, "api").dependencies
    # Vault issues the migrations role's credentials (policy, Kubernetes auth role) before ESO syncs them.
    auth = next(x for x in rendering.resources if x.name == "keybuzz-dev-vault-access-migrations-auth")
    assert auth.urn in secret.dependencies
    awaited = secret.inputs["metadata"].get("annotations", {}).get("pulumi.com/waitFor")
    assert awaited == (None if stack == "lab-dev" else "condition=Ready")


def test_nothing_carries_an_alias(dev: Rendering, prod: Rendering) -> None:
    """No stack was ever applied with the URNs of the old layout (the estate stacks never, the lab's are made
    anew): aliases to it would only keep dead names alive."""
    named = [(r.name, a) for r in dev.resources + prod.resources for a in r.aliases if any(a)]
    assert named == []


def test_every_external_secret_has_its_store_in_its_namespace(dev: Rendering) -> None:
    """In phase kept the backend declares no Secret of its own, but its migrations still read through the store."""
    stores = {
        (s.inputs["metadata"]["namespace"], s.inputs["metadata"]["name"])
        for s in dev.of_type("kubernetes:external-secrets.io/v1:SecretStore")
    }
    for es in dev.of_type(EXTERNAL_SECRET):
        ref = (es.inputs["metadata"]["namespace"], es.inputs["spec"]["secretStoreRef"]["name"])
        assert ref in stores, ref


ESO_OBJECTS = ("SecretStore", "VaultDynamicSecret", "ExternalSecret")


@pytest.mark.parametrize("stack", ["dev", "prod_on_vault"])
def test_every_eso_object_waits_for_the_vault_objects_it_logs_in_and_reads_with(
    stack: str, dev: Rendering, prod_on_vault: Rendering
) -> None:
    """Issue 17 item 9: children do not inherit their component's depends_on, so the stores, generators and
    ExternalSecrets name the Kubernetes auth role they log in with, its policy and the database role they read
    (before, ESO's first syncs failed and waited for its backoff)."""
    rendering = dev if stack == "dev" else prod_on_vault
    auth_roles = {
        r.inputs["roleName"]: r for r in rendering.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
    }
    policies = {r.inputs["name"]: r for r in rendering.of_type("vault:index/policy:Policy")}
    db_roles = {r.inputs["name"]: r for r in rendering.of_type(DB_ROLE)}
    stores = {
        r.inputs["metadata"]["namespace"]: r for r in rendering.of_type("kubernetes:external-secrets.io/v1:SecretStore")
    }
    checked = 0
    for obj in (r for r in rendering.resources if r.type.rsplit(":", 1)[-1] in ESO_OBJECTS):
        spec = obj.inputs["spec"]
        provider = spec.get("provider") or stores[obj.inputs["metadata"]["namespace"]].inputs["spec"]["provider"]
        login = auth_roles[provider.get("vault", provider)["auth"]["kubernetes"]["role"]]
        needed = [login, *(policies[p] for p in login.inputs["tokenPolicies"])]
        if "path" in spec:  # a generator: the database role it issues from
            needed.append(db_roles[spec["path"].rsplit("/", 1)[1]])
        missing = [r.name for r in needed if r.urn not in obj.dependencies]
        assert missing == [], (obj.name, missing)
        checked += 1
    assert checked >= 3
