"""`ops preflight` and `ops drift` on the lab (issue 17): real API server, PostgreSQL, OpenBao and ESO.

The preflight runs on lab-prod after its estate was made to look like the seeds instead of the program
(tests/e2e/preflight_divergence.py): it must name each divergence with its verdict and fix, exit 5 (a
block), and change nothing (every object's resourceVersion, the PostgreSQL catalog and Vault's mounts
are the same before and after). Then it runs again as the documented read-only identities (a PostgreSQL
login with `pg_monitor`, a Vault token with the read policy, a Kubernetes service account bound to the
read ClusterRole of docs/preflight.md) and finds the same. `ops drift` runs on lab-dev after an `up`: clean,
then, after kubectl-style patches by another field manager, it names each field and who set it (exit 4).
"""

from __future__ import annotations

import json
import ssl
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from lab.cluster import Lab
from lab.config import HOST
from tests.e2e.lab_support import run
from tests.e2e.preflight_support import MONITOR, ROLE_PASSWORD, VAULT_USER, diverge, line_with, lines, snapshot

pytestmark = pytest.mark.e2e


def preflight(lab: Lab, prog: Path, *extra: str, env: dict[str, str] | None = None, expect: int | None = None) -> Any:
    argv = [sys.executable, "-m", "ops", "preflight", "--stack", "lab-prod", "--cwd", str(prog), *extra]
    if env is None:
        return run(lab, prog, [*argv, "--lab-state", str(lab.layout.state_dir)], expect=expect)
    import subprocess

    from tests.e2e.lab_support import lab_env

    full = {k: v for k, v in lab_env(lab).items() if k != "LAB_STATE_DIR"}
    return subprocess.run(argv, cwd=prog, env={**full, **env}, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def diverged(lab: Lab, prog: Path) -> Iterator[None]:
    held = diverge(lab)
    yield
    for conn in held:
        conn.close()


@pytest.mark.usefixtures("diverged")
class TestPreflight:
    def test_it_names_each_divergence_with_its_verdict_and_fix_blocks_and_changes_nothing(
        self, lab: Lab, prog: Path, tmp_path: Path
    ) -> None:
        before = snapshot(lab)
        report_file = tmp_path / "preflight.json"
        proc = preflight(lab, prog, "--json", str(report_file), expect=5)
        after = snapshot(lab)
        assert after == before, "the preflight changed something"
        out = proc.stdout
        assert "[blocks: immutable] Deployment keybuzz-api-prod/keybuzz-api: spec.selector" in out
        assert "[blocks: cuts traffic] Service keybuzz-api-prod/keybuzz-api: spec.selector" in out
        assert "[taken over] Service keybuzz-api-prod/keybuzz-api: port 80 targetPort: same targetPort 3001" in out
        assert line_with(out, "[would be dropped: model it with keybuzz:apiServicePortName]", "port 80 name")
        assert line_with(out, "[would be dropped: model it with keybuzz:apiExtraEnvFrom]", "keybuzz-api-smtp")
        assert line_with(out, "[not listed: add to keybuzz:apiExtraEnvFrom]", "JWT_SECRET")
        assert line_with(out, "[not listed: add to keybuzz:apiImagePullSecrets]", "ghcr-pull")
        assert line_with(out, "[would be dropped: model it with keybuzz:apiImagePullSecrets]", "ghcr-legacy")
        assert line_with(out, "[not listed: not modelled]", "containers[metrics-exporter]")
        assert line_with(out, "[not listed: not modelled]", "volumes[certs] (secret keybuzz-api-certs)")
        assert line_with(out, "[not listed: not modelled]", "port 9102")
        assert line_with(out, "[not listed: add to keybuzz:apiEstateExternalSecret]", "keybuzz-api-postgres-estate")
        admin = line_with(out, "[blocks: foreign owner]", "objects owned by postgres")
        assert "1 function, 1 sequence, 1 type" in admin
        assert line_with(out, "[left as is]", "role keybuzz_api_prod: owns database keybuzz_reports")
        assert line_with(out, "[not listed: add to keybuzz:databaseConsumers]", f"login {MONITOR}")
        assert line_with(out, "[not listed: add to keybuzz:databaseConsumers]", f"login {VAULT_USER}")
        assert line_with(out, "[taken over]", "login keybuzz_api_prod")
        assert line_with(out, "[not listed: add to keybuzz:adoptVaultMounts]", "mount database-prod")
        assert line_with(out, "[left as is]", "connection database/config/keybuzz-postgres")
        for fix in ('keybuzz:apiSelectorLabels: {"app": "keybuzz-api"}',
                    'keybuzz:apiExtraEnvFrom: ["secret:keybuzz-api-smtp", "secret:keybuzz-api-jwt"]',
                    'keybuzz:apiImagePullSecrets: ["ghcr-pull", "ghcr-legacy"]',
                    'keybuzz:apiEstateExternalSecret: "keybuzz-api-postgres-estate"',
                    'keybuzz:databaseConsumers: ["estate_monitor", "v-token-keybuzz--"]',
                    'keybuzz:adoptVaultMounts: ["database-prod"]',
                    'keybuzz:apiServicePortName: "web"',
                    "ALTER TYPE public.ticket_status OWNER TO keybuzz_api_prod;"):  # fmt: skip
            assert fix in out
        assert "result: BLOCKED" in out
        data = json.loads(report_file.read_text())
        assert data["exitCode"] == 5
        assert data["readOnly"] is True
        verdicts = {(f["subject"], f["what"]): f["verdict"] for f in data["findings"]}
        assert verdicts[("Deployment keybuzz-api-prod/keybuzz-api", "spec.selector")] == "blocks"
        assert 'keybuzz:apiSelectorLabels: {"app": "keybuzz-api"}' in data["fixes"]

    def test_as_the_documented_read_only_identities_it_finds_the_same(
        self, lab: Lab, prog: Path, tmp_path: Path
    ) -> None:
        env = read_only_identities(lab, tmp_path)
        with_admin = preflight(lab, prog, expect=5).stdout
        before = snapshot(lab)
        proc = preflight(lab, prog, env=env)
        assert proc.returncode == 5, proc.stdout + proc.stderr
        assert snapshot(lab) == before
        assert "KEYBUZZ_PREFLIGHT_KUBECONFIG" in lines(proc.stdout)[0]
        assert lines(proc.stdout)[1:] == lines(with_admin)[1:]


def read_only_identities(lab: Lab, tmp: Path) -> dict[str, str]:
    """The grants of docs/preflight.md, made in the lab: a PostgreSQL login with pg_monitor, a Vault token of
    the read policy, and a service account bound to the read ClusterRole (a kubeconfig with its token)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "preflight.md").read_text()
    policy = doc.split("```hcl\n", 1)[1].split("```", 1)[0]
    cluster_role = yaml.safe_load(doc.split("```yaml\n", 1)[1].split("```", 1)[0])
    vault = lab.vault()
    vault.write("sys/policies/acl/keybuzz-preflight", {"policy": policy})
    token = vault.write("auth/token/create", {"policies": ["keybuzz-preflight"], "ttl": "1h"})["auth"]["client_token"]
    (tmp / "vault-token").write_text(token)
    status, body = lab.kube.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", cluster_role)
    assert status in (201, 409), body
    lab.kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": "keybuzz-preflight"}})  # fmt: skip
    lab.kube.request("POST", "/api/v1/namespaces/keybuzz-preflight/serviceaccounts",
                     {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "preflight"}})  # fmt: skip
    status, body = lab.kube.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "keybuzz-preflight"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "keybuzz-preflight"},
        "subjects": [{"kind": "ServiceAccount", "name": "preflight", "namespace": "keybuzz-preflight"}],
    })  # fmt: skip
    assert status in (201, 409), body
    sa_token = lab.kube.service_account_token("keybuzz-preflight", "preflight", seconds=3600)
    config = yaml.safe_load(lab.kube.kubeconfig_path.read_text())
    config["users"] = [{"name": "lab-admin", "user": {"token": sa_token}}]
    (tmp / "kubeconfig").write_text(yaml.safe_dump(config))
    with psycopg.connect(**lab.conninfo(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'keybuzz_preflight'").fetchone() is None:
            conn.execute(f"CREATE ROLE keybuzz_preflight LOGIN PASSWORD '{ROLE_PASSWORD}'")  # a throwaway lab login
        conn.execute("GRANT pg_monitor TO keybuzz_preflight")
        conn.execute("GRANT CONNECT ON DATABASE keybuzz_prod TO keybuzz_preflight")
    (tmp / "pgpass").write_text(f"{HOST}:{lab.ports.lb_write}:*:keybuzz_preflight:{ROLE_PASSWORD}\n")
    (tmp / "pgpass").chmod(0o600)
    return {
        "KEYBUZZ_PREFLIGHT_KUBECONFIG": str(tmp / "kubeconfig"),
        "KEYBUZZ_PREFLIGHT_PG": (
            f"host={HOST} port={lab.ports.lb_write} user=keybuzz_preflight dbname=postgres sslmode=require"
        ),
        "PGPASSFILE": str(tmp / "pgpass"),
        "KEYBUZZ_PREFLIGHT_VAULT_ADDR": f"http://{HOST}:{lab.ports.bao}",
        "KEYBUZZ_PREFLIGHT_VAULT_TOKEN_FILE": str(tmp / "vault-token"),
    }


# --- ops drift ------------------------------------------------------------------------------------------------


def patch(lab: Lab, path: str, body: dict[str, Any], manager: str) -> None:
    """A strategic-merge patch as `kubectl patch` sends it, under field manager `manager`."""
    ctx = ssl.create_default_context(cafile=str(lab.kube.dir / "certs" / "apiserver.crt"))
    req = urllib.request.Request(
        f"{lab.kube.url}{path}?fieldManager={manager}", data=json.dumps(body).encode(), method="PATCH"
    )
    req.add_header("Authorization", f"Bearer {lab.kube.token}")
    req.add_header("Content-Type", "application/strategic-merge-patch+json")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        assert resp.status == 200


def test_drift_names_every_field_another_manager_set_after_the_up(lab: Lab, prog: Path) -> None:
    def ops(*args: str, expect: int) -> Any:
        return run(lab, prog, [sys.executable, "-m", "ops", *args, "--cwd", str(prog), "--no-policy"], expect=expect)

    ops("up", "--stack", "lab-dev", expect=0)
    clean = ops("drift", "--stack", "lab-dev", expect=0)
    assert "no drift on stack 'lab-dev'" in clean.stdout
    deployment = "/apis/apps/v1/namespaces/keybuzz-api-dev/deployments/keybuzz-api"
    patch(lab, deployment, {"spec": {"template": {"spec": {
        "containers": [{"name": "debug-sidecar", "image": "busybox:1.36"},
                       {"name": "keybuzz-api", "env": [{"name": "SMTP_PASSWORD", "valueFrom": {"secretKeyRef": {
                           "name": "keybuzz-api-smtp", "key": "password"}}}],
                        "volumeMounts": [{"name": "extra-certs", "mountPath": "/certs"}]}],
        "volumes": [{"name": "extra-certs", "secret": {"secretName": "keybuzz-api-certs"}}],
        "nodeSelector": {"disktype": "ssd"}}}}}, "kubectl-patch")  # fmt: skip
    patch(lab, deployment, {"spec": {"template": {"spec": {"containers": [{"name": "keybuzz-api", "envFrom": [
        {"secretRef": {"name": "keybuzz-api-postgres"}}, {"secretRef": {"name": "keybuzz-api-env"}},
        {"configMapRef": {"name": "keybuzz-api-flags"}}]}]}}}}, "kubectl-edit")  # fmt: skip
    patch(lab, "/api/v1/namespaces/keybuzz-api-dev/services/keybuzz-api",
          {"spec": {"ports": [{"name": "metrics", "port": 9100, "targetPort": 9100}]}}, "kubectl-patch")  # fmt: skip
    found = ops("drift", "--stack", "lab-dev", expect=4).stdout
    api = "Deployment keybuzz-api-dev/keybuzz-api spec.template.spec."
    for path, manager in (
        ("containers[name=debug-sidecar]", "kubectl-patch"),
        ("containers[name=keybuzz-api].env[name=SMTP_PASSWORD]", "kubectl-patch"),
        ("containers[name=keybuzz-api].volumeMounts[mountPath=/certs]", "kubectl-patch"),
        ("volumes[name=extra-certs]", "kubectl-patch"),
        ("nodeSelector", "kubectl-patch"),
        ("containers[name=keybuzz-api].envFrom", "kubectl-edit"),
    ):
        assert f"{api}{path}  set by {manager} (Update, " in found, f"{path} not reported:\n{found}"
    assert "Service keybuzz-api-dev/keybuzz-api spec.ports[port=9100,protocol=TCP]  set by kubectl-patch" in found
    assert "DRIFT on stack 'lab-dev'" in found
