"""Adopting the estate's PostgreSQL objects: what no resource of the postgresql provider does.

Three dynamic resources, running SQL through the LB as the provider's admin:

* `OwnershipTransfer` hands every object of one database owned by the estate's legacy roles (schemas,
  tables, views, materialized views, sequences, routines, types: Prisma's enums and ``_prisma_migrations``
  included) to the database's owner group, so that Vault's dynamic users (members of the group, ``SET
  role`` to it) can read and write them. The provider's own ``alter_object_ownership`` was not used: it
  runs ``REASSIGN OWNED BY <current database owner>``, which misses tables owned by any other role, fails
  when the owner is the superuser, and also moves *shared* objects (every other database that role owns,
  whatever its environment). Here each object is altered by name, in this database only, from the listed
  roles only, one object per transaction with a short ``lock_timeout`` (an ``ALTER ... OWNER`` takes an
  ``ACCESS EXCLUSIVE`` lock: waiting behind an app's long transaction would queue every app query behind
  it), retried with backoff. An object of any of those kinds owned by a role that is neither listed nor
  the group stops the transfer before anything changes (`ForeignOwnerError`); objects the admin role owns
  are not moved either (see `transfer_ownership`).
* `LegacyLogin` carries one legacy role through the cutover phases (``keybuzz:legacyLoginPhase``):
  ``kept``/``dynamic``: member of the owner groups, ``CONNECT`` granted, sessions ``SET role`` to the
  group (so what it still creates belongs to the group), ``LOGIN``; ``refused``: ``NOLOGIN``, ``CONNECT``
  revoked; ``dropped``: each object it still owns altered by name to the group, its privileges dropped
  (``DROP OWNED``, once it owns nothing), then the role dropped. ``refused`` and ``dropped`` are refused
  while a session of the role is still connected, and never end one (`LegacySessionsError`): cutting a
  consumer is the operator's decision. ``dropped`` is refused, with nothing changed, when the role owns a
  database or another shared object, or anything in a database it is not listed for (`UndroppableRoleError`).
* `ConsumerCheck` runs before PUBLIC loses ``CONNECT`` on a database the estate had: it refuses
  (`UncoveredConsumersError`) while a login that no group membership, own ``CONNECT``, legacy role or
  ``keybuzz:databaseConsumers`` entry covers is connected to it (a monitoring login, the ``v-…`` users of the
  estate's own Vault connection), naming each one and the key that covers it.

Lock discipline: the provider serialises its own catalog changes with transaction-level advisory locks,
``pg_advisory_xact_lock(<oid>::bigint)`` of each role it changes (and of that role's members) and of the
database whose ACL it changes (terraform-provider-postgresql ``postgresql/helpers.go`` ``pgLockRole``,
``pgLockDatabase``). Advisory locks belong to the database the session is connected to, so every statement
here runs connected where the provider runs its own: a database's ACL in that database (like its
``Grant``), a role's attributes and memberships in the provider's database ``postgres`` (like its
``Role``), taking the same locks in the same order (roles, then the database) in the same transaction.
Two catalog writers of one row then wait for each other instead of failing with ``tuple concurrently
updated``. On top, one adoption resource at a time (`_serialized`).

Both are idempotent: an `up` re-applies them, a `preview --diff` shows the phase or the role list change.
Deleting either resource from the program changes nothing in the database (ownership stays with the group).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult
from pydantic import SecretStr

#: Inputs that do not change what the SQL does (where and how to connect).
_CONNECTION_INPUTS = frozenset({"host", "port", "user", "password", "sslmode"})

#: The database the provider connects to (Environment's postgresql.Provider `database`): where it takes the
#: advisory locks of its Role resources, so where ours for role-level changes go.
PROVIDER_DATABASE = "postgres"
#: What `application_name` our sessions carry (a DBA sees who holds what in pg_stat_activity).
APPLICATION_NAME = "keybuzz-pulumi-adoption"


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


@dataclass(frozen=True)
class Retry:
    """How an ``ALTER ... OWNER`` waits for an object an app holds a lock on.

    Each attempt waits at most `lock_timeout_ms` for the lock, then gives up (and lets the app queries that
    queued behind it through) and sleeps before the next one: 1 s, because a query that arrives while the
    ``ALTER`` waits queues behind it for up to that long, and the target is that no app query waits 2 s."""

    lock_timeout_ms: int = 1000
    attempts: int = 6
    first_backoff: float = 0.5
    max_backoff: float = 8.0

    def backoffs(self) -> Iterator[float]:
        """The sleep after each failed attempt but the last."""
        delay = self.first_backoff
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_backoff)


OWNERSHIP_RETRY = Retry()


class ForeignOwnerError(Exception):
    """Objects of the adopted database owned by a role the stack does not list: the adoption stops."""


class ObjectLockedError(Exception):
    """An object stayed locked by another session through every attempt of its ``ALTER ... OWNER``."""


class LegacySessionsError(Exception):
    """A legacy login still has sessions: refusing or dropping it would cut them."""


class UncoveredConsumersError(Exception):
    """Logins nobody listed are connected to a database whose CONNECT the stack would revoke from PUBLIC."""


class UndroppableRoleError(Exception):
    """The legacy role owns or holds what `dropped` may not touch: nothing was changed."""


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
        application_name=APPLICATION_NAME,
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _existing(cur: Any, roles: Sequence[str]) -> list[str]:
    cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname", (list(roles),))
    return [r[0] for r in cur.fetchall()]


def _is_superuser(cur: Any) -> bool:
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cur.fetchone()
    return bool(row and row[0])


# ---- the provider's advisory locks (terraform-provider-postgresql postgresql/helpers.go) -----------------


def lock_roles(cur: Any, roles: Sequence[str]) -> None:
    """`pgLockRole` of each role, in order: the role's oid, then its members' oids, as one bigint each.

    Callers list the owner group first: the provider's grants to a group lock it, then its members (a legacy
    login among them), so taking the group first never waits in the opposite order (no deadlock)."""
    for role in roles:
        cur.execute("SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_roles WHERE rolname = %s", (role,))
        cur.execute(
            "SELECT pg_advisory_xact_lock(member::bigint) FROM pg_auth_members "
            "JOIN pg_roles ON roleid = pg_roles.oid WHERE rolname = %s",
            (role,),
        )


def lock_database(cur: Any, database: str) -> None:
    """`pgLockDatabase`: the database's oid as a bigint; only meaningful connected to that database, where the
    provider's `Grant` on it takes the same lock."""
    cur.execute("SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_database WHERE datname = %s", (database,))


