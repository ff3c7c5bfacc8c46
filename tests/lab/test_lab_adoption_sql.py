"""The adoption's SQL (components/pg_adoption.py) against the lab's real PostgreSQL, through the LB.

Concurrency is staged, never raced: a second connection holds a lock (an app's open transaction, the
provider's advisory locks and its uncommitted GRANT) and the test watches, in pg_stat_activity, what the
adoption's session waits for before it releases the lock.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from components.pg_adoption import (
    APPLICATION_NAME,
    ForeignOwnerError,
    LegacySessionsError,
    ObjectLockedError,
    Retry,
    UncoveredConsumersError,
    UndroppableRoleError,
    _serialized,
    apply_phase,
    check_consumers,
    transfer_ownership,
)
from lab.cluster import Lab

pytestmark = pytest.mark.lab

#: Quick retries for the tests: each attempt waits 0.3 s for the table, 3 attempts.
QUICK = Retry(lock_timeout_ms=300, attempts=3, first_backoff=0.2)


def _props(lab: Lab) -> dict[str, object]:
    info = lab.conninfo()
    return {"host": info["host"], "port": info["port"], "user": info["user"], "password": info["password"],
            "sslmode": "require"}  # fmt: skip


def _idents(*names: str) -> list[sql.Identifier]:
    return [sql.Identifier(n) for n in names]


def _admin(lab: Lab, database: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(**lab.conninfo(dbname=database), autocommit=True)


@pytest.fixture
def estate(lab: Lab) -> Iterator[dict[str, str]]:
    """A database owned by a legacy login, with a table, a serial, a view and an enum of it; two legacy logins
    (with a password generated here), the owner group and a reader group."""
    names = {"db": "adopt_sql_probe", "other": "adopt_sql_probe_other", "group": "adopt_sql_probe_owner",
             "reader": "adopt_sql_probe_reader", "a": "adopt_sql_legacy_a", "b": "adopt_sql_legacy_b",
             "password": secrets.token_urlsafe(16)}  # fmt: skip
    with _admin(lab) as conn:
        for database in (names["db"], names["other"]):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        for role in (names["a"], names["b"], names["group"], names["reader"]):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        for role in (names["group"], names["reader"]):
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        for role in (names["a"], names["b"]):
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(names["password"]))
            )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(names["db"]), sql.Identifier(names["a"]))
        )
    with psycopg.connect(**lab.conninfo(dbname=names["db"])) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(names["a"])))
        conn.execute("CREATE TYPE kind AS ENUM ('amazon')")
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, k kind)")
        conn.execute("INSERT INTO t (k) VALUES ('amazon')")
        conn.execute("CREATE VIEW v AS SELECT id FROM t")
    yield names
    with _admin(lab) as conn:  # a test may leave a session of a legacy login open on failure
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY(%s)",
                     ([names["a"], names["b"]],))  # fmt: skip


def _transfer(lab: Lab, estate: dict[str, str], retry: Retry = QUICK) -> int:
    props = {**_props(lab), "database": estate["db"], "group": estate["group"], "roles": [estate["a"]]}
    return transfer_ownership(props, retry=retry)


def _phase(lab: Lab, estate: dict[str, str], role: str, phase: str) -> str:
    grants = [{"database": estate["db"], "group": estate["group"]}]
    return apply_phase({**_props(lab), "role": role, "phase": phase, "grants": grants})


def _as_the_program_leaves_it(lab: Lab, estate: dict[str, str]) -> None:
    """What the first up does before the phases: the Database owned by the group, the legacy logins in phase
    kept, their objects transferred."""
    with _admin(lab) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(*_idents(estate["db"], estate["group"])))
    for role in (estate["a"], estate["b"]):
        assert _phase(lab, estate, role, "kept") == "logs in"
    _transfer(lab, estate)


def _owners(lab: Lab, database: str) -> dict[str, str]:
    """name -> owner of every relation, routine and enum of the public schema."""
    with psycopg.connect(**lab.conninfo(dbname=database)) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'S') "
            "UNION SELECT p.proname, pg_get_userbyid(proowner) FROM pg_proc p JOIN pg_namespace n "
            "ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
            "UNION SELECT t.typname, pg_get_userbyid(typowner) FROM pg_type t JOIN pg_namespace n "
            "ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'"
        ).fetchall()
    return dict(rows)


def _can_login(lab: Lab, role: str) -> bool:
    with _admin(lab) as conn:
        row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    assert row is not None, f"{role} was dropped"
    return bool(row[0])


def _in_thread(action: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = action()
        except Exception as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _lock_wait_of_ours(lab: Lab, thread: threading.Thread) -> str | None:
    """What our session waits for once it waits on a lock (pg_stat_activity.wait_event: `advisory` for an
    advisory lock, `transactionid` for a row another transaction is changing), or None if the thread ended
    without ever waiting."""
    deadline = time.monotonic() + 60
    with _admin(lab) as watch:
        while thread.is_alive() and time.monotonic() < deadline:
            row = watch.execute(
                "SELECT wait_event FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
                (APPLICATION_NAME,),
            ).fetchone()
            if row:
                return str(row[0])
            time.sleep(0.05)
    return None


# ---- item 4: ownership transfer ------------------------------------------------------------------------


def test_ownership_moves_every_object_to_the_group_and_nothing_else(lab: Lab, estate: dict[str, str]) -> None:
    assert _transfer(lab, estate) == 3  # the table (its serial and row type follow it), the view, the enum
    assert set(_owners(lab, estate["db"]).values()) == {estate["group"]}
    with _admin(lab) as conn:  # the database itself (a shared object) is untouched
        [(owner,)] = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (estate["db"],)
        ).fetchall()
    assert owner == estate["a"]
    assert _transfer(lab, estate) == 0  # idempotent


def test_an_object_of_any_kind_owned_by_an_unlisted_role_stops_the_transfer_before_any_change(
    lab: Lab, estate: dict[str, str]
) -> None:
    """Issue 17 item 4: PH15's enums and PH28.2's copied schema are owned by the superuser. Every kind the
    transfer moves is checked (on the old code, only tables and views were), and nothing moves."""
    with _admin(lab, estate["db"]) as conn:  # as the superuser (`postgres`), the admin the program connects as
        conn.execute("CREATE SCHEMA ops")
        conn.execute("CREATE TYPE public.marketplace AS ENUM ('amazon')")
        conn.execute("CREATE SEQUENCE public.invoice_no")
        conn.execute("CREATE FUNCTION public.tenant_count() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'")
        conn.execute("CREATE MATERIALIZED VIEW public.daily AS SELECT 1 AS n")
    with pytest.raises(ForeignOwnerError) as stopped:
        _transfer(lab, estate)
    message = str(stopped.value)
    for listed in ("schema ops (owner postgres)", "enum public.marketplace (owner postgres)",
                   "sequence public.invoice_no (owner postgres)", "function public.tenant_count() (owner postgres)",
                   "materialized view public.daily (owner postgres)"):  # fmt: skip
        assert listed in message
    assert "before changing anything" in message
    assert "keybuzz:<app>LegacyRoles" in message  # the fix, either way
    assert f'ALTER TYPE public.marketplace OWNER TO "{estate["group"]}";' in message
    assert "postgres is the role this program connects as" in message
    assert _owners(lab, estate["db"])["t"] == estate["a"]  # nothing moved


def test_a_table_an_app_holds_is_retried_then_named_and_app_queries_never_queue_behind_it(
    lab: Lab, estate: dict[str, str]
) -> None:
    """Issue 17 item 4: each ALTER waits at most its lock_timeout, so an app's queries on a table another app
    transaction holds pass as soon as it gives up. The old single transaction waited without bound, every
    query behind it: here the app's own 5 s lock_timeout (over ten times ours) would have failed them."""
    with (
        psycopg.connect(**lab.conninfo(dbname=estate["db"])) as app,
        psycopg.connect(**lab.conninfo(dbname=estate["db"]), autocommit=True) as queries,
    ):
        app.execute("SELECT count(*) FROM t")  # a transaction left open: ACCESS SHARE on t
        app_pid = app.info.backend_pid
        queries.execute("SET lock_timeout = '5s'")
        thread, outcome = _in_thread(lambda: _transfer(lab, estate))
        answered, failed = 0, []
        while thread.is_alive():
            try:
                queries.execute("SELECT count(*) FROM t").fetchone()
                answered += 1
            except psycopg.errors.LockNotAvailable as exc:  # queued behind the ALTER past 5 s
                failed.append(exc)
                break
        app.rollback()
        thread.join(60)
    assert failed == []
    assert answered > 0
    error = outcome.get("error")
    assert isinstance(error, ObjectLockedError), outcome
    assert re.search(rf"stayed locked .* 3 attempts .*\n  table public\.t \(held by pid {app_pid} ", str(error)), error
    owners = _owners(lab, estate["db"])
    assert owners["t"] == estate["a"]  # the locked one waits for the next up...
    assert (owners["v"], owners["kind"]) == (estate["group"], estate["group"])  # ...the others moved
    assert _transfer(lab, estate) == 1  # the next up continues with what is left
    assert set(_owners(lab, estate["db"]).values()) == {estate["group"]}


