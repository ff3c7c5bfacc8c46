"""`StackConfig`: every ``keybuzz:*`` key of one stack as a frozen, validated model, and its derived views.

Each field carries the type, description, default and secrecy of its key, whose name is the field's in
camelCase (keys.py); `schema.key_specs()` derives Pulumi.yaml's ``config:`` block from them. The per-app
keys are added from the catalog by per_app.py and handed out as one typed `AppSettings` per enabled app
(`StackConfig.app`). Build a `StackConfig` with `load_config`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final, Self, cast

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ..catalog import CATALOG, AppKind
from ..naming import Naming
from ..spec import SslMode
from .app_settings import AppSettings, app_inputs, settle
from .keys import key_name
from .types import (
    LEGACY_PHASES,
    BoolT,
    CidrListT,
    ConsumerListT,
    CronT,
    EgressListT,
    EndpointT,
    EnvironmentT,
    GithubEnvironmentT,
    GithubRepositoryT,
    IdentListT,
    IntT,
    IpListT,
    LegacyPhaseT,
    MountListT,
    NamespaceListT,
    NamespaceT,
    NonEmptyStr,
    OptionalEndpointT,
    OptionalNamespaceT,
    OptionalUrlT,
    PositiveIntT,
    PublicKeyListT,
    SecretT,
    UrlT,
)

#: How much longer than the credentials ESO's Vault login must live: ESO logs in, *then* reads the
#: credential (with retries), so the lease starts after the token; the token must not expire first.
LOGIN_MARGIN_SECONDS: Final = 60


def database_apps(apps: Iterable[str], catalog: Mapping[str, AppKind] = CATALOG) -> list[str]:
    """Apps among `apps` that own a database, in catalog order."""
    return [a for a, kind in catalog.items() if a in apps and kind.owns_database]


def _key(description: str, default: Any = ..., **kw: Any) -> Any:
    """A key's declaration: its description and its Pulumi.yaml default (none: required). Its name is the
    field's in camelCase (`keys.key_name`, the model's alias generator)."""
    return Field(default, description=description, **kw)


class StackConfig(BaseModel):
    """Every ``keybuzz:*`` config key of one stack, validated. Build it with `load_config`.

    This class declares the keys every stack has and the views derived from all keys; the model a stack
    is validated with is its subclass `per_app.stack_config_model(catalog)`, which adds `apps` and the
    per-app keys of the catalog's apps and sets the class variables below. The per-app keys are read
    through `app(name)` / `app_settings` (one typed `AppSettings` per enabled app), never field by field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False, alias_generator=key_name)

    #: The apps this model was built for (components/catalog.py CATALOG, or a test's copy).
    catalog: ClassVar[Mapping[str, AppKind]] = MappingProxyType({})
    #: Every key's field, in the order Pulumi.yaml declares the keys.
    key_fields: ClassVar[tuple[str, ...]] = ()
    #: The enabled apps' settings, gathered once from the per-app fields when the model is validated.
    _app_settings: Mapping[str, AppSettings] = PrivateAttr(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def key_of(cls, field_name: str) -> str:
        """The config key (without ``keybuzz:``) of a field."""
        return cast(str, cls.model_fields[field_name].alias)

    # Environment and estate -------------------------------------------------------------------
    environment: EnvironmentT = _key("Environment of this stack (dev or prod); every physical name derives from it.")
    postgres_write_endpoint: EndpointT = _key(
        "PostgreSQL write endpoint host:port: the HAProxy LB that routes to the Patroni leader. Never a node.",
    )
    postgres_read_endpoint: OptionalEndpointT = _key(
        "Optional PostgreSQL read LB host:port (replicas). Empty until the read LB exists.",
        "",
    )
    redis_endpoint: EndpointT = _key(
        "Redis endpoint host:port: the HAProxy LB exposing the Redis master. Never a node."
    )
    postgres_nodes: IpListT = _key(
        "Addresses of the Patroni nodes behind the LB. Listed so that no config value can point at one.",
    )
    redis_nodes: IpListT = _key(
        "Addresses of the Redis nodes behind the LB (never PostgreSQL, never used directly).", "[]"
    )
    # Providers --------------------------------------------------------------------------------
    postgres_admin_username: NonEmptyStr = _key(
        "PostgreSQL role the Pulumi provider connects as (through the LB).", "postgres"
    )
    postgres_admin_password: SecretT = _key("Password of postgresAdminUsername. Set with `pulumi config set --secret`.")
    postgres_ssl_mode: SslMode = _key(
        "sslmode of every PostgreSQL connection: the provider, the Vault connection URL, the apps' DATABASE_URL "
        "and PGSSLMODE. No default: each stack states its choice, and why, in its stack file.",
    )
    vault_address: UrlT = _key("Vault (or OpenBao) API address used by the Pulumi provider.")
    vault_in_cluster_address: OptionalUrlT = _key(
        "Vault address as seen from inside Kubernetes (ESO). Empty means the same as vaultAddress.",
        "",
    )
    vault_token: SecretT = _key("Vault token of the Pulumi provider. Set with `pulumi config set --secret`.")
    vault_kv_mount: NonEmptyStr = _key(
        "Existing KV v2 mount holding app secrets under keybuzz/<env>/ (shared mount; paths are per env).",
        "secret",
    )
    vault_kubernetes_auth_mount: NonEmptyStr = _key(
        "Existing Vault Kubernetes auth mount the apps' service accounts use.",
        "kubernetes",
    )
    vault_db_password: SecretT = _key(
        "Bootstrap password of the Vault database login roles (keybuzz_vault_<env>_<app>, one per connection). "
        "Sent write-only, so a Vault rotate-root is never undone. Set with `pulumi config set --secret`.",
    )
    vault_db_password_version: PositiveIntT = _key(
        "Bump to re-send vaultDbPassword (after changing it) to Vault and PostgreSQL.", "1"
    )
    vault_root_rotation_schedule: CronT = _key(
        "Cron schedule (UTC) of the CronJob that rotates each Vault connection's root password (rotate-root).",
        "17 3 * * 1",
    )
    credential_ttl_seconds: PositiveIntT = _key(
        "default_ttl of the Vault database roles, in seconds. With secretRefreshSeconds it sets how often ESO issues "
        "new users and Reloader restarts each database app (TTL 24 h, refresh 8 h: 3 times a day).",
        "86400",
    )
    credential_max_ttl_seconds: PositiveIntT = _key("max_ttl of the Vault database roles, in seconds.", "86400")
    secret_refresh_seconds: PositiveIntT = _key(
        "ESO refreshInterval for database credentials, in seconds; must stay below half of credentialTtlSeconds.",
        "28800",
    )
    vault_login_ttl_seconds: IntT = _key(
        "TTL of the Vault tokens the apps' Kubernetes auth roles issue (ESO's logins), in seconds; 0 means "
        "credentialTtlSeconds + 60. Vault revokes what a token fetched when it expires, so it must outlive the "
        "credentials.",
        "0",
    )
    app_secret_env: SecretT = _key(
        "JSON object {app: {ENV_VAR: value}} of app secrets stored in Vault KV and synced by ESO. "
        "Use '{}' for none. Set with `pulumi config set --secret`.",
    )
    kubeconfig: SecretT = _key("Kubeconfig (content) of the target cluster. Set with `pulumi config set --secret`.")
    kubernetes_skip_await: BoolT = _key(
        "Do not wait for Deployments/Jobs to become ready. Only lab stacks (no kubelet) set it.",
        "false",
    )
    kubernetes_upsert_existing: BoolT = _key(
        "Adopt Kubernetes objects that already exist (Deployments, Services, ServiceAccounts, ESO objects) by "
        "server-side apply instead of failing with AlreadyExists. Set true for the adoption ups only "
        "(docs/runbook-adopting-the-estate.md), then false.",
        "false",
    )
    ingress_namespace: NamespaceT = _key(
        "Namespace of the cluster's ingress controller: the only namespace outside this environment whose pods "
        "may reach the HTTP apps' ports (NetworkPolicy). No default: the seeds do not name the controller, and a "
        "wrong guess cuts every public request on the first up."
    )
    monitoring_namespace: OptionalNamespaceT = _key(
        "Namespace of the monitoring (Prometheus) whose pods may scrape the HTTP apps on their port. Empty: no "
        "scrape ingress.",
        "",
    )
    kubernetes_api_egress: EgressListT = _key(
        "Where the Kubernetes API server is, as the platform pods reach it (Reloader): a JSON list of <cidr>:<port> "
        "of the API server's endpoints (`kubectl get endpoints kubernetes -n default`), the only egress Reloader "
        "gets besides DNS."
    )
    vault_cidrs: CidrListT = _key(
        "Addresses of Vault as the rotate-root job reaches it (a JSON list of CIDRs), for a vaultInClusterAddress "
        "that is a host name (a NetworkPolicy cannot name a DNS host). Empty: its IP.",
        "[]",
    )
    # CI identities (components/ci_identity.py) ------------------------------------------------
    ci_repository: GithubRepositoryT = _key(
        "GitHub repository (owner/name) whose Actions OIDC tokens may log in to this environment's Vault: a JWT "
        "auth mount with a read-only preview role and a deploy role. Empty: no CI identity is declared.",
        "",
    )
    ci_oidc_issuer: UrlT = _key(
        "Issuer of the CI's OIDC tokens (their iss claim); Vault checks it, and discovers the signing keys there "
        "unless ciOidcPublicKeys is set.",
        "https://token.actions.githubusercontent.com",
    )
    ci_oidc_audience: NonEmptyStr = _key(
        "Audience the CI's OIDC tokens must carry (their aud claim; the workflows ask GitHub for it).",
        "keybuzz-vault",
    )
    ci_deploy_environment: GithubEnvironmentT = _key(
        "GitHub environment (protected, with reviewers) whose jobs alone may log in with the deploy role: the "
        "environment claim the deploy role is bound to. Required when ciRepository is set.",
        "",
    )
    ci_protected_ref: NonEmptyStr = _key(
        "The protected branch (the ref claim) whose jobs may log in with the drift role: the nightly refresh "
        "reads the KV secrets' values, so only reviewed, merged code gets it.",
        "refs/heads/main",
    )
    ci_oidc_public_keys: PublicKeyListT = _key(
        "PEM public keys Vault validates the CI's tokens with, for an issuer without OIDC discovery (the lab's). "
        "Empty: discovery at ciOidcIssuer.",
        "[]",
    )
    ci_kubernetes_secrets_mount: str = _key(
        "Existing Vault Kubernetes secrets engine mount that issues the preview identity its read-only service "
        "account token. Empty: the preview identity gets no Kubernetes token from Vault.",
        "",
    )
    ci_secrets_transit_key: str = _key(
        "Key (in Vault's transit engine at transit/) of this stack's hashivault:// secrets provider: both CI "
        "identities may encrypt and decrypt with it, so the workflows need no Vault token of their own. Empty: "
        "none (the workflows then need a token for it).",
        "",
    )
    ci_token_ttl_seconds: PositiveIntT = _key(
        "TTL of the Vault tokens, PostgreSQL logins and Kubernetes tokens the CI identities get, in seconds.",
        "1800",
    )
    # Apps -------------------------------------------------------------------------------------
    # Typed here for the views and the components; declared (key, validation, description) with every
    # per-app key (apiImageTag, backendDatabase, ...) by `per_app.stack_config_model`, from the catalog.
    apps: list[str]
    # Adoption of the live estate ---------------------------------------------------------------
    adopt_databases: IdentListT = _key(
        "Databases that already exist: imported by name on the first up, never recreated.", "[]"
    )
    adopt_roles: IdentListT = _key("PostgreSQL roles that already exist: imported by name.", "[]")
    adopt_namespaces: NamespaceListT = _key("Kubernetes namespaces that already exist: imported by name.", "[]")
    adopt_vault_mounts: MountListT = _key("Vault mounts that already exist: imported by path.", "[]")
    legacy_login_phase: LegacyPhaseT = _key(
        "Cutover of the legacy roles: kept (they log in as before; apps keep the estate's Secret), dynamic "
        "(apps on Vault credentials; legacy logins still work), refused (NOLOGIN; refused while one is connected), "
        "dropped.",
        "kept",
    )
    database_consumers: ConsumerListT = _key(
        "Every login other than the apps' and the legacy roles that connects to this stack's databases (a "
        "monitoring login, a cron), and prefixes of logins ending in * or - (v-*: the users the estate's own "
        "Vault connection still issues). Each listed login gets CONNECT on every database of the stack. On the "
        "databases the estate had, PUBLIC keeps CONNECT while a prefix is listed (those logins cannot be "
        "granted in advance); otherwise it is revoked, and the up is refused while a login nobody listed is "
        'connected (docs/runbook-adopting-the-estate.md, "Who may connect").',
        "[]",
    )
    # Decommissioning ---------------------------------------------------------------------------
    decommission: BoolT = _key(
        "Approves a `pulumi destroy` of this stack: otherwise the destroy guard refuses it before anything is "
        "deleted. Set it in a reviewed pull request, run `pulumi up` (it records the approval), then destroy "
        "(docs/runbook-decommissioning.md).",
        "false",
    )

    @model_validator(mode="after")
    def _gather_app_settings(self) -> Self:
        """Gather the per-app fields into `AppSettings`, once: the only read of those fields by name."""
        inputs = app_inputs(dict(self), type(self).model_fields, self.catalog)
        self._app_settings = MappingProxyType(settle(inputs, self.apps, self.environment))
        return self

    # ---- derived views (no I/O, pure functions of the fields) ----------------------------------
    @property
    def naming(self) -> Naming:
        return Naming(self.environment)

    @property
    def app_settings(self) -> Mapping[str, AppSettings]:
        """The enabled apps' settings, in catalog order (read-only)."""
        return self._app_settings

    def app(self, name: str) -> AppSettings:
        """The settings of the enabled app `name`; a KeyError names the enabled apps otherwise."""
        if name not in self._app_settings:
            raise KeyError(f"'{name}' is not an app this stack runs ({', '.join(self._app_settings)})")
        return self._app_settings[name]

    def image(self, app: str) -> str:
        return self.app(app).image

    def database_app_of(self, app: str) -> str:
        """The app whose database `app` uses: itself if it owns one (api, backend), else the one its
        ``<app>DatabaseApp`` key names (the worker's)."""
        return _uses_database(app, self.app(app).database_app)

    def database_of(self, app: str) -> str:
        """Physical database an app owns (api/backend) or uses (worker)."""
        return _uses_database(app, self.app(app).database)

    @property
    def database_apps(self) -> list[str]:
        """Enabled apps that own a database, in catalog order."""
        return database_apps(self.apps, self.catalog)

    def legacy_roles(self, app: str) -> list[str]:
        """Legacy roles of the database `app` owns (api, backend); none for the others."""
        return list(self.app(app).legacy_roles)

    @property
    def legacy_logins_active(self) -> bool:
        """Whether the estate's legacy logins still log in (phases kept and dynamic)."""
        return LEGACY_PHASES.index(self.legacy_login_phase) < LEGACY_PHASES.index("refused")

    @property
    def consumer_logins(self) -> list[str]:
        """The logins `databaseConsumers` names one by one (each gets CONNECT)."""
        return [c for c in self.database_consumers if not _is_prefix(c)]

    @property
    def consumer_prefixes(self) -> list[str]:
        """The prefixes `databaseConsumers` names (``v-*`` -> ``v-``): logins that cannot be granted in advance."""
        return [c.rstrip("*") for c in self.database_consumers if _is_prefix(c)]

    def keeps_estate_secret(self, app: str) -> bool:
        """Whether `app` still reads the estate's own database Secret: cutover phase kept, an app the estate
        already runs (its namespace is adopted) on a database with legacy roles. The program then leaves
        that Secret alone and declares no ExternalSecret for it; an app new to the estate starts on Vault."""
        settings = self.app(app)
        return (
            self.legacy_login_phase == "kept"
            and settings.kind.owns_database
            and bool(settings.legacy_roles)
            and self.naming.namespace(app) in self.adopt_namespaces
        )

    @property
    def vault_login_ttl(self) -> int:
        """TTL of ESO's Vault logins (the Kubernetes auth roles' token_ttl): set, or derived from the
        credential TTL with `LOGIN_MARGIN_SECONDS` (validated to outlive the credentials either way)."""
        return self.vault_login_ttl_seconds or self.credential_ttl_seconds + LOGIN_MARGIN_SECONDS

    @property
    def vault_in_cluster(self) -> str:
        return self.vault_in_cluster_address or self.vault_address

    def secret_env(self) -> dict[str, dict[str, str]]:
        """The parsed appSecretEnv (validated by load_config); values are secrets: wrap before use."""
        return cast(dict[str, dict[str, str]], json.loads(self.app_secret_env.get_secret_value()))


def _is_prefix(consumer: str) -> bool:
    """``v-*`` and ``v-`` are prefixes of logins; anything else is one login."""
    return consumer.endswith(("*", "-"))


def app_names(config: StackConfig) -> list[str]:
    """Enabled apps in catalog order."""
    return [a for a in config.catalog if a in config.apps]


def _uses_database(app: str, value: str | None) -> str:
    """`value` (a database, or whose database), which an app without a database does not have."""
    if value is None:
        raise ValueError(f"the {app} uses no database")
    return value
