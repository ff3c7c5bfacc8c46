"""The lab's processes: spawn each server under its recorded PID, first-start OpenBao, stop leftovers."""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any

from lab import config as cfg
from lab.binaries import bao_binary, which
from lab.config import HOST, NODES, Secrets
from lab.files import ConfigFiles
from lab.http import HttpError, Vault, request
from lab.probes import Probes
from lab.procs import LabError, ProcRecord, postmaster_pid, stop, wait_for


class Daemons(ConfigFiles, Probes):
    """Starting and stopping the lab's processes, each recorded by PID: etcd, the Patroni nodes, HAProxy,
    OpenBao (initialized on its first start), and postmasters a dead Patroni left behind."""

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
