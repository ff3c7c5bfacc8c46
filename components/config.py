"""The stack's configuration, read once into a frozen, validated model.

`StackConfig` is the single source of truth for every ``keybuzz:*`` key: its fields carry the key
name (alias), type, description, default and secrecy, and `pulumi_config_schema()` derives the
``config:`` block of Pulumi.yaml from it (a unit test keeps the two identical).

`load_config()` validates every key, then every cross-key rule (LB-only endpoints, environment
isolation, TTL versus refresh, adoption lists), and raises one `ConfigError` listing *all* problems,
each naming the key, the bad value and the fix. It runs before any resource is registered.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, cast, get_args, get_origin

from pulumi.errors import RunError
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from .catalog import APP_NAMES, CATALOG, AppName
from .environments import environments, facts
from .naming import Naming, ownership_problem, tokens

NAMESPACE: Final = "keybuzz"
#: How much longer than the credentials ESO's Vault login must live: ESO logs in, *then* reads the
#: credential (with retries), so the lease starts after the token; the token must not expire first.
LOGIN_MARGIN_SECONDS: Final = 60
SECRET_PLACEHOLDER: Final = "[secret]"

#: libpq sslmodes a stack may choose (`prefer`/`allow` are left out: they fall back to plaintext silently).
SslMode = Literal["disable", "require", "verify-ca", "verify-full"]


# --------------------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    """A ``host:port`` network endpoint (always a load-balancer address in this program)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)


def _check_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not _HOSTNAME.match(host):
        raise ValueError(f"'{host}' is neither an IP address nor a DNS name")
    return host


def _parse_endpoint(value: Any) -> Any:
    if isinstance(value, Endpoint):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a string 'host:port'")
    text = value.strip()
    if "://" in text:
        raise ValueError("expected 'host:port' without a scheme (e.g. 10.0.0.10:5432)")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("expected 'host:port' (e.g. 10.0.0.10:5432)")
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is outside 1-65535")
    return Endpoint(_check_host(host.strip("[]")), int(port))


def _parse_optional_endpoint(value: Any) -> Any:
    if value in ("", None):
        return None
    return _parse_endpoint(value)


