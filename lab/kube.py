"""The lab's Kubernetes API: etcd, kube-apiserver and a minimal controller manager from the toolchain, on
loopback, with ESO's CRDs and the ESO controller.

There is no kubelet and no scheduler: objects are stored and served (Deployments, Services,
ExternalSecrets, ...), workloads never run. Processes, recorded by PID in ``<state>/run`` beside the HA
lab's:

- ``kube-etcd``: etcd 3.6 (the toolchain's; the Patroni DCS is a separate etcd), client port base+30.
- ``kube-apiserver``: secure port base+32, a self-signed serving certificate in ``<state>/kube/certs``,
  a service-account issuer and signing key (so TokenReview works for OpenBao's Kubernetes auth), a
  static admin token (``<state>/kube/tokens.csv``, mode 0600, generated per lab) and RBAC.
- ``kube-controller-manager``: the garbage collector and the namespace controller only (deletions
  complete as on a real cluster); HTTPS on 127.0.0.1 base+35.
- ``external-secrets``: the ESO controller (``--tags vault`` build), out of cluster with the kubeconfig;
  metrics and health on 127.0.0.1 base+33/34; no webhook, no cert controller.
- ``reloader-dev``, ``reloader-prod``: Stakater Reloader, one per environment, out of cluster, with the
  arguments the program gives its in-cluster Deployment (``components.pickup.reloader_args`` over the
  environment's app namespaces, from the shipped stack file); built from a patched copy of its tree whose
  metrics/health server reads ``RELOADER_HTTP_LISTEN_ADDR``: 127.0.0.1 base+36 onwards, one per environment
  in table order (dev base+36, prod base+37).
  They act as the lab's admin until `start_reloader` restarts one as the program's service account.

``<state>/kubeconfig`` (mode 0600) points at it with that token and the serving certificate as CA.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import secrets
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from components.environments import environments
from lab.config import HOST, Layout, Ports, write_private
from lab.procs import LabError, ProcRecord, ProcTable, stop, wait_for

REPO = Path(__file__).resolve().parent.parent
ENVIRONMENTS = environments()  # one Reloader per environment of the table (components/environments.py)
RELOADERS = tuple(f"reloader-{env}" for env in ENVIRONMENTS)
PROCS = (*RELOADERS, "external-secrets", "kube-controller-manager", "kube-apiserver", "kube-etcd")  # stop order
# Only what a stored-objects cluster needs: the garbage collector (foreground deletion: Pulumi deletes with
# propagationPolicy Foreground and waits for the object to go) and the namespace controller (a deleted
# namespace's content is removed and the namespace finalized). No scheduler, no kubelet: pods never run.
CONTROLLERS = "garbagecollector,namespace"
REVIEWER = ("kube-system", "openbao-token-reviewer")  # namespace, service account
REVIEWER_TOKEN_SECONDS = 7 * 24 * 3600
SERVICE_CIDR = "10.96.0.0/24"  # kube-apiserver requires a range; no Service address is ever routed


def toolchain_bin() -> Path:
    """The toolchain's bin folder (etcd, kube-apiserver); refuses clearly when it is not built."""
    out = subprocess.run(
        ["bash", str(REPO / "toolchain" / "build.sh"), "bin"], capture_output=True, text=True, check=False
    )
    path = Path(out.stdout.strip())
    if out.returncode != 0 or not (path / "kube-apiserver").is_file():
        raise LabError(f"the toolchain's kube-apiserver is not built ({path}): run `make toolchain` first")
    return path


