"""The naming module: every physical name carries its environment; legacy names are scoped."""

from __future__ import annotations

import re

import pytest

from components.naming import Naming, owner_of, ownership_problem, tokens


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_derived_name_belongs_to_its_environment(env: str) -> None:
    n = Naming(env)
    names = [
        n.database("api"),
        n.owner_group("api"),
        n.reader_group("backend"),
        n.vault_login("api"),
        n.root_rotation(),
        n.ops_namespace(),
        n.database_mount(),
        n.db_role("worker"),
        n.creds_path("api"),
        n.kv_prefix(),
        n.kv_path("api", "env"),
        n.policy("api"),
        n.auth_role("migrations"),
        n.namespace("client"),
    ]
    assert [name for name in names if ownership_problem(name, env)] == []
    assert all(owner_of(name) == env for name in names)


def test_dev_and_prod_derive_disjoint_names() -> None:
    dev, prod = Naming("dev"), Naming("prod")
    for method in ("database", "owner_group", "reader_group", "db_role", "policy", "auth_role", "namespace"):
        assert getattr(dev, method)("api") != getattr(prod, method)("api")
    assert dev.database_mount() != prod.database_mount()


def test_legacy_names_belong_to_dev_only() -> None:
    assert ownership_problem("keybuzz", "dev") is None
    assert "DEV name" in (ownership_problem("keybuzz", "prod") or "")
    assert "DEV name" in (ownership_problem("kb_backend", "prod") or "")


def test_marker_rules() -> None:
    assert "PROD marker" in (ownership_problem("keybuzz_prod", "dev") or "")
    assert "names no environment" in (ownership_problem("keybuzz_reports", "prod") or "")
    assert ownership_problem("keybuzz_prod", "prod") is None
    assert tokens("keybuzz-api_prod/x.y") == ["keybuzz", "api", "prod", "x", "y"]
    assert owner_of("prod-and-dev") is None  # two markers: belongs to none


def test_protection() -> None:
    assert Naming("prod").protected
    assert not Naming("dev").protected


@pytest.mark.parametrize(
    ("env", "good", "bad"),
    [
        ("prod", ["prod-2026-02-01"], ["v0.5.33-replacement", "v0.2.38-dev", "prod-2026-2-1", "prod-2026-02-01-dev"]),
        ("dev", ["v0.2.38-dev", "v0.5.33-replacement"], ["prod-2026-02-01", "v0.5.33", "dev", "v1-replacement-x"]),
    ],
)
def test_client_build_tags_follow_the_seeds_conventions(env: str, good: list[str], bad: list[str]) -> None:
    pattern = re.compile(Naming(env).client_build.pattern)
    assert [t for t in good if not pattern.match(t)] == []
    assert [t for t in bad if pattern.match(t)] == []


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown environment 'staging'"):
        Naming("staging")
