"""The CI's identities in one environment: Vault JWT auth for the CI's OIDC tokens, a read-only preview role
and a deploy role, and what the preview role may read in PostgreSQL, Vault and Kubernetes.

A pull request's preview runs the pull request's own code: whatever credentials that job holds, the code can
print. So the preview identity holds nothing that can change the estate: a PostgreSQL login issued by Vault
that can only connect (the catalogs a preview and a refresh read are readable by any login), a Vault policy
that reads this environment's configuration paths (never a KV secret's data), and a Kubernetes token of a
service account that can get/list/watch this environment's objects (never a Secret: listing Secrets returns
their values). Only a job of the repository that runs in the protected GitHub environment (required
reviewers) gets the deploy role. Every path, role and name is this environment's own (components/naming.py):
DEV's preview cannot read PROD's paths, by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_postgresql as postgresql
import pulumi_vault as vault
from pydantic import SecretStr

from .spec import Endpoint
from .vault_engine import ROOT_ROTATION_STATEMENTS, connection_url

#: The Kubernetes objects the program declares, by API group: what a preview and a refresh read. Secrets are
#: not among them, and never may be (a list of Secrets returns their data).
READ_RESOURCES: dict[str, tuple[str, ...]] = {
    "": ("serviceaccounts", "services", "configmaps"),
    "apps": ("deployments",),
    "batch": ("jobs", "cronjobs"),
    "policy": ("poddisruptionbudgets",),
    "networking.k8s.io": ("networkpolicies",),
    "rbac.authorization.k8s.io": ("roles", "rolebindings"),
    "external-secrets.io": ("externalsecrets", "secretstores"),
    "generators.external-secrets.io": ("vaultdynamicsecrets",),
}
READ_VERBS = ("get", "list", "watch")
#: Where the hashivault:// secrets provider finds its keys (its default engine path).
TRANSIT_MOUNT = "transit"


@dataclass(frozen=True)
class CiPostgres:
    """The preview identity's PostgreSQL login, issued by the environment's Vault database engine."""

    #: NOLOGIN role holding CONNECT on each of `databases`; every preview login is IN it, and only in it.
    group: str
    #: LOGIN role of the Vault connection that creates the preview logins (CREATEROLE, ADMIN on `group`).
    login: str
    #: The Vault connection (in `mount`) and role that issue the preview logins.
    connection: str
    role: str
    #: This environment's databases (CONNECT), the LB and sslmode the connection uses.
    databases: Sequence[str]
    lb: Endpoint
    ssl_mode: str
    #: Bootstrap password of `login` (sent write-only, like the other connections' logins).
    login_password: SecretStr
    login_password_version: int
    #: The database engine's mount (an output of `DatabaseEngine` in `Environment`).
    mount: pulumi.Input[str] = ""


@dataclass(frozen=True)
class CiKubernetes:
    """The preview identity's Kubernetes access: a service account with read-only RBAC in `namespaces`."""

    service_account: str
    #: Namespace of `service_account` (the environment's ops namespace).
    namespace: str
    #: This environment's namespaces: the ClusterRole is bound in each (a RoleBinding), nowhere else.
    namespaces: Sequence[str]
    cluster_role: str
    #: Existing Vault Kubernetes secrets engine mount that issues the service account's tokens; None: none.
    secrets_mount: str | None


