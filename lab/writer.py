"""A writer that commits through the LB write port continuously and remembers every acknowledged id.

It is how the lab measures a failover: the write gap is the longest interval between two consecutive
acknowledged commits, and a commit is lost if its id was acknowledged but is absent afterwards. An id
whose INSERT was sent but whose acknowledgement never came back is *ambiguous* (it may or may not have
committed) and is not counted either way.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

TABLE = "lab_writes"

# Keepalives and a TCP user timeout so a connection to a node that vanished fails in seconds instead
# of hanging on a dead socket. sslmode=require (the shipped stacks' mode: encrypted, not verified): the
# lab's PostgreSQL serves TLS and refuses plaintext logins other than the superuser's (lab/files.py), and
# these options also serve the apps' dynamic users in the tests (lab/bao.py).
CONN_OPTS: dict[str, Any] = {
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 1,
    "keepalives_interval": 1,
    "keepalives_count": 2,
    "tcp_user_timeout": 3000,
    "sslmode": "require",
}


def ensure_table(conninfo: dict[str, Any]) -> None:
    with psycopg.connect(**conninfo, **CONN_OPTS, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (run text NOT NULL, id bigint NOT NULL, "
            "at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (run, id))"
        )


@dataclass
class WriterResult:
    run: str
    acked: int
    ambiguous: int
    errors: int
    gap_s: float
    gap_start: float | None  # monotonic time of the last ack before the longest gap
    first_error: str | None


@dataclass
class LoadWriter:
    """Commit `INSERT (run, id)` in a loop on its own thread until stopped.

    `pace` is the pause between two commits, which bounds the rate (and the rows written); the loop
    also stops by itself after `max_seconds`.
    """

    conninfo: dict[str, Any]
    pace: float = 0.005
    max_seconds: float = 120.0
    retry_pause: float = 0.05
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    acked: list[tuple[int, float]] = field(default_factory=list)
    ambiguous: list[int] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lab-writer-{self.run}", daemon=True)

    def start(self) -> LoadWriter:
        ensure_table(self.conninfo)
        self._thread.start()
        return self

    def stop(self) -> WriterResult:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.result()

    def __enter__(self) -> LoadWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def acks_after(self, moment: float) -> int:
        return sum(1 for _, at in list(self.acked) if at > moment)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        next_id = 1
        conn: psycopg.Connection[Any] | None = None
        while not self._stop.is_set() and time.monotonic() < deadline:
            sent = False
            try:
                if conn is None:
                    conn = psycopg.connect(**self.conninfo, **CONN_OPTS, autocommit=True)
                sent = True
                conn.execute(f"INSERT INTO {TABLE} (run, id) VALUES (%s, %s)", (self.run, next_id))
                self.acked.append((next_id, time.monotonic()))
                next_id += 1
                self._stop.wait(self.pace)
            except psycopg.Error as exc:
                self.errors.append((time.monotonic(), f"{type(exc).__name__}: {exc}".strip()))
                if sent:
                    # The INSERT may have committed without the ack reaching us: never reuse this id.
                    self.ambiguous.append(next_id)
                    next_id += 1
                if conn is not None:
                    conn.close()
                conn = None
                self._stop.wait(self.retry_pause)
        if conn is not None:
            conn.close()

    def result(self) -> WriterResult:
        times = [at for _, at in self.acked]
        gap, gap_start = 0.0, None
        for before, after in itertools.pairwise(times):
            if after - before > gap:
                gap, gap_start = after - before, before
        return WriterResult(
            run=self.run,
            acked=len(self.acked),
            ambiguous=len(self.ambiguous),
            errors=len(self.errors),
            gap_s=gap,
            gap_start=gap_start,
            first_error=self.errors[0][1] if self.errors else None,
        )

    def lost(self, conninfo: dict[str, Any] | None = None) -> list[int]:
        """Acknowledged ids that are not in the table now (read through the LB write port)."""
        with psycopg.connect(**(conninfo or self.conninfo), **CONN_OPTS) as conn:
            rows = conn.execute(f"SELECT id FROM {TABLE} WHERE run = %s", (self.run,)).fetchall()
        present = {row[0] for row in rows}
        return sorted(i for i, _ in self.acked if i not in present)