# ---- item 8: the provider's advisory locks -------------------------------------------------------------


def _provider_database_grant(cur: psycopg.Cursor[Any], database: str, role: str) -> None:
    """What the provider's `Grant` of CONNECT on a database runs, in one transaction connected to that database
    (terraform-provider-postgresql resource_postgresql_grant.go: pgLockRole, pgLockDatabase, then the GRANT)."""
    cur.execute("SET statement_timeout = 0")
    cur.execute("SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_roles WHERE rolname = %s", (role,))
    cur.execute("SELECT pg_advisory_xact_lock(member::bigint) FROM pg_auth_members JOIN pg_roles "
                "ON roleid = pg_roles.oid WHERE rolname = %s", (role,))  # fmt: skip
    cur.execute("SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_database WHERE datname = %s", (database,))
    cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(role)))


def test_a_legacy_login_waits_for_the_providers_grant_on_its_database(lab: Lab, estate: dict[str, str]) -> None:
    """Issue 17 item 8, `pq: tuple concurrently updated` on a fresh machine. The provider's GRANT CONNECT holds
    its locks and has rewritten the database's catalog row, not yet committed. The old LegacyLogin, under a
    lock of its own, went straight for the same row: it waited on the provider's transaction (`transactionid`)
    and failed once it committed. Now it waits on the provider's advisory lock first, then succeeds."""
    with psycopg.connect(**lab.conninfo(dbname=estate["db"])) as provider, provider.cursor() as cur:
        _provider_database_grant(cur, estate["db"], estate["reader"])
        thread, outcome = _in_thread(lambda: _phase(lab, estate, estate["b"], "kept"))
        waits_on = _lock_wait_of_ours(lab, thread)
        provider.commit()
    thread.join(60)
    assert waits_on == "advisory"
    assert outcome == {"result": "logs in"}
    with _admin(lab) as conn:
        [(acl,)] = conn.execute("SELECT datacl::text FROM pg_database WHERE datname = %s", (estate["db"],)).fetchall()
    assert f"{estate['reader']}=c/" in acl
    assert f"{estate['b']}=c/" in acl


