"""The CI identities on the lab, with a lab OIDC issuer: a pull request's token gets read-only credentials
that change nothing, and only a token of the protected environment gets the deploy role.

lab-dev is `up`ed once with the ``keybuzz:ci*`` keys (lab/oidc.py `ci_config`: the issuer's public key
registered with OpenBao's JWT auth by the program, through the stack's config). Tokens are signed locally,
shaped like GitHub Actions' (lab/oidc.py `github_claims`). The last test previews lab-dev through the real
engine with nothing but the preview identity's credentials in its config.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg import errors as pg_errors

from lab.bao import Credential, issue
from lab.cluster import Lab
from lab.http import HttpError, Vault
from lab.oidc import (
    DEPLOY_ENVIRONMENT,
    KUBERNETES_SECRETS_MOUNT,
    REPOSITORY,
    LabIssuer,
    ci_config,
    configure_kubernetes_secrets,
    github_claims,
    jwt_login,
)
from lab.stacks import secrets_key
from tests.e2e.lab_support import lab_env, ops
from tests.e2e.test_lab_preview import policy_args

pytestmark = pytest.mark.e2e

STACK = "lab-dev"
MOUNT = "jwt-ci-dev"
PREVIEW, DEPLOY = "keybuzz-dev-ci-preview", "keybuzz-dev-ci-deploy"
OPS_NAMESPACE = "keybuzz-ops-dev"


def _config_set(lab: Lab, prog: Path, key: str, value: str, *flags: str) -> None:
    """`pulumi config set`, the value after `--` (a PEM key starts with dashes)."""
    proc = subprocess.run(
        ["pulumi", "config", "set", "--plaintext", *flags, "--stack", STACK, "--non-interactive", "--", key, value],
        cwd=prog, env=lab_env(lab), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LabIssuer:
    return LabIssuer(tmp_path_factory.mktemp("oidc"))


@pytest.fixture(scope="module")
def ci_stack(lab: Lab, prog: Path, issuer: LabIssuer) -> Path:
    """lab-dev with its CI identities, up: the issuer's public key reaches OpenBao through the stack config."""
    configure_kubernetes_secrets(lab.kube, lab.vault())
    for key, value in ci_config(issuer, transit_key=secrets_key("dev")).items():
        if isinstance(value, list):
            for i, item in enumerate(value):
                _config_set(lab, prog, f"keybuzz:{key}[{i}]", item, "--path")
        else:
            _config_set(lab, prog, f"keybuzz:{key}", value)
    ops(lab, prog, "up", "--stack", STACK)
    return prog


@pytest.fixture(scope="module")
def preview_login(lab: Lab, ci_stack: Path, issuer: LabIssuer) -> dict[str, Any]:
    """A pull request's job logs in with the preview role."""
    token = issuer.token(github_claims(REPOSITORY, "pull_request", ref="refs/pull/7/merge"))
    return jwt_login(lab.vault(), MOUNT, PREVIEW, token)


@pytest.fixture(scope="module")
def preview_vault(lab: Lab, preview_login: dict[str, Any]) -> Vault:
    return Vault(lab.ports.bao, preview_login["client_token"])


@pytest.fixture(scope="module")
def preview_db(preview_vault: Vault) -> Credential:
    return issue(preview_vault, "database-dev", "keybuzz-ci-preview-dev")


@pytest.fixture(scope="module")
def preview_kube_token(preview_vault: Vault) -> str:
    body = preview_vault.write(
        f"{KUBERNETES_SECRETS_MOUNT}/creds/{PREVIEW}", {"kubernetes_namespace": OPS_NAMESPACE, "ttl": "20m"}
    )
    return str(body["data"]["service_account_token"])


def _refused(call: Any, *args: Any) -> int:
    with pytest.raises(HttpError) as caught:
        call(*args)
    return caught.value.status


# --- (3) who gets which role -------------------------------------------------------------------------------


