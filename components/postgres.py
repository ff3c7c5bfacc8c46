"""PostgreSQL side of one environment: owner groups, databases, grants, and Vault's login role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_postgresql as postgresql
from pydantic import SecretStr

from .pg_adoption import AdminConnection, ConsumerCheck, LegacyLogin, OwnershipTransfer
from .spec import DatabaseSpec


@dataclass(frozen=True)
class DatabasesArgs:
    """Inputs of `Databases`."""

    databases: Sequence[DatabaseSpec]
    #: Bootstrap password of the Vault login roles, sent write-only (as a Pulumi secret).
    vault_login_password: SecretStr
    #: Bump to re-send `vault_login_password`; otherwise a Vault rotate-root is never undone.
    vault_login_password_version: int
    #: Where the adoption's SQL runs (the LB, as the provider's admin).
    admin: AdminConnection
    #: Protect databases from deletion (every environment: they hold data).
    protect: bool
    #: Cutover phase of the legacy roles (config `legacyLoginPhase`).
    legacy_phase: str = "kept"
    #: Physical names that already exist on the estate and are imported rather than created.
    adopt_databases: frozenset[str] = field(default_factory=frozenset)
    adopt_roles: frozenset[str] = field(default_factory=frozenset)
    #: Logins other than the apps' that connect (``keybuzz:databaseConsumers``): each gets CONNECT.
    consumers: tuple[str, ...] = ()
    #: Prefixes of consumers' logins (``v-``): they cannot be granted in advance, so PUBLIC keeps CONNECT on
    #: the estate's databases while one is listed.
    consumer_prefixes: tuple[str, ...] = ()

    def is_estate(self, spec: DatabaseSpec) -> bool:
        """A database the estate had before the program (adopted, or used by legacy roles): unknown consumers
        may connect to it; a database the program created has none."""
        return spec.name in self.adopt_databases or bool(spec.legacy_roles)

    def revokes_public(self, spec: DatabaseSpec) -> bool:
        """Whether PUBLIC loses CONNECT on `spec` (issue 17, item 5): always on a database the program created
        (nobody else can use it yet); on one the estate had, unless a prefix of logins is listed (``v-``: the
        users the estate's own Vault connection issues tomorrow cannot be granted CONNECT today), and only
        after `ConsumerCheck` found no connected login the stack does not cover."""
        if not self.is_estate(spec):
            return True
        return not self.consumer_prefixes


def _import(name: str, adopted: frozenset[str]) -> str | None:
    return name if name in adopted else None


class Databases(pulumi.ComponentResource):
    """The environment's PostgreSQL objects.

    Type token: ``keybuzz:postgres:Databases``.

    Children, per database: the owner group and reader group roles (NOLOGIN), the database owned by
    the owner group, ``CONNECT`` granted to this environment's groups and to the listed consumers'
    logins, and revoked from PUBLIC once every consumer is covered (`DatabasesArgs.revokes_public`),
    SELECT for the reader group on existing tables and by default privileges on future ones, the
    Vault connection's own LOGIN role (``CREATEROLE``, member of this database's owner group only, with
    ``ADMIN OPTION`` so Vault can create members; password sent write-only), and for an adopted
    database the `OwnershipTransfer` of the legacy roles' objects to the owner group. Per legacy role,
    a `LegacyLogin` in the stack's cutover phase; PUBLIC loses CONNECT only after the legacy logins
    got theirs, so no running app is cut.

    Order against the provider (its locks do not cover these, docs/runbook-adopting-the-estate.md): a
    `LegacyLogin` changes its databases' ACL after the `Database` (whose owner change rewrites the same
    catalog row); the transfer runs after the database's legacy logins (members of the group first, so a
    legacy session never meets "permission denied") and before the reader's grant on every table (both
    rewrite the tables' catalog rows).

    Outputs: ``databases`` (name -> owner group) and ``vault_logins`` (database -> login role).
    """

    def __init__(self, name: str, args: DatabasesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:postgres:Databases", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        listed = sorted({r for spec in args.databases for r in spec.legacy_roles if r == args.admin.user})
        if listed:
            raise ValueError(
                f"{name}: {listed[0]} is the admin role the program connects as (keybuzz:postgresAdminUsername) and "
                "is listed in a keybuzz:<app>LegacyRoles: its login would be refused, then the role dropped. Fix: "
                "remove it from the list; give the objects it owns to the owner group by hand "
                "(docs/runbook-adopting-the-estate.md)"
            )

        groups = {spec.name: self._groups(name, spec, args) for spec in args.databases}
        self.vault_logins: dict[str, postgresql.Role] = {}
        for spec in args.databases:
            owner = groups[spec.name][0]
            # Declared with its membership, on the role, so that a refresh reads back exactly what the
            # program says (a membership granted only by GrantRole shows as drift on every refresh); the
            # GrantRole in `_database` adds the ADMIN option Vault needs to create users IN ROLE the group.
            self.vault_logins[spec.name] = postgresql.Role(
                f"{name}-{spec.name}-vault-login",
                name=spec.vault_login,
                login=True,
                create_role=True,
                roles=[spec.owner_group],
                password_wo=pulumi.Output.secret(args.vault_login_password.get_secret_value()),
                password_wo_version=str(args.vault_login_password_version),
                opts=child.merge(
                    pulumi.ResourceOptions(
                        import_=_import(spec.vault_login, args.adopt_roles),
                        # What the estate had stays when the stack deletes it (issue 17, item 7).
                        retain_on_delete=spec.vault_login in args.adopt_roles,
                        depends_on=[owner],
                    )
                ),
            )

        self.databases = {spec.name: self._database(name, spec, args, groups[spec.name][0]) for spec in args.databases}
        legacy = self._legacy_logins(name, args, groups)
        for spec in args.databases:
            self._access(name, spec, args, *groups[spec.name], legacy)

        self.register_outputs(
            {
                "databases": {spec.name: spec.owner_group for spec in args.databases},
                "vault_logins": {spec.name: spec.vault_login for spec in args.databases},
            }
        )

    def _legacy_logins(
        self,
        name: str,
        args: DatabasesArgs,
        groups: Mapping[str, tuple[postgresql.Role, postgresql.Role]],
    ) -> dict[str, LegacyLogin]:
        """One `LegacyLogin` per legacy role, with every database (and its owner group) it uses."""
        uses: dict[str, list[DatabaseSpec]] = {}
        for spec in args.databases:
            for role in spec.legacy_roles:
                uses.setdefault(role, []).append(spec)
        return {
            role: LegacyLogin(
                f"{name}-legacy-{role}",
                admin=args.admin,
                role=role,
                phase=args.legacy_phase,
                grants=[{"database": s.name, "group": s.owner_group} for s in specs],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[groups[s.name][0] for s in specs]
                    + [self.vault_logins[s.name] for s in specs]
                    + [self.databases[s.name] for s in specs],
                ),
            )
            for role, specs in sorted(uses.items())
        }

    def _groups(self, name: str, spec: DatabaseSpec, args: DatabasesArgs) -> tuple[postgresql.Role, postgresql.Role]:
        """The database's owner and reader groups (NOLOGIN).

        Both are retained when the stack deletes them (a destroy, an app removed): they own and read the data,
        which is kept (the databases are protected), and the provider's DROP ROLE cleans only its own database,
        so a group holding privileges on tables or sequences in the kept database cannot be dropped anyway
        (`2BP01 ... some objects depend on it`, seen in the e2e tier). A retained group is re-adopted with
        ``keybuzz:adoptRoles``."""
        child = pulumi.ResourceOptions(parent=self)

        def role(suffix: str, role_name: str) -> postgresql.Role:
            return postgresql.Role(
                f"{name}-{spec.name}-{suffix}",
                name=role_name,
                login=False,
                opts=child.merge(
                    pulumi.ResourceOptions(import_=_import(role_name, args.adopt_roles), retain_on_delete=True)
                ),
            )

        return role("owner", spec.owner_group), role("reader", spec.reader_group)

    def _database(
        self, name: str, spec: DatabaseSpec, args: DatabasesArgs, owner: postgresql.Role
    ) -> postgresql.Database:
        """The database, owned by its owner group (imported when it exists), protected and retained.

        Protected: a preview that would delete or replace it fails before anything changes (the provider
        drops with ``DROP DATABASE ... WITH (FORCE)``). Retained as well: once a reviewed decommissioning
        unprotects the stack (docs/runbook-decommissioning.md), its delete only drops it from the state;
        the data stays live, whoever created it."""
        return postgresql.Database(
            f"{name}-{spec.name}",
            name=spec.name,
            owner=owner.name,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                retain_on_delete=True,
                import_=_import(spec.name, args.adopt_databases),
            ),
        )

    def _access(
        self,
        name: str,
        spec: DatabaseSpec,
        args: DatabasesArgs,
        owner: postgresql.Role,
        reader: postgresql.Role,
        legacy: Mapping[str, LegacyLogin],
    ) -> None:
        """Who may connect to the database and use its objects; the legacy roles' objects given to the group."""
        prefix = f"{name}-{spec.name}"
        child = pulumi.ResourceOptions(parent=self)
        database = self.databases[spec.name]
        after_db = child.merge(pulumi.ResourceOptions(depends_on=[database]))
        after_objects = after_db
        if spec.legacy_roles:
            # Before the legacy logins' last day, the group must own what they own (Vault's users act as it).
            transfer = OwnershipTransfer(
                f"{prefix}-ownership",
                admin=args.admin,
                database=database.name,
                group=owner.name,
                roles=spec.legacy_roles,
                opts=child.merge(
                    pulumi.ResourceOptions(depends_on=[database, owner, *(legacy[r] for r in spec.legacy_roles)])
                ),
            )
            after_objects = child.merge(pulumi.ResourceOptions(depends_on=[database, transfer]))

        self._connect_rights(prefix, spec, args, legacy)
        # The groups' own privileges: the owner connects and creates, the reader connects and reads.
        grants: list[tuple[str, postgresql.Role, str, list[str], str | None, pulumi.ResourceOptions]] = [
            ("owner-connect", owner, "database", ["CONNECT", "CREATE", "TEMPORARY"], None, after_db),
            ("reader-connect", reader, "database", ["CONNECT"], None, after_db),
            ("reader-tables", reader, "table", ["SELECT"], "public", after_objects),
        ]
        for suffix, role, object_type, privileges, schema, opts in grants:
            postgresql.Grant(
                f"{prefix}-{suffix}",
                database=database.name,
                role=role.name,
                schema=schema,
                object_type=object_type,
                privileges=privileges,
                opts=opts,
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
            role=self.vault_logins[spec.name].name,
            grant_role=owner.name,
            with_admin_option=True,
            opts=child,
        )

    def _connect_rights(
        self,
        prefix: str,
        spec: DatabaseSpec,
        args: DatabasesArgs,
        legacy: Mapping[str, LegacyLogin],
    ) -> None:
        """CONNECT for the listed consumers' logins; PUBLIC's revoked once every consumer is covered."""
        child = pulumi.ResourceOptions(parent=self)
        database = self.databases[spec.name]
        after_db = child.merge(pulumi.ResourceOptions(depends_on=[database]))
        # CONNECT only for this environment's groups and the consumers the stack lists: a role of another
        # environment cannot even connect. On the estate's databases the revoke from PUBLIC comes after the
        # legacy logins and the listed consumers hold their own CONNECT, and after `ConsumerCheck`, which
        # refuses while a login the stack does not cover is connected; it depends on nothing (the database's
        # name is known), so it runs in the engine's first wave and a refused up changed little.
        consumer_grants = [
            postgresql.Grant(
                f"{prefix}-consumer-{login}-connect",
                database=database.name,
                role=login,
                object_type="database",
                privileges=["CONNECT"],
                opts=after_db,
            )
            for login in args.consumers
        ]
        if args.revokes_public(spec):
            before_revoke: list[pulumi.Resource] = [database, *legacy.values(), *consumer_grants]
            if args.is_estate(spec):
                before_revoke.append(
                    ConsumerCheck(
                        f"{prefix}-consumers",
                        admin=args.admin,
                        database=spec.name,
                        groups=[spec.owner_group, spec.reader_group],
                        consumers=[*args.consumers, *spec.legacy_roles],
                        opts=child,
                    )
                )
            postgresql.Grant(
                f"{prefix}-revoke-public",
                database=database.name,
                role="public",
                object_type="database",
                privileges=[],
                opts=child.merge(pulumi.ResourceOptions(depends_on=before_revoke)),
            )