def _parse_json_list(value: Any) -> Any:
    """Pulumi hands arrays to the program as JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a YAML/JSON list of strings ({exc.msg})") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return value


def _parse_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError("expected true or false")


def _parse_int(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ValueError("expected a whole number")


def _unique(values: list[str]) -> list[str]:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"lists {', '.join(dupes)} more than once")
    return values


def _check_ip_list(values: list[str]) -> list[str]:
    for v in values:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError(f"'{v}' is not an IP address") from None
    return _unique(values)


def _check_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/:]+(:\d{1,5})?/?", value):
        raise ValueError("expected an http(s) URL with no path, e.g. https://vault.keybuzz.io:8200")
    return value.rstrip("/")


_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _check_identifier(value: str) -> str:
    if value and not _IDENT.match(value):
        raise ValueError("expected a lower-case PostgreSQL identifier (letters, digits, _; max 63)")
    return value


def _check_identifiers(values: list[str]) -> list[str]:
    for v in values:
        if not _IDENT.match(v):
            raise ValueError(f"'{v}' is not a lower-case PostgreSQL identifier")
    return _unique(values)


_DNS_LABELS = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _check_namespaces(values: list[str]) -> list[str]:
    for v in values:
        if not _DNS_LABELS.match(v):
            raise ValueError(f"'{v}' is not a valid Kubernetes namespace name")
    return _unique(values)


_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def _check_tag(value: str) -> str:
    if value and not _TAG.match(value):
        raise ValueError("expected an OCI image tag (letters, digits, '_', '.', '-'; max 128)")
    return value


def _check_repository(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+", value):
        raise ValueError("expected an image repository such as ghcr.io/keybuzzio/keybuzz-api (no tag)")
    return value


def _check_dns_name(value: str) -> str:
    if value and not re.fullmatch(r"([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", value):
        raise ValueError("expected a public DNS host name such as api.keybuzz.io (no scheme, no path)")
    return value


def _check_apps(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in APP_NAMES]
    if unknown:
        raise ValueError(f"unknown app {', '.join(unknown)}; known apps are {', '.join(APP_NAMES)}")
    if not values:
        raise ValueError("lists no app; a stack runs at least one of " + ", ".join(APP_NAMES))
    return _unique(values)


def _check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not all(re.fullmatch(r"[0-9*/,-]+", f) for f in fields):
        raise ValueError("expected a 5-field cron schedule such as '17 3 * * 1' (minute hour day month weekday)")
    return value


def _positive(value: int) -> int:
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _not_empty_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise ValueError("is empty")
    return value


def _check_environment(value: str) -> str:
    if value not in environments():
        raise ValueError(f"unknown environment '{value}'; expected one of {', '.join(environments())}")
    return value


EnvironmentT = Annotated[str, AfterValidator(_check_environment)]
EndpointT = Annotated[Endpoint, BeforeValidator(_parse_endpoint)]
OptionalEndpointT = Annotated[Endpoint | None, BeforeValidator(_parse_optional_endpoint)]
IpListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_ip_list)]
IdentListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_identifiers)]
NamespaceT = Annotated[str, AfterValidator(lambda v: _check_namespaces([v])[0])]
NamespaceListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_namespaces)]
MountListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_unique)]
AppsT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_apps)]
IntT = Annotated[int, BeforeValidator(_parse_int)]
PositiveIntT = Annotated[int, BeforeValidator(_parse_int), AfterValidator(_positive)]
BoolT = Annotated[bool, BeforeValidator(_parse_bool)]
UrlT = Annotated[str, AfterValidator(_check_url)]
OptionalUrlT = Annotated[str, AfterValidator(lambda v: _check_url(v) if v else v)]
HostT = Annotated[str, AfterValidator(_check_dns_name)]
TagT = Annotated[str, AfterValidator(_check_tag)]
RepoT = Annotated[str, AfterValidator(_check_repository)]
IdentT = Annotated[str, AfterValidator(_check_identifier)]
SecretT = Annotated[SecretStr, AfterValidator(_not_empty_secret)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
LegacyPhaseT = Literal["kept", "dynamic", "refused", "dropped"]
#: The order of the cutover phases (docs/runbook-adopting-the-estate.md).
LEGACY_PHASES: Final[tuple[str, ...]] = get_args(LegacyPhaseT)
CronT = Annotated[str, AfterValidator(lambda v: _check_cron(v))]


def database_apps(apps: Iterable[str]) -> list[str]:
    """Apps among `apps` that own a database, in catalog order."""
    return [a for a in APP_NAMES if a in apps and CATALOG[a].owns_database]


def database_name(env: str, app: str, explicit: str) -> str:
    """Physical database of a database-owning app: the configured (legacy) name, else the derived one."""
    return explicit or Naming(env).database(app)


def _key(alias: str, description: str, default: Any = ..., **kw: Any) -> Any:
    return Field(default, alias=alias, description=description, **kw)


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------
class StackConfig(BaseModel):
    """Every ``keybuzz:*`` config key of one stack, validated. Build it with `load_config`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False)

    # Environment and estate -------------------------------------------------------------------
    environment: EnvironmentT = _key(
        "environment", "Environment of this stack (dev or prod); every physical name derives from it."
    )
    postgres_write_endpoint: EndpointT = _key(
        "postgresWriteEndpoint",
        "PostgreSQL write endpoint host:port: the HAProxy LB that routes to the Patroni leader. Never a node.",
    )
    postgres_read_endpoint: OptionalEndpointT = _key(
        "postgresReadEndpoint",
        "Optional PostgreSQL read LB host:port (replicas). Empty until the read LB exists.",
        "",
    )
    redis_endpoint: EndpointT = _key(
        "redisEndpoint", "Redis endpoint host:port: the HAProxy LB exposing the Redis master. Never a node."
    )
    postgres_nodes: IpListT = _key(
        "postgresNodes",
        "Addresses of the Patroni nodes behind the LB. Listed so that no config value can point at one.",
    )
    redis_nodes: IpListT = _key(
        "redisNodes", "Addresses of the Redis nodes behind the LB (never PostgreSQL, never used directly).", "[]"
    )
    # Providers --------------------------------------------------------------------------------
    postgres_admin_username: NonEmptyStr = _key(
        "postgresAdminUsername", "PostgreSQL role the Pulumi provider connects as (through the LB).", "postgres"
    )
    postgres_admin_password: SecretT = _key(
        "postgresAdminPassword", "Password of postgresAdminUsername. Set with `pulumi config set --secret`."
    )
    postgres_ssl_mode: SslMode = _key(
        "postgresSslMode",
        "sslmode of every PostgreSQL connection: the provider, the Vault connection URL, the apps' DATABASE_URL "
        "and PGSSLMODE. No default: each stack states its choice, and why, in its stack file.",
    )
    vault_address: UrlT = _key("vaultAddress", "Vault (or OpenBao) API address used by the Pulumi provider.")
    vault_in_cluster_address: OptionalUrlT = _key(
        "vaultInClusterAddress",
        "Vault address as seen from inside Kubernetes (ESO). Empty means the same as vaultAddress.",
        "",
    )
    vault_token: SecretT = _key(
        "vaultToken", "Vault token of the Pulumi provider. Set with `pulumi config set --secret`."
    )
    vault_kv_mount: NonEmptyStr = _key(
        "vaultKvMount",
        "Existing KV v2 mount holding app secrets under keybuzz/<env>/ (shared mount; paths are per env).",
        "secret",
    )
    vault_kubernetes_auth_mount: NonEmptyStr = _key(
        "vaultKubernetesAuthMount",
        "Existing Vault Kubernetes auth mount the apps' service accounts use.",
        "kubernetes",
    )
    vault_db_password: SecretT = _key(
        "vaultDbPassword",
        "Bootstrap password of the Vault database login roles (keybuzz_vault_<env>_<app>, one per connection). "
        "Sent write-only, so a Vault rotate-root is never undone. Set with `pulumi config set --secret`.",
    )
    vault_db_password_version: PositiveIntT = _key(
        "vaultDbPasswordVersion", "Bump to re-send vaultDbPassword (after changing it) to Vault and PostgreSQL.", "1"
    )
    vault_root_rotation_schedule: CronT = _key(
        "vaultRootRotationSchedule",
        "Cron schedule (UTC) of the CronJob that rotates each Vault connection's root password (rotate-root).",
        "17 3 * * 1",
    )
    credential_ttl_seconds: PositiveIntT = _key(
        "credentialTtlSeconds", "default_ttl of the Vault database roles, in seconds.", "3600"
    )
    credential_max_ttl_seconds: PositiveIntT = _key(
        "credentialMaxTtlSeconds", "max_ttl of the Vault database roles, in seconds.", "86400"
    )
    secret_refresh_seconds: PositiveIntT = _key(
        "secretRefreshSeconds",
        "ESO refreshInterval for database credentials, in seconds; must stay below half of credentialTtlSeconds.",
        "1200",
    )
    vault_login_ttl_seconds: IntT = _key(
        "vaultLoginTtlSeconds",
        "TTL of the Vault tokens the apps' Kubernetes auth roles issue (ESO's logins), in seconds; 0 means "
        "credentialTtlSeconds + 60. Vault revokes what a token fetched when it expires, so it must outlive the "
        "credentials.",
        "0",
    )
    app_secret_env: SecretT = _key(
        "appSecretEnv",
        "JSON object {app: {ENV_VAR: value}} of app secrets stored in Vault KV and synced by ESO. "
        "Use '{}' for none. Set with `pulumi config set --secret`.",
    )
    kubeconfig: SecretT = _key(
        "kubeconfig", "Kubeconfig (content) of the target cluster. Set with `pulumi config set --secret`."
    )
    kubernetes_skip_await: BoolT = _key(
        "kubernetesSkipAwait",
        "Do not wait for Deployments/Jobs to become ready. Only lab stacks (no kubelet) set it.",
        "false",
    )
    kubernetes_upsert_existing: BoolT = _key(
        "kubernetesUpsertExisting",
        "Adopt Kubernetes objects that already exist (Deployments, Services, ServiceAccounts, ESO objects) by "
        "server-side apply instead of failing with AlreadyExists. Set true for the adoption ups only "
        "(docs/runbook-adopting-the-estate.md), then false.",
        "false",
    )
    ingress_namespace: NamespaceT = _key(
        "ingressNamespace",
        "Namespace of the cluster's ingress controller: the only namespace outside this environment whose pods "
        "may reach the HTTP apps' ports (NetworkPolicy). The default is the namespace the ingress-nginx "
        "project installs into; the seeds do not name the controller.",
        "ingress-nginx",
    )
    # Apps -------------------------------------------------------------------------------------
    apps: AppsT = _key("apps", "Apps this stack runs, among api, backend, client, worker.")
    api_image_tag: TagT = _key("apiImageTag", "Image tag of the api (required when api is in apps).", "")
    backend_image_tag: TagT = _key("backendImageTag", "Image tag of the backend.", "")
    client_image_tag: TagT = _key("clientImageTag", "Image tag of the Next.js client.", "")
    worker_image_tag: TagT = _key("workerImageTag", "Image tag of the worker.", "")
    api_image_repository: RepoT = _key(
        "apiImageRepository", "Image repository of the api.", CATALOG["api"].image_repository
    )
    backend_image_repository: RepoT = _key(
        "backendImageRepository", "Image repository of the backend.", CATALOG["backend"].image_repository
    )
    client_image_repository: RepoT = _key(
        "clientImageRepository", "Image repository of the client.", CATALOG["client"].image_repository
    )
    worker_image_repository: RepoT = _key(
        "workerImageRepository", "Image repository of the worker.", CATALOG["worker"].image_repository
    )
    api_replicas: PositiveIntT = _key("apiReplicas", "Replicas of the api Deployment.", "1")
    backend_replicas: PositiveIntT = _key("backendReplicas", "Replicas of the backend Deployment.", "1")
    client_replicas: PositiveIntT = _key("clientReplicas", "Replicas of the client Deployment.", "1")
    worker_replicas: PositiveIntT = _key("workerReplicas", "Replicas of the worker Deployment.", "1")
    api_host: HostT = _key(
        "apiHost",
        "Public host of the api. The client image is built with NEXT_PUBLIC_API_URL=https://<apiHost> (not set at "
        "runtime: Next.js bakes it in).",
        "",
    )
    backend_host: HostT = _key("backendHost", "Public host of the backend.", "")
    client_host: HostT = _key("clientHost", "Public host of the client.", "")
    api_database: IdentT = _key(
        "apiDatabase", "Database of the api. Empty means keybuzz_api_<env>; DEV adopts its legacy 'keybuzz'.", ""
    )
    backend_database: IdentT = _key(
        "backendDatabase", "Database of the backend. Empty means keybuzz_backend_<env>.", ""
    )
    worker_database_app: Literal["api", "backend"] = _key(
        "workerDatabaseApp", "Whose database the worker uses (api or backend).", "backend"
    )
    # Adoption of the live estate ---------------------------------------------------------------
    adopt_databases: IdentListT = _key(
        "adoptDatabases", "Databases that already exist: imported by name on the first up, never recreated.", "[]"
    )
    adopt_roles: IdentListT = _key("adoptRoles", "PostgreSQL roles that already exist: imported by name.", "[]")
    adopt_namespaces: NamespaceListT = _key(
        "adoptNamespaces", "Kubernetes namespaces that already exist: imported by name.", "[]"
    )
    adopt_vault_mounts: MountListT = _key(
        "adoptVaultMounts", "Vault mounts that already exist: imported by path.", "[]"
    )
    api_legacy_roles: IdentListT = _key(
        "apiLegacyRoles",
        "Roles of the estate that own objects in or log in to the api's database (e.g. keybuzz_api_prod): "
        "their objects go to the owner group, and legacyLoginPhase retires them.",
        "[]",
    )
    backend_legacy_roles: IdentListT = _key(
        "backendLegacyRoles", "Roles of the estate that own objects in or log in to the backend's database.", "[]"
    )
    legacy_login_phase: LegacyPhaseT = _key(
        "legacyLoginPhase",
        "Cutover of the legacy roles: kept (they log in as before; apps keep the estate's Secret), dynamic "
        "(apps on Vault credentials; legacy logins still work), refused (NOLOGIN, sessions ended), dropped.",
        "kept",
    )

    # ---- derived views (no I/O, pure functions of the fields) ----------------------------------
    @property
    def naming(self) -> Naming:
        return Naming(self.environment)

    def app_setting(self, app: str, setting: str) -> Any:
        return getattr(self, f"{app}_{setting}")

    def image(self, app: str) -> str:
        return f"{self.app_setting(app, 'image_repository')}:{self.app_setting(app, 'image_tag')}"

    def database_of(self, app: str) -> str:
        """Physical database an app owns (api/backend) or uses (worker)."""
        if app == "worker":
            app = self.worker_database_app
        return database_name(self.environment, app, cast(str, self.app_setting(app, "database")))

    @property
    def database_apps(self) -> list[str]:
        """Enabled apps that own a database, in catalog order."""
        return database_apps(self.apps)

    def legacy_roles(self, app: str) -> list[str]:
        """Legacy roles of the database `app` owns (api, backend); none for the others."""
        return list(getattr(self, f"{app}_legacy_roles", []))

    @property
    def legacy_logins_active(self) -> bool:
        """Whether the estate's legacy logins still log in (phases kept and dynamic)."""
        return LEGACY_PHASES.index(self.legacy_login_phase) < LEGACY_PHASES.index("refused")

    def keeps_estate_secret(self, app: str) -> bool:
        """Whether `app` still reads the estate's own database Secret: cutover phase kept, an app the estate
        already runs (its namespace is adopted) on a database with legacy roles. The program then leaves
        that Secret alone and declares no ExternalSecret for it; an app new to the estate starts on Vault."""
        return (
            self.legacy_login_phase == "kept"
            and CATALOG[app].owns_database
            and bool(self.legacy_roles(app))
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


# --------------------------------------------------------------------------------------------------
# Schema derived from the model (Pulumi.yaml `config:` block, README table)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeySpec:
    name: str
    field: str
    type: str
    description: str
    secret: bool
    default: Any  # the Pulumi.yaml default (typed), or None when the key is required


def _pulumi_type(annotation: Any) -> str:
    base = annotation
    if get_origin(base) is Annotated:
        base = get_args(base)[0]
    if get_origin(base) is list or base is list:
        return "array"
    if base is bool:
        return "boolean"
    if base is int:
        return "integer"
    return "string"


def _typed_default(kind: str, raw: Any) -> Any:
    if kind == "array":
        return json.loads(raw)
    if kind == "integer":
        return int(raw)
    if kind == "boolean":
        return raw == "true"
    return raw


def key_specs() -> list[KeySpec]:
    """One KeySpec per config key, in declaration order."""
    specs = []
    for field_name, info in StackConfig.model_fields.items():
        kind = _pulumi_type(info.annotation)
        for meta in info.metadata:
            if isinstance(meta, BeforeValidator) and meta.func is _parse_json_list:
                kind = "array"
        secret = SecretStr in (get_args(info.annotation) or (info.annotation,))
        required = info.is_required()
        specs.append(
            KeySpec(
                name=cast(str, info.alias),
                field=field_name,
                type=kind,
                description=info.description or "",
                secret=secret,
                default=None if required else _typed_default(kind, info.default),
            )
        )
    return specs


def pulumi_config_schema() -> dict[str, dict[str, Any]]:
    """The `config:` block Pulumi.yaml must carry (every key: type, description, secret, default).

    Keys are declared without the ``keybuzz:`` prefix: they live in the project's own namespace.
    """
    block: dict[str, dict[str, Any]] = {}
    for spec in key_specs():
        entry: dict[str, Any] = {"type": spec.type, "description": spec.description}
        if spec.type == "array":
            entry["items"] = {"type": "string"}
        if spec.secret:
            entry["secret"] = True
        if spec.default is not None:
            entry["default"] = spec.default
        block[spec.name] = entry  # the project's own namespace (project name `keybuzz`): no prefix
    return block


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    key: str
    value: str
    message: str
    fix: str

    def render(self) -> str:
        shown = f" = {self.value}" if self.value else ""
        return f"  - {NAMESPACE}:{self.key}{shown}: {self.message}.\n      fix: {_sentence(self.fix)}"


def _sentence(text: str) -> str:
    """`text` as a whole sentence: capital first letter, final full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "`")) else text + "."


class ConfigError(RunError):
    """The stack's configuration is invalid; lists every problem found, each with its fix.

    A `pulumi.RunError`: the language host prints its message as the error of the run, without a Python
    traceback, so `pulumi preview`/`up` show the problem list itself."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        body = "\n".join(p.render() for p in problems)
        super().__init__(f"invalid configuration for stack '{stack}' ({count}); nothing was registered:\n{body}")


def _show(value: Any, secret: bool) -> str:
    if secret:
        return SECRET_PLACEHOLDER
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text) if len(text) <= 200 else repr(text[:200] + "...")