def test_a_deploy_token_needs_the_repository_and_the_protected_environment(lab: Lab, ci_stack: Path,
                                                                           issuer: LabIssuer) -> None:  # fmt: skip
    vault = lab.vault()
    refused = {
        "push to main, no environment": github_claims(REPOSITORY, "push"),
        "pull request": github_claims(REPOSITORY, "pull_request", ref="refs/pull/7/merge"),
        "another environment": github_claims(REPOSITORY, "push", environment="staging"),
        "another repository": github_claims("someone/fork", "push", environment=DEPLOY_ENVIRONMENT),
    }
    for what, claims in refused.items():
        status = _refused(jwt_login, vault, MOUNT, DEPLOY, issuer.token(claims))
        assert status in (400, 403), what
    accepted = jwt_login(vault, MOUNT, DEPLOY, issuer.token(github_claims(REPOSITORY, "push",
                                                                         environment=DEPLOY_ENVIRONMENT)))  # fmt: skip
    assert "keybuzz-dev-ci-deploy" in accepted["policies"]
    assert "keybuzz-dev-ci-preview" not in accepted["policies"]
    assert accepted["lease_duration"] <= 1800
    # The deploy identity writes DEV's paths, never PROD's.
    deploy = Vault(lab.ports.bao, accepted["client_token"])
    deploy.write("secret/data/keybuzz/dev/ci-probe/env", {"data": {"PROBE": "deploy"}})
    assert _refused(deploy.write, "secret/data/keybuzz/prod/ci-probe/env", {"data": {"PROBE": "x"}}) == 403
    assert _refused(deploy.write, "sys/policies/acl/keybuzz-prod-ci-probe", {"policy": ""}) == 403


def test_only_the_repositorys_tokens_for_vault_signed_by_the_issuer_get_the_preview_role(
    lab: Lab, ci_stack: Path, issuer: LabIssuer, tmp_path: Path
) -> None:
    vault, pr = lab.vault(), github_claims(REPOSITORY, "pull_request", ref="refs/pull/7/merge")
    assert _refused(jwt_login, vault, MOUNT, PREVIEW, issuer.token(github_claims("someone/fork", "pull_request")))
    assert _refused(jwt_login, vault, MOUNT, PREVIEW, issuer.token(pr, audience="sigstore"))
    assert _refused(jwt_login, vault, MOUNT, PREVIEW, LabIssuer(tmp_path / "other").token(pr))
    login = jwt_login(vault, MOUNT, PREVIEW, issuer.token(pr))
    assert "keybuzz-dev-ci-preview" in login["policies"]
    assert "keybuzz-dev-ci-deploy" not in login["policies"]


# --- (2) the preview identity's credentials change nothing -----------------------------------------------


#: What the preview identity tries to write in Vault, each refused (403).
VAULT_WRITES = [
    ("write a policy", "sys/policies/acl/keybuzz-dev-ci-probe", {"policy": 'path "*" { capabilities = ["sudo"] }'}),
    ("widen its own role", f"auth/{MOUNT}/role/{PREVIEW}", {"token_policies": ["root"]}),
    ("write a KV secret", "secret/data/keybuzz/dev/api/env", {"data": {"JWT_SECRET": "changed"}}),
    ("mount a secrets engine", "sys/mounts/ci-probe", {"type": "kv"}),
    ("enable an auth method", "sys/auth/ci-probe", {"type": "userpass"}),
    ("change an app's database role", "database-dev/roles/keybuzz-api-dev", {"db_name": "x"}),
    ("rotate a connection's root", "database-dev/rotate-root/keybuzz-backend", {}),
    ("create a token", "auth/token/create", {"policies": ["root"]}),
]
#: What it tries to read that a preview never needs (a secret value, another role's credentials, PROD).
VAULT_SECRET_READS = [
    "secret/data/keybuzz/dev/api/env",
    "database-dev/creds/keybuzz-api-dev",
    "database-prod/creds/keybuzz-ci-preview-prod",
    "sys/policies/acl/keybuzz-prod-api",
]


def test_the_preview_token_reads_the_configuration_and_writes_nothing_in_vault(preview_vault: Vault) -> None:
    assert "keybuzz-dev-api" in preview_vault.read("sys/policies/acl/keybuzz-dev-api")["data"]["name"]
    assert preview_vault.read("database-dev/roles/keybuzz-api-dev")["data"]["db_name"]
    for what, path, body in VAULT_WRITES:
        assert _refused(preview_vault.write, path, body) == 403, what
    for path in VAULT_SECRET_READS:
        assert _refused(preview_vault.read, path) == 403, path


