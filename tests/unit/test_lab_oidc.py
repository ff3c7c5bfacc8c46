"""lab/oidc.py: the lab issuer's tokens are RS256 JWTs its public key verifies, with GitHub's claim shapes."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from lab.oidc import AUDIENCE, LAB_ISSUER, REPOSITORY, LabIssuer, ci_config, github_claims


def _part(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_a_token_is_signed_rs256_and_only_its_issuers_key_verifies_it(tmp_path: Path) -> None:
    issuer, other = LabIssuer(tmp_path / "a"), LabIssuer(tmp_path / "b")
    token = issuer.token({"sub": "repo:o/n:pull_request"}, lifetime=60)
    header, payload, signature = token.split(".")
    assert json.loads(_part(header))["alg"] == "RS256"
    claims = json.loads(_part(payload))
    assert (claims["iss"], claims["aud"], claims["sub"]) == (LAB_ISSUER, AUDIENCE, "repo:o/n:pull_request")
    assert claims["exp"] - claims["iat"] == 60
    (tmp_path / "sig").write_bytes(_part(signature))
    for key, verified in ((issuer, True), (other, False)):
        (tmp_path / "pub.pem").write_text(key.public_key_pem + "\n")
        proc = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature", str(tmp_path / "sig")],
            input=f"{header}.{payload}".encode(), capture_output=True, check=False,
        )  # fmt: skip
        assert (proc.returncode == 0) is verified
    assert "PRIVATE" not in issuer.public_key_pem
    assert ci_config(issuer)["ciOidcPublicKeys"] == [issuer.public_key_pem]


def test_github_claims_take_githubs_subject_shapes() -> None:
    assert github_claims(REPOSITORY, "pull_request")["sub"] == f"repo:{REPOSITORY}:pull_request"
    deploy = github_claims(REPOSITORY, "push", environment="production")
    assert (deploy["sub"], deploy["environment"]) == (f"repo:{REPOSITORY}:environment:production", "production")
    push = github_claims(REPOSITORY, "push")
    assert push["sub"] == f"repo:{REPOSITORY}:ref:refs/heads/main"
    assert "environment" not in push