# --------------------------------------------------------------------------------------------------
# Cross-key rules. Each takes the parsed values (missing keys failed their own validation) and
# reports problems; a rule whose inputs did not parse is skipped, the field error is already listed.
# --------------------------------------------------------------------------------------------------
Values = Mapping[str, Any]
Report = Callable[[str, Any, str, str], None]


def _needs(values: Values, *fields: str) -> bool:
    return all(f in values for f in fields)


def _alias(field_name: str) -> str:
    return cast(str, StackConfig.model_fields[field_name].alias)


def _rule_stack_name(values: Values, stack: str, report: Report) -> None:
    if not _needs(values, "environment"):
        return
    env = values["environment"]
    if stack != env and not stack.endswith(f"-{env}"):
        report(
            "environment",
            env,
            f"stack '{stack}' declares environment '{env}'; a stack's name must be '{env}' or end with '-{env}'",
            f"use the stack '{env}' (or e.g. 'lab-{env}'), or set the environment this stack really is",
        )


_ENDPOINT_FIELDS: Final = ("postgres_write_endpoint", "postgres_read_endpoint", "redis_endpoint")
_SKIP_SCAN: Final = {"postgres_nodes", "redis_nodes"}


def _node_pattern(address: str) -> re.Pattern[str]:
    """`address` as a whole host: 10.0.0.12 does not match inside 10.0.0.120, 110.0.0.12 or db-10.0.0.12.
    The policy pack's no-node-endpoints uses the same boundaries (tests/policy/test_agreement.py)."""
    return re.compile(rf"(?<![A-Za-z0-9.-]){re.escape(address)}(?![A-Za-z0-9-]|\.\d)", re.IGNORECASE)