def toolchain_pulumi_home() -> Path:
    """The toolchain's own PULUMI_HOME, where `make toolchain` installs its source-built provider plugins
    (never ~/.pulumi: toolchain/build.sh `home`). Any pulumi run of a lab stack needs it."""
    out = subprocess.run(
        ["bash", str(REPO / "toolchain" / "build.sh"), "home"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise LabError(f"toolchain/build.sh home failed: {out.stderr.strip()}")
    return Path(out.stdout.strip())


def kube_ports(ports: Ports) -> dict[str, int]:
    return {
        "kube_etcd": ports.base + 30,
        "kube_etcd_peer": ports.base + 31,
        "kube_api": ports.base + 32,
        "eso_metrics": ports.base + 33,
        "eso_health": ports.base + 34,
        "kcm": ports.base + 35,
        # One Reloader per environment, in table order: dev base+36, prod base+37.
        **{f"reloader_{env}": ports.base + 36 + i for i, env in enumerate(ENVIRONMENTS)},
    }


def reloader_namespaces(env: str) -> list[str]:
    """The app namespaces of `env`'s stack (the shipped ``Pulumi.<env>.yaml``, which the lab stacks keep):
    what the program's Reloader of that environment watches."""
    from components.naming import Naming

    config = yaml.safe_load((REPO / f"Pulumi.{env}.yaml").read_text())["config"]
    return [Naming(env).namespace(app) for app in config["keybuzz:apps"]]


class KubeApi:
    """The lab's Kubernetes API server, its etcd, its admin credentials and kubeconfig."""

    def __init__(self, layout: Layout, ports: Ports) -> None:
        self.layout = layout
        self.ports = kube_ports(ports)
        self.dir = layout.state_dir / "kube"
        self.procs = ProcTable(layout.run_dir)

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.ports['kube_api']}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.layout.state_dir / "kubeconfig"

    @property
    def token(self) -> str:
        return (self.dir / "admin.token").read_text().strip()

    def running(self) -> list[ProcRecord]:
        return [r for name in PROCS if (r := self.procs.get(name)) and r.alive()]

    # ------------------------------------------------------------------ files

    def _prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "certs").mkdir(exist_ok=True)
        key = self.dir / "sa.key"
        if not key.exists():
            subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
            key.chmod(0o600)
        token_file = self.dir / "admin.token"
        if not token_file.exists():
            write_private(token_file, "lab-kube-" + secrets.token_urlsafe(24) + "\n")
        write_private(self.dir / "tokens.csv", f"{self.token},lab-admin,lab-admin,system:masters\n")

    def _write_kubeconfig(self) -> None:
        ca = (self.dir / "certs" / "apiserver.crt").read_bytes()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "keybuzz-lab",
                    "cluster": {"server": self.url, "certificate-authority-data": base64.b64encode(ca).decode()},
                }
            ],
            "users": [{"name": "lab-admin", "user": {"token": self.token}}],
            "contexts": [{"name": "keybuzz-lab", "context": {"cluster": "keybuzz-lab", "user": "lab-admin"}}],
            "current-context": "keybuzz-lab",
        }
        write_private(self.kubeconfig_path, yaml.safe_dump(config, sort_keys=False))

    # ------------------------------------------------------------------ processes

    def _spawn(self, bin_dir: Path) -> None:
        p = self.ports
        etcd_url, peer_url = f"http://{HOST}:{p['kube_etcd']}", f"http://{HOST}:{p['kube_etcd_peer']}"
        env = {"PATH": os.environ.get("PATH", "")}
        self.procs.spawn(
            "kube-etcd",
            [str(bin_dir / "etcd"), "--name=lab-kube-etcd", f"--data-dir={self.dir / 'etcd'}",
             f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
             f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
             f"--initial-cluster=lab-kube-etcd={peer_url}", "--listen-metrics-urls=",
             "--log-outputs=stderr"],
            self.layout.log("kube-etcd"), env=env,
        )  # fmt: skip
        key = self.dir / "sa.key"
        self.procs.spawn(
            "kube-apiserver",
            [str(bin_dir / "kube-apiserver"), f"--etcd-servers={etcd_url}",
             f"--bind-address={HOST}", f"--advertise-address={HOST}", f"--secure-port={p['kube_api']}",
             f"--cert-dir={self.dir / 'certs'}", f"--service-account-issuer={self.url}",
             f"--service-account-key-file={key}", f"--service-account-signing-key-file={key}",
             f"--api-audiences={self.url}",
             f"--token-auth-file={self.dir / 'tokens.csv'}", "--authorization-mode=RBAC",
             f"--service-cluster-ip-range={SERVICE_CIDR}", "--enable-priority-and-fairness=false"],
            self.layout.log("kube-apiserver"), env=env,
        )  # fmt: skip

    def up(self, timeout: float = 90.0) -> dict[str, float]:
        """Start etcd and the API server (or nothing if both run), install the ESO CRDs, write the kubeconfig."""
        t0 = time.monotonic()
        if len(self.running()) == len(PROCS):
            return {"already_running": 1.0}
        self.down()
        bin_dir = toolchain_bin()
        self._prepare()
        self._spawn(bin_dir)
        wait_for(self.ready, timeout, f"kube-apiserver /readyz (see {self.layout.log('kube-apiserver')})", 0.25)
        self._write_kubeconfig()
        ready = round(time.monotonic() - t0, 2)
        self._spawn_controller_manager(bin_dir)
        self.install_crds(bin_dir.parent / "crds" / "external-secrets")
        self._spawn_eso(bin_dir)
        for env in ENVIRONMENTS:
            self.start_reloader(env, bin_dir=bin_dir)
        wait_for(self.eso_healthy, timeout, f"the ESO controller (see {self.layout.log('external-secrets')})", 0.25)
        for env in ENVIRONMENTS:
            wait_for(functools.partial(self.reloader_healthy, env), timeout, f"Reloader {env} (see its log)", 0.25)
        return {"kube_ready_s": ready, "kube_total_s": round(time.monotonic() - t0, 2)}

    def _spawn_controller_manager(self, bin_dir: Path) -> None:
        self.procs.spawn(
            "kube-controller-manager",
            [str(bin_dir / "kube-controller-manager"), f"--kubeconfig={self.kubeconfig_path}",
             f"--controllers={CONTROLLERS}", "--leader-elect=false", f"--bind-address={HOST}",
             f"--secure-port={self.ports['kcm']}", f"--cert-dir={self.dir / 'kcm-certs'}"],
            self.layout.log("kube-controller-manager"),
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.dir)},
        )  # fmt: skip

    def _spawn_eso(self, bin_dir: Path) -> None:
        """The External Secrets controller, out of cluster, with the lab's kubeconfig (no webhook, no
        cert controller: those are separate subcommands; metrics and health on loopback only)."""
        p = self.ports
        self.procs.spawn(
            "external-secrets",
            [str(bin_dir / "external-secrets"), f"--metrics-addr={HOST}:{p['eso_metrics']}",
             f"--live-addr={HOST}:{p['eso_health']}", "--enable-leader-election=false",
             "--enable-cluster-store-reconciler=false", "--enable-cluster-external-secret-reconciler=false",
             "--enable-cluster-push-secret-reconciler=false", "--loglevel=info"],
            self.layout.log("external-secrets"),
            env={"PATH": os.environ.get("PATH", ""), "KUBECONFIG": str(self.kubeconfig_path),
                 "HOME": str(self.dir)},
        )  # fmt: skip

    def start_reloader(
        self, env: str, service_account: tuple[str, str] | None = None, bin_dir: Path | None = None
    ) -> ProcRecord:
        """(Re)start `env`'s Reloader with the program's arguments. With `service_account` (namespace, name)
        it authenticates as that account (a TokenRequest token in a kubeconfig of its own, mode 0600), so
        it holds exactly the RBAC the program grants it; otherwise as the lab's admin (before any `up`)."""
        from components.pickup import reloader_args

        self.stop_reloader(env)
        kubeconfig = self.kubeconfig_path
        if service_account is not None:
            token = self.service_account_token(*service_account)
            config = yaml.safe_load(kubeconfig.read_text())
            config["users"] = [{"name": "lab-admin", "user": {"token": token}}]
            kubeconfig = self.dir / f"kubeconfig-reloader-{env}"
            write_private(kubeconfig, yaml.safe_dump(config, sort_keys=False))
        port = self.ports[f"reloader_{env}"]
        record = self.procs.spawn(
            f"reloader-{env}",
            [str((bin_dir or toolchain_bin()) / "reloader"), *reloader_args(reloader_namespaces(env))],
            self.layout.log(f"reloader-{env}"),
            env={"PATH": os.environ.get("PATH", ""), "KUBECONFIG": str(kubeconfig), "HOME": str(self.dir),
                 "RELOADER_HTTP_LISTEN_ADDR": f"{HOST}:{port}"},
        )  # fmt: skip
        return record

    def stop_reloader(self, env: str) -> list[str]:
        """Stop `env`'s Reloader by its recorded PID (nothing if it is not running)."""
        record = self.procs.get(f"reloader-{env}")
        if not record:
            return []
        killed = stop([record], timeout=30)
        self.procs.drop(record.name)
        return killed

    def reloader_healthy(self, env: str) -> bool:
        try:
            url = f"http://{HOST}:{self.ports[f'reloader_{env}']}/live"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def eso_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.ports['eso_health']}/healthz", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def down(self) -> list[str]:
        killed: list[str] = []
        for name in PROCS:
            record = self.procs.get(name)
            if record:
                killed += stop([record], timeout=30)
                self.procs.drop(name)
        return killed

    # ------------------------------------------------------------------ API

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
        """One authenticated request; returns (status, parsed JSON or text)."""
        ctx = ssl.create_default_context(cafile=str(self.dir / "certs" / "apiserver.crt"))
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def service_account_token(
        self, namespace: str, name: str, seconds: int = REVIEWER_TOKEN_SECONDS, audiences: Sequence[str] = ()
    ) -> str:
        """A token of the service account `namespace`/`name` (TokenRequest), as a pod of it would mount; for
        `audiences` (as ESO or a projected volume asks), else the API server's own (`--api-audiences`)."""
        spec: dict[str, Any] = {"expirationSeconds": seconds}
        if audiences:
            spec["audiences"] = list(audiences)
        status, body = self.request(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )  # fmt: skip
        if status != 201:
            raise LabError(f"no token for {namespace}/{name} ({status}): has the stack been `up`ed? {body}")
        return str(body["status"]["token"])

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """The decoded data of a Kubernetes Secret (the ones ESO writes)."""
        status, body = self.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if status != 200:
            raise LabError(f"Secret {namespace}/{name} not found ({status}): is the ESO controller running?")
        return {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}

    def external_secrets(self) -> list[dict[str, Any]]:
        status, body = self.request("GET", "/apis/external-secrets.io/v1/externalsecrets")
        if status != 200:
            raise LabError(f"listing ExternalSecrets failed ({status}): {body}")
        return list(body["items"])

    def wait_external_secrets_ready(self, timeout: float = 90) -> list[dict[str, Any]]:
        """Every ExternalSecret Ready (synced), or LabError after `timeout` seconds."""

        def all_ready() -> list[dict[str, Any]] | None:
            items = self.external_secrets()
            return items if items and all(ready_condition(i)[0] for i in items) else None

        return wait_for(
            all_ready, timeout, f"every ExternalSecret Ready (see {self.layout.log('external-secrets')})", 1
        )

    def ready(self) -> bool:
        if not (self.dir / "certs" / "apiserver.crt").exists():
            return False
        try:
            return self.request("GET", "/readyz", timeout=2)[0] == 200
        except OSError:
            return False

    def install_crds(self, crd_dir: Path, timeout: float = 60.0) -> list[str]:
        """Create (or keep) every CRD in `crd_dir` and wait until each is Established."""
        names = []
        for path in sorted(crd_dir.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            status, body = self.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
            if status not in (201, 409):
                raise LabError(f"creating CRD {crd['metadata']['name']} failed ({status}): {body}")
            names.append(crd["metadata"]["name"])

        def established() -> bool:
            for name in names:
                _, body = self.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                conditions = (body.get("status") or {}).get("conditions") or [] if isinstance(body, dict) else []
                if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                    return False
            return True

        wait_for(established, timeout, "the External Secrets CRDs to be Established", 0.25)
        return names


def ready_condition(obj: dict[str, Any]) -> tuple[bool, str]:
    """(Ready, its message) of an object with status conditions (an ExternalSecret, a SecretStore)."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True", str(c.get("message") or c.get("reason") or "")
    return False, "not reconciled yet"


def configure_openbao_kubernetes_auth(kube: KubeApi, vault: Any, mount: str = "kubernetes") -> None:
    """OpenBao's Kubernetes auth method against the lab's API server, as the estate has it: logins with a
    service account's token are checked by TokenReview, with a reviewer account allowed to do that
    (``system:auth-delegator``). Idempotent. `vault` is a `lab.http.Vault` with a root token."""
    ns, name = REVIEWER
    kube.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                 {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})  # fmt: skip
    kube.request(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": f"{name}-auth-delegator"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]},
    )  # fmt: skip
    reviewer_token = kube.service_account_token(ns, name)
    auths = vault.read("sys/auth")
    table = auths.get("data", auths) if isinstance(auths, dict) else {}
    if f"{mount}/" not in table:
        vault.write(f"sys/auth/{mount}", {"type": "kubernetes"})
    vault.write(
        f"auth/{mount}/config",
        {"kubernetes_host": kube.url,
         "kubernetes_ca_cert": (kube.dir / "certs" / "apiserver.crt").read_text(),
         "token_reviewer_jwt": reviewer_token},
    )  # fmt: skip
