"""Vault database secrets engine of one environment: mount, one connection per database, one role per app."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_vault as vault
from pydantic import SecretStr

from .spec import Endpoint, EngineRole


def creation_statements(owner_group: str) -> list[str]:
    """SQL Vault runs to create a dynamic user.

    The user joins the owner group and its sessions ``SET role`` to it, so every object it creates
    belongs to the group, survives the user, and the next credential can use it.
    """
    return [
        f"CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' "
        f'IN ROLE "{owner_group}";',
        f"ALTER ROLE \"{{{{name}}}}\" SET role = '{owner_group}';",
    ]


def revocation_statements(owner_group: str) -> list[str]:
    """SQL Vault runs on revoke or expiry: hand anything the user still owns to the group, then drop it.

    Vault's login role created the user but is not a member of it, and ``REASSIGN OWNED`` needs the
    privileges of the role it reassigns from (found by the lab: ``permission denied to reassign objects``
    on every revoke and expiry, so users were never dropped). It grants itself the user first; valid on
    PostgreSQL 15 and on 16+, where the creator holds ADMIN on the roles it creates.
    """
    return [
        'GRANT "{{name}}" TO CURRENT_USER;',
        f'REASSIGN OWNED BY "{{{{name}}}}" TO "{owner_group}";',
        'DROP OWNED BY "{{name}}";',
        'DROP ROLE IF EXISTS "{{name}}";',
    ]


ROOT_ROTATION_STATEMENTS = ["ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';"]


def connection_url(lb: Endpoint, database: str, ssl_mode: str) -> str:
    """Templated URL Vault connects with: always the LB write endpoint, never a node (PH16, PH17)."""
    return f"postgresql://{{{{username}}}}:{{{{password}}}}@{lb.host}:{lb.port}/{database}?sslmode={ssl_mode}"


@dataclass(frozen=True)
class EngineDatabase:
    """One database Vault connects to, under its connection name, as its own login role."""

    name: str
    connection: str
    #: LOGIN role of this connection only: a rotate-root on it changes no other connection's password.
    login: pulumi.Input[str]


@dataclass(frozen=True)
class DatabaseEngineArgs:
    """Inputs of `DatabaseEngine`."""

    #: Mount path, one per environment (``database-<env>``).
    mount: str
    databases: Sequence[EngineDatabase]
    roles: Sequence[EngineRole]
    #: The PostgreSQL write LB.
    lb: Endpoint
    ssl_mode: str
    #: Bootstrap password of the connections' login roles (Pulumi secret, sent write-only).
    login_password: SecretStr
    login_password_version: int
    default_ttl: int
    max_ttl: int
    protect: bool
    adopt_mount: bool = False


class DatabaseEngine(pulumi.ComponentResource):
    """Dynamic PostgreSQL credentials for one environment.

    Type token: ``keybuzz:vault:DatabaseEngine``.

    Children: the ``database`` mount (protected in PROD); per database a connection through the LB
    with a templated URL, its ``allowed_roles``, its own login role and that role's root password sent
    via the write-only field (so ``rotate-root`` is never undone by the next ``pulumi up``); per app a
    role whose creation statements put the user in the database's owner group and whose revocation
    statements reassign, drop owned objects and drop the role, with ``default_ttl``/``max_ttl`` from config.

    Outputs: ``mount`` and ``roles`` (role name -> database).
    """

    def __init__(self, name: str, args: DatabaseEngineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:vault:DatabaseEngine", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Unmounting revokes every outstanding lease (the apps' dynamic users), which needs the mount's
        # connections and Vault's login in PostgreSQL. So: the connections and roles are deleted *with* the
        # mount (Vault removes them on unmount), never before it; and the mount depends on what this
        # component depends on (the PostgreSQL login and databases), so those are deleted after it.
        # Found on the lab: a destroy deleted the connections first and the unmount then failed with
        # `failed to revoke ...: failed to find entry for connection`.
        after = list(opts.depends_on) if opts is not None and isinstance(opts.depends_on, list) else []
        self.mount = vault.Mount(
            f"{name}-mount",
            path=args.mount,
            type="database",
            description=f"KeyBuzz dynamic PostgreSQL credentials ({args.mount})",
            opts=child.merge(
                pulumi.ResourceOptions(
                    protect=args.protect,
                    # Unmounting revokes every lease, i.e. drops every app's live credentials: deleting the mount
                    # from the stack (a destroy) leaves it live, with its connections and roles, which are
                    # deleted with it (`deleted_with`) and so not at all (issue 17, item 7).
                    retain_on_delete=True,
                    import_=args.mount if args.adopt_mount else None,
                    depends_on=after,
                )
            ),
        )
        with_mount = child.merge(pulumi.ResourceOptions(deleted_with=self.mount))

        by_db = {db.name: db for db in args.databases}
        connections: dict[str, vault.database.SecretBackendConnection] = {}
        for db in args.databases:
            allowed = sorted(r.name for r in args.roles if r.database == db.name)
            connections[db.name] = vault.database.SecretBackendConnection(
                f"{name}-{db.connection}",
                backend=self.mount.path,
                name=db.connection,
                allowed_roles=allowed,
                verify_connection=True,
                root_rotation_statements=ROOT_ROTATION_STATEMENTS,
                postgresql=vault.database.SecretBackendConnectionPostgresqlArgs(
                    connection_url=connection_url(args.lb, db.name, args.ssl_mode),
                    username=db.login,
                    password_wo=pulumi.Output.secret(args.login_password.get_secret_value()),
                    password_wo_version=args.login_password_version,
                    max_open_connections=4,
                    max_connection_lifetime=300,
                ),
                opts=with_mount,
            )

        self.roles: dict[str, vault.database.SecretBackendRole] = {}
        for role in args.roles:
            if role.database not in by_db:
                raise ValueError(f"Vault role {role.name} targets database {role.database}, which has no connection")
            self.roles[role.name] = vault.database.SecretBackendRole(
                f"{name}-{role.name}",
                backend=self.mount.path,
                name=role.name,
                db_name=connections[role.database].name,
                creation_statements=creation_statements(role.owner_group),
                revocation_statements=revocation_statements(role.owner_group),
                default_ttl=args.default_ttl,
                max_ttl=args.max_ttl,
                opts=with_mount,
            )

        self.connections = connections
        self.register_outputs({"mount": self.mount.path, "roles": {r.name: r.database for r in args.roles}})