@pytest.mark.parametrize(
    ("where", "phase"),
    [("postgres", "kept"), ("postgres", "refused"), ("db", "kept"), ("db", "transfer")],
)
def test_each_role_or_ownership_change_waits_for_the_providers_lock_on_the_role(
    lab: Lab, estate: dict[str, str], where: str, phase: str
) -> None:
    """The provider's `Role` locks a role in its own database (`postgres`), its grants and default privileges
    in the granted database: a transaction holding the owner group's lock (`pgLockRole`: the group, then its
    members) in either place holds ours back (memberships and LOGIN/NOLOGIN in `postgres`; CONNECT, SET role
    and ownership in the app database). The old code took no lock the provider takes, so it never waited."""
    assert _phase(lab, estate, estate["b"], "kept") == "logs in"  # b is a member of the group, as after phase 1
    database = "postgres" if where == "postgres" else estate["db"]
    with psycopg.connect(**lab.conninfo(dbname=database)) as provider:
        provider.execute("SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_roles WHERE rolname = %s",
                         (estate["group"],))  # fmt: skip
        provider.execute("SELECT pg_advisory_xact_lock(member::bigint) FROM pg_auth_members JOIN pg_roles "
                         "ON roleid = pg_roles.oid WHERE rolname = %s", (estate["group"],))  # fmt: skip
        if phase == "transfer":
            thread, outcome = _in_thread(lambda: _transfer(lab, estate))
        else:
            thread, outcome = _in_thread(lambda: _phase(lab, estate, estate["b"], phase))
        waits_on = _lock_wait_of_ours(lab, thread)
        provider.commit()
    thread.join(60)
    assert waits_on == "advisory"
    assert "error" not in outcome, outcome


