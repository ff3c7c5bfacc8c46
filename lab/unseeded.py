"""Values no seed gives, which the shipped stack files therefore leave unset (issue 12, item 6).

`Pulumi.dev.yaml` / `Pulumi.prod.yaml` name in their header what they leave unset; the program stops with
"is required and not set" until the operator sets the estate's value. A lab stack, and a test rendering
of a shipped stack, set these stand-ins instead (the lab's own address keys, such as vaultAddress, are
set by lab/program.py). Never an estate fact: nothing here is written to a shipped stack file.
"""

from __future__ import annotations

from typing import Any, Final

UNSEEDED: Final[dict[str, dict[str, Any]]] = {
    # PH17 §7 shows a keybuzz-worker app in DEV, no seed gives its tag: the backend's (it runs that image).
    "dev": {"vaultAddress": "https://vault.keybuzz.io:8200", "workerImageTag": "v0.1.9-dev"},
    "prod": {"vaultAddress": "https://vault.keybuzz.io:8200"},
}


def unseeded(env: str) -> dict[str, Any]:
    """The stand-in values of `env`'s unset keys, keyed without the ``keybuzz:`` prefix (none for an
    environment that has no shipped stack file, such as a test's synthetic one)."""
    return dict(UNSEEDED.get(env, {}))
