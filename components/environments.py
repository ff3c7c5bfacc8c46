"""The environments this program knows, and every fact that differs between them: one table.

Everything else that depends on the environment is derived from `ENVIRONMENT_TABLE`, read at call time:
the names (components/naming.py: markers, legacy names, protection), the config model (which
environments a stack may declare, which are pinned to release tags, which client builds they run), the
policy pack's committed config (policy/config/<env>.json, written from this table by
``python -m scripts.policy_config``; a test fails when a file drifts), the estate guards (ops/guard.py reads
it; toolchain/pulumi.sh and the workflows' stack lists are hand-written and tests check them against it). A
new environment is one entry here and its stack file; tests add a synthetic ``staging`` that way, through
the ``add_environment`` fixture (tests/conftest.py).

The table is read-only (`ENVIRONMENT_TABLE` is a view): nothing at run time may add, change or drop an
environment. A test that needs one more patches the dict behind the view with ``monkeypatch``, which
restores it after that test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class ClientBuild:
    """How a Next.js client image built for one environment is tagged."""

    #: Regular expression (Python and Go RE2 alike) the whole tag must match.
    pattern: str
    #: The convention in words, with an example from the seeds.
    described: str


@dataclass(frozen=True)
class EnvironmentFacts:
    """What distinguishes one environment."""

    #: The environment's marker: every name it owns carries it as a token (keybuzz_api_<name>).
    name: str
    #: Its Vault database mount is protected from deletion (databases are protected in every environment).
    protected: bool
    #: Deploys immutable release tags only (no `latest`, `main`, ...).
    pinned_tags: bool
    #: Names the live estate has without a marker, adopted as they are (scoped to this environment).
    legacy_names: frozenset[str]
    #: How a client image built for this environment is tagged (NEXT_PUBLIC_* are baked in at build).
    client_build: ClientBuild
    #: Its stack (named like the environment) reaches the live estate: guarded on machines without access,
    #: and deployed, previewed and checked for drift by the workflows.
    estate: bool


#: Client image tags: NEXT_PUBLIC_API_URL and NEXT_PUBLIC_APP_ENV are baked into the client image when it
#: is built (PH28.2 §5.1: "Build avec NEXT_PUBLIC_* corrects"); set at runtime they do nothing, so the tag is
#: what says which API a client image calls. PROD builds are `prod-YYYY-MM-DD` (PH28.2 §5: prod-2026-02-01).
#: DEV builds end in `-dev` (PH16 §versions: v0.2.38-dev) or `-replacement` (PH28.2 §11: v0.5.33-replacement).
#: The api's `-replacement` tag runs in PROD too (v0.4.31-replacement): the convention is the client's only.
_TABLE: Final[dict[str, EnvironmentFacts]] = {
    "dev": EnvironmentFacts(
        name="dev",
        protected=False,
        pinned_tags=False,
        legacy_names=frozenset(
            {
                "keybuzz",  # DEV api database (13 tenants, 8,400+ conversations): PH15, PH28.2
                "keybuzz_backend",  # DEV backend (Prisma) database: PH15
                "kb_backend",  # owner of the DEV backend tables: PH15
            }
        ),
        client_build=ClientBuild(
            r"^[A-Za-z0-9_.-]+-(dev|replacement)$", "a DEV build, ending in -dev or -replacement (v0.2.38-dev)"
        ),
        estate=True,
    ),
    "prod": EnvironmentFacts(
        name="prod",
        protected=True,
        pinned_tags=True,
        legacy_names=frozenset(),
        client_build=ClientBuild(
            r"^prod-[0-9]{4}-[0-9]{2}-[0-9]{2}$", "a PROD build, prod-YYYY-MM-DD (prod-2026-02-01)"
        ),
        estate=True,
    ),
}

#: The table, read-only: every reader (components/naming.py, the config model, ops/guard.py,
#: scripts/policy_config.py) sees the same entries, and none can change them.
ENVIRONMENT_TABLE: Final[Mapping[str, EnvironmentFacts]] = MappingProxyType(_TABLE)


def environments() -> tuple[str, ...]:
    """Every environment, in table order."""
    return tuple(ENVIRONMENT_TABLE)


def facts(env: str) -> EnvironmentFacts:
    """The facts of `env`; ValueError naming the known ones for any other."""
    try:
        return ENVIRONMENT_TABLE[env]
    except KeyError:
        raise ValueError(f"unknown environment {env!r}; expected one of {', '.join(environments())}") from None


def estate_environments() -> tuple[str, ...]:
    """The environments whose stacks reach the live estate."""
    return tuple(e for e, f in ENVIRONMENT_TABLE.items() if f.estate)
