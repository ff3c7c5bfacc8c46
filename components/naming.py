"""Physical names: the single place where an environment becomes a name.

Every database, role, namespace, Vault mount, Vault path and policy name the program declares comes
from a `Naming` built for the stack's environment. A name belongs to an environment when one of its
tokens (split on ``-``, ``_``, ``/`` and ``.``) is the environment's marker, or when it is one of that
environment's *legacy adoptions* (``legacy_names`` in components/environments.py) (names the live estate had before this
program, such as DEV's ``keybuzz`` database). `ownership_problem` is the isolation check the config
model runs on every name: a name of another environment, or one that belongs to none, is refused
before any resource is registered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .environments import ENVIRONMENT_TABLE, ClientBuild, environments, facts

#: The environments and what distinguishes them live in one table (components/environments.py); every
#: function here reads it at call time.

#: Anything but a letter or a digit separates tokens (the policy pack's environment-isolation splits the same way).
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


def tokens(name: str) -> list[str]:
    """The lower-cased tokens of a physical name (``keybuzz_api_dev`` -> ``keybuzz, api, dev``)."""
    return [t for t in _TOKEN_SPLIT.split(name.lower()) if t]


def owner_of(name: str) -> str | None:
    """The environment a name belongs to, or None if it names no environment.

    A legacy name belongs to its environment. A name that carries two environments' markers belongs to
    none and is reported by `ownership_problem`.
    """
    for env, entry in ENVIRONMENT_TABLE.items():
        if name in entry.legacy_names:
            return env
    found = [env for env in environments() if env in tokens(name)]
    return found[0] if len(found) == 1 else None


def ownership_problem(name: str, env: str) -> str | None:
    """Why `name` may not be used by environment `env`, or None when it may."""
    markers = [other for other in environments() if other in tokens(name)]
    for other, entry in ENVIRONMENT_TABLE.items():
        if name in entry.legacy_names and other != env:
            return (
                f"'{name}' is a {other.upper()} name (a legacy {other.upper()} adoption); {env.upper()} may not use it"
            )
    if env in ENVIRONMENT_TABLE and name in ENVIRONMENT_TABLE[env].legacy_names:
        return None
    foreign = [m for m in markers if m != env]
    if foreign:
        return (
            f"'{name}' carries the {foreign[0].upper()} marker '{foreign[0]}'; {env.upper()} names must carry '{env}'"
        )
    if env not in markers:
        return (
            f"'{name}' names no environment; {env.upper()} names must contain the token '{env}' "
            f"(e.g. '{name}_{env}') or be a legacy {env.upper()} adoption listed in components/environments.py"
        )
    return None


@dataclass(frozen=True)
class Naming:
    """Derives every physical name of one environment. Build it once per stack."""

    env: str

    def __post_init__(self) -> None:
        facts(self.env)  # ValueError naming the known environments

    @property
    def protected(self) -> bool:
        """Whether this environment's Vault database mount is protected from deletion (stack-aware default).
        Databases are protected in every environment."""
        return facts(self.env).protected

    @property
    def client_build(self) -> ClientBuild:
        """How this environment's client images are tagged (their NEXT_PUBLIC_* are baked in at build)."""
        return facts(self.env).client_build

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

    def vault_login(self, app: str) -> str:
        """LOGIN role one Vault connection (the database of `app`) connects as: its root, rotated by Vault.

        One per connection: a ``rotate-root`` changes this role's password, so a login shared by two
        connections would leave the other one holding a dead password (issue 12, item 5)."""
        return f"keybuzz_vault_{self.env}_{app}"

    def root_rotation(self) -> str:
        """Vault policy, Kubernetes-auth role and CronJob that rotate the environment's Vault root logins."""
        return f"keybuzz-{self.env}-rotate-root"

    def ops_namespace(self) -> str:
        """Namespace of the environment's platform jobs (the scheduled Vault root rotation)."""
        return f"keybuzz-ops-{self.env}"

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

    def kv_app_prefix(self, app: str) -> str:
        """KV path prefix of one app's secrets (what its policy may read)."""
        return f"{self.kv_prefix()}/{app}"

    def kv_path(self, app: str, name: str) -> str:
        return f"{self.kv_app_prefix(app)}/{name}"

    def kv_secret_name(self, app: str) -> str:
        """Kubernetes Secret ESO writes from the app's KV secrets (its ``appSecretEnv`` entries)."""
        return f"keybuzz-{app}-env"

    def policy(self, app: str) -> str:
        """Vault policy of an app: its own KV paths and its own database credentials, nothing else."""
        return f"keybuzz-{self.env}-{app}"

    def auth_role(self, app: str) -> str:
        """Vault Kubernetes-auth role an app's service account logs in with."""
        return f"keybuzz-{self.env}-{app}"

    # --- CI identities (components/ci_identity.py) -----------------------------------------------
    def ci_auth_mount(self) -> str:
        """Vault JWT auth mount the CI's OIDC tokens log in to, one per environment."""
        return f"jwt-ci-{self.env}"

    def ci_role(self, kind: str) -> str:
        """Vault JWT role and policy of a CI identity (``preview`` or ``deploy``) of this environment."""
        return f"keybuzz-{self.env}-ci-{kind}"

    def ci_db_group(self) -> str:
        """NOLOGIN role holding CONNECT on this environment's databases: what the preview logins are IN."""
        return f"keybuzz_ci_{self.env}_preview"

    def ci_connection(self) -> str:
        """Vault database connection (in this environment's mount) that issues the preview logins."""
        return f"keybuzz-ci-{self.env}"

    def ci_service_account(self) -> str:
        """Service account (in the ops namespace) whose tokens the preview identity gets: read-only RBAC."""
        return "keybuzz-ci-preview"

    def ci_cluster_role(self) -> str:
        """ClusterRole (bound per namespace) and cluster-scoped read role of the preview identity."""
        return f"keybuzz-ci-preview-{self.env}"

    # --- Kubernetes ---------------------------------------------------------------------------
    def namespace(self, app: str) -> str:
        """Namespace of an app (matches the estate: keybuzz-api-dev, keybuzz-client-prod, ...)."""
        return f"keybuzz-{app}-{self.env}"

    def service_account(self, app: str) -> str:
        return f"keybuzz-{app}"

    def workload(self, app: str) -> str:
        """Deployment, container, Service and pod label of an app or job (keybuzz-api, keybuzz-migrations): the
        names the seeds' rollback uses (PH28.2 §8.2: `kubectl set image deployment/keybuzz-api keybuzz-api=...`)."""
        return f"keybuzz-{app}"

    def reloader_namespace(self) -> str:
        """Namespace of this environment's Reloader (keybuzz-reloader-dev, keybuzz-reloader-prod)."""
        return f"keybuzz-reloader-{self.env}"

    def reloader_service_account(self) -> str:
        return "keybuzz-reloader"