def test_adoption_resources_run_one_at_a_time(lab: Lab, estate: dict[str, str]) -> None:
    """Two legacy roles of one database retired at once (the engine runs independent resources in parallel):
    the second waits for the first, on the adoption's own lock."""
    _as_the_program_leaves_it(lab, estate)
    with _serialized(_props(lab)):
        thread, outcome = _in_thread(lambda: _phase(lab, estate, estate["b"], "dropped"))
        waits_on = _lock_wait_of_ours(lab, thread)
    thread.join(60)
    assert waits_on == "advisory"
    assert outcome == {"result": "dropped"}


# ---- item 6: phases refused and dropped ----------------------------------------------------------------


def _refused(lab: Lab, estate: dict[str, str], phase: str, error: type[Exception]) -> str:
    """The message of `phase` refused for the legacy login `b`, which must say that nothing was changed."""
    with pytest.raises(error) as refused:
        _phase(lab, estate, estate["b"], phase)
    message = str(refused.value)
    assert "nothing was changed" in message
    return message


def test_refused_is_refused_while_a_legacy_session_is_connected_and_ends_none(lab: Lab, estate: dict[str, str]) -> None:
    """Issue 17 item 6: the old `refused` ended every session of the role, whoever it was. Now it lists them
    and changes nothing; the operator ends them (the statement is in the message), then the phase applies."""
    _as_the_program_leaves_it(lab, estate)
    info = lab.conninfo(dbname=estate["db"], user=estate["b"], password=estate["password"])
    with psycopg.connect(**info, application_name="estate-cron", autocommit=True) as session:
        message = _refused(lab, estate, "refused", LegacySessionsError)
        assert f"pid {session.info.backend_pid}, database {estate['db']}, application_name 'estate-cron'" in message
        assert "client 127.0.0.1, connected since 20" in message
        assert session.execute("SELECT count(*) FROM t").fetchone() == (1,)  # not cut
        assert _can_login(lab, estate["b"])
        [fix] = [line.strip() for line in message.splitlines() if "pg_terminate_backend" in line]
        with _admin(lab) as admin:
            admin.execute(fix)  # type: ignore[arg-type]  # the operator's decision, as the message gives it
    assert _phase(lab, estate, estate["b"], "refused") == "refused"
    assert not _can_login(lab, estate["b"])


