"""Rules on the CI identities' keys (components/ci_identity.py)."""

from __future__ import annotations

from collections.abc import Iterator

from ...naming import ownership_problem
from ..errors import NAMESPACE, Problem
from .common import ParsedConfig


def ci_identity(parsed: ParsedConfig) -> Iterator[Problem]:
    """A stack that declares CI identities names the protected environment its deploys must come from: a
    deploy role bound to the repository alone would let any workflow of any branch or pull request deploy."""
    if parsed.ci_repository and parsed.ci_deploy_environment == "":
        yield parsed.problem(
            "ciDeployEnvironment",
            "",
            f"is required when ciRepository is set ({parsed.ci_repository}): the deploy role is bound to it",
            f"name the GitHub environment with required reviewers that deploys this stack "
            f"(`pulumi config set {NAMESPACE}:ciDeployEnvironment production`)",
        )
    key, env = parsed.by_key.get("ciSecretsTransitKey"), parsed.environment
    problem = ownership_problem(key, env) if key and env else None
    if key and problem:
        yield parsed.problem(
            "ciSecretsTransitKey",
            key,
            f"{problem}: the CI identities would encrypt and decrypt with another environment's key",
            "name this environment's transit key (keybuzz-pulumi-<env>)",
        )
