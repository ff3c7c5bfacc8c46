"""The adoption's SQL (components/pg_adoption.py) against the lab's real PostgreSQL, through the LB."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import sql

from components.pg_adoption import _serialized, apply_phase, transfer_ownership
from lab.cluster import Lab

pytestmark = pytest.mark.lab


def _props(lab: Lab) -> dict[str, object]:
    info = lab.conninfo()
    return {"host": info["host"], "port": info["port"], "user": info["user"], "password": info["password"],
            "sslmode": "require"}  # fmt: skip


@pytest.fixture
def estate(lab: Lab) -> dict[str, str]:
    """A database owned by a legacy login, with a table, a serial and an enum; two legacy logins; a group."""
    names = {"db": "adopt_sql_probe", "group": "adopt_sql_probe_owner", "a": "adopt_sql_legacy_a",
             "b": "adopt_sql_legacy_b"}  # fmt: skip
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(names["db"])))
        for role in (names["a"], names["b"], names["group"]):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(names["group"])))
        for role in (names["a"], names["b"]):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(names["db"]), sql.Identifier(names["a"]))
        )
    with psycopg.connect(**lab.conninfo(dbname=names["db"])) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(names["a"])))
        conn.execute("CREATE TYPE kind AS ENUM ('amazon')")
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, k kind)")
        conn.execute("CREATE VIEW v AS SELECT id FROM t")
    return names


def _owners(lab: Lab, database: str) -> set[str]:
    with psycopg.connect(**lab.conninfo(dbname=database)) as conn:
        rows = conn.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' UNION SELECT pg_get_userbyid(typowner) FROM pg_type t "
            "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'"
        ).fetchall()
    return {r[0] for r in rows}


def test_ownership_moves_every_object_to_the_group_and_nothing_else(lab: Lab, estate: dict[str, str]) -> None:
    props = {**_props(lab), "database": estate["db"], "group": estate["group"], "roles": [estate["a"]]}
    moved = transfer_ownership(props)
    assert moved == 3  # the table (its serial and row type follow it), the view, the enum
    assert _owners(lab, estate["db"]) == {estate["group"]}
    with psycopg.connect(**lab.conninfo()) as conn:  # the database itself (a shared object) is untouched
        [(owner,)] = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (estate["db"],)
        ).fetchall()
    assert owner == estate["a"]
    assert transfer_ownership(props) == 0  # idempotent


def test_adoption_statements_run_one_at_a_time(lab: Lab, estate: dict[str, str]) -> None:
    """Two legacy roles of one database retired at once (the engine runs independent resources in
    parallel) failed with `tuple concurrently updated` on the lab; each run now waits for the other."""
    transfer_ownership({**_props(lab), "database": estate["db"], "group": estate["group"], "roles": [estate["a"]]})
    grants = [{"database": estate["db"], "group": estate["group"]}]
    results: dict[str, str] = {}

    def retire(role: str) -> None:
        results[role] = apply_phase({**_props(lab), "role": role, "phase": "dropped", "grants": grants})

    with _serialized(_props(lab)):
        worker = threading.Thread(target=retire, args=(estate["b"],))
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive()  # waiting for the lock this block holds
    worker.join(30)
    assert results == {estate["b"]: "dropped"}
    threads = [threading.Thread(target=retire, args=(role,)) for role in (estate["a"],)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results[estate["a"]] == "dropped"
    with psycopg.connect(**lab.conninfo()) as conn:
        left = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", ([estate["a"], estate["b"]],)
        ).fetchall()
    assert left == []
