"""`Lab`: bring the loopback HA lab up and down, report on it, and fail it over.

`Lab` is composed of focused parts, each in its own module: `LabBase` (lab/base.py: layout, ports,
secrets, connection settings), `ConfigFiles` (lab/files.py: the servers' configuration), `Probes`
(lab/probes.py: health checks), `Daemons` (lab/daemons.py: starting and stopping processes) and
`Failover` (lab/failover.py: switchover and leader-loss drills). This module brings them together:
`up`, `down`, `purge`, `status`, and `temporary_lab` for the tests.

Processes (each recorded by PID in ``<state>/run``):

- ``etcd``: the DCS, one member, client port base+5.
- ``patroni-pg1..3``: three Patroni daemons (each starts its own postmaster), run as the ``postgres``
  OS user through ``setpriv`` so the recorded PID is Patroni's own. PostgreSQL ports base+11..13,
  Patroni REST ports base+21..23. Each PostgreSQL serves TLS with the server certificate of the lab's
  own CA (``lab/tls.py``, ``<state>/tls``); logins other than the superuser's, replication and the estate's
  legacy logins must use it (``lab/files.py``).
- ``haproxy``: write port base+0 routed to the node whose Patroni answers ``OPTIONS /primary`` with 200,
  read port base+1 to the nodes answering ``/replica``; stats on base+2. TCP passthrough: TLS is end to end.
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
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab import config as cfg
from lab.base import LabBase
from lab.binaries import pg_bin_dir
from lab.config import HOST, NODES, Ports
from lab.daemons import Daemons
from lab.failover import Failover
from lab.files import ConfigFiles
from lab.kube import PROCS as KUBE_PROCS
from lab.kube import configure_openbao_kubernetes_auth, kube_ports, toolchain_bin
from lab.probes import Probes
from lab.procs import LabError, stop, wait_for


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


class Lab(Failover, Daemons, ConfigFiles, Probes, LabBase):
    """One lab: a state directory and a base port (its parts: the module docstring)."""

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

    def down(self) -> dict[str, Any]:
        """Stop every recorded process (HAProxy, the Patronis in parallel, OpenBao, etcd). Idempotent."""
        t0 = time.monotonic()
        by_name = {r.name: r for r in self.procs.all()}
        killed: list[str] = []
        stopped = [name for name, r in by_name.items() if r.alive()]
        from lab.estate_seeds import stop_sessions  # the seeds estate's held sessions (it imports this module)

        killed += stop_sessions(self)
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
            # What a verifying client trusts (PGSSLROOTCERT, NODE_EXTRA_CA_CERTS): lab/tls.py.
            "ca_certificate": str(self.ca_certificate),
        }


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
