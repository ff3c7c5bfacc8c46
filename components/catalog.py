"""What each KeyBuzz application is, independent of the environment it runs in.

These are product facts (which app owns a database, which reads Redis, which secret name the code
reads, which port it serves), not per-stack settings: a stack only chooses which apps it runs, their
image tags, replicas and hosts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from .spec import Driver

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
    #: HTTP path answering liveness/readiness, where the seeds give one. An app with a port and no health
    #: path is probed with a tcpSocket on its port (the process accepts connections), never a guessed path.
    health_path: str | None
    #: Whether the app owns a database of its own (api, backend).
    owns_database: bool
    #: Kubernetes Secret name the app's code reads its PG* variables from (as on the estate).
    db_secret_name: str | None
    #: The database drivers the app connects with: node-postgres reads the PG* keys, Prisma DATABASE_URL.
    drivers: tuple[Driver, ...]
    #: Whether the app gets the Redis LB endpoint.
    uses_redis: bool
    #: Whether the app is the Next.js client: its NEXT_PUBLIC_* are baked in at image build (PH28.2 §5.1), so
    #: its image tag must be a build of the stack's environment (naming.CLIENT_BUILD_TAGS), never a runtime env.
    is_public_client: bool
    #: Default image repository.
    image_repository: str
    #: Container command, when the app is not its image's default entry point (the worker runs the backend
    #: image). None keeps the image's ENTRYPOINT/CMD.
    command: tuple[str, ...] | None = None
    #: Directories besides /tmp the app writes to, each an emptyDir (the root filesystem is read-only for
    #: every app; Node writes temporary files under /tmp: npm caches, uploads, os.tmpdir()).
    writable_dirs: tuple[str, ...] = ()
    #: Whose database the app uses when it connects to one it does not own (the worker: the backend's). The
    #: stack may point it at another database-owning app (``keybuzz:<app>DatabaseApp``).
    default_database_app: AppName | None = None
    #: Whether the app runs Prisma migrations (a Job, with its own Vault role) before its Deployment rolls.
    runs_migrations: bool = False
    #: Default of ``keybuzz:<app>Egress``: where its pods connect besides DNS, the LBs and this environment's
    #: HTTP apps (``public:<port>`` or ``<cidr>:<port>``; components/spec.py `Egress`).
    egress: tuple[str, ...] = ()

    @property
    def wants_database_url(self) -> bool:
        """Whether its Secret carries DATABASE_URL (Prisma reads it)."""
        return "prisma" in self.drivers

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
        drivers=("node-postgres",),  # a Node app reading PG* (PH16: PGHOST in its Secret)
        # TOPO §Redis "Usage confirmé": cache applicatif, rate limiting: the request-serving app (the backend
        # "n'utilise pas encore Redis").
        uses_redis=True,
        # PH28.2 §6.1 "Email OTP envoyé": the api sends mail; SMTP submission (587) to a relay no seed names.
        egress=("public:587",),
        is_public_client=False,
        image_repository="ghcr.io/keybuzzio/keybuzz-api",
    ),
    "backend": AppKind(
        name="backend",
        port=4000,
        health_path=None,
        owns_database=True,
        db_secret_name="keybuzz-backend-db",  # PH16: adds DATABASE_URL for Prisma
        # No health path in the seeds (PH16/PH17 only call /api/v1/marketplaces/amazon/status, which needs a
        # tenant): probed with a tcpSocket on its port.
        drivers=("prisma",),  # PH15: Prisma schema and migrations
        uses_redis=False,
        egress=("public:443",),  # PH15: Amazon SP-API and OAuth (marketplaces/amazon/oauth) over HTTPS
        is_public_client=False,
        image_repository="ghcr.io/keybuzzio/keybuzz-backend",
        runs_migrations=True,  # Prisma (PH15: "Prisma migrate"; the topology report's db_migrate_leader.sh)
    ),
    "client": AppKind(
        name="client",
        port=3000,
        health_path=None,
        owns_database=False,
        db_secret_name=None,
        drivers=(),
        uses_redis=False,
        # PH28.2 §5.1: NEXT_PUBLIC_API_URL=https://api.keybuzz.io: server-side rendering calls the public API.
        egress=("public:443",),
        is_public_client=True,
        image_repository="ghcr.io/keybuzzio/keybuzz-client",
        # No health path in the seeds (PH28.2 §7.2: `/` redirects to /login, which renders a page): probed with a
        # tcpSocket on its port. Next.js writes its image/ISR cache under <WORKDIR>/.next/cache. DECISION: the
        # seeds do not give the image's WORKDIR; /app is the WORKDIR of Next.js's own standalone Dockerfile
        # example. If the image uses another, the cache write fails (logged, pages still served) until this
        # path is corrected: the root filesystem stays read-only either way.
        writable_dirs=("/app/.next/cache",),
    ),
    "worker": AppKind(
        name="worker",
        port=None,
        health_path=None,
        owns_database=False,
        db_secret_name="keybuzz-worker-db",
        drivers=("prisma",),  # the backend image, on the backend's Prisma schema
        uses_redis=True,
        egress=("public:443",),  # TOPO: "Workers Amazon Polling", "Rate limiting SP-API": Amazon over HTTPS
        is_public_client=False,
        image_repository="ghcr.io/keybuzzio/keybuzz-backend",
        # The worker is the backend image running its queue worker (topology report: Redis queues, Amazon
        # polling), not a second HTTP backend. ASSUMPTION: the seeds do not name the entry point; this is the
        # backend's compiled worker. Confirm it against keybuzz-backend's package.json before PROD runs a worker.
        command=("node", "dist/worker.js"),
        default_database_app="backend",  # the backend image's queue worker, on the backend's tables
    ),
}

#: Default container resources. Memory: requests = limits, so the scheduler reserves all a pod may use and a
#: node is never overcommitted on memory (memory cannot be throttled: an overcommitted node OOM-kills pods
#: that stay within their limit). CPU: a request and no limit (CPU is throttled, never killed; a limit only
#: slows a Node event loop).
#: Ephemeral storage (the writable emptyDirs and the container's logs): a request so the scheduler accounts
#: for it, a limit so one pod filling /tmp is evicted instead of filling the node's disk.
DEFAULT_RESOURCES: Final[dict[str, dict[str, str]]] = {
    "requests": {"cpu": "100m", "memory": "512Mi", "ephemeral-storage": "128Mi"},
    "limits": {"memory": "512Mi", "ephemeral-storage": "1Gi"},
}

#: Size limit of each writable emptyDir: below the ephemeral-storage limit, so the kubelet evicts the pod
#: for the directory before the container's own limit is reached.
EMPTY_DIR_LIMIT: Final = "512Mi"

#: UID/GID the containers run as: `node` (1000) of the official Node.js images. ASSUMPTION: the seeds do not
#: show the Dockerfiles; the files the apps read must be readable by it. Numeric, so the kubelet can verify
#: runAsNonRoot even when an image's USER is a name or root.
RUN_AS_USER: Final = 1000

#: Command the migrations Job runs (replaces the leader-probing scripts/db_migrate_leader.sh): the Prisma CLI
#: the backend image installed (PH15 runs `npx prisma migrate ...` in it), called directly: `npx` would
#: download the CLI when it is missing, which the egress policy blocks and a release must not depend on.
MIGRATIONS_COMMAND: Final[tuple[str, ...]] = ("node_modules/.bin/prisma", "migrate", "deploy")
#: Its environment: Node and npm write their caches under HOME, on the writable /tmp (the root is read-only).
MIGRATIONS_ENV: Final[dict[str, str]] = {"HOME": "/tmp", "NPM_CONFIG_CACHE": "/tmp/.npm"}

#: Secret (maintained by ESO from the migrations Vault role) the migrations Job reads DATABASE_URL from.
MIGRATIONS_SECRET: Final = "keybuzz-backend-migrations-db"