@dataclass(frozen=True)
class CiIdentityArgs:
    """Inputs of `CiIdentity`. Names come from `Naming`; `plan` builds it from the ``ci*`` keys."""

    env: str
    #: The JWT auth mount (``jwt-ci-<env>``).
    auth_mount: str
    #: The tokens' ``iss``; their signing keys come from discovery there unless `public_keys` is given.
    issuer: str
    audience: str
    #: The ``repository`` claim both roles are bound to (owner/name).
    repository: str
    #: The ``environment`` claim the deploy role is also bound to (a protected GitHub environment).
    deploy_environment: str
    public_keys: Sequence[str]
    #: Vault JWT role and policy names of the two identities.
    preview_role: str
    deploy_role: str
    #: The drift identity: the preview's reads plus the KV data a refresh reads, bound to `protected_ref`.
    drift_role: str
    #: The ``ref`` claim of the drift role: the protected branch, whose code was reviewed before it merged.
    protected_ref: str
    token_ttl: int
    #: Transit key of the stack's secrets provider (hashivault://<key>); both identities encrypt and decrypt.
    secrets_transit_key: str | None
    #: Vault paths of this environment: what the policies name.
    kv_mount: str
    kv_prefix: str
    kubernetes_auth_mount: str
    #: Prefix of this environment's Vault policy and Kubernetes-auth role names (``keybuzz-<env>-``).
    name_prefix: str
    database_mount: str
    postgres: CiPostgres
    kubernetes: CiKubernetes
    #: Resources the RoleBindings wait for (the namespaces they live in); filled in by `Environment`.
    namespaces_ready: Sequence[pulumi.Resource] = field(default_factory=list)


def _block(path: str, *capabilities: str) -> str:
    caps = ", ".join(f'"{c}"' for c in capabilities)
    return f'path "{path}" {{\n  capabilities = [{caps}]\n}}'


def preview_policy(args: CiIdentityArgs) -> str:
    """HCL of the preview identity: read this environment's configuration, get its own credentials.

    Read, never list or write: a mount's, policy's, role's or connection's settings (what a refresh reads;
    a connection's password is never returned), the KV secrets' metadata but not their data.
    """
    head = f"# {args.preview_role}: reads {args.env.upper()}'s configuration, changes nothing, reads no secret value"
    return "\n".join([head, *_reads(args), *_transit(args)]) + "\n"


def drift_policy(args: CiIdentityArgs) -> str:
    """HCL of the drift identity (main's scheduled refresh): the preview's reads and the KV secrets' data of
    this environment, which a refresh of a KV secret reads back. Still no write."""
    head = f"# {args.drift_role}: a refresh of {args.env.upper()} from the protected branch, changes nothing"
    # The apps' secrets only (<prefix>/<app>/env, what Access writes): not the deploy credentials the
    # operator keeps under <prefix>/ci/ for the deploy identity.
    kv_data = _block(f"{args.kv_mount}/data/{args.kv_prefix}/+/env", "read")
    return "\n".join([head, *_reads(args), kv_data, *_transit(args)]) + "\n"


def _reads(args: CiIdentityArgs) -> list[str]:
    p, k, db = args.name_prefix, args.kv_mount, args.database_mount
    lines = [
        _block(f"sys/mounts/{db}", "read"),
        _block(f"{db}/config/*", "read"),
        _block(f"{db}/roles/*", "read"),
        _block(f"sys/policies/acl/{p}*", "read"),
        _block(f"auth/{args.kubernetes_auth_mount}/role/{p}*", "read"),
        # Reading an auth mount's settings takes sudo on its path (Vault's API); that path only, read only.
        _block(f"sys/auth/{args.auth_mount}", "read", "sudo"),
        _block(f"sys/mounts/auth/{args.auth_mount}", "read"),
        _block(f"sys/mounts/auth/{args.auth_mount}/tune", "read"),
        _block(f"auth/{args.auth_mount}/config", "read"),
        _block(f"auth/{args.auth_mount}/role/{p}*", "read"),
        _block(f"{k}/metadata/{args.kv_prefix}/*", "read"),
        _block(f"{db}/creds/{args.postgres.role}", "read"),
    ]
    if args.kubernetes.secrets_mount:
        lines.append(_block(f"{args.kubernetes.secrets_mount}/roles/{args.preview_role}", "read"))
        lines.append(_block(f"{args.kubernetes.secrets_mount}/creds/{args.preview_role}", "update"))
    return lines


def _transit(args: CiIdentityArgs) -> list[str]:
    """The stack's secrets provider: a preview decrypts the stack's config and state and encrypts the
    credentials it sets in its own workspace; so does a deploy."""
    key = args.secrets_transit_key
    if not key:
        return []
    return [_block(f"{TRANSIT_MOUNT}/{op}/{key}", "update") for op in ("encrypt", "decrypt")]