#: What the preview login tries in PostgreSQL after switching read-only transactions off (so that the
#: refusal is its privileges'), each refused with insufficient_privilege.
SQL_WRITES = [
    ("CREATE TABLE", "CREATE TABLE public.ci_probe (id int)"),
    ("CREATE SCHEMA", "CREATE SCHEMA ci_probe"),
    ("CREATE ROLE", "CREATE ROLE ci_probe LOGIN"),
    ("CREATE DATABASE", "CREATE DATABASE ci_probe"),
    ("ALTER ROLE", "ALTER ROLE keybuzz_backend_dev_owner LOGIN"),
    ("ALTER DATABASE", "ALTER DATABASE keybuzz_backend OWNER TO CURRENT_USER"),
    ("GRANT a group", "GRANT keybuzz_backend_dev_owner TO CURRENT_USER"),
]
#: A GRANT on an object the login has some privilege on (CONNECT, through its group) is not an error in
#: PostgreSQL: "no privileges were granted" is a warning. What shows it changed nothing is the privilege after.
SQL_NO_EFFECT = [
    ("GRANT CREATE ON DATABASE keybuzz_backend TO CURRENT_USER",
     "SELECT has_database_privilege(current_user, 'keybuzz_backend', 'CREATE')"),
    ("GRANT ALL ON SCHEMA public TO CURRENT_USER", "SELECT has_schema_privilege(current_user, 'public', 'CREATE')"),
]  # fmt: skip


def test_the_preview_login_connects_and_changes_nothing_in_postgresql(lab: Lab, preview_db: Credential) -> None:
    with preview_db.connect(lab.ports.lb_write, "keybuzz_backend", autocommit=True) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SELECT count(*) FROM pg_roles").fetchone()[0] > 0  # the catalogs a preview reads
        conn.execute("SET default_transaction_read_only = off")
        accepted = []
        for what, sql in SQL_WRITES:
            try:
                conn.execute(sql)
                accepted.append(what)
            except pg_errors.InsufficientPrivilege:
                pass
        assert accepted == []
        for grant, check in SQL_NO_EFFECT:
            with contextlib.suppress(pg_errors.InsufficientPrivilege):
                conn.execute(grant)
            assert conn.execute(check).fetchone() == (False,), grant


def _kube(lab: Lab, token: str, method: str, path: str, body: Any = None,
          content_type: str = "application/json") -> int:  # fmt: skip
    ctx = ssl.create_default_context(cafile=str(lab.kube.dir / "certs" / "apiserver.crt"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(lab.kube.url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


MERGE = "application/merge-patch+json"
#: What the preview identity's Kubernetes token tries, each refused (403). A server-side dry-run is one of
#: them: RBAC checks it as the write it simulates.
KUBE_WRITES = [
    ("create a ConfigMap", "POST", "/api/v1/namespaces/keybuzz-api-dev/configmaps",
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ci-probe"}}, "application/json"),
    ("patch a Deployment", "PATCH", "/apis/apps/v1/namespaces/keybuzz-api-dev/deployments/keybuzz-api",
     {"spec": {"replicas": 0}}, MERGE),
    ("dry-run patch a Deployment", "PATCH",
     "/apis/apps/v1/namespaces/keybuzz-api-dev/deployments/keybuzz-api?dryRun=All", {"spec": {"replicas": 0}}, MERGE),
    ("patch a NetworkPolicy", "PATCH",
     "/apis/networking.k8s.io/v1/namespaces/keybuzz-api-dev/networkpolicies/default-deny",
     {"metadata": {"labels": {"probe": "x"}}}, MERGE),
    ("widen its own ClusterRole", "PATCH",
     "/apis/rbac.authorization.k8s.io/v1/clusterroles/keybuzz-ci-preview-dev",
     {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}, MERGE),
    ("delete a namespace", "DELETE", "/api/v1/namespaces/keybuzz-api-dev", None, "application/json"),
]  # fmt: skip


def test_the_preview_kubernetes_token_reads_and_writes_nothing_nor_reads_secrets(
    lab: Lab, preview_kube_token: str
) -> None:
    token = preview_kube_token
    assert _kube(lab, token, "GET", "/apis/apps/v1/namespaces/keybuzz-api-dev/deployments") == 200
    assert _kube(lab, token, "GET", "/api/v1/namespaces/keybuzz-api-dev") == 200
    assert _kube(lab, token, "GET", "/apis/external-secrets.io/v1/namespaces/keybuzz-api-dev/externalsecrets") == 200
    for what, method, path, body, content_type in KUBE_WRITES:
        assert _kube(lab, token, method, path, body, content_type) == 403, what
    # Secrets: listing returns their values, so neither list nor get.
    assert _kube(lab, token, "GET", "/api/v1/namespaces/keybuzz-api-dev/secrets") == 403
    assert _kube(lab, token, "GET", "/api/v1/secrets") == 403
    # Nothing of another environment, nor cluster-wide.
    assert _kube(lab, token, "GET", "/apis/apps/v1/namespaces/keybuzz-api-prod/deployments") == 403
    assert _kube(lab, token, "GET", "/api/v1/namespaces/keybuzz-api-prod") == 403
    assert _kube(lab, token, "GET", "/apis/apps/v1/deployments") == 403


# --- (1) the preview of lab-dev with only those credentials ---------------------------------------------


def _kubeconfig(lab: Lab, token: str) -> str:
    ca = base64.b64encode((lab.kube.dir / "certs" / "apiserver.crt").read_bytes()).decode()
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "lab", "cluster": {"server": lab.kube.url, "certificate-authority-data": ca}}],
        "users": [{"name": "ci-preview", "user": {"token": token}}],
        "contexts": [{"name": "ci", "context": {"cluster": "lab", "user": "ci-preview"}}],
        "current-context": "ci",
    })  # fmt: skip


