"""Process handling by PID: spawn detached, record, check, stop. Nothing is ever found by name.

A record holds the PID and the kernel start time of the process (``/proc/<pid>/stat`` field 22), so a
recycled PID is never mistaken for the lab's process and never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class LabError(RuntimeError):
    """A lab operation failed; the message says what and where to look."""


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `predicate` until it returns a truthy value; raise LabError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # a probe that fails is just "not ready yet"
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def _reap(pid: int) -> None:
    # If the process is our child (same Python process started it), collect it so it is not a zombie.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_running(pid: int, ticks: int | None = None) -> bool:
    """True if `pid` is alive (not a zombie) and, when given, started at `ticks`."""
    _reap(pid)
    fields = _stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    return ticks is None or int(fields[19]) == ticks


@dataclass
class ProcRecord:
    """A process the lab started."""

    name: str
    pid: int
    ticks: int
    argv: list[str]
    started_at: float

    def alive(self) -> bool:
        return is_running(self.pid, self.ticks)

    def signal(self, sig: int) -> bool:
        """Send `sig` if the recorded process is still the one we started."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True


class ProcTable:
    """The ``run/`` directory: one JSON record per started process."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def get(self, name: str) -> ProcRecord | None:
        path = self.path(name)
        if not path.exists():
            return None
        return ProcRecord(**json.loads(path.read_text()))

    def all(self) -> list[ProcRecord]:
        if not self.run_dir.exists():
            return []
        return [ProcRecord(**json.loads(p.read_text())) for p in sorted(self.run_dir.glob("*.json"))]

    def put(self, record: ProcRecord) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path(record.name).write_text(json.dumps(asdict(record)))

    def drop(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def spawn(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ProcRecord:
        """Start `argv` detached (own session, stdin closed, output appended to `log_path`) and record it."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        ticks = start_ticks(proc.pid)
        if ticks is None:
            raise LabError(f"{name} exited at once; see {log_path}")
        # The Popen object is dropped on purpose: the process outlives this command. is_running() reaps
        # it if it dies while this Python process is still its parent.
        proc.returncode = 0  # silence Popen's "still running" ResourceWarning on garbage collection
        record = ProcRecord(name=name, pid=proc.pid, ticks=ticks, argv=argv, started_at=time.time())
        self.put(record)
        return record


def stop(records: list[ProcRecord], sig: int = signal.SIGTERM, timeout: float = 30.0) -> list[str]:
    """Signal every record at once, wait for all to exit, SIGKILL those still alive after `timeout`.

    Returns the names that needed SIGKILL.
    """
    for record in records:
        record.signal(sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(r.alive() for r in records):
        time.sleep(0.05)
    killed = []
    for record in records:
        if record.signal(signal.SIGKILL):
            killed.append(record.name)
    with contextlib.suppress(LabError):
        wait_for(lambda: not any(r.alive() for r in records), 10, "SIGKILLed processes to exit")
    return killed


def postmaster_pid(data_dir: Path) -> int | None:
    """The PID in ``postmaster.pid`` if that process is alive and is a postgres serving `data_dir`."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        recorded_dir = Path(lines[1])
    except (FileNotFoundError, IndexError, ValueError, PermissionError):
        return None
    if recorded_dir.resolve() != data_dir.resolve() or not is_running(pid):
        return None
    try:
        exe_name = Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return None
    return pid if exe_name in ("postgres", "postmaster") else None
