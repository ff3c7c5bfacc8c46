"""A third environment from the table alone (issue 10): `staging` is one entry in components/environments.py
and its stack values; rendered, it declares nothing DEV or PROD declares and references nothing of theirs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.environments import ENVIRONMENT_TABLE, EnvironmentFacts, environments, facts
from components.naming import owner_of
from render import Rendering, render_stack, stack_config
from tests.table import STAGING, with_environment
from tests.unit.test_program import _declared, _referenced

pytestmark = pytest.mark.unit

#: The stack values of a staging stack: DEV's file, with what is DEV's own (its legacy names, its tags,
#: its hosts, its adoptions) replaced or removed. Nothing else is written for it.
VALUES = {
    "environment": "staging",
    "apiImageTag": "v0.4.31-staging",
    "backendImageTag": "v0.1.9-staging",
    "clientImageTag": "v0.5.33-staging",
    "workerImageTag": "v0.1.9-staging",
    "apiHost": "api-staging.keybuzz.io",
    "backendHost": "backend-staging.keybuzz.io",
    "clientHost": "client-staging.keybuzz.io",
}
DEV_ONLY = ("apiDatabase", "backendDatabase", "adoptDatabases", "adoptNamespaces", "apiLegacyRoles",
            "backendLegacyRoles")  # fmt: skip


@pytest.fixture(scope="module")
def staging() -> Rendering:
    # The entry is in the table while the program renders (once for the module), and gone afterwards.
    with pytest.MonkeyPatch.context() as patch:
        with_environment(patch, STAGING)
        raw, secret_keys = stack_config("dev", VALUES, remove=DEV_ONLY)
        return render_stack("staging", raw_config=(raw, secret_keys))


def test_staging_renders_from_the_table_entry_and_its_values(
    staging: Rendering, add_environment: Callable[[EnvironmentFacts], None]
) -> None:
    assert staging.outputs["environment"] == "staging"
    assert staging.outputs["databases"] == ["keybuzz_api_staging", "keybuzz_backend_staging"]
    assert staging.outputs["vault_mount"] == "database-staging"
    names = _declared(staging)
    assert all(names[k] for k in ("database", "role", "namespace", "vault mount", "policy", "auth role"))
    add_environment(STAGING)
    owners = {n: owner_of(n) for kind in ("database", "role", "namespace", "policy") for n in names[kind]}
    assert set(owners.values()) == {"staging"}, owners


def test_the_fixture_adds_an_environment_for_one_test_only(add_environment: Callable[[EnvironmentFacts], None]) -> None:
    before = environments()
    add_environment(STAGING)
    assert environments() == (*before, "staging")
    with pytest.raises(ValueError, match="environment 'staging' already exists"):
        add_environment(STAGING)


def test_an_added_environment_is_gone_once_the_patch_is_undone() -> None:
    with pytest.MonkeyPatch.context() as patch:
        with_environment(patch, STAGING)
        assert facts("staging") == STAGING
    assert "staging" not in environments()
    with pytest.raises(ValueError, match="unknown environment 'staging'"):
        facts("staging")


def test_the_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        ENVIRONMENT_TABLE["staging"] = STAGING  # type: ignore[index]
    assert "staging" not in ENVIRONMENT_TABLE


@pytest.mark.parametrize("other", ["dev", "prod"])
def test_staging_shares_nothing_with_dev_or_prod(
    staging: Rendering, other: str, request: pytest.FixtureRequest
) -> None:
    theirs: Rendering = request.getfixturevalue(other)
    mine, their_names = _declared(staging), _declared(theirs)
    assert {k: mine[k] & their_names[k] for k in mine if mine[k] & their_names[k]} == {}
    refs = _referenced(staging)
    assert refs["database"] & their_names["database"] == set()
    assert refs["role"] & their_names["role"] == set()
    assert refs["namespace"] & their_names["namespace"] == set()
    assert not any(p.startswith(f"database-{other}/") or f"/{other}/" in p for p in refs["vault path"])


def test_without_its_table_entry_staging_is_refused() -> None:
    from components.config import ConfigError, load_config

    raw, secret_keys = stack_config("dev", VALUES, remove=DEV_ONLY)
    with pytest.raises(ConfigError, match="unknown environment 'staging'"):
        load_config(raw, "staging", secret_keys)
