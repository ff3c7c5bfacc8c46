"""Health checks of a running lab: what etcd, OpenBao, Patroni and HAProxy report, and `healthy()`."""

from __future__ import annotations

import csv
import io
from typing import Any

import psycopg

from lab.base import LabBase
from lab.config import NODES
from lab.http import HttpError, request
from lab.procs import wait_for
from lab.writer import CONN_OPTS


class Probes(LabBase):
    """Read-only health checks over HTTP and SQL: etcd, OpenBao, Patroni's cluster view, HAProxy's routing."""

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
