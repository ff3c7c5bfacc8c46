"""The adoption SQL's decisions that need no server: which owners stop a transfer, how a locked object is
retried. Against real PostgreSQL: tests/lab/test_lab_adoption_sql.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from psycopg import errors

from components.pg_adoption import DbObject, ObjectLockedError, Retry, foreign_objects, move_objects

GROUP = "keybuzz_api_prod_owner"


def test_every_kind_owned_by_an_unlisted_role_is_foreign_but_public_of_the_database_owner() -> None:
    found = [
        DbObject("schema", "public", "pg_database_owner", "SCHEMA public"),
        DbObject("schema", "app", "postgres", "SCHEMA app"),
        DbObject("table", "public.tenants", "keybuzz_api_prod", "TABLE public.tenants"),
        DbObject("view", "public.v", GROUP, "VIEW public.v"),
        DbObject("sequence", "public.s", "postgres", "SEQUENCE public.s"),
        DbObject("function", "public.f(integer)", "postgres", "ROUTINE public.f(integer)"),
        DbObject("enum", "public.kind", "postgres", "TYPE public.kind"),
        DbObject("table", "public.t", "monitoring", "TABLE public.t"),
    ]
    foreign = foreign_objects(found, ["keybuzz_api_prod"], GROUP)
    assert [o.name for o in foreign] == ["app", "public.s", "public.f(integer)", "public.kind", "public.t"]
    assert str(foreign[3]) == "enum public.kind (owner postgres)"
    assert foreign[3].alter_owner(GROUP) == 'ALTER TYPE public.kind OWNER TO "keybuzz_api_prod_owner"'


def test_backoff_doubles_up_to_its_cap_and_stops_before_the_last_attempt() -> None:
    assert list(Retry(attempts=6, first_backoff=0.5, max_backoff=4).backoffs()) == [0.5, 1, 2, 4, 4]
    assert list(Retry(attempts=1).backoffs()) == []


class _Cursor:
    """Answers `current_user`; raises LockNotAvailable on the first `locked` ALTERs of each object named in it."""

    def __init__(self, locked: dict[str, int]) -> None:
        self.locked = dict(locked)
        self.altered: list[str] = []
        self.row: tuple[Any, ...] = ()

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, query: str, params: Any = None) -> None:
        self.row = ("postgres",) if query == "SELECT current_user" else ()
        if query.startswith("ALTER"):
            name = query.split()[2]
            if self.locked.get(name, 0) > 0:
                self.locked[name] -= 1
                raise errors.LockNotAvailable("canceling statement due to lock timeout")
            self.altered.append(name)

    def fetchone(self) -> tuple[Any, ...]:
        return self.row

    def fetchall(self) -> list[tuple[Any, ...]]:
        return []


class _Connection:
    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor

    def cursor(self) -> _Cursor:
        return self._cursor

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield


OBJECTS = [DbObject("table", f"public.t{i}", "keybuzz_api_prod", f"TABLE public.t{i}") for i in range(3)]


def test_a_locked_object_is_retried_with_backoff_and_the_others_move() -> None:
    cursor, slept = _Cursor({"public.t1": 2}), []
    moved = move_objects(_Connection(cursor), OBJECTS, GROUP, Retry(attempts=3, first_backoff=1), slept.append)
    assert moved == 3
    assert cursor.altered == ["public.t0", "public.t1", "public.t2"]
    assert slept == [1, 2]


def test_an_object_locked_through_every_attempt_is_named_after_the_others_moved() -> None:
    cursor, slept = _Cursor({"public.t1": 99}), []
    with pytest.raises(ObjectLockedError) as stopped:
        move_objects(_Connection(cursor), OBJECTS, GROUP, Retry(attempts=4, first_backoff=1), slept.append)
    assert re.search(r"1 object\(s\) stayed locked .* 4 attempts .*\n  table public\.t1\n2 of 3", str(stopped.value))
    assert cursor.altered == ["public.t0", "public.t2"]
    assert slept == [1, 2, 4]
