"""Lab layout: ports, state-directory paths, generated secrets and the settings under test.

Every port is derived from one base port, every file lives under one state directory, and every
secret is generated per lab: the servers' in ``<state>/secrets.json``, those of the lab stacks (their
passphrase, the state role's and the legacy logins' passwords) one a file in ``<state>/pulumi/``, all mode
0600. Nothing here starts a process.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

HOST: Final = "127.0.0.1"  # the only address anything in the lab binds to or connects to
DEFAULT_BASE_PORT: Final = 15400
NODES: Final[tuple[str, ...]] = ("pg1", "pg2", "pg3")
SCOPE: Final = "keybuzz-lab"  # Patroni cluster name (production: keybuzz-pg17)
SUPERUSER: Final = "postgres"
REPLICATION_USER: Final = "replicator"
OS_USER: Final = "postgres"  # Patroni and PostgreSQL run as this user when the lab runs as root

# Patroni DCS timings and HAProxy check settings under test. docs/lab.md explains each figure and what
# production should use; keep the two in step.
PATRONI_TTL: Final = 10
PATRONI_LOOP_WAIT: Final = 2
PATRONI_RETRY_TIMEOUT: Final = 3
HAPROXY_CHECK_INTER_MS: Final = 1000  # steady state
HAPROXY_CHECK_FASTINTER_MS: Final = 250  # after a first failed check: confirm the failure quickly
HAPROXY_CHECK_DOWNINTER_MS: Final = 500  # while DOWN: notice a newly promoted leader quickly
HAPROXY_CHECK_FALL: Final = 2
HAPROXY_CHECK_RISE: Final = 1
HAPROXY_RETRIES: Final = 0  # a refused connect fails at once: the client reconnects (no 1 s turn-around)


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def default_state_dir() -> Path:
    return Path(os.environ.get("LAB_STATE_DIR") or repo_root() / ".lab")


def default_base_port() -> int:
    return int(os.environ.get("LAB_BASE_PORT") or DEFAULT_BASE_PORT)


@dataclass(frozen=True)
class Ports:
    """Every port of one lab, derived from its base port."""

    base: int

    @property
    def lb_write(self) -> int:
        return self.base

    @property
    def lb_read(self) -> int:
        return self.base + 1

    @property
    def haproxy_stats(self) -> int:
        return self.base + 2

    @property
    def etcd_client(self) -> int:
        return self.base + 5

    @property
    def etcd_peer(self) -> int:
        return self.base + 6

    @property
    def bao(self) -> int:
        return self.base + 8

    @property
    def bao_cluster(self) -> int:
        # OpenBao's cluster listener (raft), on the API port + 1.
        return self.base + 9

    def pg(self, node: str) -> int:
        return self.base + 11 + NODES.index(node)

    def rest(self, node: str) -> int:
        return self.base + 21 + NODES.index(node)

    def all(self) -> dict[str, int]:
        ports = {
            "lb_write": self.lb_write,
            "lb_read": self.lb_read,
            "haproxy_stats": self.haproxy_stats,
            "etcd_client": self.etcd_client,
            "etcd_peer": self.etcd_peer,
            "bao": self.bao,
            "bao_cluster": self.bao_cluster,
        }
        for node in NODES:
            ports[f"{node}_pg"] = self.pg(node)
            ports[f"{node}_rest"] = self.rest(node)
        return ports


@dataclass(frozen=True)
class Secrets:
    """Per-lab generated credentials. Never committed, never printed by `status`."""

    superuser_password: str
    replication_password: str
    bao_root_token: str

    @staticmethod
    def generate() -> Secrets:
        return Secrets(
            superuser_password=secrets.token_urlsafe(24),
            replication_password=secrets.token_urlsafe(24),
            bao_root_token="lab-" + secrets.token_urlsafe(24),
        )


@dataclass(frozen=True)
class Layout:
    """Paths under one state directory."""

    state_dir: Path

    @property
    def lab_file(self) -> Path:
        return self.state_dir / "lab.json"

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.json"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def pulumi_dir(self) -> Path:
        """What the lab stacks keep: generated secrets, the state passfile, the policy pack's configs."""
        return self.state_dir / "pulumi"

    @property
    def etcd_dir(self) -> Path:
        return self.state_dir / "etcd"

    @property
    def haproxy_cfg(self) -> Path:
        return self.state_dir / "haproxy.cfg"

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    @property
    def ca_certificate(self) -> Path:
        """The lab CA's certificate: what a client that verifies the server trusts (PGSSLROOTCERT,
        NODE_EXTRA_CA_CERTS)."""
        return self.tls_dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.tls_dir / "ca.key"

    @property
    def server_certificate(self) -> Path:
        return self.tls_dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.tls_dir / "server.key"

    def node_dir(self, node: str) -> Path:
        return self.state_dir / node

    def node_tls(self, node: str) -> tuple[Path, Path]:
        """(certificate, key) of `node`'s PostgreSQL: copies of the server's, in the node's own directory
        (owned by the postgres user: PostgreSQL refuses a key file another user owns or can read)."""
        return self.node_dir(node) / "server.crt", self.node_dir(node) / "server.key"

    def node_cfg(self, node: str) -> Path:
        return self.node_dir(node) / "patroni.yml"

    def node_data(self, node: str) -> Path:
        return self.node_dir(node) / "data"

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"


def write_private(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` readable by its owner only (mode 0600, also while it is being written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as handle:
        handle.write(data)


def generated_secret(layout: Layout, name: str) -> str:
    """A secret generated on first use and kept in ``<state>/pulumi/<name>`` (mode 0600): stable across runs
    of one lab, so a stack's encrypted config and the roles already created keep matching it."""
    path = layout.pulumi_dir / name
    if not path.exists():
        write_private(path, secrets.token_urlsafe(24))
    return path.read_text().strip()


def load_or_create_secrets(layout: Layout) -> Secrets:
    """Read the lab's secrets, generating them (file mode 0600) on first use."""
    path = layout.secrets_file
    if path.exists():
        return Secrets(**json.loads(path.read_text()))
    value = Secrets.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(value.__dict__, handle)
    return value


def read_secrets(layout: Layout) -> Secrets:
    return Secrets(**json.loads(layout.secrets_file.read_text()))
