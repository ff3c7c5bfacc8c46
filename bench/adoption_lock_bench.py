"""What app queries wait while the ownership transfer runs and an app transaction holds a table (issue 17).

    .venv/bin/python -m bench.adoption_lock_bench [--tables 20] [--hold 4] [--clients 4]

On a lab of its own (PostgreSQL only: Patroni x3, HAProxy; stopped and deleted at the end): a database of
`--tables` tables owned by a legacy login; an "app" transaction that read one of them stays open for
`--hold` seconds; `--clients` connections query the tables in turn (each `SELECT count(*)` timed, through
the LB) while the transfer runs, then for one more second. Twice: the old way (every ALTER in one
transaction, no lock_timeout) and `components.pg_adoption.transfer_ownership` as shipped. Prints, per
run, the longest and 99th-percentile query wait, failed queries and the transfer's duration, as JSON.
The target is no query waiting 2 s; reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from components.pg_adoption import transfer_ownership
from lab.cluster import Lab, temporary_lab

DB, LEGACY, GROUP = "adoption_bench", "adoption_bench_legacy", "adoption_bench_owner"


def _prepare(lab: Lab, tables: int) -> None:
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))
        for role in (LEGACY, GROUP):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DB), sql.Identifier(GROUP)))
    with psycopg.connect(**lab.conninfo(dbname=DB)) as conn:
        conn.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(LEGACY)))
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(LEGACY)))
        for i in range(tables):
            conn.execute(sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, v text)").format(sql.Identifier(f"t{i}")))
            conn.execute(sql.SQL("INSERT INTO {} (v) SELECT 'x' FROM generate_series(1, 100)").format(
                sql.Identifier(f"t{i}")))  # fmt: skip


def _old_transfer(lab: Lab) -> int:
    """The code before issue 17: every ALTER of the database in one transaction, no lock_timeout."""
    with psycopg.connect(**lab.conninfo(dbname=DB)) as conn:
        rows = conn.execute(
            "SELECT format('ALTER TABLE %%I OWNER TO %%I', relname, %s::text) FROM pg_class "
            "WHERE relkind = 'r' AND pg_get_userbyid(relowner) = %s AND relnamespace = 'public'::regnamespace "
            "ORDER BY relname",
            (GROUP, LEGACY),
        ).fetchall()
        for (statement,) in rows:
            conn.execute(statement)
    return len(rows)


def _run(lab: Lab, tables: int, hold: float, clients: int, transfer: Callable[[], int]) -> dict[str, Any]:
    _prepare(lab, tables)
    waits: list[float] = []
    failures: list[str] = []
    done = threading.Event()
    lock = threading.Lock()

    def client(offset: int) -> None:
        with psycopg.connect(**lab.conninfo(dbname=DB), autocommit=True) as conn:
            i = offset
            while not done.is_set():
                start = time.monotonic()
                try:
                    conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(f"t{i % tables}")))
                except psycopg.Error as exc:
                    with lock:
                        failures.append(str(exc))
                with lock:
                    waits.append(time.monotonic() - start)
                i += 1

    app = psycopg.connect(**lab.conninfo(dbname=DB))
    app.execute("SELECT count(*) FROM t1")  # an app transaction holding ACCESS SHARE on t1
    threads = [threading.Thread(target=client, args=(n * 3,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    release = threading.Timer(hold, app.commit)
    release.start()
    started = time.monotonic()
    moved = transfer()
    duration = time.monotonic() - started
    time.sleep(1.0)
    done.set()
    for thread in threads:
        thread.join()
    release.join()
    app.close()
    ordered = sorted(waits)
    return {
        "moved": moved,
        "transfer_s": round(duration, 2),
        "queries": len(waits),
        "failed": len(failures),
        "longest_wait_s": round(ordered[-1], 3),
        "p99_wait_s": round(ordered[int(len(ordered) * 0.99) - 1], 3),
        "median_wait_s": round(statistics.median(ordered), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--hold", type=float, default=4.0, help="seconds the app transaction stays open")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with temporary_lab(15900, prefix="keybuzz-bench-adoption-") as lab:
        info = lab.conninfo()
        props = {"host": info["host"], "port": info["port"], "user": info["user"], "password": info["password"],
                 "sslmode": "disable", "database": DB, "group": GROUP, "roles": [LEGACY]}  # fmt: skip
        figures = {
            "settings": {"tables": args.tables, "hold_s": args.hold, "clients": args.clients},
            "old (one transaction, no lock_timeout)": _run(
                lab, args.tables, args.hold, args.clients, lambda: _old_transfer(lab)
            ),
            "now (per object, lock_timeout 1 s, retries)": _run(
                lab, args.tables, args.hold, args.clients, lambda: transfer_ownership(props)
            ),
        }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
