"""Value types of the config keys: parsers and the `Annotated` aliases the model's fields use.

Each parser takes a value as Pulumi hands it over (text, or JSON text for arrays) and either returns the
typed value or raises a `ValueError` whose message `load_config` shows next to the key.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Annotated, Any, Final, Literal, TypeVar, get_args

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr

from ..environments import environments
from ..spec import PUBLIC, Egress, Endpoint

T = TypeVar("T")

# --------------------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------------------
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


def parse_endpoint(value: Any) -> Any:
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
    return parse_endpoint(value)


def _parse_egress(value: Any) -> Egress:
    """``<cidr>:<port>`` or ``public:<port>`` (a TCP port to a CIDR, or to the public internet)."""
    if isinstance(value, Egress):
        return value
    target, sep, port_text = str(value).rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"'{value}' is not <cidr>:<port> or {PUBLIC}:<port> (e.g. 203.0.113.25/32:587, {PUBLIC}:443)")
    if target == PUBLIC:
        return Egress(None, int(port_text))
    try:
        network = ipaddress.ip_network(target, strict=True)
    except ValueError as exc:
        raise ValueError(f"'{target}' in '{value}' is not a CIDR ({exc}); e.g. 203.0.113.25/32") from None
    if network.version != 4:
        raise ValueError(f"'{target}' is IPv6; the NetworkPolicies of this program are IPv4")
    return Egress(str(network), int(port_text))


def _parse_egress_list(value: Any) -> list[Egress]:
    # A validated model's values come back through here (model_validate): its entries are parsed already.
    parsed = isinstance(value, list) and all(isinstance(e, Egress) for e in value)
    return _unique([_parse_egress(e) for e in (value if parsed else _parse_json_list(value))])


def _parse_cidrs(value: Any) -> list[str]:
    cidrs = []
    for entry in _parse_json_list(value):
        try:
            cidrs.append(str(ipaddress.ip_network(str(entry), strict=True)))
        except ValueError as exc:
            raise ValueError(f"'{entry}' is not a CIDR ({exc}); e.g. 203.0.113.10/32") from None
    return _unique(cidrs)


def _check_command(values: list[str]) -> list[str]:
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError('must be a non-empty list of non-empty strings, e.g. ["node", "dist/worker.js"]')
    return values


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


def _unique(values: list[T]) -> list[T]:
    dupes = sorted({str(v) for v in values if values.count(v) > 1})
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


def _each_matching(pattern: re.Pattern[str], what: str) -> Callable[[list[str]], list[str]]:
    """A check of a list: every value matches `pattern` (else "'value' is not `what`"), none twice."""

    def check(values: list[str]) -> list[str]:
        for v in values:
            if not pattern.match(v):
                raise ValueError(f"'{v}' is not {what}")
        return _unique(values)

    return check


_check_identifiers = _each_matching(_IDENT, "a lower-case PostgreSQL identifier")
_DNS_LABELS = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_check_namespaces = _each_matching(_DNS_LABELS, "a valid Kubernetes namespace name")


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


def _check_apps(known: tuple[str, ...], values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unknown app {', '.join(unknown)}; known apps are {', '.join(known)}")
    if not values:
        raise ValueError("lists no app; a stack runs at least one of " + ", ".join(known))
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
    """An environment of the table (components/environments.py), read when the value is validated."""
    if value not in environments():
        raise ValueError(f"unknown environment '{value}'; expected one of {', '.join(environments())}")
    return value


# --- what an adopted app's Kubernetes objects keep of the estate (issue 17 items 1-3) ----------------------
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_LABEL_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_LABEL_NAME})?$")
#: A Kubernetes object name (DNS subdomain): a Secret, a ConfigMap, an ExternalSecret.
_OBJECT_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
#: A Service port name (IANA_SVC_NAME): at most 15 characters, lower-case letters, digits and inner '-'.
_PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$")
#: The kinds an ``<app>ExtraEnvFrom`` entry may name (``<kind>:<name>``).
ENV_FROM_KINDS: Final[Mapping[str, str]] = {"secret": "secretRef", "configmap": "configMapRef"}


def _parse_labels(value: Any) -> dict[str, str]:
    """A label selector's ``matchLabels`` as JSON object text (or an object): "" is none."""
    if value in ("", None):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f'expected a JSON object, e.g. {{"app": "keybuzz-api"}} ({exc.msg})') from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError('expected a JSON object of label: value strings, e.g. {"app": "keybuzz-api"}')
    for label, text in value.items():
        if not _LABEL_KEY.match(label):
            raise ValueError(f"'{label}' is not a Kubernetes label key")
        if not _LABEL_VALUE.match(text):
            raise ValueError(f"'{text}' (label {label}) is not a Kubernetes label value")
    return dict(value)


def _check_object_names(values: list[str]) -> list[str]:
    for v in values:
        if not _OBJECT_NAME.match(v):
            raise ValueError(f"'{v}' is not a Kubernetes object name (lower-case letters, digits, '-', '.')")
    return _unique(values)


def _check_env_from(values: list[str]) -> list[str]:
    for v in values:
        kind, sep, name = v.partition(":")
        if not sep or kind not in ENV_FROM_KINDS or not _OBJECT_NAME.match(name):
            raise ValueError(f"'{v}' is not secret:<name> or configmap:<name> (e.g. secret:keybuzz-api-smtp)")
    return _unique(values)


def _check_port_name(value: str) -> str:
    if not _PORT_NAME.match(value):
        raise ValueError("expected a port name: at most 15 lower-case letters, digits and inner '-', a letter at least")
    return value


EnvironmentT = Annotated[str, AfterValidator(_check_environment)]
EndpointT = Annotated[Endpoint, BeforeValidator(parse_endpoint)]
OptionalEndpointT = Annotated[Endpoint | None, BeforeValidator(_parse_optional_endpoint)]
EgressListT = Annotated[list[Egress], BeforeValidator(_parse_egress_list)]
CidrListT = Annotated[list[str], BeforeValidator(_parse_cidrs)]
CommandT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_command)]
OptionalNamespaceT = Annotated[str, AfterValidator(lambda v: _check_namespaces([v])[0] if v else v)]
IpListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_ip_list)]
IdentListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_identifiers)]
NamespaceT = Annotated[str, AfterValidator(lambda v: _check_namespaces([v])[0])]
NamespaceListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_namespaces)]
MountListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_unique)]
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
LabelsT = Annotated[dict[str, str], BeforeValidator(_parse_labels)]
ObjectNameListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_object_names)]
OptionalObjectNameT = Annotated[str, AfterValidator(lambda v: _check_object_names([v])[0] if v else v)]
EnvFromListT = Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(_check_env_from)]
PortNameT = Annotated[str, AfterValidator(_check_port_name)]


def apps_type(known: tuple[str, ...]) -> Any:
    """The type of ``keybuzz:apps``: a list of distinct apps among `known` (the catalog's), at least one."""
    return Annotated[list[str], BeforeValidator(_parse_json_list), AfterValidator(partial(_check_apps, known))]
