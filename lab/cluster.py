"""`Lab`: bring the loopback HA lab up and down, report on it, and fail it over.

Processes (each recorded by PID in ``<state>/run``):

- ``etcd``: the DCS, one member, client port base+5.
- ``patroni-pg1..3``: three Patroni daemons (each starts its own postmaster), run as the ``postgres``
  OS user through ``setpriv`` so the recorded PID is Patroni's own. PostgreSQL ports base+11..13,
  Patroni REST ports base+21..23.
- ``haproxy``: write port base+0 routed to the node whose Patroni answers ``OPTIONS /primary`` with 200,
  read port base+1 to the nodes answering ``/replica``; stats on base+2.
- ``bao``: an OpenBao server (Vault API) on base+8 with persistent integrated (raft) storage in
  ``<state>/bao/data`` and a static auto-unseal key (``<state>/bao/unseal.key``, mode 0600): like the
  estate's Vault it keeps its mounts, roles and leases across a restart (the lab's PostgreSQL keeps its
  data too). Initialized on first start; the lab's root token (generated per lab) is created then, and
  the ``secret/`` KV v2 mount the estate has.
- with ``up(kube=True)``: ``kube-etcd``, ``kube-apiserver``, ``kube-controller-manager`` (garbage collector
  and namespace controller only) and ``external-secrets`` (``lab/kube.py``): a Kubernetes API on base+32
  with the External Secrets CRDs, the ESO controller running out of cluster,
  a kubeconfig in ``<state>/kubeconfig``, and OpenBao's ``kubernetes`` auth method reviewing service
  account tokens against that API server.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from lab import config as cfg
from lab.binaries import bao_binary, pg_bin_dir, which
from lab.config import HOST, NODES, Layout, Ports, Secrets
from lab.http import HttpError, Vault, request
from lab.kube import PROCS as KUBE_PROCS
from lab.kube import KubeApi, configure_openbao_kubernetes_auth, kube_ports, toolchain_bin
from lab.procs import LabError, ProcRecord, ProcTable, postmaster_pid, stop, wait_for
from lab.writer import CONN_OPTS, LoadWriter

FAILOVER_MODES = ("switchover", "kill", "sigterm")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_base_port(first: int, last: int, step: int = 100) -> int:
    """The first base port in [first, last) whose whole lab range is free on 127.0.0.1."""
    for base in range(first, last, step):
        if all(port_is_free(p) for p in Ports(base).all().values()):
            return base
    raise LabError(f"no free lab port range between {first} and {last}")


@dataclass
class FailoverReport:
    """What one failover did and what the writer saw through the LB write port."""

    mode: str
    old_leader: str
    new_leader: str
    gap_s: float  # longest interval between two acknowledged commits
    election_s: float  # action -> Patroni reports the new leader
    writes_resumed_s: float  # action -> first acknowledged commit after the longest gap
    acked: int
    lost: list[int]
    ambiguous: int
    errors: int
    first_error: str | None
    error_kinds: dict[str, int]  # what the client saw during the gap, by exception class
    heal_s: float | None  # action -> all three members healthy again (old leader rejoined)
    attempts: list[dict[str, Any]] = field(default_factory=list)  # patronictl runs (switchover)

    def summary(self) -> str:
        return (
            f"{self.mode}: {self.old_leader} -> {self.new_leader}; write gap {self.gap_s:.2f}s "
            f"(election {self.election_s:.2f}s, writes resumed {self.writes_resumed_s:.2f}s after the "
            f"action); acked {self.acked}, lost {len(self.lost)}, ambiguous {self.ambiguous}; "
            + (f"healed in {self.heal_s:.1f}s" if self.heal_s is not None else "not healed")
        )


class Lab:
    """One lab: a state directory and a base port."""

    def __init__(self, state_dir: str | Path | None = None, base_port: int | None = None) -> None:
        self.layout = Layout(Path(state_dir or cfg.default_state_dir()).resolve())
        stored = self._stored()
        if base_port is not None and stored and stored["base_port"] != base_port and self.running():
            raise LabError(
                f"the lab in {self.layout.state_dir} runs on base port {stored['base_port']}, "
                f"not {base_port}: stop it first (`python -m lab down`)"
            )
        self.ports = Ports(base_port or (stored["base_port"] if stored else cfg.default_base_port()))
        self.procs = ProcTable(self.layout.run_dir)
        self.kube = KubeApi(self.layout, self.ports)
        self.as_root = os.geteuid() == 0

    # ------------------------------------------------------------------ state

    def _stored(self) -> dict[str, Any] | None:
        path = self.layout.lab_file
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def secrets(self) -> Secrets:
        return cfg.read_secrets(self.layout)

    def running(self) -> list[ProcRecord]:
        return [r for r in ProcTable(self.layout.run_dir).all() if r.alive()]

    def conninfo(
        self, port: int | None = None, dbname: str = "postgres", user: str | None = None, password: str | None = None
    ) -> dict[str, Any]:
        """psycopg keyword arguments for the superuser (default) or the given user, via the LB write port."""
        return {
            "host": HOST,
            "port": port or self.ports.lb_write,
            "dbname": dbname,
            "user": user or cfg.SUPERUSER,
            "password": password if password is not None else self.secrets.superuser_password,
        }

    def vault(self) -> Vault:
        return Vault(self.ports.bao, self.secrets.bao_root_token)

    # ------------------------------------------------------------------ configuration files

    def _patroni_config(self, node: str, secrets: Secrets, pg_bin: str) -> dict[str, Any]:
        node_dir = self.layout.node_dir(node)
        hba = [
            "local all all scram-sha-256",
            f"host all all {HOST}/32 scram-sha-256",
            f"host replication {cfg.REPLICATION_USER} {HOST}/32 scram-sha-256",
        ]
        return {
            "scope": cfg.SCOPE,
            "namespace": "/service/",
            "name": node,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"{HOST}:{self.ports.rest(node)}",
                "connect_address": f"{HOST}:{self.ports.rest(node)}",
            },
            "etcd3": {"hosts": [f"{HOST}:{self.ports.etcd_client}"], "protocol": "http"},
            "bootstrap": {
                "dcs": {
                    "ttl": cfg.PATRONI_TTL,
                    "loop_wait": cfg.PATRONI_LOOP_WAIT,
                    "retry_timeout": cfg.PATRONI_RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1048576,
                    # A commit is acknowledged only once a standby has flushed it, and Patroni only
                    # promotes that standby: no acknowledged commit can be lost when a leader dies.
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "wal_log_hints": "on",
                            "max_connections": 100,
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_keep_size": "128MB",
                            "password_encryption": "scram-sha-256",
                            # A replica that asks for its slot before the leader has created it (every
                            # bring-up, every failover) retries after this, not the default 5 s.
                            "wal_retrieve_retry_interval": "500ms",
                        },
                    },
                },
                # no-sync: a lab cluster is disposable, and initdb's fsync of every file is ~1 s here.
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums", "no-sync"],
            },
            "postgresql": {
                "listen": f"{HOST}:{self.ports.pg(node)}",
                "connect_address": f"{HOST}:{self.ports.pg(node)}",
                "data_dir": str(self.layout.node_data(node)),
                "bin_dir": pg_bin,
                "pgpass": str(node_dir / "pgpass"),
                "authentication": {
                    "superuser": {"username": cfg.SUPERUSER, "password": secrets.superuser_password},
                    "replication": {"username": cfg.REPLICATION_USER, "password": secrets.replication_password},
                },
                # The Debian default socket directory belongs to the packaged cluster: keep ours apart.
                "parameters": {"unix_socket_directories": str(node_dir)},
                "pg_hba": hba,
                # Replicas clone the leader without waiting for a spread checkpoint.
                "basebackup": [{"checkpoint": "fast"}],
                # A lab node that cannot rewind after a kill is re-cloned rather than left broken.
                "remove_data_directory_on_rewind_failure": True,
                "remove_data_directory_on_diverged_timelines": True,
            },
            "watchdog": {"mode": "off"},
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }

    def _haproxy_config(self) -> str:
        check = (
            f"inter {cfg.HAPROXY_CHECK_INTER_MS}ms fastinter {cfg.HAPROXY_CHECK_FASTINTER_MS}ms "
            f"downinter {cfg.HAPROXY_CHECK_DOWNINTER_MS}ms fall {cfg.HAPROXY_CHECK_FALL} "
            f"rise {cfg.HAPROXY_CHECK_RISE} on-marked-down shutdown-sessions"
        )

        def servers() -> str:
            return "".join(
                f"    server {n} {HOST}:{self.ports.pg(n)} maxconn 80 check port {self.ports.rest(n)}\n" for n in NODES
            )

        return (
            "# Generated by `python -m lab up`: edit lab/cluster.py, not this file.\n"
            "global\n"
            "    maxconn 400\n"
            "defaults\n"
            "    mode tcp\n"
            "    timeout connect 2s\n"
            "    timeout client 30m\n"
            "    timeout server 30m\n"
            "    timeout check 2s\n"
            f"    retries {cfg.HAPROXY_RETRIES}\n"
            "listen pg_write\n"
            f"    bind {HOST}:{self.ports.lb_write}\n"
            # OPTIONS, not GET: Patroni answers both, GET logs a connection reset per check.
            "    option httpchk OPTIONS /primary\n"
            "    http-check expect status 200\n"
            f"    default-server {check}\n" + servers() + "listen pg_read\n"
            f"    bind {HOST}:{self.ports.lb_read}\n"
            "    balance roundrobin\n"
            "    option httpchk OPTIONS /replica\n"
            "    http-check expect status 200\n"
            f"    default-server {check}\n" + servers() + "listen stats\n"
            "    mode http\n"
            f"    bind {HOST}:{self.ports.haproxy_stats}\n"
            "    stats enable\n"
            "    stats uri /\n"
            "    stats refresh 2s\n"
        )

    def _prepare(self, secrets: Secrets, pg_bin: str) -> None:
        layout = self.layout
        for path in (layout.state_dir, layout.run_dir, layout.log_dir, layout.etcd_dir, layout.state_dir / "bao"):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(layout.etcd_dir, 0o700)
        owner = pwd.getpwnam(cfg.OS_USER) if self.as_root else None
        for node in NODES:
            node_dir = layout.node_dir(node)
            node_dir.mkdir(exist_ok=True)
            os.chmod(node_dir, 0o700)
            config_path = layout.node_cfg(node)
            fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:  # JSON is YAML: no YAML library needed
                json.dump(self._patroni_config(node, secrets, pg_bin), handle, indent=2)
            if owner:
                for path in (node_dir, config_path):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
        layout.haproxy_cfg.write_text(self._haproxy_config())
        layout.lab_file.write_text(
            json.dumps({"base_port": self.ports.base, "ports": self.ports.all(), "nodes": list(NODES)}, indent=2)
        )

    # ------------------------------------------------------------------ processes

    def _spawn_patroni(self, node: str) -> ProcRecord:
        argv = [which("patroni"), str(self.layout.node_cfg(node))]
        if self.as_root:
            # setpriv execs in place: the recorded PID is Patroni's. initdb refuses to run as root.
            argv = ["setpriv", f"--reuid={cfg.OS_USER}", f"--regid={cfg.OS_USER}", "--init-groups", "--", *argv]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(self.layout.node_dir(node)),
            "PYTHONUNBUFFERED": "1",
        }
        return self.procs.spawn(
            f"patroni-{node}", argv, self.layout.log(f"patroni-{node}"), env=env, cwd=self.layout.node_dir(node)
        )

    def _spawn_etcd(self) -> ProcRecord:
        p = self.ports
        argv = [
            which("etcd"),
            "--name=lab-etcd",
            f"--data-dir={self.layout.etcd_dir}",
            f"--listen-client-urls=http://{HOST}:{p.etcd_client}",
            f"--advertise-client-urls=http://{HOST}:{p.etcd_client}",
            f"--listen-peer-urls=http://{HOST}:{p.etcd_peer}",
            f"--initial-advertise-peer-urls=http://{HOST}:{p.etcd_peer}",
            f"--initial-cluster=lab-etcd=http://{HOST}:{p.etcd_peer}",
            "--initial-cluster-token=keybuzz-lab",
            "--initial-cluster-state=new",
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        return self.procs.spawn("etcd", argv, self.layout.log("etcd"), env={"PATH": os.environ.get("PATH", "")})

    def _spawn_haproxy(self) -> ProcRecord:
        # -db: stay in the foreground, so the recorded PID is the one process that serves.
        argv = [which("haproxy", "/usr/sbin"), "-db", "-f", str(self.layout.haproxy_cfg)]
        return self.procs.spawn("haproxy", argv, self.layout.log("haproxy"), env={"PATH": os.environ.get("PATH", "")})

    def _bao_config(self) -> Path:
        """The OpenBao server config (raft storage, static seal), and its unseal key on first use."""
        bao_dir = self.layout.state_dir / "bao"
        (bao_dir / "data").mkdir(parents=True, exist_ok=True)
        key = bao_dir / "unseal.key"
        if not key.exists():
            cfg.write_private(key, os.urandom(32))
        config = bao_dir / "config.hcl"
        config.write_text(
            f'storage "raft" {{\n  path = "{bao_dir / "data"}"\n  node_id = "lab"\n}}\n'
            f'listener "tcp" {{\n  address = "{HOST}:{self.ports.bao}"\n'
            f'  cluster_address = "{HOST}:{self.ports.bao_cluster}"\n  tls_disable = true\n}}\n'
            f'api_addr = "http://{HOST}:{self.ports.bao}"\ncluster_addr = "http://{HOST}:{self.ports.bao_cluster}"\n'
            f'seal "static" {{\n  current_key_id = "lab-1"\n  current_key = "file://{key}"\n}}\n'
        )
        return config

    def _spawn_bao(self, secrets: Secrets) -> ProcRecord:
        argv = [bao_binary(), "server", f"-config={self._bao_config()}"]
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.layout.state_dir / "bao")}
        return self.procs.spawn("bao", argv, self.layout.log("bao"), env=env)

    def _bao_initialize(self, secrets: Secrets) -> None:
        """First start only: initialize OpenBao, create the lab's root token (its id generated per lab, so
        it never appears in argv) and the estate's `secret/` KV v2 mount, then revoke the init token."""

        def answering() -> dict[str, Any] | None:
            try:
                return request("GET", self.ports.bao, "/v1/sys/seal-status", timeout=1)[1]
            except (OSError, HttpError):
                return None

        status = wait_for(answering, 30, f"OpenBao /v1/sys/seal-status (see {self.layout.log('bao')})")
        if status.get("initialized"):
            wait_for(self.bao_health, 60, f"OpenBao unsealed and active (see {self.layout.log('bao')})")
            try:
                self.vault().read("auth/token/lookup-self")
            except HttpError as exc:
                raise LabError(
                    f"OpenBao in {self.layout.state_dir / 'bao'} does not know this lab's token ({exc.status}): its "
                    "first start was interrupted. Start anew: `python -m lab down --purge` then `up`."
                ) from exc
            return
        # Raft bootstrap and key generation take seconds on a loaded machine: a generous timeout.
        init_body = {"recovery_shares": 1, "recovery_threshold": 1}
        _, init = request("POST", self.ports.bao, "/v1/sys/init", init_body, timeout=120)
        wait_for(self.bao_health, 60, "OpenBao unsealed and active after init")
        first = Vault(self.ports.bao, init["root_token"])
        first.write("auth/token/create-orphan", {"id": secrets.bao_root_token, "policies": ["root"], "no_parent": True})
        mine = Vault(self.ports.bao, secrets.bao_root_token)
        mine.write("sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
        mine.write("auth/token/revoke", {"token": init["root_token"]})

    def restart_bao(self) -> None:
        """Stop OpenBao (SIGTERM) and start it again on the same storage; returns once it is unsealed."""
        record = self.procs.get("bao")
        if record is not None:
            stop([record], signal.SIGTERM, timeout=30)
        self._spawn_bao(self.secrets)
        wait_for(self.bao_health, 30, f"OpenBao unsealed after a restart (see {self.layout.log('bao')})")

    # ------------------------------------------------------------------ probes

    def etcd_healthy(self) -> bool:
        try:
            _, body = request("GET", self.ports.etcd_client, "/health", timeout=1)
        except (OSError, HttpError):
            return False
        return isinstance(body, dict) and str(body.get("health")) == "true"

    def bao_health(self) -> dict[str, Any] | None:
        try:
            _, body = request("GET", self.ports.bao, "/v1/sys/health", timeout=1)
        except (OSError, HttpError):
            return None
        return body if isinstance(body, dict) else None

    def cluster(self) -> dict[str, Any] | None:
        """Patroni's view of the cluster (GET /cluster) from the first member that answers."""
        for node in NODES:
            try:
                _, body = request("GET", self.ports.rest(node), "/cluster", timeout=1)
            except (OSError, HttpError):
                continue
            if isinstance(body, dict):
                return body
        return None

    def members(self) -> list[dict[str, Any]]:
        body = self.cluster()
        return list(body.get("members", [])) if body else []

    def leader(self) -> str | None:
        for member in self.members():
            if member.get("role") in ("leader", "master", "primary") and member.get("state") == "running":
                return str(member["name"])
        return None

    def replicas(self) -> list[str]:
        return [
            str(m["name"])
            for m in self.members()
            if m.get("role") in ("replica", "sync_standby") and m.get("state") in ("running", "streaming")
        ]

    def haproxy_backends(self) -> dict[str, dict[str, str]]:
        """{"pg_write": {"pg1": "UP", ...}, "pg_read": {...}} from HAProxy's CSV stats."""
        try:
            _, text = request("GET", self.ports.haproxy_stats, "/;csv", timeout=1)
        except (OSError, HttpError):
            return {}
        rows = csv.DictReader(io.StringIO(str(text).lstrip("# ")))
        out: dict[str, dict[str, str]] = {}
        for row in rows:
            if row.get("svname") in NODES:
                out.setdefault(row["pxname"], {})[row["svname"]] = row.get("status", "")
        return out

    def _lb_in_recovery(self, port: int) -> bool:
        with psycopg.connect(**self.conninfo(port), **CONN_OPTS) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])

    def healthy(self) -> bool:
        """One leader and two running replicas, routed as such by HAProxy, answering on both LB ports."""
        members = self.members()
        leader, replicas = self.leader(), self.replicas()
        if not leader or len(replicas) != len(NODES) - 1:
            return False
        # Until the leader has recorded a synchronous standby in the DCS, no replica may be promoted
        # automatically: a leader lost in that window needs a manual failover. Healthy means past it.
        if not any(m.get("role") == "sync_standby" for m in members):
            return False
        backends = self.haproxy_backends()
        up_write = {n for n, s in backends.get("pg_write", {}).items() if s == "UP"}
        up_read = {n for n, s in backends.get("pg_read", {}).items() if s == "UP"}
        if up_write != {leader} or up_read != set(replicas):
            return False
        return not self._lb_in_recovery(self.ports.lb_write) and self._lb_in_recovery(self.ports.lb_read)

    def wait_healthy(self, timeout: float = 90.0) -> None:
        wait_for(self.healthy, timeout, "one leader + two replicas routed by HAProxy (see <state>/log/)", 0.1)

    # ------------------------------------------------------------------ up / down / status

    def up(self, fresh: bool = False, timeout: float = 120.0, kube: bool = False) -> dict[str, Any]:
        """Start everything (or nothing, if the lab already runs); return phase timings in seconds.

        With `kube`, also the Kubernetes API (lab/kube.py; needs `make toolchain`).
        """
        t0 = time.monotonic()
        if kube:
            toolchain_bin()  # refuse before starting anything when the toolchain is not built
        records = [r for r in self.procs.all() if r.name not in KUBE_PROCS]
        if records and all(r.alive() for r in records) and len(records) == len(NODES) + 3:
            timings: dict[str, Any] = {"already_running": True, "total_s": 0.0}
            if kube:
                timings.update(self.kube.up())
                configure_openbao_kubernetes_auth(self.kube, self.vault())
            return timings
        if records:  # a partial lab from an earlier run: stop what is left, then start cleanly
            self.down()
        if fresh:
            self.purge()
        wanted = {**self.ports.all(), **(kube_ports(self.ports) if kube else {})}
        busy = [f"{name}={port}" for name, port in wanted.items() if not port_is_free(port)]
        if busy:
            raise LabError(f"ports already in use on {HOST}: {', '.join(busy)}; choose another --base-port")
        pg_bin = pg_bin_dir()
        secrets = cfg.load_or_create_secrets(self.layout)
        self._prepare(secrets, pg_bin)
        timings = {}
        self._spawn_etcd()
        self._spawn_bao(secrets)
        self._spawn_haproxy()
        wait_for(self.etcd_healthy, 30, "etcd /health")
        timings["etcd_s"] = round(time.monotonic() - t0, 2)
        for node in NODES:
            self._spawn_patroni(node)
        if kube:  # starts while the Patroni nodes elect a leader
            timings.update(self.kube.up())
        self._bao_initialize(secrets)  # returns once OpenBao is unsealed and active
        timings["bao_s"] = round(time.monotonic() - t0, 2)
        if kube:
            configure_openbao_kubernetes_auth(self.kube, self.vault())
        wait_for(self.leader, timeout, "a Patroni leader (see <state>/log/patroni-*.log)", 0.1)
        timings["leader_s"] = round(time.monotonic() - t0, 2)
        self.wait_healthy(timeout)
        timings["total_s"] = round(time.monotonic() - t0, 2)
        return timings

    def _stop_postmasters(self) -> list[int]:
        """Stop postmasters left behind by a Patroni that died (found via each node's postmaster.pid)."""
        pids = [pid for node in NODES if (pid := postmaster_pid(self.layout.node_data(node)))]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)  # fast shutdown
        with contextlib.suppress(LabError):
            wait_for(lambda: not any(postmaster_pid(self.layout.node_data(n)) for n in NODES), 30, "postmasters")
        for node in NODES:
            pid = postmaster_pid(self.layout.node_data(node))
            if pid:
                os.kill(pid, signal.SIGKILL)
        return pids

    def down(self) -> dict[str, Any]:
        """Stop every recorded process (HAProxy, the Patronis in parallel, OpenBao, etcd). Idempotent."""
        t0 = time.monotonic()
        by_name = {r.name: r for r in self.procs.all()}
        killed: list[str] = []
        stopped = [name for name, r in by_name.items() if r.alive()]
        killed += self.kube.down()
        groups = [["haproxy"], [f"patroni-{n}" for n in NODES], ["bao"], ["etcd"]]
        for group in groups:
            records = [by_name[name] for name in group if name in by_name]
            killed += stop(records, signal.SIGTERM, timeout=30)
            if group[0].startswith("patroni"):
                orphans = self._stop_postmasters()
                if orphans:
                    killed.append(f"postmasters {orphans}")
            for name in group:
                self.procs.drop(name)
        return {"stopped": stopped, "needed_kill": killed, "seconds": round(time.monotonic() - t0, 2)}

    def purge(self) -> None:
        """Delete the state directory (data, logs, secrets). Refuses a directory that is not a lab's."""
        state = self.layout.state_dir
        if not state.exists():
            return
        if self.running():
            raise LabError("the lab is running: `down` first")
        if not self.layout.lab_file.exists() and any(state.iterdir()):
            raise LabError(f"{state} has no lab.json: not deleting a directory the lab did not create")
        shutil.rmtree(state)

    def status(self) -> dict[str, Any]:
        procs = [{"name": r.name, "pid": r.pid, "alive": r.alive()} for r in self.procs.all()]
        members = []
        for m in self.members():
            members.append(
                {
                    "name": m.get("name"),
                    "role": m.get("role"),
                    "state": m.get("state"),
                    "host": f"{m.get('host')}:{m.get('port')}",
                    "rest": f"{HOST}:{self.ports.rest(str(m.get('name')))}" if m.get("name") in NODES else None,
                    "timeline": m.get("timeline"),
                    "lag": m.get("lag"),
                }
            )
        bao = self.bao_health()
        return {
            "state_dir": str(self.layout.state_dir),
            "running": bool(procs) and all(p["alive"] for p in procs),
            "processes": procs,
            "endpoints": {
                "lb_write": f"{HOST}:{self.ports.lb_write}",
                "lb_read": f"{HOST}:{self.ports.lb_read}",
                "haproxy_stats": f"http://{HOST}:{self.ports.haproxy_stats}/",
                "bao": f"http://{HOST}:{self.ports.bao}",
                "etcd": f"http://{HOST}:{self.ports.etcd_client}",
            },
            "ports": self.ports.all(),
            "etcd_healthy": self.etcd_healthy(),
            "bao": {"initialized": bao.get("initialized"), "sealed": bao.get("sealed"), "version": bao.get("version")}
            if bao
            else None,
            "leader": self.leader(),
            "members": members,
            "haproxy": self.haproxy_backends(),
            "secrets_file": str(self.layout.secrets_file),
        }

    # ------------------------------------------------------------------ failover

    def _patronictl(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [which("patronictl"), "-c", str(self.layout.node_cfg(NODES[0])), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)

    def switchover(self, leader: str, candidate: str | None = None) -> list[dict[str, Any]]:
        """Planned switchover through patronictl; checks the exit code and the result, retries once.

        A switchover has been seen to stall (once in 17 trials on these machines): patronictl's output
        is kept for every attempt so a stall can be diagnosed.
        """
        attempts: list[dict[str, Any]] = []
        for attempt in (1, 2):
            target = candidate or self._switchover_candidate(leader)
            proc = self._patronictl("switchover", "--leader", leader, "--candidate", target, "--force", cfg.SCOPE)
            record = {
                "attempt": attempt,
                "candidate": target,
                "returncode": proc.returncode,
                "output": (proc.stdout + proc.stderr).strip(),
            }
            attempts.append(record)
            if proc.returncode == 0:
                try:
                    wait_for(lambda t=target: self.leader() == t, 30, f"{target} to lead")  # type: ignore[misc]
                    return attempts
                except LabError as exc:
                    record["stalled"] = str(exc)
            # Before retrying, let the cluster settle: some leader, and the candidate healthy.
            current = wait_for(self.leader, 60, "a leader before retrying the switchover")
            if current != leader:
                return attempts  # it did switch, just not when or where we looked
            wait_for(lambda: len(self.replicas()) == len(NODES) - 1, 60, "replicas before retrying")
        raise LabError(f"switchover failed twice: {json.dumps(attempts, indent=2)}")

    def _switchover_candidate(self, leader: str) -> str:
        # In synchronous mode Patroni only accepts the synchronous standby as the candidate.
        def pick() -> str | None:
            members = [m for m in self.members() if m.get("name") != leader]
            for role in ("sync_standby", "replica"):
                for m in members:
                    if m.get("role") == role and m.get("state") in ("running", "streaming"):
                        return str(m["name"])
            return None

        return wait_for(pick, 60, "a replica to switch over to")

    def stop_leader(self, node: str, sig: int) -> None:
        """SIGKILL (Patroni and its postmaster, no clean-up at all) or SIGTERM (Patroni only) a node."""
        record = self.procs.get(f"patroni-{node}")
        if record is None or not record.alive():
            raise LabError(f"Patroni of {node} is not running under the recorded PID")
        # Patroni detaches the postmaster (its parent is init), so it is identified by the data
        # directory it serves (postmaster.pid), not by parentage.
        pm = postmaster_pid(self.layout.node_data(node))
        record.signal(sig)
        if sig == signal.SIGKILL and pm is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pm, signal.SIGKILL)

    def restart_node(self, node: str) -> None:
        """Start a stopped node's Patroni again (it rejoins as a replica, rewinding if needed)."""
        record = self.procs.get(f"patroni-{node}")
        if record is not None:
            wait_for(lambda: not record.alive(), 60, f"the old Patroni of {node} to exit")
        # Backends of a killed postmaster exit by themselves once they notice; Patroni then starts clean.
        wait_for(lambda: postmaster_pid(self.layout.node_data(node)) is None, 60, f"{node}'s old postmaster")
        self._spawn_patroni(node)

    def failover(
        self, mode: str, candidate: str | None = None, heal: bool = True, timeout: float = 60.0
    ) -> FailoverReport:
        """Fail the leader over while a writer commits through the LB write port; measure the gap.

        `mode`: ``switchover`` (planned, patronictl), ``kill`` (SIGKILL Patroni and postmaster: the
        leader key must expire, ~ttl) or ``sigterm`` (Patroni shuts down cleanly and releases the key).
        With `heal`, a stopped node is started again and the lab is healthy when this returns.
        """
        if mode not in FAILOVER_MODES:
            raise LabError(f"mode must be one of {FAILOVER_MODES}, not {mode!r}")
        self.wait_healthy(timeout)
        old = self.leader()
        assert old is not None
        writer = LoadWriter(self.conninfo()).start()
        attempts: list[dict[str, Any]] = []
        try:
            wait_for(lambda: len(writer.acked) >= 20, 30, "the writer's first commits")
            t_action = time.monotonic()
            if mode == "switchover":
                attempts = self.switchover(old, candidate)
            else:
                self.stop_leader(old, signal.SIGKILL if mode == "kill" else signal.SIGTERM)
            new = wait_for(lambda: (n := self.leader()) not in (None, old) and n, timeout, "a new leader", 0.05)
            t_elected = time.monotonic()
            wait_for(lambda: writer.acks_after(t_elected) >= 20, timeout, "commits through the LB after failover")
        finally:
            result = writer.stop()
        # Read back through the LB once it routes to the new leader alone: for up to ~1.25 s after a
        # change both the old and the new leader can be UP in the write backend.
        wait_for(
            lambda: {n for n, s in self.haproxy_backends().get("pg_write", {}).items() if s == "UP"} == {new},
            timeout,
            "HAProxy to route writes to the new leader only",
        )
        lost = wait_for(lambda: (writer.lost(),), timeout, "reading back the acknowledged ids")[0]
        resumed = next((at for _, at in writer.acked if result.gap_start is not None and at > result.gap_start), None)
        heal_s = None
        if heal:
            if mode != "switchover":
                self.restart_node(old)
            self.wait_healthy(180)
            heal_s = time.monotonic() - t_action
        return FailoverReport(
            mode=mode,
            old_leader=old,
            new_leader=str(new),
            gap_s=round(result.gap_s, 3),
            election_s=round(t_elected - t_action, 3),
            writes_resumed_s=round((resumed - t_action) if resumed else 0.0, 3),
            acked=result.acked,
            lost=lost,
            ambiguous=result.ambiguous,
            errors=result.errors,
            first_error=result.first_error,
            error_kinds=dict(Counter(e.split(":", 1)[0] for _, e in writer.errors)),
            heal_s=round(heal_s, 2) if heal_s is not None else None,
            attempts=attempts,
        )


@contextlib.contextmanager
def temporary_lab(
    first_port: int,
    *,
    kube: bool = False,
    prefix: str = "keybuzz-lab-",
    state_dir: str | Path | None = None,
    base_port: int | None = None,
) -> Iterator[Lab]:
    """A lab of its own for a test session or module: a new state directory (or `state_dir`), the first
    free port range from `first_port` (or `base_port`), up (with the Kubernetes API when `kube`); stopped by
    PID and its state deleted afterwards (kept when LAB_TEST_KEEP_STATE is set)."""
    state = Path(state_dir or tempfile.mkdtemp(prefix=prefix))
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)  # Patroni runs as the postgres user and must reach its node directories
    lab = Lab(state, base_port or free_base_port(first_port, first_port + 1000))
    try:
        lab.up(kube=kube)
        yield lab
    finally:
        lab.down()
        if os.environ.get("LAB_TEST_KEEP_STATE"):
            print(f"lab state kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


def report_dict(report: FailoverReport) -> dict[str, Any]:
    return asdict(report)
