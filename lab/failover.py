"""Failing the lab's leader over under write load, and what the writer saw (`FailoverReport`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from lab import config as cfg
from lab.binaries import which
from lab.config import NODES
from lab.daemons import Daemons
from lab.procs import LabError, postmaster_pid, wait_for
from lab.writer import LoadWriter

FAILOVER_MODES = ("switchover", "kill", "sigterm")


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


class Failover(Daemons):
    """Failover drills: a patronictl switchover, or a leader killed (SIGKILL) or stopped (SIGTERM), under
    write load through the LB, measured (`FailoverReport`), then the old leader restarted."""

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


def report_dict(report: FailoverReport) -> dict[str, Any]:
    return asdict(report)
