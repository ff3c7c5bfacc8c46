"""Adopting the estate's PostgreSQL objects: what no resource of the postgresql provider does.

Two dynamic resources, each one SQL transaction through the LB as the provider's admin:

* `OwnershipTransfer` hands every object of one database owned by the estate's legacy roles (tables,
  views, sequences, schemas, routines, types: Prisma's enums and ``_prisma_migrations`` included) to
  the database's owner group, so that Vault's dynamic users (members of the group, ``SET role`` to it)
  can read and write them. The provider's own ``alter_object_ownership`` was not used: it runs
  ``REASSIGN OWNED BY <current database owner>``, which misses tables owned by any other role, fails
  when the owner is the superuser, and also moves *shared* objects (every other database that role
  owns, whatever its environment). Here each object is altered by name, in this database only, from
  the listed roles only; nothing outside the database changes.
* `LegacyLogin` carries one legacy role through the cutover phases (``keybuzz:legacyLoginPhase``):
  ``kept``/``dynamic``: member of the owner groups, ``CONNECT`` granted, sessions ``SET role`` to the
  group (so what it still creates belongs to the group), ``LOGIN``; ``refused``: ``NOLOGIN`` and its
  sessions ended; ``dropped``: what it still owns reassigned to the group, then the role dropped.

Both are idempotent: an `up` re-applies them, a `preview --diff` shows the phase or the role list change.
Deleting either resource from the program changes nothing in the database (ownership stays with the group).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult
from pydantic import SecretStr

#: Inputs that do not change what the SQL does (where and how to connect).
_CONNECTION_INPUTS = frozenset({"host", "port", "user", "password", "sslmode"})


@dataclass(frozen=True)
class AdminConnection:
    """How the dynamic resources reach PostgreSQL: the LB, as the provider's admin role."""

    host: str
    port: int
    user: str
    password: SecretStr
    sslmode: str

    def inputs(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": pulumi.Output.secret(self.password.get_secret_value()),
            "sslmode": self.sslmode,
        }


def _connect(props: Mapping[str, Any], database: str) -> Any:
    import psycopg  # imported in the provider process only

    return psycopg.connect(
        host=props["host"],
        port=int(props["port"]),
        user=props["user"],
        password=props["password"],
        sslmode=props["sslmode"],
        dbname=database,
        connect_timeout=15,
        application_name="keybuzz-pulumi-adoption",
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _existing(cur: Any, roles: Sequence[str]) -> list[str]:
    cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname", (list(roles),))
    return [r[0] for r in cur.fetchall()]


def _is_superuser(cur: Any) -> bool:
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cur.fetchone()
    return bool(row and row[0])


# Every object of the current database owned by one of the roles (%s: their names), as the statement that
# gives it to the group (%s: the group). Sequences that belong to a column (serial, identity) follow their
# table; array types and a table's row type follow theirs; system schemas are never touched.
_OWNED_OBJECTS = """
WITH legacy AS (SELECT oid FROM pg_roles WHERE rolname = ANY(%(roles)s::text[])),
user_ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%%'
)
SELECT 1, format('ALTER SCHEMA %%I OWNER TO %%I', n.nspname, %(group)s::text)
FROM user_ns n JOIN pg_namespace p ON p.oid = n.oid WHERE p.nspowner IN (SELECT oid FROM legacy)
UNION ALL
SELECT 2, format('ALTER %%s %%I.%%I OWNER TO %%I',
    CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                   WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
    n.nspname, c.relname, %(group)s::text)
FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
WHERE c.relowner IN (SELECT oid FROM legacy) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND NOT (c.relkind = 'S' AND EXISTS (
      SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
        AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT 3, format('ALTER ROUTINE %%s OWNER TO %%I', p.oid::regprocedure, %(group)s::text)
FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace WHERE p.proowner IN (SELECT oid FROM legacy)
UNION ALL
SELECT 4, format('ALTER %%s %%s OWNER TO %%I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
    t.oid::regtype, %(group)s::text)
FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
WHERE t.typowner IN (SELECT oid FROM legacy) AND t.typtype IN ('e', 'd', 'r', 'c')
  AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
ORDER BY 1, 2
"""


# Relations of the current database owned by neither the group nor a legacy role (%s: the roles, the group),
# outside extensions: Vault's users could not use them, so the adoption stops and names them.
_FOREIGN_RELATIONS = """
SELECT format('%%I.%%I', n.nspname, c.relname), pg_get_userbyid(c.relowner)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
  AND pg_get_userbyid(c.relowner) <> ALL(%(roles)s::text[]) AND pg_get_userbyid(c.relowner) <> %(group)s::text
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 1
"""


class ForeignOwnerError(Exception):
    """Tables of the adopted database owned by a role the stack does not list: the adoption stops."""


#: Advisory lock key every adoption statement runs under (in the `postgres` database; any fixed number).
_ADOPTION_LOCK = 7_141_250_112


@contextmanager
def _serialized(props: Mapping[str, Any]) -> Iterator[None]:
    """One adoption resource at a time. The engine runs independent resources in parallel, and two of them
    changing the same catalog rows at once (a database's ACL, a role's memberships) fail with `tuple
    concurrently updated` (found on the lab: two legacy roles of one database dropped together)."""
    with _connect(props, "postgres") as lock:
        lock.autocommit = True
        lock.execute("SELECT pg_advisory_lock(%s)", (_ADOPTION_LOCK,))
        try:
            yield
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (_ADOPTION_LOCK,))


