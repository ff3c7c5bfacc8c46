"""PostgreSQL side of one environment: owner groups, databases, grants, and Vault's login role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_postgresql as postgresql


@dataclass(frozen=True)
class DatabaseSpec:
    """One application database and the two group roles around it."""

    #: Physical database name (derived, or a legacy adoption such as DEV's `keybuzz`).
    name: str
    #: NOLOGIN role owning the database and every object in it; Vault's dynamic users join it.
    owner_group: str
    #: NOLOGIN role with read-only access (SELECT on tables, now and in the future).
    reader_group: str


@dataclass(frozen=True)
class PostgresDatabasesArgs:
    """Inputs of `PostgresDatabases`."""

    databases: Sequence[DatabaseSpec]
    #: LOGIN role the environment's Vault database engine connects as.
    vault_login: str
    #: Bootstrap password of `vault_login` (a Pulumi secret), sent write-only.
    vault_login_password: pulumi.Input[str]
    #: Bump to re-send `vault_login_password`; otherwise a Vault rotate-root is never undone.
    vault_login_password_version: int
    #: Protect databases from deletion (stack-aware: PROD).
    protect: bool
    #: Physical names that already exist on the estate and are imported rather than created.
    adopt_databases: frozenset[str] = field(default_factory=frozenset)
    adopt_roles: frozenset[str] = field(default_factory=frozenset)


def _import(name: str, adopted: frozenset[str]) -> str | None:
    return name if name in adopted else None


class PostgresDatabases(pulumi.ComponentResource):
    """The environment's PostgreSQL objects.

    Type token: ``keybuzz:postgres:Databases``.

    Children, per database: the owner group and reader group roles (NOLOGIN), the database owned by
    the owner group, ``CONNECT`` revoked from PUBLIC and granted only to this environment's groups,
    SELECT for the reader group on existing tables and by default privileges on future ones, and
    ``ADMIN OPTION`` on the owner group for Vault's login role (so Vault can create members). Once:
    Vault's LOGIN role with ``CREATEROLE``, its password sent write-only.

    Outputs: ``databases`` (name -> owner group) and ``vault_login``.
    """

    def __init__(self, name: str, args: PostgresDatabasesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:postgres:Databases", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        groups = {spec.name: self._groups(name, spec, args) for spec in args.databases}
        # Vault's login is a member of every owner group. Declared here, on the role, so that a refresh
        # reads back exactly what the program says (memberships granted only by GrantRole would show as
        # drift on every `refresh`); the GrantRoles below add the ADMIN option Vault needs to create its
        # users IN ROLE the group (PostgreSQL 16+).
        self.vault_login = postgresql.Role(
            f"{name}-vault-login",
            name=args.vault_login,
            login=True,
            create_role=True,
            roles=sorted(spec.owner_group for spec in args.databases),
            password_wo=args.vault_login_password,
            password_wo_version=str(args.vault_login_password_version),
            opts=child.merge(
                pulumi.ResourceOptions(
                    import_=_import(args.vault_login, args.adopt_roles),
                    depends_on=[owner for owner, _ in groups.values()],
                )
            ),
        )

        self.databases: dict[str, postgresql.Database] = {}
        for spec in args.databases:
            self.databases[spec.name] = self._database(name, spec, args, *groups[spec.name])

        self.register_outputs(
            {
                "databases": {spec.name: spec.owner_group for spec in args.databases},
                "vault_login": self.vault_login.name,
            }
        )

    def _groups(
        self, name: str, spec: DatabaseSpec, args: PostgresDatabasesArgs
    ) -> tuple[postgresql.Role, postgresql.Role]:
        """The database's owner and reader groups (NOLOGIN)."""
        child = pulumi.ResourceOptions(parent=self)

        def role(suffix: str, role_name: str) -> postgresql.Role:
            return postgresql.Role(
                f"{name}-{spec.name}-{suffix}",
                name=role_name,
                login=False,
                opts=child.merge(pulumi.ResourceOptions(import_=_import(role_name, args.adopt_roles))),
            )

        return role("owner", spec.owner_group), role("reader", spec.reader_group)

    def _database(
        self,
        name: str,
        spec: DatabaseSpec,
        args: PostgresDatabasesArgs,
        owner: postgresql.Role,
        reader: postgresql.Role,
    ) -> postgresql.Database:
        prefix = f"{name}-{spec.name}"
        child = pulumi.ResourceOptions(parent=self)

        database = postgresql.Database(
            prefix,
            name=spec.name,
            owner=owner.name,
            opts=child.merge(
                pulumi.ResourceOptions(protect=args.protect, import_=_import(spec.name, args.adopt_databases))
            ),
        )
        after_db = child.merge(pulumi.ResourceOptions(depends_on=[database]))

        # CONNECT only for this environment's groups: a role of another environment cannot even connect.
        postgresql.Grant(
            f"{prefix}-revoke-public",
            database=database.name,
            role="public",
            object_type="database",
            privileges=[],
            opts=after_db,
        )
        postgresql.Grant(
            f"{prefix}-owner-connect",
            database=database.name,
            role=owner.name,
            object_type="database",
            privileges=["CONNECT", "CREATE", "TEMPORARY"],
            opts=after_db,
        )
        postgresql.Grant(
            f"{prefix}-reader-connect",
            database=database.name,
            role=reader.name,
            object_type="database",
            privileges=["CONNECT"],
            opts=after_db,
        )
        postgresql.Grant(
            f"{prefix}-reader-tables",
            database=database.name,
            role=reader.name,
            schema="public",
            object_type="table",
            privileges=["SELECT"],
            opts=after_db,
        )
        for object_type in ("table", "sequence"):
            postgresql.DefaultPrivileges(
                f"{prefix}-reader-default-{object_type}s",
                database=database.name,
                role=reader.name,
                owner=owner.name,
                schema="public",
                object_type=object_type,
                privileges=["SELECT"],
                opts=after_db,
            )
        postgresql.GrantRole(
            f"{prefix}-vault-admin",
            role=self.vault_login.name,
            grant_role=owner.name,
            with_admin_option=True,
            opts=child,
        )
        return database
