"""What every cross-key rule takes: `ParsedConfig`, a typed view of the keys that parsed on their own.

A rule is a plain function `rule(parsed) -> Iterable[Problem]`. A key that failed its own validation (or
is required and unset) is None in the view: its problem is already listed, so a rule needing it is skipped
rather than reporting a consequence of the same mistake. The per-app keys are one `AppInput` per catalog
app (`per_app`), so a rule about the apps iterates the catalog instead of naming apps or building keys.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from pydantic import SecretStr

from ...catalog import AppKind
from ..app_settings import AppInput, app_inputs
from ..errors import Problem, problem
from ..model import StackConfig
from ..types import Egress, Endpoint


@dataclass(frozen=True)
class ParsedConfig:
    """The keys of one stack that parsed, typed; None where a key did not (see the module docstring).

    The fields after `secrets` are model fields of the same name, typed as the model types them or None (a
    unit test keeps the two in step); build the view with `ParsedConfig.of`.
    """

    stack: str
    catalog: Mapping[str, AppKind]
    #: Every catalog app's per-app keys, in catalog order (enabled or not: a disabled app's key is a problem).
    per_app: Mapping[str, AppInput]
    #: Every key that parsed -> its value, in Pulumi.yaml's order: for the checks that read any value.
    by_key: Mapping[str, Any]
    #: The keys declared secret: a problem about one never shows its value.
    secrets: frozenset[str] = frozenset()
    environment: str | None = None
    apps: list[str] | None = None
    postgres_write_endpoint: Endpoint | None = None
    postgres_read_endpoint: Endpoint | None = None
    redis_endpoint: Endpoint | None = None
    postgres_nodes: list[str] | None = None
    redis_nodes: list[str] | None = None
    postgres_admin_username: str | None = None
    credential_ttl_seconds: int | None = None
    credential_max_ttl_seconds: int | None = None
    secret_refresh_seconds: int | None = None
    vault_login_ttl_seconds: int | None = None
    app_secret_env: SecretStr | None = None
    ingress_namespace: str | None = None
    monitoring_namespace: str | None = None
    kubernetes_api_egress: list[Egress] | None = None
    vault_cidrs: list[str] | None = None
    vault_address: str | None = None
    vault_in_cluster_address: str | None = None
    adopt_databases: list[str] | None = None
    adopt_roles: list[str] | None = None
    adopt_namespaces: list[str] | None = None
    adopt_vault_mounts: list[str] | None = None
    ci_repository: str | None = None
    ci_deploy_environment: str | None = None

    @classmethod
    def of(
        cls, values: Mapping[str, Any], stack: str, model: type[StackConfig], secrets: Collection[str] = ()
    ) -> ParsedConfig:
        """The view of `values` (model field -> parsed value, only the keys that parsed) for `model`;
        `secrets` are the keys the model declares secret."""
        typed = [f.name for f in fields(cls) if f.name in model.model_fields]
        return cls(
            stack=stack,
            catalog=model.catalog,
            per_app=app_inputs(values, model.model_fields, model.catalog),
            by_key={model.key_of(name): value for name, value in values.items()},
            secrets=frozenset(secrets),
            **{name: values.get(name) for name in typed},
        )

    def problem(self, key: str, value: Any, message: str, fix: str) -> Problem:
        """A problem about `key` (shown with its value unless the key is secret)."""
        return problem(key, value, message, fix, key in self.secrets)

    def owners(self) -> list[AppInput]:
        """The catalog apps with a database key (the database-owning apps), in catalog order."""
        return [a for a in self.per_app.values() if "database" in a.settings]

    def databases_parsed(self) -> bool:
        """Whether every database key parsed: the rules comparing databases need them all."""
        return all(a.database is not None for a in self.owners())


Rule = Callable[[ParsedConfig], Iterable[Problem]]