def _lb_suggestion(values: Values, field_name: str, nodes: Mapping[str, str], port: int) -> str | None:
    """The LB endpoint to suggest: the configured one when it is sound. When that one is itself a node,
    the LB host seen in the stack's other endpoints, with the service's standard port only if the stack
    uses standard ports (the estate's HAProxy listens on 5432/6379; a lab's LB on its own ports cannot be
    guessed, and a made-up port would be a wrong fix)."""
    own = values.get(field_name)
    if own is not None and own.host not in nodes:
        return str(own)
    standard = {"postgres_write_endpoint": 5432, "postgres_read_endpoint": 5432, "redis_endpoint": 6379}
    for other in _ENDPOINT_FIELDS:
        endpoint = values.get(other)
        if endpoint is not None and endpoint.host not in nodes:
            if endpoint.port == standard.get(other) and (own is None or own.port == port):
                return f"{endpoint.host}:{port}"
            return f"{endpoint.host}:<the LB's port>"
    return None


def _rule_no_node_addresses(values: Values, stack: str, report: Report) -> None:
    """No value anywhere in the config may be a node address behind a LB (PH16, topology report)."""
    nodes: dict[str, str] = {a: "Patroni (PostgreSQL) node" for a in values.get("postgres_nodes", [])}
    nodes.update({a: "Redis node" for a in values.get("redis_nodes", [])})
    if not nodes:
        return
    overlap = set(values.get("postgres_nodes", [])) & set(values.get("redis_nodes", []))
    for address in sorted(overlap):
        report(
            "redisNodes",
            address,
            f"{address} is listed both as a Patroni node and as a Redis node",
            "a host is one or the other: fix the node lists",
        )
    lb_pg = _lb_suggestion(values, "postgres_write_endpoint", nodes, 5432)
    lb_redis = _lb_suggestion(values, "redis_endpoint", nodes, 6379)
    patterns = {a: _node_pattern(a) for a in nodes}
    for field_name, value in values.items():
        if field_name in _SKIP_SCAN or isinstance(value, SecretStr):
            continue
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if text is None or isinstance(text, bool | int):
                continue
            rendered = str(text)
            for address, kind in nodes.items():
                if not patterns[address].search(rendered):
                    continue
                is_redis_field = field_name == "redis_endpoint"
                if is_redis_field and kind.startswith("Patroni"):
                    why = f"{address} is a {kind}, never Redis"
                elif not is_redis_field and kind == "Redis node" and field_name.startswith("postgres"):
                    why = f"{address} is a {kind}, never PostgreSQL (the topology report's migration-script bug)"
                else:
                    why = f"{address} is a {kind}; connections never target a node (PH16: the node became a replica)"
                lb = lb_redis if is_redis_field else lb_pg
                fix = f"use the LB {lb}" if lb else "use the HAProxy load-balancer endpoint"
                report(_alias(field_name), rendered, why, fix)


