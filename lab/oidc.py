"""A local OIDC issuer for the CI identities (components/ci_identity.py): a key pair and RS256 tokens shaped
like GitHub Actions', and the lab's side of what an estate operator sets up once.

GitHub signs its Actions tokens with keys it publishes through OIDC discovery; the lab has no such endpoint,
so the lab stack gives Vault the issuer's public key instead (``keybuzz:ciOidcPublicKeys``: Vault's
``jwt_validation_pubkeys``). The key pair is generated per use with ``openssl`` (as the lab's API server
key is) and tokens are signed with ``openssl dgst -sha256 -sign``: no new dependency, nothing leaves the
machine. The private key stays in the caller's directory; only the public key goes into the stack config.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from lab.bao import ensure_mount
from lab.http import Vault
from lab.kube import REVIEWER_TOKEN_SECONDS, KubeApi

#: The lab issuer's ``iss``: a name only (``.invalid``); Vault checks tokens against the key, never fetches it.
LAB_ISSUER = "https://oidc.lab.keybuzz.invalid"
#: The audience the lab's tokens carry (the program's default ``keybuzz:ciOidcAudience``).
AUDIENCE = "keybuzz-vault"
#: The repository and protected environment the lab stack's CI identities are bound to.
REPOSITORY = "keybuzzio/keybuzz-platform"
DEPLOY_ENVIRONMENT = "production"
#: The lab's Vault Kubernetes secrets engine, and the account it issues tokens as (an operator's bootstrap).
KUBERNETES_SECRETS_MOUNT = "kubernetes-ci"
TOKEN_ISSUER = ("kube-system", "openbao-ci-token-issuer")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LabIssuer:
    """An RSA key pair in `directory` and the RS256 tokens it signs, for issuer `issuer`."""

    def __init__(self, directory: Path, issuer: str = LAB_ISSUER) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.issuer = issuer
        self._key = directory / "oidc-issuer.key"
        if not self._key.exists():
            subprocess.run(["openssl", "genrsa", "-out", str(self._key), "2048"], check=True, capture_output=True)
            self._key.chmod(0o600)
        public = subprocess.run(
            ["openssl", "rsa", "-in", str(self._key), "-pubout"], check=True, capture_output=True, text=True
        )
        self.public_key_pem = public.stdout.strip()

    def token(self, claims: dict[str, Any], audience: str = AUDIENCE, lifetime: int = 300) -> str:
        """A signed JWT with `claims`, this issuer's ``iss``, `audience` and a `lifetime`-second validity."""
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": audience, "iat": now, "nbf": now - 5, "exp": now + lifetime, **claims}
        header = {"alg": "RS256", "typ": "JWT", "kid": "lab"}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self._key)],
            input=signing_input.encode(), check=True, capture_output=True,
        ).stdout  # fmt: skip
        return f"{signing_input}.{_b64(signature)}"


def github_claims(
    repository: str, event_name: str, *, environment: str | None = None, ref: str = "refs/heads/main"
) -> dict[str, Any]:
    """The claims GitHub puts in an Actions job's token: ``sub`` is ``repo:<repo>:environment:<env>`` for a
    job in an environment, ``repo:<repo>:pull_request`` for a pull request, else ``repo:<repo>:ref:<ref>``."""
    if environment:
        sub = f"repo:{repository}:environment:{environment}"
    elif event_name == "pull_request":
        sub = f"repo:{repository}:pull_request"
    else:
        sub = f"repo:{repository}:ref:{ref}"
    claims: dict[str, Any] = {
        "sub": sub, "repository": repository, "repository_owner": repository.split("/")[0], "ref": ref,
        "event_name": event_name, "workflow": "lab", "actor": "lab",
    }  # fmt: skip
    if environment:
        claims["environment"] = environment
    return claims


def ci_config(
    issuer: LabIssuer, transit_key: str | None = None, kubernetes_mount: str | None = KUBERNETES_SECRETS_MOUNT
) -> dict[str, Any]:
    """The ``keybuzz:ci*`` keys (without prefix) that declare the CI identities of a lab stack, trusting
    `issuer` by its public key; `transit_key` is the stack's secrets provider key (lab.stacks.secrets_key)."""
    config: dict[str, Any] = {
        "ciRepository": REPOSITORY,
        "ciDeployEnvironment": DEPLOY_ENVIRONMENT,
        "ciOidcIssuer": issuer.issuer,
        "ciOidcAudience": AUDIENCE,
        "ciOidcPublicKeys": [issuer.public_key_pem],
    }
    if kubernetes_mount:
        config["ciKubernetesSecretsMount"] = kubernetes_mount
    if transit_key:
        config["ciSecretsTransitKey"] = transit_key
    return config


def jwt_login(vault: Vault, mount: str, role: str, jwt: str) -> dict[str, Any]:
    """``auth/<mount>/login`` with `jwt` for `role`: the ``auth`` block (client_token, policies); raises
    `lab.http.HttpError` when Vault refuses the token."""
    body = Vault(vault.port, "").write(f"auth/{mount}/login", {"role": role, "jwt": jwt})
    return dict(body["auth"])


def configure_kubernetes_secrets(kube: KubeApi, vault: Vault, mount: str = KUBERNETES_SECRETS_MOUNT) -> None:
    """OpenBao's Kubernetes secrets engine at `mount`, issuing tokens as an account that may only request
    tokens of the CI preview service accounts (the estate operator's one-time setup). Idempotent."""
    ns, name = TOKEN_ISSUER
    kube.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                 {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})  # fmt: skip
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    kube.request("POST", f"{rbac}/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"],
                   "resourceNames": ["keybuzz-ci-preview"]},
                  {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"],
                   "resourceNames": ["keybuzz-ci-preview"]}],
    })  # fmt: skip
    kube.request("POST", f"{rbac}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
    })  # fmt: skip
    ensure_mount(vault, mount, "kubernetes")
    vault.write(
        f"{mount}/config",
        {"kubernetes_host": kube.url,
         "kubernetes_ca_cert": (kube.dir / "certs" / "apiserver.crt").read_text(),
         "service_account_jwt": kube.service_account_token(ns, name, REVIEWER_TOKEN_SECONDS)},
    )  # fmt: skip