def deploy_policy(args: CiIdentityArgs) -> str:
    """HCL of the deploy identity: what `up` of this environment writes, and nothing of another's."""
    p, k, db = args.name_prefix, args.kv_mount, args.database_mount
    crud = ("create", "read", "update", "delete", "list")
    lines = [
        f"# {args.deploy_role}: what `pulumi up` of {args.env.upper()} writes",
        _block(f"sys/mounts/{db}", *crud),
        _block(f"sys/mounts/{db}/tune", "read", "update"),
        _block(f"{db}/*", *crud),
        _block(f"sys/policies/acl/{p}*", *crud),
        _block(f"auth/{args.kubernetes_auth_mount}/role/{p}*", *crud),
        _block(f"sys/auth/{args.auth_mount}", *crud, "sudo"),
        _block(f"sys/auth/{args.auth_mount}/tune", "read", "update", "sudo"),
        _block(f"sys/mounts/auth/{args.auth_mount}", "read"),
        _block(f"sys/mounts/auth/{args.auth_mount}/tune", "read", "update"),
        _block(f"auth/{args.auth_mount}/*", *crud),
        _block(f"{k}/data/{args.kv_prefix}/*", *crud),
        _block(f"{k}/metadata/{args.kv_prefix}/*", *crud),
        _block(f"{k}/delete/{args.kv_prefix}/*", "update"),
        _block("sys/auth", "read"),
    ]
    if args.kubernetes.secrets_mount:
        lines.append(_block(f"{args.kubernetes.secrets_mount}/roles/{args.preview_role}", *crud))
    return "\n".join(lines + _transit(args)) + "\n"


def creation_statements(group: str) -> list[str]:
    """SQL Vault runs to create a preview login: it can log in and connect to this environment's databases
    (through `group`), nothing more. No CREATEDB/CREATEROLE and no membership that owns anything, so it can
    create nothing in this environment's databases (CREATE is the owner group's); read-only transactions by
    default besides. The catalogs a preview and a refresh read (pg_roles, pg_database, ACLs) need no grant."""
    return [
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' "
        f'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT IN ROLE "{group}";',
        'ALTER ROLE "{{name}}" SET default_transaction_read_only = on;',
    ]


REVOCATION_STATEMENTS = ['DROP ROLE IF EXISTS "{{name}}";']


def namespaced_rules() -> list[dict[str, object]]:
    return [
        {"apiGroups": [group], "resources": list(resources), "verbs": list(READ_VERBS)}
        for group, resources in READ_RESOURCES.items()
    ]