def _rule_isolation(values: Values, stack: str, report: Report) -> None:
    """Config-provided names must belong to this stack's environment (PH28.2)."""
    if not _needs(values, "environment"):
        return
    env = values["environment"]
    named = [
        "api_database",
        "backend_database",
        "adopt_databases",
        "adopt_roles",
        "adopt_namespaces",
        "adopt_vault_mounts",
        "api_legacy_roles",
        "backend_legacy_roles",
    ]
    for field_name in named:
        if field_name not in values:
            continue
        raw = values[field_name]
        for name in raw if isinstance(raw, list) else [raw]:
            if not name:
                continue
            problem = ownership_problem(name, env)
            if problem:
                report(
                    _alias(field_name),
                    name,
                    problem,
                    f"leave it empty to get the derived {env.upper()} name, or name a {env.upper()} object",
                )
    # Hosts and image tags carry no marker in PROD, but must never carry another environment's.
    foreign = [e for e in environments() if e != env]
    for app in APP_NAMES:
        for setting in ("host", "image_tag"):
            field_name = f"{app}_{setting}"
            value = values.get(field_name)
            if not value:
                continue
            hit = [e for e in foreign if e in tokens(value)]
            if hit:
                report(
                    _alias(field_name),
                    value,
                    f"'{value}' is a {hit[0].upper()} {setting.replace('_', ' ')}; {env.upper()} never "
                    f"uses another environment's hosts or builds",
                    f"use this environment's {setting.replace('_', ' ')}",
                )


