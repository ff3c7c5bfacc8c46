"""Values no seed gives, which the shipped stack files therefore leave unset (issue 12, item 6).

`Pulumi.dev.yaml` / `Pulumi.prod.yaml` name in their header what they leave unset; the program stops with
"is required and not set" until the operator sets the estate's value. A lab stack, and a test rendering
of a shipped stack, set these stand-ins instead (the lab's own address keys, such as vaultAddress, are
set by lab/program.py). Never an estate fact: nothing here is written to a shipped stack file.

It lives in `render/` because both the renderings (`render.stack_config`) and the lab stacks
(`lab/stacks.py`) fill these keys, and render must not depend on the lab.
"""

from __future__ import annotations

from typing import Any, Final

from components.environments import estate_environments

#: Unset in every shipped stack file: no seed gives the estate's Vault address, its addresses, the ingress
#: controller's namespace or the API server's endpoints. Documentation addresses (RFC 5737): never the estate's.
EVERY_STACK: Final[dict[str, Any]] = {
    "vaultAddress": "https://vault.keybuzz.io:8200",
    "vaultCidrs": ["203.0.113.10/32"],
    "ingressNamespace": "ingress-nginx",
    "kubernetesApiEgress": ["192.0.2.10/32:6443"],
}
#: Unset in one environment's stack file only.
ONE_STACK: Final[dict[str, dict[str, Any]]] = {
    # PH17 §7 shows a keybuzz-worker app in DEV, no seed gives its tag: the backend's (it runs that image).
    "dev": {"workerImageTag": "v0.1.9-dev"},
}


def unseeded(env: str) -> dict[str, Any]:
    """The stand-in values of `env`'s unset keys, keyed without the ``keybuzz:`` prefix (none for an
    environment that has no shipped stack file, such as a test's synthetic one)."""
    if env not in estate_environments():
        return {}
    return {**EVERY_STACK, **ONE_STACK.get(env, {})}


def unseeded_keys() -> frozenset[str]:
    """Every key some shipped stack file leaves unset."""
    return frozenset(key for env in estate_environments() for key in unseeded(env))