#: Advisory lock key every adoption resource runs under (in the `postgres` database). Above 2^32, so no oid
#: (the provider's keys) can ever be this number.
_ADOPTION_LOCK = 7_141_250_112


@contextmanager
def _serialized(props: Mapping[str, Any]) -> Iterator[None]:
    """One adoption resource at a time (the engine runs independent resources in parallel): each one's
    sequence of transactions stays readable, on top of the provider's locks each transaction takes."""
    with _connect(props, PROVIDER_DATABASE) as lock:
        lock.autocommit = True
        lock.execute("SELECT pg_advisory_lock(%s)", (_ADOPTION_LOCK,))
        try:
            yield
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (_ADOPTION_LOCK,))


def _grant_to_admin(props: Mapping[str, Any], roles: Sequence[str]) -> None:
    """A non-superuser admin needs membership in an object's old and new owner to ``ALTER ... OWNER`` it, and
    in a role to ``DROP OWNED`` it: granted where and as the provider grants itself a role (`roles` in lock
    order: the owner group first)."""
    with _connect(props, PROVIDER_DATABASE) as conn, conn.cursor() as cur:
        if _is_superuser(cur):
            return
        existing = set(_existing(cur, roles))
        present = [r for r in roles if r in existing]
        cur.execute("SELECT current_user")
        lock_roles(cur, [*present, cur.fetchone()[0]])
        for role in present:
            cur.execute(f"GRANT {_quote(role)} TO CURRENT_USER")
        conn.commit()


# ---- objects and their owners -------------------------------------------------------------------------

