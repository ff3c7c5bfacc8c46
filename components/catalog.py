"""What each KeyBuzz application is, independent of the environment it runs in.

These are product facts (which app owns a database, which reads Redis, which secret name the code
reads, which port it serves), not per-stack settings: a stack only chooses which apps it runs, their
image tags, replicas and hosts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

AppName = Literal["api", "backend", "client", "worker"]
APP_NAMES: Final[tuple[AppName, ...]] = ("api", "backend", "client", "worker")

#: Vault database roles per app. `migrations` is the backend's Prisma migrations role.
DbRoleName = Literal["api", "backend", "worker", "migrations"]


@dataclass(frozen=True)
class AppKind:
    """Static description of one application."""

    name: AppName
    #: Port the container listens on; None for apps that serve nothing (worker).
    port: int | None
    #: HTTP path answering liveness/readiness, where the app has one.
    health_path: str | None
    #: Whether the app owns a database of its own (api, backend).
    owns_database: bool
    #: Kubernetes Secret name the app's code reads its PG* variables from (as on the estate).
    db_secret_name: str | None
    #: Whether the app also reads DATABASE_URL (Prisma).
    wants_database_url: bool
    #: Whether the app gets the Redis LB endpoint.
    uses_redis: bool
    #: Whether the app is the Next.js client: its NEXT_PUBLIC_* are baked in at image build (PH28.2 §5.1), so
    #: its image tag must be a build of the stack's environment (naming.CLIENT_BUILD_TAGS), never a runtime env.
    is_public_client: bool
    #: Default image repository.
    image_repository: str

    @property
    def uses_database(self) -> bool:
        """Whether the app connects to PostgreSQL at all (the worker uses another app's database)."""
        return self.db_secret_name is not None


CATALOG: Final[dict[str, AppKind]] = {
    "api": AppKind(
        name="api",
        port=3001,
        health_path="/health",  # GET /health -> {"status":"ok"} (PH16, PH17)
        owns_database=True,
        db_secret_name="keybuzz-api-postgres",  # PH16/PH17/PH28.2
        wants_database_url=False,
        uses_redis=False,
        is_public_client=False,
        image_repository="ghcr.io/keybuzzio/keybuzz-api",
    ),
    "backend": AppKind(
        name="backend",
        port=4000,
        health_path=None,
        owns_database=True,
        db_secret_name="keybuzz-backend-db",  # PH16: adds DATABASE_URL for Prisma
        wants_database_url=True,
        uses_redis=False,
        is_public_client=False,
        image_repository="ghcr.io/keybuzzio/keybuzz-backend",
    ),
    "client": AppKind(
        name="client",
        port=3000,
        health_path=None,
        owns_database=False,
        db_secret_name=None,
        wants_database_url=False,
        uses_redis=False,
        is_public_client=True,
        image_repository="ghcr.io/keybuzzio/keybuzz-client",
    ),
    "worker": AppKind(
        name="worker",
        port=None,
        health_path=None,
        owns_database=False,
        db_secret_name="keybuzz-worker-db",
        wants_database_url=True,
        uses_redis=True,
        is_public_client=False,
        image_repository="ghcr.io/keybuzzio/keybuzz-backend",
    ),
}

#: Default container resources (requests = limits for memory, so a node is never overcommitted).
DEFAULT_RESOURCES: Final[dict[str, dict[str, str]]] = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"memory": "512Mi"},
}

#: Command the migrations Job runs (replaces the leader-probing scripts/db_migrate_leader.sh).
MIGRATIONS_COMMAND: Final[tuple[str, ...]] = ("npx", "prisma", "migrate", "deploy")

#: Secret (maintained by ESO from the migrations Vault role) the migrations Job reads DATABASE_URL from.
MIGRATIONS_SECRET: Final = "keybuzz-backend-migrations-db"
