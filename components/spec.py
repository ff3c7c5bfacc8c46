"""The program's value types: what config, plan and components exchange, with no behaviour of their own.

Config parses keys into these (`Endpoint`, `SslMode`), `plan(config)` builds the rest from them, and the
components create resources from them. This module imports nothing of the program's, so a resource module
that needs an endpoint does not pull in the config package, and the plan's data types do not live in the
resource modules that consume them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: libpq sslmodes a stack may choose (`prefer`/`allow` are left out: they fall back to plaintext silently).
SslMode = Literal["disable", "require", "verify-ca", "verify-full"]

#: The database drivers the apps use, each with its own reading of the connection settings (`DRIVER_SSL`).
Driver = Literal["node-postgres", "prisma"]

#: How each driver spells each libpq sslmode of the stack. node-postgres (`pg`, the Node apps' reader of
#: PGSSLMODE: pg/lib/connection-parameters.js) turns `require`, `prefer` and `verify-ca` into full
#: certificate verification against Node's CA store; its spelling of libpq's `require` (encrypt, verify
#: nothing) is `no-verify`. Prisma's engine reads DATABASE_URL's `sslmode` as libpq does for `require` (its
#: `sslaccept` defaults to accepting the certificate). A test runs the real `pg` with what ESO syncs.
DRIVER_SSL: dict[Driver, dict[str, str]] = {
    "node-postgres": {
        "disable": "disable",
        "require": "no-verify",
        "verify-ca": "verify-ca",
        "verify-full": "verify-full",
    },
    "prisma": {"disable": "disable", "require": "require", "verify-ca": "verify-ca", "verify-full": "verify-full"},
}

#: Where an app's database credentials come from: the estate's own Secret (cutover phase kept) or Vault (ESO).
Credentials = Literal["estate", "vault"]


@dataclass(frozen=True)
class Endpoint:
    """A ``host:port`` network endpoint (always a load-balancer address in this program)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


#: The address ranges no app's "public" egress reaches: the private ranges of RFC 1918 (the estate's
#: 10.0.0.x, the nodes among them), shared address space (RFC 6598), link-local (cloud metadata) and loopback.
PRIVATE_RANGES: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
)
#: How a stack spells "the public internet" in an egress entry (``public:443``).
PUBLIC = "public"


@dataclass(frozen=True)
class Egress:
    """One destination an app's pods may open connections to, beyond DNS and the LBs: a CIDR, or the public
    internet (every IPv4 address but `PRIVATE_RANGES` and the nodes), on one TCP port. Written
    ``<cidr>:<port>`` or ``public:<port>`` in the stack file."""

    #: The destination; None is the public internet.
    cidr: str | None
    port: int

    def __str__(self) -> str:
        return f"{self.cidr or PUBLIC}:{self.port}"


# --- Vault and ESO ----------------------------------------------------------------------------------
#: The audience of every service-account token that logs in to Vault, and the `audience` every Kubernetes
#: auth role checks. Asked for explicitly (ESO's ``serviceAccountRef.audiences``, the rotation job's projected
#: token), so it does not depend on the cluster's default (``--api-audiences``, i.e. its issuer: the lab's
#: is its own URL, the estate's unknown); a token issued for the Kubernetes API is refused by Vault, and ours
#: is refused by the API server. "vault" is also what ESO's own JWT auth asks for by default.
VAULT_AUDIENCE = "vault"


@dataclass(frozen=True)
class VaultLogin:
    """How ESO logs in to Vault for one workload: Kubernetes auth with that workload's service account."""

    server: str
    auth_mount: str
    auth_role: str
    service_account: str

    def provider(self, kv_mount: str | None = None) -> dict[str, Any]:
        """ESO's ``provider.vault`` block for this login (with the KV mount for a SecretStore)."""
        spec: dict[str, Any] = {
            "server": self.server,
            "version": "v2",
            "auth": {
                "kubernetes": {
                    "mountPath": self.auth_mount,
                    "role": self.auth_role,
                    # ESO 1.3.2 asks the TokenRequest API for exactly these audiences (providers/v1/vault/auth.go
                    # createServiceAccountToken); without them, the cluster's default.
                    "serviceAccountRef": {"name": self.service_account, "audiences": [VAULT_AUDIENCE]},
                }
            },
        }
        if kv_mount:
            spec["path"] = kv_mount
        return spec


@dataclass(frozen=True)
class DatabaseSecret:
    """A Kubernetes Secret of PG* keys (and DATABASE_URL) built from Vault dynamic credentials.

    Host, port and database come from the LB config and are written by the template: never from
    Vault, never a node (PH16).
    """

    #: Secret name the app reads (estate names: keybuzz-api-postgres, keybuzz-backend-db).
    secret_name: str
    #: Vault path issuing the credentials (database-<env>/creds/<role>).
    creds_path: str
    login: VaultLogin
    lb: Endpoint
    database: str
    #: The stack's keybuzz:postgresSslMode, written as PGSSLMODE and in DATABASE_URL's sslmode=, each in the
    #: spelling of the driver that reads it (`DRIVER_SSL`).
    ssl_mode: SslMode
    #: Whether the Secret carries DATABASE_URL (an app on Prisma).
    with_database_url: bool


@dataclass(frozen=True)
class KvSecret:
    """A Kubernetes Secret mirroring one KV v2 secret (all of its keys)."""

    secret_name: str
    #: Path inside the KV mount, e.g. keybuzz/dev/api/env.
    kv_key: str


@dataclass(frozen=True)
class AppAccess:
    """What one workload (an app, or the migrations job) may read in Vault, and who it is in Kubernetes."""

    #: Workload name (api, backend, worker, migrations).
    app: str
    policy: str
    auth_role: str
    namespace: str
    service_account: str
    #: KV path prefix (inside the KV mount) the workload may read, e.g. keybuzz/dev/api. None: no KV.
    kv_prefix: str | None
    #: Vault paths issuing the workload's database credentials, e.g. database-dev/creds/keybuzz-api-dev.
    creds_paths: Sequence[str] = ()


@dataclass(frozen=True)
class EngineRole:
    """One Vault database role: the app it serves and the database it issues users for."""

    name: str
    database: str
    owner_group: str


# --- PostgreSQL -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatabaseSpec:
    """One application database and the two group roles around it."""

    #: Physical database name (derived, or a legacy adoption such as DEV's `keybuzz`).
    name: str
    #: NOLOGIN role owning the database and every object in it; Vault's dynamic users join it.
    owner_group: str
    #: NOLOGIN role with read-only access (SELECT on tables, now and in the future).
    reader_group: str
    #: LOGIN role of the Vault connection to this database (its root; one per connection).
    vault_login: str
    #: The estate's roles that own objects in, or log in to, this database before the adoption.
    legacy_roles: Sequence[str] = ()
