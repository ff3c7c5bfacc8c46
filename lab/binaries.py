"""Where the lab finds the programs it runs: Debian's (PostgreSQL, Patroni, etcd, HAProxy) and OpenBao.

Public: the CLI puts OpenBao's directory on the PATH it prints, and `bench/lab_bench.py` reports versions.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path

from lab.procs import LabError


def which(name: str, *extra_dirs: str) -> str:
    """The path of `name` on PATH or in `extra_dirs`; a LabError naming the setup step otherwise."""
    found = shutil.which(name) or next((str(Path(d) / name) for d in extra_dirs if (Path(d) / name).exists()), None)
    if not found:
        raise LabError(f"`{name}` not found: run `make lab-setup` (Debian packages) and `make setup` (venv)")
    return found


def pg_bin_dir() -> str:
    """The newest PostgreSQL server's bin directory (or LAB_PG_BIN)."""
    override = os.environ.get("LAB_PG_BIN")
    if override:
        return override
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parent.parent.name))
    if not candidates:
        raise LabError("no PostgreSQL server under /usr/lib/postgresql: run `make lab-setup`")
    return str(Path(candidates[-1]).parent)


def bao_binary() -> str:
    """The OpenBao server binary: LAB_BAO, else beside the virtualenv's python, else on PATH."""
    override = os.environ.get("LAB_BAO")
    if override:
        return override
    beside_python = Path(sys.executable).parent / "bao"
    if beside_python.exists():
        return str(beside_python)
    return which("bao")