def transfer_ownership(props: Mapping[str, Any]) -> int:
    """Give the group every object of the database owned by the legacy roles; the number of objects moved."""
    with _serialized(props):
        return _transfer_ownership(props)


def _transfer_ownership(props: Mapping[str, Any]) -> int:
    database, group, roles = props["database"], props["group"], list(props["roles"])
    with _connect(props, database) as conn, conn.cursor() as cur:
        present = _existing(cur, roles)
        if not _is_superuser(cur):
            # ALTER ... OWNER needs membership in the old owner and the new one.
            for role in [*present, group]:
                cur.execute(f"GRANT {_quote(role)} TO CURRENT_USER")
        cur.execute(_FOREIGN_RELATIONS, {"roles": present, "group": group})
        foreign = cur.fetchall()
        if foreign:
            owners = sorted({owner for _, owner in foreign})
            shown = ", ".join(f"{name} ({owner})" for name, owner in foreign[:10])
            raise ForeignOwnerError(
                f"{len(foreign)} table(s) of database {database} are owned by {', '.join(owners)}, which the stack "
                f"does not list as legacy roles, so Vault's users could not use them: {shown}. Nothing was changed. "
                f"Fix: add the owner to the app's keybuzz:<app>LegacyRoles, or ALTER ... OWNER TO {group} first "
                "(docs/runbook-adopting-the-estate.md)."
            )
        cur.execute(_OWNED_OBJECTS, {"roles": present, "group": group})
        statements = [row[1] for row in cur.fetchall()]
        for statement in statements:
            cur.execute(statement)
        conn.commit()
    return len(statements)


class _IdempotentSql(ResourceProvider):
    """A dynamic provider whose create, and update on a change of `watched` inputs, run `apply` (idempotent
    SQL) and keep its result as the output `result`; a delete leaves the database as it is."""

    def __init__(self, apply: Callable[[Mapping[str, Any]], Any], watched: Sequence[str], id_keys: Sequence[str]):
        self.apply = apply
        self.watched = tuple(watched)
        self.id_keys = tuple(id_keys)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(":".join(str(props[k]) for k in self.id_keys), {**props, "result": self.apply(props)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in self.watched if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], stables=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({**news, "result": self.apply(news)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Ownership stays with the group, a legacy role stays as its phase left it: nothing to undo."""


class OwnershipTransfer(pulumi.dynamic.Resource):
    """Objects of `database` owned by the legacy `roles`, given to `group` (one transaction)."""

    #: How many objects the last run moved to the group.
    result: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        *,
        admin: AdminConnection,
        database: pulumi.Input[str],
        group: pulumi.Input[str],
        roles: Sequence[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {**admin.inputs(), "database": database, "group": group, "roles": sorted(roles), "result": None}
        provider = _IdempotentSql(transfer_ownership, ("database", "group", "roles"), ("database", "group"))
        super().__init__(provider, name, props, opts)


def apply_phase(props: Mapping[str, Any]) -> str:
    """Put the legacy role where `phase` says; returns what was done (kept in the resource's outputs)."""
    with _serialized(props):
        return _apply_phase(props)


def _apply_phase(props: Mapping[str, Any]) -> str:
    role, phase = props["role"], props["phase"]
    grants: list[dict[str, str]] = list(props["grants"])  # [{database, group}]
    with _connect(props, "postgres") as conn, conn.cursor() as cur:
        if not _existing(cur, [role]):
            return "absent"
        if phase in ("kept", "dynamic"):
            for grant in grants:
                cur.execute(f"GRANT {_quote(grant['group'])} TO {_quote(role)}")
                cur.execute(f"GRANT CONNECT ON DATABASE {_quote(grant['database'])} TO {_quote(role)}")
                cur.execute(
                    f"ALTER ROLE {_quote(role)} IN DATABASE {_quote(grant['database'])} SET role = "
                    f"{_quote(grant['group'])}"
                )
            cur.execute(f"ALTER ROLE {_quote(role)} LOGIN")
            conn.commit()
            return "logs in"
        cur.execute(f"ALTER ROLE {_quote(role)} NOLOGIN")
        for grant in grants:
            cur.execute(f"REVOKE CONNECT ON DATABASE {_quote(grant['database'])} FROM {_quote(role)}")
        conn.commit()
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        conn.commit()
        if phase == "refused":
            return "refused"
    # dropped: anything it still owns goes to the group, in each of its databases, then the role goes.
    for grant in grants:
        with _connect(props, grant["database"]) as conn, conn.cursor() as cur:
            cur.execute(f"REASSIGN OWNED BY {_quote(role)} TO {_quote(grant['group'])}")
            cur.execute(f"DROP OWNED BY {_quote(role)}")
            conn.commit()
    with _connect(props, "postgres") as conn, conn.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {_quote(role)}")
        conn.commit()
    return "dropped"


class LegacyLogin(pulumi.dynamic.Resource):
    """One legacy role of the estate, in the cutover phase `phase` (see the module docstring)."""

    #: What the last run left: "logs in", "refused", "dropped" or "absent".
    result: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        admin: AdminConnection,
        role: str,
        phase: str,
        grants: Sequence[Mapping[str, pulumi.Input[str]]],
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {**admin.inputs(), "role": role, "phase": phase, "grants": list(grants), "result": None}
        super().__init__(_IdempotentSql(apply_phase, ("role", "phase", "grants"), ("role",)), name, props, opts)


__all__ = ["AdminConnection", "LegacyLogin", "OwnershipTransfer", "apply_phase", "transfer_ownership"]
