"""Cross-key rules, run by `load_config` in this order after every key parsed on its own."""

from __future__ import annotations

from typing import Final

from .apps import _rule_apps, _rule_client_build, _rule_secret_env
from .common import Rule
from .estate import _rule_network, _rule_no_node_addresses, _rule_stack_name, _rule_ttls
from .names import _rule_adoption, _rule_isolation, _rule_legacy_roles

RULES: Final[tuple[Rule, ...]] = (
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