#: Tags that move, never a release (the policy pack's `mutableTags` default is the same list: a test checks).
_MOVING_TAGS: Final = frozenset({"latest", "main", "master", "stable", "edge", "nightly", "develop", "dev"})


def _rule_apps(values: Values, stack: str, report: Report) -> None:
    if not _needs(values, "apps"):
        return
    apps = values["apps"]
    env = values.get("environment")
    for app in apps:
        tag_field = f"{app}_image_tag"
        tag = values.get(tag_field)
        if tag_field in values and not tag:
            report(
                _alias(tag_field),
                "",
                f"'{app}' is in apps but has no image tag",
                f"set {NAMESPACE}:{_alias(tag_field)} to the release to deploy, e.g. v0.4.31",
            )
        elif tag and env in environments() and facts(env).pinned_tags and tag.lower() in _MOVING_TAGS:
            report(
                _alias(tag_field),
                tag,
                f"'{tag}' is a moving tag; {env.upper()} deploys immutable release tags only",
                "use a release tag such as v0.4.31-replacement",
            )
    if "worker" in apps and "worker_database_app" in values:
        owner = values["worker_database_app"]
        if owner not in apps:
            report(
                "workerDatabaseApp",
                owner,
                f"the worker uses the {owner}'s database but '{owner}' is not in apps",
                f"add '{owner}' to apps or point workerDatabaseApp at an app this stack runs",
            )
    for app in ("api", "backend"):
        field_name = f"{app}_database"
        if values.get(field_name) and app not in apps:
            report(
                _alias(field_name),
                values[field_name],
                f"'{app}' is not in apps, so it has no database",
                f"remove {NAMESPACE}:{_alias(field_name)} or add '{app}' to apps",
            )
    if _needs(values, "api_database", "backend_database", "environment"):
        env = values["environment"]
        api_db = database_name(env, "api", values["api_database"])
        backend_db = database_name(env, "backend", values["backend_database"])
        if "api" in apps and "backend" in apps and api_db == backend_db:
            report(
                "backendDatabase",
                backend_db,
                "the api and the backend would share one database (PH15)",
                "give each app its own database",
            )


def _rule_client_build(values: Values, stack: str, report: Report) -> None:
    """The client image is a build of this environment: its NEXT_PUBLIC_* were baked in when it was built
    (PH28.2 §5.1), so a runtime setting cannot point it at this environment's API; only its tag tells."""
    if not _needs(values, "environment", "apps"):
        return
    env = values["environment"]
    build = Naming(env).client_build
    for app in values["apps"]:
        tag_field = f"{app}_image_tag"
        if app not in CATALOG or not CATALOG[app].is_public_client or not values.get(tag_field):
            continue
        tag = values[tag_field]
        if any(e != env and e in tokens(tag) for e in environments()):
            continue  # another environment's build: _rule_isolation reports it
        if not re.fullmatch(build.pattern, tag):
            report(
                _alias(tag_field),
                tag,
                f"'{tag}' is not {build.described}: the client's NEXT_PUBLIC_API_URL and NEXT_PUBLIC_APP_ENV are "
                f"baked in at image build (PH28.2 §5.1), so only a {env.upper()} build calls the {env.upper()} API",
                f"deploy the client image built for {env.upper()} (see docs/runbook-promotion.md)",
            )


def _rule_ttls(values: Values, stack: str, report: Report) -> None:
    if _needs(values, "credential_ttl_seconds", "credential_max_ttl_seconds"):
        ttl, max_ttl = values["credential_ttl_seconds"], values["credential_max_ttl_seconds"]
        if max_ttl < ttl:
            report(
                "credentialMaxTtlSeconds",
                max_ttl,
                f"max_ttl {max_ttl}s is below default_ttl {ttl}s",
                "raise credentialMaxTtlSeconds to at least credentialTtlSeconds",
            )
        if ttl < 60:
            report(
                "credentialTtlSeconds",
                ttl,
                "a TTL under 60 s leaves no time to roll out new credentials",
                "use at least 60 (seconds)",
            )
    if _needs(values, "credential_ttl_seconds", "secret_refresh_seconds"):
        ttl, refresh = values["credential_ttl_seconds"], values["secret_refresh_seconds"]
        if refresh * 2 >= ttl:
            report(
                "secretRefreshSeconds",
                refresh,
                f"ESO re-issues credentials only every refresh, never renews a lease; a refresh of {refresh}s "
                f"is not below half of credentialTtlSeconds ({ttl}s / 2 = {ttl // 2}s), so apps would hold "
                f"expired credentials (PH16; external-secrets#2184)",
                f"set secretRefreshSeconds to at most {max(1, (ttl - 1) // 2)} or raise credentialTtlSeconds",
            )
    if _needs(values, "credential_ttl_seconds", "vault_login_ttl_seconds"):
        ttl, login = values["credential_ttl_seconds"], values["vault_login_ttl_seconds"]
        wanted = ttl + LOGIN_MARGIN_SECONDS
        if login < 0:
            report("vaultLoginTtlSeconds", login, "must not be negative", f"use 0 (derived: {wanted}) or >= {wanted}")
        elif login and login < wanted:
            report(
                "vaultLoginTtlSeconds",
                login,
                f"ESO's Vault login would expire before the credentials it fetches (credentialTtlSeconds {ttl}s): "
                f"ESO logs in anew for every re-issue and neither renews nor revokes that token, and Vault revokes "
                f"a token's leases when it expires, so the database users would be dropped after ~{login}s "
                f"instead of {ttl}s (external-secrets#2198)",
                f"set vaultLoginTtlSeconds to at least {wanted} (credentialTtlSeconds + {LOGIN_MARGIN_SECONDS} s "
                f"for ESO's time between login and read), or to 0 to derive it, or lower credentialTtlSeconds",
            )