def test_dropped_is_refused_with_nothing_changed_when_the_role_owns_a_database_or_an_unmovable_object(
    lab: Lab, estate: dict[str, str]
) -> None:
    """Issue 17 item 6: REASSIGN OWNED would have handed the other database to this database's group, and
    DROP OWNED would drop what the program cannot move (here a text search configuration)."""
    _as_the_program_leaves_it(lab, estate)
    with _admin(lab) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(*_idents(estate["other"], estate["b"])))
    with psycopg.connect(**lab.conninfo(dbname=estate["db"])) as conn:
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(estate["b"])))
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(estate["b"])))
        conn.execute("CREATE TEXT SEARCH CONFIGURATION public.estate_fr (COPY = simple)")
        conn.execute("CREATE TABLE b_table (id int)")
    message = _refused(lab, estate, "dropped", UndroppableRoleError)
    assert f"{estate['b']} owns database {estate['other']}" in message
    assert "text search configuration estate_fr in database adopt_sql_probe" in message
    assert _can_login(lab, estate["b"])  # not even NOLOGIN
    with _admin(lab) as conn:
        [(owner,)] = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (estate["other"],)
        ).fetchall()
    assert owner == estate["b"]
    assert _owners(lab, estate["db"])["b_table"] == estate["b"]


def test_dropped_gives_each_object_to_the_group_by_name_and_drops_only_privileges(
    lab: Lab, estate: dict[str, str]
) -> None:
    _as_the_program_leaves_it(lab, estate)
    with psycopg.connect(**lab.conninfo(dbname=estate["db"])) as conn:
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(estate["b"])))
        conn.execute(sql.SQL("GRANT SELECT ON t TO {}").format(sql.Identifier(estate["b"])))
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(estate["b"])))  # objects b still made itself
        conn.execute("CREATE TABLE b_table (id int)")
        conn.execute("INSERT INTO b_table VALUES (1)")
        conn.execute("CREATE FUNCTION b_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    assert _phase(lab, estate, estate["b"], "dropped") == "dropped"
    owners = _owners(lab, estate["db"])
    assert (owners["b_table"], owners["b_fn"]) == (estate["group"], estate["group"])
    with _admin(lab, estate["db"]) as conn:
        assert conn.execute("SELECT count(*) FROM b_table").fetchone() == (1,)  # data kept
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (estate["b"],)).fetchone() is None


def _check(lab: Lab, estate: dict[str, str], consumers: list[str]) -> int:
    props = {**_props(lab), "database": estate["db"], "groups": [estate["group"], estate["reader"]],
             "consumers": consumers}  # fmt: skip
    return check_consumers(props)


def test_publics_connect_is_kept_while_an_uncovered_login_is_connected(lab: Lab, estate: dict[str, str]) -> None:
    """Issue 17 item 5: before PUBLIC loses CONNECT, every connected login must be covered: a member of the
    database's groups (here `a`), a listed consumer, or one holding CONNECT of its own; `b` is none of them
    until it is listed or granted. The superuser's own sessions (this test's) never count."""
    with _admin(lab) as conn:
        conn.execute(sql.SQL("GRANT {} TO {}").format(*_idents(estate["group"], estate["a"])))
    login = {"dbname": estate["db"], "password": estate["password"], "autocommit": True}
    with (
        psycopg.connect(**{**lab.conninfo(user=estate["a"]), **login}),
        psycopg.connect(**{**lab.conninfo(user=estate["b"]), **login}, application_name="nightly-report"),
    ):
        with pytest.raises(UncoveredConsumersError) as refused:
            _check(lab, estate, [])
        message = str(refused.value)
        assert "CONNECT not revoked from PUBLIC, nothing was changed" in message
        assert f"  {estate['b']}: 1 session(s), client 127.0.0.1, application_name 'nightly-report'" in message
        assert f"{estate['a']}:" not in message  # a member of the owner group: covered
        assert "keybuzz:databaseConsumers" in message
        assert _check(lab, estate, [estate["b"]]) == 1  # listed
        with _admin(lab) as conn:
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(*_idents(estate["db"], estate["b"])))
        assert _check(lab, estate, []) == 0  # holds CONNECT of its own