# Every object of the kinds the transfer moves, in the current database, with its owner and what follows
# ALTER in the statement that gives it away. Outside system schemas and extensions (an extension's objects
# are its owner's). Sequences that belong to a column (serial, identity) follow their table; array types,
# a table's row type and a range's multirange follow theirs. No parameter: nothing to escape.
_OBJECTS = r"""
WITH user_ns AS (
    SELECT oid, nspname, nspowner FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\_%'
),
extension_member AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT 1, 'schema', quote_ident(n.nspname), pg_get_userbyid(n.nspowner), 'SCHEMA ' || quote_ident(n.nspname)
FROM user_ns n
WHERE (n.oid) NOT IN (SELECT objid FROM extension_member WHERE classid = 'pg_namespace'::regclass)
UNION ALL
SELECT 2, k.kind, format('%I.%I', n.nspname, c.relname), pg_get_userbyid(c.relowner),
       format('%s %I.%I', upper(k.kind), n.nspname, c.relname)
FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
JOIN (VALUES ('r', 'table'), ('p', 'table'), ('v', 'view'), ('m', 'materialized view'), ('S', 'sequence'),
             ('f', 'foreign table')) AS k(relkind, kind) ON k.relkind = c.relkind::text
WHERE c.oid NOT IN (SELECT objid FROM extension_member WHERE classid = 'pg_class'::regclass)
  AND NOT (c.relkind = 'S' AND EXISTS (
      SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
        AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT 3, CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       pg_get_userbyid(p.proowner),
       format('ROUTINE %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
WHERE p.oid NOT IN (SELECT objid FROM extension_member WHERE classid = 'pg_proc'::regclass)
UNION ALL
SELECT 4, CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range type'
                         ELSE 'composite type' END,
       format('%I.%I', n.nspname, t.typname), pg_get_userbyid(t.typowner),
       format('%s %I.%I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname)
FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'r', 'c')
  AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  AND t.oid NOT IN (SELECT objid FROM extension_member WHERE classid = 'pg_type'::regclass)
ORDER BY 1, 3
"""


@dataclass(frozen=True)
class DbObject:
    """One object of a moved kind: what it is, who owns it, and how ``ALTER`` names it."""

    kind: str
    name: str
    owner: str
    #: What follows ALTER: ``TABLE public.t``, ``ROUTINE public.f(integer)``, ``TYPE public.kind``...
    target: str

    def alter_owner(self, group: str) -> str:
        return f"ALTER {self.target} OWNER TO {_quote(group)}"

    def __str__(self) -> str:
        return f"{self.kind} {self.name} (owner {self.owner})"


def objects(cur: Any) -> list[DbObject]:
    """Every object of the current database of a kind the transfer moves, schemas first."""
    cur.execute(_OBJECTS)
    return [DbObject(kind, name, owner, target) for _, kind, name, owner, target in cur.fetchall()]


def foreign_objects(found: Sequence[DbObject], legacy: Sequence[str], group: str) -> list[DbObject]:
    """Objects owned by neither a legacy role nor the group. A schema owned by ``pg_database_owner`` (``public``
    since PostgreSQL 15) is the database owner's, which is the group."""
    allowed = {*legacy, group}
    return [o for o in found if o.owner not in allowed and not (o.kind == "schema" and o.owner == "pg_database_owner")]


def _foreign_error(database: str, group: str, admin: str, foreign: Sequence[DbObject]) -> ForeignOwnerError:
    shown = foreign[:25]
    more = f"\n  ... and {len(foreign) - len(shown)} more" if len(foreign) > len(shown) else ""
    owners = sorted({o.owner for o in foreign})
    admin_note = (
        f" {admin} is the role this program connects as: its objects are never moved by the program (they may be "
        "an operator's, and a SECURITY DEFINER function would change whose rights it runs with); check each one."
        if admin in owners
        else ""
    )
    return ForeignOwnerError(
        f"ownership transfer of database {database} stopped before changing anything: {len(foreign)} object(s) "
        f"are owned by {', '.join(owners)}, which is neither one of the app's keybuzz:<app>LegacyRoles nor its "
        f"owner group {group}, so Vault's users (members of {group}) could not use them:\n"
        + "\n".join(f"  {o}" for o in shown)
        + more
        + f"\nFix: if an owner is a login role of the estate's app, add it to keybuzz:<app>LegacyRoles; otherwise give "
        f"the objects to {group} by hand, one statement per transaction with SET lock_timeout = '1s' "
        '(docs/runbook-adopting-the-estate.md, "Before the first up"), e.g.\n'
        + "\n".join(f"  {o.alter_owner(group)};" for o in shown)
        + more
        + "\n"
        + admin_note
    )


