"""Cross-key rules, run by `load_config` in this order after every key parsed on its own.

Each rule is a public function `rule(parsed: ParsedConfig) -> Iterable[Problem]` (common.py): call one with
a hand-built view to test it alone.
"""

from __future__ import annotations

from typing import Final

from .apps import MOVING_TAGS, client_build, estate_objects, images_and_databases, secret_env
from .common import ParsedConfig, Rule
from .estate import credential_ttls, egress, network, no_node_addresses, node_pattern, stack_name
from .names import adoption, declared_names, isolation, legacy_roles

RULES: Final[tuple[Rule, ...]] = (
    stack_name,
    no_node_addresses,
    isolation,
    images_and_databases,
    client_build,
    credential_ttls,
    secret_env,
    adoption,
    legacy_roles,
    network,
    egress,
    estate_objects,
)

__all__ = [
    "MOVING_TAGS",
    "RULES",
    "ParsedConfig",
    "Rule",
    "adoption",
    "client_build",
    "credential_ttls",
    "declared_names",
    "egress",
    "estate_objects",
    "images_and_databases",
    "isolation",
    "legacy_roles",
    "network",
    "no_node_addresses",
    "node_pattern",
    "secret_env",
    "stack_name",
]
