"""Physical names: the single place where an environment becomes a name.

Every database, role, namespace, Vault mount, Vault path and policy name the program declares comes
from a `Naming` built for the stack's environment. A name belongs to an environment when one of its
tokens (split on ``-``, ``_``, ``/`` and ``.``) is the environment's marker, or when it is one of that
environment's *legacy adoptions* listed in `LEGACY_NAMES` (names the live estate had before this
program, such as DEV's ``keybuzz`` database). `ownership_problem` is the isolation check the config
model runs on every name: a name of another environment, or one that belongs to none, is refused
before any resource is registered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: The environments this program knows. A stack is exactly one of them.
ENVIRONMENTS: Final[tuple[str, ...]] = ("dev", "prod")

#: Names that exist on the live estate without an environment marker, adopted as they are. Each is
#: explicitly scoped to one environment, so the other environment can never claim it.
LEGACY_NAMES: Final[dict[str, frozenset[str]]] = {
    "dev": frozenset(
        {
            "keybuzz",  # DEV api database (13 tenants, 8,400+ conversations): PH15, PH28.2
            "keybuzz_backend",  # DEV backend (Prisma) database: PH15
            "kb_backend",  # owner of the DEV backend tables: PH15
        }
    ),
    "prod": frozenset(),
}

#: What the client's NEXT_PUBLIC_APP_ENV says in each environment (PH28.2: "production" in PROD).
PUBLIC_APP_ENV: Final[dict[str, str]] = {"dev": "development", "prod": "production"}

#: Environments whose Vault database mounts are protected from deletion (databases are protected in
#: every environment: DEV's `keybuzz` holds real data too).
PROTECTED_ENVIRONMENTS: Final[frozenset[str]] = frozenset({"prod"})

_TOKEN_SPLIT = re.compile(r"[-_/.]+")


def tokens(name: str) -> list[str]:
    """The lower-cased tokens of a physical name (``keybuzz_api_dev`` -> ``keybuzz, api, dev``)."""
    return [t for t in _TOKEN_SPLIT.split(name.lower()) if t]


def owner_of(name: str) -> str | None:
    """The environment a name belongs to, or None if it names no environment.

    A legacy name belongs to its environment. A name that carries two environments' markers belongs to
    none and is reported by `ownership_problem`.
    """
    for env, legacy in LEGACY_NAMES.items():
        if name in legacy:
            return env
    found = [env for env in ENVIRONMENTS if env in tokens(name)]
    return found[0] if len(found) == 1 else None


def ownership_problem(name: str, env: str) -> str | None:
    """Why `name` may not be used by environment `env`, or None when it may."""
    markers = [other for other in ENVIRONMENTS if other in tokens(name)]
    for other, legacy in LEGACY_NAMES.items():
        if name in legacy and other != env:
            return (
                f"'{name}' is a {other.upper()} name (a legacy {other.upper()} adoption); {env.upper()} may not use it"
            )
    if name in LEGACY_NAMES.get(env, frozenset()):
        return None
    foreign = [m for m in markers if m != env]
    if foreign:
        return (
            f"'{name}' carries the {foreign[0].upper()} marker '{foreign[0]}'; {env.upper()} names must carry '{env}'"
        )
    if env not in markers:
        return (
            f"'{name}' names no environment; {env.upper()} names must contain the token '{env}' "
            f"(e.g. '{name}_{env}') or be a legacy {env.upper()} adoption listed in components/naming.py"
        )
    return None


def go_duration(seconds: int) -> str:
    """Seconds as the canonical Go duration string Kubernetes controllers write back (1200 -> 20m0s).

    ESO re-serialises `refreshInterval` in this form; writing it the same way avoids a perpetual diff.
    """
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


@dataclass(frozen=True)
class Naming:
    """Derives every physical name of one environment. Build it once per stack."""

    env: str

    def __post_init__(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ValueError(f"unknown environment {self.env!r}; expected one of {', '.join(ENVIRONMENTS)}")

    @property
    def protected(self) -> bool:
        """Whether this environment's Vault database mount is protected from deletion (stack-aware default).
        Databases are protected in every environment."""
        return self.env in PROTECTED_ENVIRONMENTS

    @property
    def public_app_env(self) -> str:
        return PUBLIC_APP_ENV[self.env]

    # --- PostgreSQL -------------------------------------------------------------------------
    def database(self, app: str) -> str:
        """Default database of an app when the stack does not adopt a legacy one."""
        return f"keybuzz_{app}_{self.env}"

    def owner_group(self, app: str) -> str:
        """NOLOGIN role that owns an app's database and every object in it."""
        return f"keybuzz_{app}_{self.env}_owner"

    def reader_group(self, app: str) -> str:
        """NOLOGIN role with read-only access to an app's database (reports, the future read LB)."""
        return f"keybuzz_{app}_{self.env}_reader"

    def vault_login(self) -> str:
        """LOGIN role the environment's Vault database engine connects as (its root, rotated by Vault)."""
        return f"keybuzz_vault_{self.env}"

    # --- Vault --------------------------------------------------------------------------------
    def database_mount(self) -> str:
        """Vault database secrets engine mount of this environment."""
        return f"database-{self.env}"

    def connection(self, database: str) -> str:
        """Vault database connection name for one database (inside the environment's mount)."""
        return database.replace("_", "-")

    def db_role(self, app: str) -> str:
        """Vault dynamic-credentials role of an app (api, backend, worker, migrations)."""
        return f"keybuzz-{app}-{self.env}"

    def creds_path(self, app: str) -> str:
        """Vault path that issues an app's database credentials."""
        return f"{self.database_mount()}/creds/{self.db_role(app)}"

    def kv_prefix(self) -> str:
        """KV v2 path prefix (inside the KV mount) holding this environment's secrets."""
        return f"keybuzz/{self.env}"

    def kv_path(self, app: str, name: str) -> str:
        return f"{self.kv_prefix()}/{app}/{name}"

    def policy(self, app: str) -> str:
        """Vault policy of an app: its own KV paths and its own database credentials, nothing else."""
        return f"keybuzz-{self.env}-{app}"

    def auth_role(self, app: str) -> str:
        """Vault Kubernetes-auth role an app's service account logs in with."""
        return f"keybuzz-{self.env}-{app}"

    # --- Kubernetes ---------------------------------------------------------------------------
    def namespace(self, app: str) -> str:
        """Namespace of an app (matches the estate: keybuzz-api-dev, keybuzz-client-prod, ...)."""
        return f"keybuzz-{app}-{self.env}"

    def service_account(self, app: str) -> str:
        return f"keybuzz-{app}"

    def reloader_namespace(self) -> str:
        """Namespace of this environment's Reloader (keybuzz-reloader-dev, keybuzz-reloader-prod)."""
        return f"keybuzz-reloader-{self.env}"

    def reloader_service_account(self) -> str:
        return "keybuzz-reloader"