def _holders(cur: Any, obj: DbObject) -> str:
    """Who holds a lock on a relation, for the error message (empty for other kinds)."""
    if obj.kind not in ("table", "view", "materialized view", "sequence", "foreign table"):
        return ""
    cur.execute(
        "SELECT DISTINCT a.pid, a.usename, a.application_name, a.state, a.xact_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.granted AND l.relation = to_regclass(%s) "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND a.pid <> pg_backend_pid() ORDER BY 1",
        (obj.name,),
    )
    held = [
        f"pid {pid} ({user}, application_name {app!r}, {state}, transaction since {since})"
        for pid, user, app, state, since in cur.fetchall()
    ]
    return f" (held by {', '.join(held)})" if held else ""


def move_objects(
    conn: Any,
    found: Sequence[DbObject],
    group: str,
    retry: Retry = OWNERSHIP_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Give each object to `group`, one transaction per object, each under the provider's locks of the old and
    new owner and of the admin (its `REASSIGN OWNED` locks the admin), with `retry`'s lock_timeout; the number
    moved. An object still locked after every attempt is left as it is and the others move on; then
    `ObjectLockedError` names each one left and who held it (a re-run continues with them)."""
    from psycopg import errors

    locked: list[str] = []
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        admin = cur.fetchone()[0]
        for obj in found:
            backoffs = retry.backoffs()
            while True:
                try:
                    with conn.transaction():
                        lock_roles(cur, [group, obj.owner, admin])
                        # After the advisory locks (the provider's short transactions are waited for in full):
                        # only the object's own lock is bounded.
                        cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{retry.lock_timeout_ms}ms",))
                        cur.execute(obj.alter_owner(group))
                    break
                except (errors.LockNotAvailable, errors.DeadlockDetected):
                    delay = next(backoffs, None)
                    if delay is None:
                        locked.append(f"{obj.kind} {obj.name}{_holders(cur, obj)}")
                        break
                    sleep(delay)
    if locked:
        raise ObjectLockedError(
            f"{len(locked)} object(s) stayed locked by another session through {retry.attempts} attempts of ALTER ... "
            f"OWNER TO {group} (lock_timeout {retry.lock_timeout_ms} ms each), and were left as they are:\n"
            + "\n".join(f"  {item}" for item in locked)
            + f"\n{len(found) - len(locked)} of {len(found)} object(s) were moved. Fix: let that transaction end (or "
            "end it), then re-run `pulumi up`, which moves what is left."
        )
    return len(found)


def transfer_ownership(
    props: Mapping[str, Any], retry: Retry = OWNERSHIP_RETRY, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Give the group every object of the database owned by the legacy roles; the number of objects moved.

    Objects of the moved kinds owned by anyone else but the group stop it before anything changes, including
    the admin role the program connects as (the superuser on the estate): PH28.2 copied PROD's schema as the
    superuser and an operator created enums as it (PH15), but the superuser also owns what operators made
    for themselves, and moving a SECURITY DEFINER function changes whose rights it runs with. The error lists
    each object with the statement that moves it, for a person to check and run."""
    with _serialized(props):
        return _transfer_ownership(props, retry, sleep)


def _transfer_ownership(props: Mapping[str, Any], retry: Retry, sleep: Callable[[float], None]) -> int:
    database, group, roles = props["database"], props["group"], list(props["roles"])
    with _connect(props, database) as conn, conn.cursor() as cur:
        present = _existing(cur, roles)
        found = objects(cur)
        foreign = foreign_objects(found, present, group)
        conn.rollback()
        if foreign:
            raise _foreign_error(database, group, props["user"], foreign)
    _grant_to_admin(props, [group, *present])
    with _connect(props, database) as conn:
        conn.autocommit = True  # each object its own transaction (conn.transaction())
        with conn.cursor() as cur:
            to_move = [o for o in objects(cur) if o.owner in present]
        return move_objects(conn, to_move, group, retry, sleep)


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
    """Objects of `database` owned by the legacy `roles`, given to `group` (one object per transaction)."""

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


# ---- the legacy logins' phases ------------------------------------------------------------------------


def _sessions(cur: Any, role: str) -> list[tuple[Any, ...]]:
    cur.execute(
        "SELECT pid, datname, coalesce(application_name, ''), coalesce(host(client_addr), 'local socket'), "
        "backend_start, state FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid() ORDER BY pid",
        (role,),
    )
    return list(cur.fetchall())


def _refuse_while_connected(cur: Any, role: str, phase: str) -> None:
    """`refused` and `dropped` never cut a running consumer: the operator ends its sessions, knowingly."""
    sessions = _sessions(cur, role)
    if not sessions:
        return
    listed = "\n".join(
        f"  pid {pid}, database {db}, application_name {app!r}, client {client}, connected since "
        f"{start.isoformat() if start else '?'} ({state})"
        for pid, db, app, client, start, state in sessions
    )
    raise LegacySessionsError(
        f"legacy login {role}: phase {phase} refused, nothing was changed: {len(sessions)} session(s) still log in "
        f"as {role}, which this phase would cut:\n{listed}\n"
        "Fix: move that consumer to its Vault credentials (phase dynamic) and wait for its sessions to end; if "
        "cutting them is intended, end them yourself, then re-run `pulumi up` "
        "(docs/runbook-adopting-the-estate.md, phase 3):\n"
        f"  SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {_literal(role)};"
    )


def _refuse_privileged(cur: Any, role: str) -> None:
    """A superuser or the admin itself as a legacy role would be NOLOGIN'd or dropped, or its sessions in an
    app database turned into the group: refused in every phase."""
    cur.execute("SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = %s", (role,))
    superuser, admin = cur.fetchone()
    if superuser or admin:
        raise UndroppableRoleError(
            f"legacy role {role} is {'the admin role this program connects as' if admin else 'a superuser'}: the "
            "program never changes its login or memberships. Nothing was changed. Fix: remove it from "
            "keybuzz:<app>LegacyRoles and give its objects to the owner group by hand "
            "(docs/runbook-adopting-the-estate.md)."
        )


# What the role owns or holds outside the databases it is listed for, and shared objects it owns (%s: role,
# then the oids of its databases). Privileges on its own databases are revoked by the phase (REVOKE ALL).
_BEYOND = """
SELECT CASE WHEN s.dbid = 0 THEN pg_describe_object(s.classid, s.objid, s.objsubid)
            ELSE 'objects in database ' || quote_ident(d.datname) END,
       CASE s.deptype WHEN 'o' THEN 'owns' ELSE 'holds privileges on' END, count(*)
FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid
WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = %s)
  AND NOT (s.dbid = ANY(%s::oid[]))
  AND NOT (s.dbid = 0 AND s.deptype <> 'o' AND s.classid = 'pg_database'::regclass AND s.objid = ANY(%s::oid[]))
GROUP BY 1, 2 ORDER BY 1, 2
"""

# What the role owns in the current database apart from default privileges (which DROP OWNED removes:
# privileges, not data), i.e. what DROP OWNED would drop; with %(unmovable)s, only what is not of a kind
# `objects` lists (the catalogs of schemas, relations, routines and types).
_OWNED_HERE = """
SELECT pg_describe_object(classid, objid, objsubid) FROM pg_shdepend
WHERE refclassid = 'pg_authid'::regclass AND refobjid = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
  AND deptype = 'o' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid <> 'pg_default_acl'::regclass
  AND NOT (%(unmovable)s AND classid IN ('pg_namespace'::regclass, 'pg_class'::regclass, 'pg_proc'::regclass,
                                        'pg_type'::regclass))
ORDER BY 1
"""


def _owned_here(cur: Any, role: str, unmovable: bool) -> list[str]:
    cur.execute(_OWNED_HERE, {"role": role, "unmovable": unmovable})
    return [row[0] for row in cur.fetchall()]


def _check_droppable(props: Mapping[str, Any], role: str, grants: Sequence[Mapping[str, str]]) -> None:
    """Before `dropped` changes anything: nothing shared, nothing elsewhere, nothing DROP OWNED would drop."""
    databases = [g["database"] for g in grants]
    problems: list[str] = []
    with _connect(props, PROVIDER_DATABASE) as conn, conn.cursor() as cur:
        cur.execute("SELECT array_agg(oid) FROM pg_database WHERE datname = ANY(%s)", (databases,))
        oids = cur.fetchone()[0] or []
        cur.execute(_BEYOND, (role, oids, oids))
        problems += [f"{what} {obj}" + (f" ({n})" if n > 1 else "") for obj, what, n in cur.fetchall()]
    for database in databases:
        with _connect(props, database) as conn, conn.cursor() as cur:
            problems += [
                f"owns {obj} in database {database} (not a kind the program moves)"
                for obj in _owned_here(cur, role, unmovable=True)
            ]
    if problems:
        raise UndroppableRoleError(
            f"legacy role {role}: phase dropped refused, nothing was changed. Dropping it would change what the "
            "program does not manage (REASSIGN OWNED would move a database it owns to another role; DROP OWNED "
            "would drop what it owns):\n"
            + "\n".join(f"  {role} {p}" for p in problems)
            + "\nFix: give each to its rightful owner (ALTER DATABASE ... OWNER TO ..., ALTER ... OWNER TO ...) or "
            "revoke those privileges by hand, then re-run `pulumi up` (docs/runbook-adopting-the-estate.md, phase 4)."
        )


def _grant_login(props: Mapping[str, Any], role: str, grants: Sequence[Mapping[str, str]]) -> None:
    """kept/dynamic: memberships and LOGIN where the provider changes roles; CONNECT and the session's role in
    each database, where the provider grants on it."""
    groups = sorted({g["group"] for g in grants})
    with _connect(props, PROVIDER_DATABASE) as conn, conn.cursor() as cur:
        lock_roles(cur, [*groups, role])
        for group in groups:
            cur.execute(f"GRANT {_quote(group)} TO {_quote(role)}")
        cur.execute(f"ALTER ROLE {_quote(role)} LOGIN")
        conn.commit()
    for grant in grants:
        database, group = grant["database"], grant["group"]
        with _connect(props, database) as conn, conn.cursor() as cur:
            lock_roles(cur, [group, role])
            lock_database(cur, database)
            cur.execute(f"GRANT CONNECT ON DATABASE {_quote(database)} TO {_quote(role)}")
            cur.execute(f"ALTER ROLE {_quote(role)} IN DATABASE {_quote(database)} SET role = {_quote(group)}")
            conn.commit()


def _refuse_login(props: Mapping[str, Any], role: str, grants: Sequence[Mapping[str, str]], revoke: str) -> None:
    """refused/dropped: NOLOGIN, then `revoke` (CONNECT, or ALL) on each of its databases."""
    with _connect(props, PROVIDER_DATABASE) as conn, conn.cursor() as cur:
        lock_roles(cur, [*sorted({g["group"] for g in grants}), role])
        cur.execute(f"ALTER ROLE {_quote(role)} NOLOGIN")
        conn.commit()
    for grant in grants:
        database = grant["database"]
        with _connect(props, database) as conn, conn.cursor() as cur:
            lock_roles(cur, [grant["group"], role])
            lock_database(cur, database)
            cur.execute(f"REVOKE {revoke} ON DATABASE {_quote(database)} FROM {_quote(role)}")
            conn.commit()


def _drop(props: Mapping[str, Any], role: str, grants: Sequence[Mapping[str, str]]) -> None:
    """Each object it still owns, by name, to its database's group; its privileges dropped; the role dropped."""
    _grant_to_admin(props, [*sorted({g["group"] for g in grants}), role])
    for grant in grants:
        database, group = grant["database"], grant["group"]
        with _connect(props, database) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                move_objects(conn, [o for o in objects(cur) if o.owner == role], group)
                left = _owned_here(cur, role, unmovable=False)
                if left:  # appeared since the check: DROP OWNED would drop them
                    raise UndroppableRoleError(
                        f"legacy role {role} still owns {', '.join(left)} in database {database}: not dropped. "
                        "Fix: give them to their rightful owner by hand, then re-run `pulumi up`."
                    )
                cur.execute("SELECT current_user")
                admin = cur.fetchone()[0]
                with conn.transaction():
                    lock_roles(cur, [group, role, admin])
                    lock_database(cur, database)
                    cur.execute(f"DROP OWNED BY {_quote(role)}")  # owns nothing here: only its privileges go
    with _connect(props, PROVIDER_DATABASE) as conn, conn.cursor() as cur:
        lock_roles(cur, [role])
        cur.execute(f"DROP ROLE IF EXISTS {_quote(role)}")
        conn.commit()


def apply_phase(props: Mapping[str, Any]) -> str:
    """Put the legacy role where `phase` says; returns what was done (kept in the resource's outputs)."""
    with _serialized(props):
        return _apply_phase(props)


def _apply_phase(props: Mapping[str, Any]) -> str:
    role, phase = props["role"], props["phase"]
    grants: list[dict[str, str]] = list(props["grants"])  # [{database, group}]
    with _connect(props, PROVIDER_DATABASE) as conn, conn.cursor() as cur:
        if not _existing(cur, [role]):
            return "absent"
        _refuse_privileged(cur, role)
        if phase in ("refused", "dropped"):
            _refuse_while_connected(cur, role, phase)
    if phase in ("kept", "dynamic"):
        _grant_login(props, role, grants)
        return "logs in"
    if phase == "refused":
        _refuse_login(props, role, grants, "CONNECT")
        return "refused"
    _check_droppable(props, role, grants)
    _refuse_login(props, role, grants, "ALL")
    _drop(props, role, grants)
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


# ---- PUBLIC's CONNECT: every consumer covered first -------------------------------------------------------

# The sessions in the current database of logins that would lose CONNECT with PUBLIC's: not a superuser,
# not the admin, not a member of the database's groups (the apps' Vault users, the legacy logins while
# they are members), not a listed consumer, holding no CONNECT of their own in the database's ACL.
_UNCOVERED = """
SELECT a.usename, count(*), min(coalesce(host(a.client_addr), 'local socket')), min(coalesce(a.application_name, ''))
FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND NOT r.rolsuper
  AND a.usename <> current_user AND NOT a.usename = ANY(%(listed)s)
  AND NOT EXISTS (SELECT 1 FROM unnest(%(groups)s::text[]) g(name)
                  WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = g.name) AND pg_has_role(r.oid, g.name, 'MEMBER'))
  AND NOT EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) x
                  WHERE d.datname = current_database() AND x.grantee = r.oid AND x.privilege_type = 'CONNECT')
GROUP BY 1 ORDER BY 1
"""


def check_consumers(props: Mapping[str, Any]) -> int:
    """Refuse PUBLIC's revoke on `database` while a login the stack does not cover is connected to it; the
    number of covered consumers' logins listed.

    Only what is connected now can be seen: a consumer that connects once a night is the operator's to
    list (the runbook says to watch ``pg_stat_activity`` for a day before the phase `refused`)."""
    database, listed = props["database"], list(props["consumers"])
    with _connect(props, database) as conn, conn.cursor() as cur:
        cur.execute(_UNCOVERED, {"listed": listed, "groups": list(props["groups"])})
        uncovered = cur.fetchall()
    if uncovered:
        lines = "\n".join(
            f"  {user}: {n} session(s), client {client}, application_name {app!r}" for user, n, client, app in uncovered
        )
        names = ", ".join(json.dumps(u) for u, *_ in uncovered)
        raise UncoveredConsumersError(
            f"database {database}: CONNECT not revoked from PUBLIC, nothing was changed: {len(uncovered)} login(s) "
            f"that no group, grant or keybuzz:databaseConsumers covers are connected, and would be cut:\n{lines}\n"
            f"Fix: add each consumer to keybuzz:databaseConsumers (e.g. [{names}]; a prefix ending in * for the "
            "users a Vault connection issues, which keeps PUBLIC's CONNECT), or move it to its Vault credentials "
            'and let its sessions end, then re-run `pulumi up` (docs/runbook-adopting-the-estate.md, "Who may '
            'connect").'
        )
    return len(listed)


class ConsumerCheck(pulumi.dynamic.Resource):
    """Checks, when the revoke of PUBLIC's CONNECT on `database` is declared or the consumers change, that no
    uncovered login is connected to it (`check_consumers`); the revoke depends on it."""

    result: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        *,
        admin: AdminConnection,
        database: pulumi.Input[str],
        groups: Sequence[pulumi.Input[str]],
        consumers: Sequence[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {**admin.inputs(), "database": database, "groups": list(groups), "consumers": sorted(consumers),
                 "result": None}  # fmt: skip
        provider = _IdempotentSql(check_consumers, ("database", "groups", "consumers"), ("database",))
        super().__init__(provider, name, props, opts)


__all__ = [
    "AdminConnection",
    "ConsumerCheck",
    "ForeignOwnerError",
    "LegacyLogin",
    "LegacySessionsError",
    "ObjectLockedError",
    "OwnershipTransfer",
    "Retry",
    "UncoveredConsumersError",
    "UndroppableRoleError",
    "apply_phase",
    "lock_database",
    "lock_roles",
    "transfer_ownership",
]