class CiIdentity(pulumi.ComponentResource):
    """The CI identities of one environment, bound to its repository (and, to deploy, its protected environment).

    Type token: ``keybuzz:ci_identity:CiIdentity``.

    Children (``vault`` provider): the JWT auth mount (OIDC discovery at the issuer, or the given public
    keys), the preview, deploy and drift policies and JWT roles (``bound_audiences``, ``bound_claims`` on
    ``repository``, and on ``environment`` for deploy, on ``ref`` for drift; ``user_claim`` ``sub``), the
    database connection and role issuing the preview's PostgreSQL logins, and, with a Kubernetes secrets
    engine, the role issuing its service account tokens. (``postgresql`` provider): the preview group with
    CONNECT on each of the environment's databases and the connection's login. (``kubernetes`` provider):
    the preview service account, its read-only ClusterRole bound in each of the environment's namespaces,
    and a cluster-scoped role reading only this environment's Namespaces and its own RBAC objects.

    Outputs: ``auth_mount``, ``roles`` (identity -> JWT role), ``database_role``, ``service_account``.
    """

    def __init__(
        self,
        name: str,
        args: CiIdentityArgs,
        vault_opts: pulumi.ResourceOptions,
        postgres_opts: pulumi.ResourceOptions,
        k8s_opts: pulumi.ResourceOptions,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("keybuzz:ci_identity:CiIdentity", name, None, opts)
        if not args.deploy_environment:
            raise ValueError(
                f"{name}: a deploy role bound to the repository alone lets any branch or pull request deploy: "
                "set keybuzz:ciDeployEnvironment to the protected GitHub environment"
            )
        if not args.kubernetes.namespaces:
            raise ValueError(f"{name}: the preview identity's RoleBindings need this environment's namespaces")
        in_vault = vault_opts.merge(pulumi.ResourceOptions(parent=self))
        in_pg = postgres_opts.merge(pulumi.ResourceOptions(parent=self))
        in_k8s = k8s_opts.merge(pulumi.ResourceOptions(parent=self))

        self._postgres(name, args, in_pg, in_vault)
        self._kubernetes(name, args, in_k8s, in_vault)
        self.auth = vault.jwt.AuthBackend(
            f"{name}-auth",
            path=args.auth_mount,
            type="jwt",
            description=f"KeyBuzz CI identities ({args.env.upper()}): OIDC tokens of {args.repository}",
            bound_issuer=args.issuer,
            # A local issuer (the lab's) has no discovery document: Vault checks its keys instead.
            oidc_discovery_url=None if args.public_keys else args.issuer,
            jwt_validation_pubkeys=list(args.public_keys) or None,
            jwt_supported_algs=["RS256"] if args.public_keys else None,
            opts=in_vault,
        )
        documents = {"preview": preview_policy(args), "deploy": deploy_policy(args), "drift": drift_policy(args)}
        roles = {"preview": args.preview_role, "deploy": args.deploy_role, "drift": args.drift_role}
        self.policies = {
            kind: vault.Policy(f"{name}-{kind}-policy", name=roles[kind], policy=documents[kind], opts=in_vault)
            for kind in roles
        }
        claims = {
            "preview": {"repository": args.repository},
            "deploy": {"repository": args.repository, "environment": args.deploy_environment},
            "drift": {"repository": args.repository, "ref": args.protected_ref},
        }
        self.roles: dict[str, vault.jwt.AuthBackendRole] = {}
        for kind, role in roles.items():
            self.roles[kind] = vault.jwt.AuthBackendRole(
                f"{name}-{kind}-role",
                backend=self.auth.path,
                role_name=role,
                role_type="jwt",
                bound_audiences=[args.audience],
                bound_claims=claims[kind],
                bound_claims_type="string",
                user_claim="sub",
                token_policies=[self.policies[kind].name],
                # Vault's default policy stays: the provider looks its own token up (lookup-self), and it grants
                # nothing on any path of the estate.
                token_ttl=args.token_ttl,
                token_max_ttl=args.token_ttl,
                # A CI job's token is for that job only: no period, no renewal past the TTL.
                token_type="service",
                opts=in_vault,
            )
        self.register_outputs(
            {
                "auth_mount": self.auth.path,
                "roles": {kind: r.role_name for kind, r in self.roles.items()},
                "database_role": args.postgres.role,
                "service_account": args.kubernetes.service_account,
            }
        )

    def _postgres(
        self, name: str, args: CiIdentityArgs, in_pg: pulumi.ResourceOptions, in_vault: pulumi.ResourceOptions
    ) -> None:
        """The preview group (CONNECT only), the connection's login, the connection and the role."""
        pg = args.postgres
        group = postgresql.Role(f"{name}-pg-group", name=pg.group, login=False, opts=in_pg)
        for database in pg.databases:
            postgresql.Grant(
                f"{name}-pg-connect-{database}",
                database=database,
                role=group.name,
                object_type="database",
                privileges=["CONNECT"],
                opts=in_pg,
            )
        # Declared with its membership (a refresh reads it back), then ADMIN on the group by GrantRole: on
        # PostgreSQL 16+ a CREATEROLE login may put a new role IN a group only with ADMIN on it.
        login = postgresql.Role(
            f"{name}-pg-login",
            name=pg.login,
            login=True,
            create_role=True,
            roles=[group.name],
            password_wo=pulumi.Output.secret(pg.login_password.get_secret_value()),
            password_wo_version=str(pg.login_password_version),
            opts=in_pg,
        )
        admin = postgresql.GrantRole(
            f"{name}-pg-login-admin", role=login.name, grant_role=group.name, with_admin_option=True, opts=in_pg
        )
        connection = vault.database.SecretBackendConnection(
            f"{name}-connection",
            backend=pg.mount,
            name=pg.connection,
            allowed_roles=[pg.role],
            verify_connection=True,
            root_rotation_statements=ROOT_ROTATION_STATEMENTS,
            postgresql=vault.database.SecretBackendConnectionPostgresqlArgs(
                connection_url=connection_url(pg.lb, "postgres", pg.ssl_mode),
                username=login.name,
                password_wo=pulumi.Output.secret(pg.login_password.get_secret_value()),
                password_wo_version=pg.login_password_version,
                max_open_connections=2,
                max_connection_lifetime=300,
            ),
            opts=in_vault.merge(pulumi.ResourceOptions(depends_on=[admin])),
        )
        self.database_role = vault.database.SecretBackendRole(
            f"{name}-db-role",
            backend=pg.mount,
            name=pg.role,
            db_name=connection.name,
            creation_statements=creation_statements(pg.group),
            revocation_statements=REVOCATION_STATEMENTS,
            default_ttl=args.token_ttl,
            max_ttl=args.token_ttl,
            opts=in_vault,
        )

    def _kubernetes(
        self, name: str, args: CiIdentityArgs, in_k8s: pulumi.ResourceOptions, in_vault: pulumi.ResourceOptions
    ) -> None:
        """The preview service account and its read-only RBAC, in this environment's namespaces only."""
        kube = args.kubernetes
        labels = {"app.kubernetes.io/part-of": "keybuzz", "app.kubernetes.io/component": "ci-preview",
                  "keybuzz.io/environment": args.env}  # fmt: skip
        after_ns = in_k8s.merge(pulumi.ResourceOptions(depends_on=list(args.namespaces_ready)))
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": kube.service_account, "namespace": kube.namespace, "labels": labels},
            automount_service_account_token=False,
            opts=after_ns,
        )
        subject = [{"kind": "ServiceAccount", "name": kube.service_account, "namespace": kube.namespace}]
        reader = k8s.rbac.v1.ClusterRole(
            f"{name}-reader",
            metadata={"name": kube.cluster_role, "labels": labels},
            rules=namespaced_rules(),
            opts=in_k8s,
        )
        for namespace in kube.namespaces:
            k8s.rbac.v1.RoleBinding(
                f"{name}-reader-{namespace}",
                metadata={"name": kube.service_account, "namespace": namespace, "labels": labels},
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                          "name": reader.metadata["name"]},
                subjects=subject,
                opts=after_ns,
            )  # fmt: skip
        # Cluster-scoped objects a refresh reads: this environment's Namespaces and this role's own, by name.
        own = f"{kube.cluster_role}-cluster"
        cluster = k8s.rbac.v1.ClusterRole(
            f"{name}-cluster-reader",
            metadata={"name": own, "labels": labels},
            rules=[
                {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"],
                 "resourceNames": sorted(kube.namespaces)},
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "clusterrolebindings"],
                 "verbs": ["get"], "resourceNames": [kube.cluster_role, own]},
            ],
            opts=in_k8s,
        )  # fmt: skip
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-cluster-reader",
            metadata={"name": own, "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster.metadata["name"]},
            subjects=subject,
            opts=in_k8s,
        )
        if kube.secrets_mount:
            vault.kubernetes.SecretBackendRole(
                f"{name}-k8s-role",
                backend=kube.secrets_mount,
                name=args.preview_role,
                service_account_name=account.metadata["name"],
                allowed_kubernetes_namespaces=[kube.namespace],
                token_default_ttl=args.token_ttl,
                token_max_ttl=args.token_ttl,
                opts=in_vault,
            )
