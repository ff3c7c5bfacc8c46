"""node-postgres (npm ``pg``), the driver of KeyBuzz's Node apps, run for real against the lab.

Mocks and psycopg prove what libpq does with the variables the program emits; a Node app does not use
libpq. node-postgres reads the same ``PG*`` names with its own meaning (``PGSSLMODE=require`` verifies the
server certificate, where libpq's does not), so the lab runs the app's actual driver: ``lab/node/probe.js``
creates ``new pg.Client()`` with no arguments, as an app reading its environment does, and reports the
session it got. `probe` runs it with exactly a given environment, say the keys of a Secret ESO synced.

The npm project ``lab/node`` pins ``pg`` in its committed ``package-lock.json``; ``make node-setup``
(``npm ci``) installs it, and the lab and e2e tiers and ``make demo`` depend on that target.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lab.procs import LabError

NODE_DIR: Final = Path(__file__).resolve().parent / "node"
PROBE: Final = NODE_DIR / "probe.js"
#: What node's TLS says when it cannot verify the server's certificate chain (no trusted CA).
UNVERIFIED_CERTIFICATE_CODES: Final = frozenset(
    {"UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT",
     "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"}
)  # fmt: skip


@dataclass(frozen=True)
class ProbeResult:
    """What node-postgres got: a session (`ok`, who and where, whether TLS) or an error (message, code)."""

    ok: bool
    driver: str  # "pg <version>"
    session_user: str | None = None
    current_user: str | None = None
    database: str | None = None
    ssl: bool | None = None
    error: str | None = None
    code: str | None = None  # node's TLS error code or PostgreSQL's SQLSTATE
    stderr: str = ""  # node's warnings (pg prints security warnings there), kept for the failure message

    def describe(self) -> str:
        if self.ok:
            return f"{self.driver}: connected as {self.session_user} to {self.database}, ssl={self.ssl}"
        return f"{self.driver}: {self.error} (code {self.code})"


def node_binary() -> str:
    path = shutil.which("node") or ("/usr/bin/node" if Path("/usr/bin/node").is_file() else None)
    if path is None:
        raise LabError("node is not installed: the lab's node-postgres probe needs node >= 20")
    return path


def probe(env: Mapping[str, str], timeout: float = 10.0) -> ProbeResult:
    """Run the node-postgres probe with exactly `env` as its environment (nothing of the caller's: a
    variable the app would not have cannot help or hurt), and return what it reported."""
    if not (NODE_DIR / "node_modules" / "pg").is_dir():
        raise LabError(f"node-postgres is not installed in {NODE_DIR}: run `make node-setup`")
    argv = [node_binary(), str(PROBE), "--timeout-ms", str(int(timeout * 1000))]
    proc = subprocess.run(
        argv, env=dict(env), cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout + 20, check=False
    )
    lines = proc.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise LabError(f"the node probe printed no result (exit {proc.returncode}): {proc.stderr.strip()}") from exc
    known = set(ProbeResult.__dataclass_fields__) - {"stderr"}
    return ProbeResult(**{k: v for k, v in report.items() if k in known}, stderr=proc.stderr.strip())
