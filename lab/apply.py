"""Apply a rendered program (resources recorded under Pulumi mocks) to the lab, as the providers would.

``postgresql:*`` resources become SQL run as the lab's superuser through the LB write port;
``vault:*`` resources become OpenBao (Vault API) calls. Kubernetes resources are not applied (the lab
has no cluster); the tests read what they need from them (ExternalSecret templates, generator paths).

The translation follows each provider's documented behaviour (a Grant replaces the role's privileges
on the object; DefaultPrivileges are set FOR ROLE owner). An input this module does not know raises
`ApplyError` rather than being ignored, so a program change cannot silently escape the lab. A Vault
connection URL whose host is not the lab's loopback address is refused: the lab never connects to the
estate.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from typing import Any, Protocol

import psycopg
from psycopg import sql

from lab.bao import ensure_mount
from lab.config import HOST
from lab.http import HttpError, Vault
from lab.writer import CONN_OPTS


class ApplyError(RuntimeError):
    """The lab cannot translate a rendered resource faithfully."""


class Resource(Protocol):
    type: str
    name: str
    inputs: dict[str, Any]


class Target(Protocol):
    """What `apply` needs from the lab (a `lab.cluster.Lab`)."""

    def conninfo(self, port: int | None = None, dbname: str = "postgres") -> dict[str, Any]: ...

    def vault(self) -> Vault: ...


# Types in the order a provider dependency graph would create them.
ORDER = (
    "postgresql:index/role:Role",
    "postgresql:index/database:Database",
    "postgresql:index/grantRole:GrantRole",
    "postgresql:index/grant:Grant",
    "postgresql:index/defaultPrivileges:DefaultPrivileges",
    "vault:index/mount:Mount",
    "vault:database/secretBackendConnection:SecretBackendConnection",
    "vault:database/secretBackendRole:SecretBackendRole",
    "vault:index/policy:Policy",
    "vault:kv/secretV2:SecretV2",
    "vault:kubernetes/authBackendRole:AuthBackendRole",
)


def _check_keys(resource: Resource, handled: Iterable[str], data: dict[str, Any] | None = None) -> None:
    unknown = set(data if data is not None else resource.inputs) - set(handled)
    if unknown:
        raise ApplyError(f"{resource.type} {resource.name}: the lab does not translate input(s) {sorted(unknown)}")


def _role_ident(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name.lower() == "public" else sql.Identifier(name)


def _privileges(privs: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(p.upper().replace("_", " ")) for p in privs)


class Applier:
    def __init__(self, lab: Target) -> None:
        self.lab = lab
        self.vault = lab.vault()

    # ------------------------------------------------------------------ PostgreSQL

    def _run(self, statements: list[sql.Composable], dbname: str = "postgres") -> None:
        with psycopg.connect(**self.lab.conninfo(dbname=dbname), **CONN_OPTS, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def _exists(self, query: str, name: str) -> bool:
        with psycopg.connect(**self.lab.conninfo(), **CONN_OPTS) as conn:
            return conn.execute(query, (name,)).fetchone() is not None

    def role(self, r: Resource) -> None:
        i = r.inputs
        _check_keys(
            r,
            {
                "name", "login", "createRole", "createDatabase", "superuser", "inherit", "replication",
                "connectionLimit", "validUntil", "password", "passwordWo", "passwordWoVersion", "roles",
                "skipDropRole", "skipReassignOwned", "encrypted", "encryptedPassword",
            },
        )  # fmt: skip
        opts = [
            sql.SQL("LOGIN" if i.get("login") else "NOLOGIN"),
            sql.SQL("CREATEROLE" if i.get("createRole") else "NOCREATEROLE"),
            sql.SQL("CREATEDB" if i.get("createDatabase") else "NOCREATEDB"),
            sql.SQL("SUPERUSER" if i.get("superuser") else "NOSUPERUSER"),
            sql.SQL("INHERIT" if i.get("inherit", True) else "NOINHERIT"),
            sql.SQL("REPLICATION" if i.get("replication") else "NOREPLICATION"),
            sql.SQL("CONNECTION LIMIT {}").format(sql.Literal(int(i.get("connectionLimit", -1)))),
        ]
        password = i.get("passwordWo") or i.get("password")
        if password:
            opts.append(sql.SQL("PASSWORD {}").format(sql.Literal(password)))
        if i.get("validUntil"):
            opts.append(sql.SQL("VALID UNTIL {}").format(sql.Literal(i["validUntil"])))
        exists = self._exists("SELECT 1 FROM pg_roles WHERE rolname = %s", i["name"])
        verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
        statements = [sql.SQL("{} {} WITH {}").format(verb, sql.Identifier(i["name"]), sql.SQL(" ").join(opts))]
        statements += [
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(member_of), sql.Identifier(i["name"]))
            for member_of in i.get("roles", [])
        ]
        self._run(statements)

    def database(self, r: Resource) -> None:
        i = r.inputs
        _check_keys(
            r,
            {"name", "owner", "template", "encoding", "lcCollate", "lcCtype", "connectionLimit", "allowConnections"},
        )
        name = sql.Identifier(i["name"])
        if self._exists("SELECT 1 FROM pg_database WHERE datname = %s", i["name"]):
            statements: list[sql.Composable] = []
            if i.get("owner"):
                statements.append(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(name, sql.Identifier(i["owner"])))
        else:
            opts = []
            for key, word in (("owner", "OWNER"), ("template", "TEMPLATE")):
                if i.get(key):
                    opts.append(sql.SQL(f"{word} {{}}").format(sql.Identifier(i[key])))
            for key, word in (("encoding", "ENCODING"), ("lcCollate", "LC_COLLATE"), ("lcCtype", "LC_CTYPE")):
                if i.get(key):
                    opts.append(sql.SQL(f"{word} {{}}").format(sql.Literal(i[key])))
            statements = [sql.SQL("CREATE DATABASE {} {}").format(name, sql.SQL(" ").join(opts))]
        if "connectionLimit" in i:
            statements.append(
                sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(name, sql.Literal(int(i["connectionLimit"])))
            )
        if "allowConnections" in i:
            statements.append(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(name, sql.Literal(bool(i["allowConnections"])))
            )
        self._run(statements)

    def grant_role(self, r: Resource) -> None:
        i = r.inputs
        _check_keys(r, {"role", "grantRole", "withAdminOption"})
        statement = sql.SQL("GRANT {} TO {}").format(sql.Identifier(i["grantRole"]), sql.Identifier(i["role"]))
        if i.get("withAdminOption"):
            statement = sql.SQL("{} WITH ADMIN OPTION").format(statement)
        self._run([statement])

    def grant(self, r: Resource) -> None:
        """Like the provider: revoke the role's privileges on the object(s), then grant the listed ones."""
        i = r.inputs
        _check_keys(r, {"database", "role", "schema", "objectType", "objects", "privileges", "withGrantOption"})
        kind, role = i["objectType"], _role_ident(i["role"])
        privs = i.get("privileges", [])
        grant_option = sql.SQL(" WITH GRANT OPTION" if i.get("withGrantOption") else "")
        if kind == "database":
            target, dbname = sql.SQL("DATABASE {}").format(sql.Identifier(i["database"])), "postgres"
            targets = [target]
        elif kind == "schema":
            targets, dbname = [sql.SQL("SCHEMA {}").format(sql.Identifier(i["schema"]))], i["database"]
        elif kind in ("table", "sequence", "function"):
            dbname, plural = i["database"], {"table": "TABLES", "sequence": "SEQUENCES", "function": "FUNCTIONS"}[kind]
            objects = i.get("objects") or []
            if objects:
                targets = [sql.SQL(f"{kind.upper()} {{}}").format(sql.Identifier(i["schema"], obj)) for obj in objects]
            else:
                targets = [sql.SQL(f"ALL {plural} IN SCHEMA {{}}").format(sql.Identifier(i["schema"]))]
        else:
            raise ApplyError(f"{r.type} {r.name}: objectType {kind!r} is not translated by the lab")
        statements: list[sql.Composable] = []
        for target in targets:
            statements.append(sql.SQL("REVOKE ALL ON {} FROM {}").format(target, role))
            if privs:
                statements.append(
                    sql.SQL("GRANT {} ON {} TO {}{}").format(_privileges(privs), target, role, grant_option)
                )
        self._run(statements, dbname)

    def default_privileges(self, r: Resource) -> None:
        i = r.inputs
        _check_keys(r, {"database", "role", "owner", "schema", "objectType", "privileges", "withGrantOption"})
        plural = {
            "table": "TABLES",
            "sequence": "SEQUENCES",
            "function": "FUNCTIONS",
            "type": "TYPES",
            "schema": "SCHEMAS",
        }
        if i["objectType"] not in plural:
            raise ApplyError(f"{r.type} {r.name}: objectType {i['objectType']!r} is not translated by the lab")
        scope = sql.SQL("FOR ROLE {}").format(sql.Identifier(i["owner"]))
        if i.get("schema"):
            scope = sql.SQL("{} IN SCHEMA {}").format(scope, sql.Identifier(i["schema"]))
        on, role = sql.SQL(plural[i["objectType"]]), _role_ident(i["role"])
        statements: list[sql.Composable] = [
            sql.SQL("ALTER DEFAULT PRIVILEGES {} REVOKE ALL ON {} FROM {}").format(scope, on, role)
        ]
        if i.get("privileges"):
            statements.append(
                sql.SQL("ALTER DEFAULT PRIVILEGES {} GRANT {} ON {} TO {}{}").format(
                    scope,
                    _privileges(i["privileges"]),
                    on,
                    role,
                    sql.SQL(" WITH GRANT OPTION" if i.get("withGrantOption") else ""),
                )
            )
        self._run(statements, i["database"])

    # ------------------------------------------------------------------ OpenBao

    def mount(self, r: Resource) -> None:
        i = r.inputs
        _check_keys(r, {"path", "type", "description", "options", "defaultLeaseTtlSeconds", "maxLeaseTtlSeconds"})
        options = dict(i.get("options") or {})
        ensure_mount(self.vault, i["path"], i["type"], options or None)
        tune = {}
        if i.get("description"):
            tune["description"] = i["description"]
        if i.get("defaultLeaseTtlSeconds"):
            tune["default_lease_ttl"] = f"{int(i['defaultLeaseTtlSeconds'])}s"
        if i.get("maxLeaseTtlSeconds"):
            tune["max_lease_ttl"] = f"{int(i['maxLeaseTtlSeconds'])}s"
        if tune:
            self.vault.write(f"sys/mounts/{i['path']}/tune", tune)

    def connection(self, r: Resource) -> None:
        i = r.inputs
        _check_keys(
            r,
            {"backend", "name", "allowedRoles", "verifyConnection", "rootRotationStatements", "pluginName",
             "postgresql", "data"},
        )  # fmt: skip
        pg = i.get("postgresql")
        if not pg:
            raise ApplyError(f"{r.type} {r.name}: only the postgresql block is translated by the lab")
        _check_keys(
            r,
            {"connectionUrl", "username", "password", "passwordWo", "passwordWoVersion", "maxOpenConnections",
             "maxIdleConnections", "maxConnectionLifetime", "usernameTemplate", "disableEscaping"},
            pg,
        )  # fmt: skip
        url = pg["connectionUrl"]
        host = urllib.parse.urlsplit(url.replace("{{username}}:{{password}}@", "")).hostname
        if host != HOST:
            raise ApplyError(
                f"{r.name}: connection_url host {host!r} is not the lab ({HOST}); render the stack with the lab's "
                "endpoints (lab.program.lab_overrides) — the lab never connects anywhere else"
            )
        body: dict[str, Any] = {
            "plugin_name": i.get("pluginName") or "postgresql-database-plugin",
            "connection_url": url,
            "username": pg.get("username"),
            "password": pg.get("passwordWo") or pg.get("password"),
            "allowed_roles": i.get("allowedRoles", []),
            "verify_connection": i.get("verifyConnection", True),
            "root_rotation_statements": i.get("rootRotationStatements", []),
        }
        for key, api in (
            ("maxOpenConnections", "max_open_connections"),
            ("maxIdleConnections", "max_idle_connections"),
            ("usernameTemplate", "username_template"),
            ("disableEscaping", "disable_escaping"),
        ):
            if key in pg:
                body[api] = int(pg[key]) if isinstance(pg[key], float) else pg[key]
        if "maxConnectionLifetime" in pg:
            body["max_connection_lifetime"] = f"{int(pg['maxConnectionLifetime'])}s"
        self.vault.write(f"{i['backend']}/config/{i['name']}", body)

    def backend_role(self, r: Resource) -> None:
        i = r.inputs
        _check_keys(
            r,
            {"backend", "name", "dbName", "creationStatements", "revocationStatements", "rollbackStatements",
             "renewStatements", "defaultTtl", "maxTtl"},
        )  # fmt: skip
        body: dict[str, Any] = {
            "db_name": i["dbName"],
            "creation_statements": i.get("creationStatements", []),
            "revocation_statements": i.get("revocationStatements", []),
            "rollback_statements": i.get("rollbackStatements", []),
            "renew_statements": i.get("renewStatements", []),
        }
        if "defaultTtl" in i:
            body["default_ttl"] = int(i["defaultTtl"])
        if "maxTtl" in i:
            body["max_ttl"] = int(i["maxTtl"])
        self.vault.write(f"{i['backend']}/roles/{i['name']}", body)

    def policy(self, r: Resource) -> None:
        _check_keys(r, {"name", "policy"})
        self.vault.call("PUT", f"sys/policies/acl/{r.inputs['name']}", {"policy": r.inputs["policy"]})

    def kv_secret(self, r: Resource) -> None:
        i = r.inputs
        _check_keys(r, {"mount", "name", "dataJson", "options", "cas", "disableRead"})
        self.vault.write(f"{i['mount']}/data/{i['name']}", {"data": json.loads(i["dataJson"])})

    def k8s_auth_role(self, r: Resource) -> None:
        """Stored as Vault would store it; the tests log in with `token_for` (no Kubernetes API here)."""
        i = r.inputs
        _check_keys(
            r,
            {"backend", "roleName", "boundServiceAccountNames", "boundServiceAccountNamespaces", "tokenTtl",
             "tokenMaxTtl", "tokenPolicies", "audience", "aliasNameSource"},
        )  # fmt: skip
        auths = self.vault.read("sys/auth")
        table = auths.get("data", auths)
        if f"{i['backend']}/" not in table:
            self.vault.write(f"sys/auth/{i['backend']}", {"type": "kubernetes"})
        body = {
            "bound_service_account_names": i.get("boundServiceAccountNames", []),
            "bound_service_account_namespaces": i.get("boundServiceAccountNamespaces", []),
            "token_policies": i.get("tokenPolicies", []),
        }
        for key, api in (("tokenTtl", "token_ttl"), ("tokenMaxTtl", "token_max_ttl"), ("audience", "audience")):
            if key in i:
                body[api] = int(i[key]) if isinstance(i[key], float) else i[key]
        self.vault.write(f"auth/{i['backend']}/role/{i['roleName']}", body)

    def apply(self, resources: Iterable[Resource]) -> list[str]:
        """Apply every postgresql/vault resource in dependency order; return the applied logical names."""
        handlers = dict(
            zip(
                ORDER,
                (self.role, self.database, self.grant_role, self.grant, self.default_privileges, self.mount,
                 self.connection, self.backend_role, self.policy, self.kv_secret, self.k8s_auth_role),
                strict=True,
            )
        )  # fmt: skip
        resources = list(resources)
        for r in resources:
            if r.type.startswith(("postgresql:", "vault:")) and r.type not in handlers and "providers" not in r.type:
                raise ApplyError(f"{r.type} ({r.name}) is not translated by the lab: add it to lab/apply.py")
        applied = []
        for type_ in ORDER:
            for r in (x for x in resources if x.type == type_):
                try:
                    handlers[type_](r)
                except (psycopg.Error, HttpError) as exc:
                    raise ApplyError(f"{r.type} {r.name}: {exc}") from exc
                applied.append(r.name)
        return applied


def token_for(vault: Vault, auth_role: Resource) -> str:
    """A token carrying what a Kubernetes login with this auth role would get (its policies and TTL)."""
    i = auth_role.inputs
    body = vault.write(
        "auth/token/create-orphan",
        {
            "policies": i.get("tokenPolicies", []),
            "ttl": f"{int(i.get('tokenTtl', 3600))}s",
            "no_default_policy": False,
            "display_name": i["roleName"],
        },
    )
    return str(body["auth"]["client_token"])