_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_RESERVED_ENV: Final = frozenset(
    {
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "PGSSLMODE",
        "DATABASE_URL",
        "REDIS_URL",
        "REDIS_HOST",
        "REDIS_PORT",
    }
)


def _rule_secret_env(values: Values, stack: str, report: Report) -> None:
    if "app_secret_env" not in values:
        return
    try:
        data = json.loads(values["app_secret_env"].get_secret_value())
    except json.JSONDecodeError:
        report(
            "appSecretEnv",
            SECRET_PLACEHOLDER,
            "is not valid JSON",
            'set it to a JSON object such as \'{"api": {"JWT_SECRET": "..."}}\' or \'{}\'',
        )
        return
    if not isinstance(data, dict):
        report("appSecretEnv", SECRET_PLACEHOLDER, "is not a JSON object", "use '{}' or {app: {VAR: value}}")
        return
    apps = values.get("apps", [])
    for app, env_vars in data.items():
        if app not in APP_NAMES or app not in apps:
            report(
                "appSecretEnv",
                SECRET_PLACEHOLDER,
                f"names app '{app}', which this stack does not run",
                f"use only apps of keybuzz:apps ({', '.join(apps)})",
            )
            continue
        if not isinstance(env_vars, dict) or not all(isinstance(v, str) for v in env_vars.values()):
            report(
                "appSecretEnv",
                SECRET_PLACEHOLDER,
                f"'{app}' must map env var names to string values",
                'use {"VAR": "value"}',
            )
            continue
        for var in env_vars:
            if not _ENV_VAR.match(var):
                report(
                    "appSecretEnv",
                    SECRET_PLACEHOLDER,
                    f"'{app}': '{var}' is not an env var name",
                    "use upper-case names such as JWT_SECRET",
                )
            elif var.startswith("NEXT_PUBLIC_"):
                report(
                    "appSecretEnv",
                    SECRET_PLACEHOLDER,
                    f"'{app}': {var} is baked into the Next.js image at build time (PH28.2 §5.1); "
                    f"a runtime value does nothing",
                    f"remove {var}; build the image with it instead",
                )
            elif var in _RESERVED_ENV:
                report(
                    "appSecretEnv",
                    SECRET_PLACEHOLDER,
                    f"'{app}': {var} is set by the program (LB endpoint, dynamic credentials)",
                    f"remove {var}; it is never stored in KV",
                )


def _declared_names(values: Values) -> dict[str, set[str]]:
    env = values["environment"]
    naming = Naming(env)
    apps = values["apps"]
    db_apps = database_apps(apps)
    databases = {database_name(env, a, values[f"{a}_database"]) for a in db_apps}
    roles: set[str] = set()
    for a in db_apps:
        roles |= {naming.owner_group(a), naming.reader_group(a), naming.vault_login(a)}
    return {
        "adopt_databases": databases,
        "adopt_roles": roles,
        "adopt_namespaces": {naming.namespace(a) for a in apps} | {naming.ops_namespace()},
        "adopt_vault_mounts": {naming.database_mount()},
    }


def _rule_adoption(values: Values, stack: str, report: Report) -> None:
    if not _needs(values, "environment", "apps", "api_database", "backend_database"):
        return
    declared = _declared_names(values)
    for field_name, names in declared.items():
        for name in values.get(field_name, []):
            if name not in names and ownership_problem(name, values["environment"]) is None:
                report(
                    _alias(field_name),
                    name,
                    f"'{name}' is not something this stack declares",
                    f"adopt one of: {', '.join(sorted(names))}",
                )


def _rule_legacy_roles(values: Values, stack: str, report: Report) -> None:
    """Legacy roles belong to a database this stack runs, and are never a role the program itself owns."""
    if not _needs(values, "environment", "apps", "api_database", "backend_database"):
        return
    program_roles = _declared_names(values)["adopt_roles"]
    admin = values.get("postgres_admin_username")
    for app in ("api", "backend"):
        field_name = f"{app}_legacy_roles"
        for role in values.get(field_name, []):
            if app not in values["apps"]:
                report(
                    _alias(field_name),
                    role,
                    f"'{app}' is not in apps, so its database has no legacy role to retire",
                    f"remove {NAMESPACE}:{_alias(field_name)} or add '{app}' to apps",
                )
            elif role in program_roles or role == admin:
                report(
                    _alias(field_name),
                    role,
                    f"'{role}' is a role the program itself manages or connects as; retiring it would cut the program",
                    "list only the estate's hand-made roles (the logins and owners of before the adoption)",
                )