#: The provider credentials a CI job's login writes encrypted (.github/actions/ci-login); the rest in plain text.
SECRET_KEYS = ("postgresAdminPassword", "vaultToken", "kubeconfig")


def as_ci_job(lab: Lab, prog: Path, token: str, values: dict[str, str]) -> dict[str, str]:
    """What a CI job has after its login: the state backend, Vault's address and its identity's `token` (which
    also decrypts and encrypts the stack's config through the transit key the program lets it use), no
    passphrase, no operator token; `values` set in the stack's config as the job sets them. Its environment."""
    env = {**lab_env(lab), "VAULT_SERVER_TOKEN": token}
    env.pop("PULUMI_CONFIG_PASSPHRASE")
    for key, value in values.items():
        kind = "--secret" if key in SECRET_KEYS else "--plaintext"
        proc = subprocess.run(
            ["pulumi", "config", "set", kind, f"keybuzz:{key}", "--stack", STACK, "--non-interactive"],
            cwd=prog, env=env, input=value, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    return env


@pytest.fixture
def preview_only_config(lab: Lab, ci_stack: Path, preview_login: dict[str, Any], preview_db: Credential,
                        preview_kube_token: str) -> dict[str, str]:  # fmt: skip
    """lab-dev's provider credentials replaced by the preview identity's, and the environment a CI preview job
    has: the state backend, Vault's address and the preview token (which also decrypts the stack's config
    through the transit key the program lets it use), no passphrase, no operator token."""
    values = {
        "postgresAdminUsername": preview_db.username,
        "postgresAdminPassword": preview_db.password,
        "vaultToken": preview_login["client_token"],
        "kubeconfig": _kubeconfig(lab, preview_kube_token),
    }
    return as_ci_job(lab, ci_stack, preview_login["client_token"], values)


def _preview(lab: Lab, prog: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        ["pulumi", "preview", "--stack", STACK, "--non-interactive", "--json", *policy_args(lab, "dev")],
        cwd=prog, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-4000:]
    return list(json.loads(proc.stdout)["steps"])


def _api_image(lab: Lab) -> str:
    status, body = lab.kube.request("GET", "/apis/apps/v1/namespaces/keybuzz-api-dev/deployments/keybuzz-api")
    assert status == 200, body
    return str(body["spec"]["template"]["spec"]["containers"][0]["image"])


def test_the_preview_of_lab_dev_succeeds_with_only_the_preview_credentials(
    lab: Lab, ci_stack: Path, preview_only_config: dict[str, str]
) -> None:
    steps = _preview(lab, ci_stack, preview_only_config)
    assert "same" in {s["op"] for s in steps}
    # The program is unchanged since the up: nothing to create or delete, only the providers' new credentials.
    assert not [s["urn"] for s in steps if s["op"] in ("create", "delete", "replace", "create-replacement")]

    # A pull request's change previews too: the Deployment's update is planned (the provider's server-side
    # dry-run is refused with 403 and it falls back to a client-side diff), and nothing changes live.
    live = _api_image(lab)
    proc = subprocess.run(
        ["pulumi", "config", "set", "--plaintext", "keybuzz:apiImageTag", "v0.4.32-replacement", "--stack", STACK,
         "--non-interactive"],
        cwd=ci_stack, env=preview_only_config, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    steps = _preview(lab, ci_stack, preview_only_config)
    updated = [s["urn"] for s in steps if s["op"] == "update" and s["urn"].endswith("::keybuzz-dev-api-deployment")]
    assert len(updated) == 1, [(s["op"], s["urn"]) for s in steps if s["op"] != "same"]
    assert not [s["urn"] for s in steps if s["op"] in ("create", "delete", "replace", "create-replacement")]
    assert _api_image(lab) == live


# --- the deploy identity applies a change with only its credentials ------------------------------------


def test_the_deploy_identity_applies_a_change_to_lab_dev_with_only_its_credentials(
    lab: Lab, ci_stack: Path, issuer: LabIssuer
) -> None:
    """As deploy.yml's job: the deploy token (environment claim) reads the admin credentials the operator keeps
    in Vault (<kv>/keybuzz/dev/ci/deploy), and `ops up` applies a change to Vault's roles with that token as
    the stack's Vault token and secrets provider token: the deploy policy holds what `up` writes."""
    lab.vault().write(  # the operator's one-time bootstrap
        "secret/data/keybuzz/dev/ci/deploy",
        {"data": {"postgresAdminUsername": "postgres", "postgresAdminPassword": lab.secrets.superuser_password,
                  "kubeconfig": lab.kube.kubeconfig_path.read_text()}},
    )  # fmt: skip
    claims = github_claims(REPOSITORY, "push", environment=DEPLOY_ENVIRONMENT)
    token = jwt_login(lab.vault(), MOUNT, DEPLOY, issuer.token(claims))["client_token"]
    deploy = Vault(lab.ports.bao, token)
    creds = deploy.read("secret/data/keybuzz/dev/ci/deploy")["data"]["data"]
    values = {"postgresAdminUsername": creds["postgresAdminUsername"], "postgresAdminPassword":
              creds["postgresAdminPassword"], "vaultToken": token, "kubeconfig": creds["kubeconfig"],
              "credentialTtlSeconds": "80000"}  # fmt: skip
    env = as_ci_job(lab, ci_stack, token, values)
    up = subprocess.run(
        [sys.executable, "-m", "ops", "up", "--stack", STACK, "--cwd", str(ci_stack)],
        cwd=ci_stack, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert up.returncode == 0, up.stdout[-6000:] + up.stderr[-4000:]
    root = lab.vault()
    assert root.read("database-dev/roles/keybuzz-api-dev")["data"]["default_ttl"] == 80000
    assert root.read("auth/kubernetes/role/keybuzz-dev-api")["data"]["token_ttl"] == 80060
    assert _api_image(lab).endswith(":v0.4.32-replacement")  # the change the preview showed


def test_the_drift_identity_refreshes_lab_dev_with_only_its_credentials(
    lab: Lab, ci_stack: Path, issuer: LabIssuer
) -> None:
    """As drift.yml's nightly job on main: the drift token (ref claim) gets the read-only PostgreSQL login and
    service account token, and `ops drift --run-program` (the providers configured from the current config,
    not from the state) refreshes every resource with them: no drift. Every other Vault token of the stack's
    history is revoked first, so the refresh cannot be using one recorded in the state."""
    root = lab.vault()
    root.write("sys/leases/revoke-prefix/auth/jwt-ci-dev/login")  # the deploy and preview logins of the tests
    claims = github_claims(REPOSITORY, "schedule")
    login = jwt_login(root, MOUNT, "keybuzz-dev-ci-drift", issuer.token(claims))
    assert "keybuzz-dev-ci-drift" in login["policies"]
    drift = Vault(lab.ports.bao, login["client_token"])
    db = issue(drift, "database-dev", "keybuzz-ci-preview-dev")
    sa = drift.write(f"{KUBERNETES_SECRETS_MOUNT}/creds/{PREVIEW}", {"kubernetes_namespace": OPS_NAMESPACE})
    # Not from a pull request, nor another branch.
    for other in (github_claims(REPOSITORY, "pull_request", ref="refs/pull/7/merge"),
                  github_claims(REPOSITORY, "push", ref="refs/heads/feature")):  # fmt: skip
        assert _refused(jwt_login, root, MOUNT, "keybuzz-dev-ci-drift", issuer.token(other)) in (400, 403)
    values = {"postgresAdminUsername": db.username, "postgresAdminPassword": db.password,
              "vaultToken": login["client_token"],
              "kubeconfig": _kubeconfig(lab, sa["data"]["service_account_token"])}  # fmt: skip
    env = as_ci_job(lab, ci_stack, login["client_token"], values)
    proc = subprocess.run(
        [sys.executable, "-m", "ops", "drift", "--run-program", "--stack", STACK, "--cwd", str(ci_stack)],
        cwd=ci_stack, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-4000:]
    assert "no drift on stack 'lab-dev'" in proc.stdout
