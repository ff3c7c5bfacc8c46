"""plan(config): what an environment declares, decided once, as data (no resource, no mocks)."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import StackConfig, load_config
from components.plan import MIGRATIONS, EnvironmentPlan, plan
from render import stack_config

pytestmark = pytest.mark.unit


def _config(stack: str, **overrides: Any) -> StackConfig:
    raw, secret_keys = stack_config(stack, overrides)
    return load_config(raw, stack, secret_keys)


def _plan(stack: str, **overrides: Any) -> EnvironmentPlan:
    return plan(_config(stack, **overrides))


def test_dev_plans_every_app_with_names_from_naming_only() -> None:
    p = _plan("dev")
    assert [a.app for a in p.apps] == ["api", "backend", "client", "worker"]
    for a in p.apps:
        assert a.namespace == f"keybuzz-{a.app}-dev"
        assert a.service.service_account == f"keybuzz-{a.app}"
        assert a.service.workload == a.isolation.workload == f"keybuzz-{a.app}"
        assert a.isolation.http_pods == {"app.kubernetes.io/name": f"keybuzz-{a.app}"}
        if a.secrets is not None:
            assert a.secrets.store_login.auth_role == f"keybuzz-dev-{a.app}"
    assert [(d.name, d.owner_group, d.vault_login) for d in p.databases] == [
        ("keybuzz", "keybuzz_api_dev_owner", "keybuzz_vault_dev_api"),
        ("keybuzz_backend", "keybuzz_backend_dev_owner", "keybuzz_vault_dev_backend"),
    ]
    assert p.connections == {"keybuzz": "keybuzz", "keybuzz_backend": "keybuzz-backend"}


def test_only_the_backend_migrates_and_the_worker_rolls_after_it() -> None:
    p = _plan("dev")
    by_app = {a.app: a for a in p.apps}
    assert [a.app for a in p.apps if a.migrations] == ["backend"]
    migrations = by_app["backend"].migrations
    assert migrations is not None
    assert migrations.secret.creds_path == "database-dev/creds/keybuzz-migrations-dev"
    assert migrations.secret.database == "keybuzz_backend"
    assert [a.app for a in p.apps if a.rolls_after_migrations] == ["worker"]
    assert [w.app for w in p.workloads if w.app == MIGRATIONS] == [MIGRATIONS]
    assert {r.name for r in p.roles} == {"keybuzz-api-dev", "keybuzz-backend-dev", "keybuzz-worker-dev",
                                         "keybuzz-migrations-dev"}  # fmt: skip
    # A worker on the api's database waits for no migration.
    on_api = _plan("dev", workerDatabaseApp="api")
    assert not any(a.rolls_after_migrations for a in on_api.apps)


def test_prod_plans_no_migrations_and_redis_for_the_api_only() -> None:
    p = _plan("prod")
    assert [a.app for a in p.apps] == ["api", "client"]
    assert not any(a.migrations or a.rolls_after_migrations for a in p.apps)
    # TOPO: Redis serves the application cache and rate limiting: the api, through the LB.
    assert {a.app: set(a.service.plain_env) for a in p.apps} == {"api": {"REDIS_HOST", "REDIS_PORT", "REDIS_URL"},
                                                                 "client": set()}  # fmt: skip
    assert {a.app: [str(e) for e in a.isolation.lb_egress] for a in p.apps} == {
        "api": ["10.0.0.10:5432", "10.0.0.10:6379"],
        "client": [],
    }


def test_the_cutover_phase_decides_which_secret_each_app_reads() -> None:
    kept = {a.app: a for a in _plan("dev").apps}
    api_secrets = kept["api"].secrets
    assert api_secrets is not None  # its KV secrets
    assert (kept["api"].service.credentials, list(api_secrets.database_secrets)) == ("estate", [])
    assert list(kept["api"].service.secret_env_from) == ["keybuzz-api-postgres", "keybuzz-api-env"]
    backend_secrets = kept["backend"].secrets
    assert backend_secrets is not None  # its migrations read through the store
    assert list(backend_secrets.database_secrets) == []
    assert kept["worker"].service.credentials == "vault"
    dynamic = {a.app: a for a in _plan("dev", legacyLoginPhase="dynamic").apps}
    api_secrets = dynamic["api"].secrets
    assert api_secrets is not None
    assert [s.secret_name for s in api_secrets.database_secrets] == ["keybuzz-api-postgres"]
    assert dynamic["api"].service.credentials == "vault"
    assert dynamic["client"].service.credentials is None
    assert dynamic["client"].secrets is None


def test_kv_secrets_follow_app_secret_env_and_their_names_come_from_naming() -> None:
    p = _plan("dev")
    assert p.kv_paths == {"api": "keybuzz/dev/api/env"}
    [api] = [a for a in p.apps if a.app == "api"]
    assert api.secrets is not None
    assert [(k.secret_name, k.kv_key) for k in api.secrets.kv_secrets] == [("keybuzz-api-env", "keybuzz/dev/api/env")]
    assert [w.kv_prefix for w in p.workloads if w.app == "api"] == ["keybuzz/dev/api"]


def test_the_plan_is_frozen_data_and_deterministic() -> None:
    import dataclasses

    first, second = _plan("prod"), _plan("prod")
    assert first == second
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.apps[0].service.image = "ghcr.io/keybuzzio/keybuzz-api:latest"  # type: ignore[misc]
    assert first.http_ports == (3001, 3000)
    assert first.namespaces == ("keybuzz-api-prod", "keybuzz-client-prod")