def _rule_network(values: Values, stack: str, report: Report) -> None:
    """NetworkPolicies allow egress to the LBs by ipBlock, and ingress from the ingress controller only."""
    apps = values.get("apps", [])
    needed = {
        "postgres_write_endpoint": any(CATALOG[a].uses_database for a in apps if a in CATALOG),
        "redis_endpoint": any(CATALOG[a].uses_redis for a in apps if a in CATALOG),
    }
    for field_name, used in needed.items():
        endpoint = values.get(field_name)
        if not used or endpoint is None:
            continue
        try:
            ipaddress.ip_address(endpoint.host)
        except ValueError:
            report(
                _alias(field_name),
                str(endpoint),
                f"'{endpoint.host}' is a host name; the apps' NetworkPolicies allow egress to the LB as an ipBlock "
                f"(a NetworkPolicy cannot name a DNS host)",
                "use the LB's IP address, e.g. 10.0.0.10",
            )
    if _needs(values, "environment", "ingress_namespace"):
        own = {Naming(values["environment"]).namespace(a) for a in apps}
        if values["ingress_namespace"] in own:
            report(
                "ingressNamespace",
                values["ingress_namespace"],
                "is one of this stack's app namespaces, not an ingress controller's",
                "set it to the namespace the ingress controller runs in (e.g. ingress-nginx)",
            )


RULES: Final[tuple[Callable[[Values, str, Report], None], ...]] = (
    _rule_stack_name,
    _rule_no_node_addresses,
    _rule_isolation,
    _rule_apps,
    _rule_client_build,
    _rule_ttls,
    _rule_secret_env,
    _rule_adoption,
    _rule_legacy_roles,
    _rule_network,
)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _adapter(field_name: str) -> TypeAdapter[Any]:
    if field_name not in _ADAPTERS:
        info = StackConfig.model_fields[field_name]
        annotation = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        _ADAPTERS[field_name] = TypeAdapter(cast(Any, annotation))
    return _ADAPTERS[field_name]


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


def _fix_for(spec: KeySpec) -> str:
    how = "pulumi config set --secret" if spec.secret else "pulumi config set"
    if spec.type == "array":
        return f"set it as a list, e.g. `{how} --path '{NAMESPACE}:{spec.name}[0]' <value>`"
    choices = get_args(StackConfig.model_fields[spec.field].annotation)
    if get_origin(StackConfig.model_fields[spec.field].annotation) is Literal:
        return (
            f"set it to one of {', '.join(choices)} in Pulumi.<stack>.yaml, saying why in a comment "
            f"(`{how} {NAMESPACE}:{spec.name} <value>`). {spec.description}"
        )
    return f"{spec.description[0].lower()}{spec.description[1:]} (`{how} {NAMESPACE}:{spec.name} <value>`)"


def load_config(
    raw: Mapping[str, Any],
    stack: str,
    secret_keys: Iterable[str] = (),
) -> StackConfig:
    """Validate raw config (keys like ``keybuzz:environment``; values as Pulumi hands them over).

    Raises ConfigError listing every problem. `secret_keys` are the keys stored encrypted; a secret key
    stored in plain text is itself a problem (the value sits readable in the stack file).
    """
    problems: list[Problem] = []
    secret_keys = set(secret_keys)
    specs = key_specs()
    by_name = {s.name: s for s in specs}

    def report(key: str, value: Any, message: str, fix: str) -> None:
        spec = by_name.get(key)
        shown = _show(value, spec.secret if spec else False) if value not in ("", None) else ""
        problems.append(Problem(key, shown, message, fix))

    prefix = f"{NAMESPACE}:"
    for full_key in sorted(raw):
        if not full_key.startswith(prefix):
            continue
        name = full_key[len(prefix) :]
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f"did you mean {NAMESPACE}:{close[0]}?" if close else "remove it"
            report(name, raw[full_key], "is not a key this program reads (a typo?)", hint)

    values: dict[str, Any] = {}
    for spec in specs:
        full_key = f"{prefix}{spec.name}"
        if full_key in raw and raw[full_key] is not None:
            candidate = raw[full_key]
        elif spec.default is not None:
            candidate = StackConfig.model_fields[spec.field].default
        else:
            report(spec.name, None, "is required and not set", _fix_for(spec))
            continue
        if spec.secret and full_key in raw and full_key not in secret_keys:
            report(
                spec.name,
                None,
                "is stored in plain text in the stack file",
                f"remove it and run `pulumi config set --secret {NAMESPACE}:{spec.name} <value>`",
            )
        try:
            values[spec.field] = _adapter(spec.field).validate_python(candidate)
        except PydanticValidationError as exc:
            for error in exc.errors():
                report(spec.name, None if spec.secret else candidate, _describe(error), _fix_for(spec))

    for rule in RULES:
        rule(values, stack, report)

    if problems:
        raise ConfigError(stack, problems)
    return StackConfig.model_validate({_alias(k): v for k, v in values.items()})


def read_stack_config() -> StackConfig:
    """Read this stack's ``keybuzz:*`` config from the Pulumi runtime and validate it (once per run)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    for spec in key_specs():
        full_key = f"{NAMESPACE}:{spec.name}"
        if full_key not in raw:
            value = runtime_config.get_config(full_key)
            if value is not None:
                raw[full_key] = value
    secret_keys = [k for k in raw if runtime_config.is_config_secret(k)]
    secret_keys += runtime_config.get_config_secret_keys_env()
    return load_config(raw, pulumi.get_stack(), secret_keys)


def app_names(config: StackConfig) -> list[AppName]:
    """Enabled apps in catalog order."""
    return [a for a in APP_NAMES if a in config.apps]
