"""Read-only access to the estate for `ops preflight` and `ops drift`: Kubernetes, PostgreSQL, Vault.

Each reader can only read: the Kubernetes client has a GET method and nothing else, and lists Secrets as
metadata only (a `PartialObjectMetadataList`: Kubernetes returns Secret *values* to anyone allowed to
list Secrets, so the client refuses any other request under ``/secrets``); the PostgreSQL session is
``default_transaction_read_only``; the Vault client sends GET only. The grants they need are in
docs/preflight.md ("Read-only grants").

Where the credentials come from (docs/preflight.md, "Connection settings"): environment variables naming
files or settings (`from_environment`), or for a lab stack the lab's own (`from_lab`).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops.errors import OpsError

#: The Accept header that makes the API server return objects' metadata only (no `data`): the only way a
#: list of Secrets does not carry their values.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"

ENV_KUBECONFIG = "KEYBUZZ_PREFLIGHT_KUBECONFIG"
ENV_PG = "KEYBUZZ_PREFLIGHT_PG"
ENV_VAULT_ADDR = "KEYBUZZ_PREFLIGHT_VAULT_ADDR"
ENV_VAULT_TOKEN_FILE = "KEYBUZZ_PREFLIGHT_VAULT_TOKEN_FILE"
ENV_VAULT_CACERT = "KEYBUZZ_PREFLIGHT_VAULT_CACERT"


class KubeReader:
    """GET-only Kubernetes API client from a kubeconfig (its current context: token or client certificate)."""

    def __init__(
        self, server: str, ca_pem: bytes | None, token: str | None, cert_key: tuple[bytes, bytes] | None = None
    ) -> None:
        self.server = server.rstrip("/")
        self._token = token
        self._ctx = ssl.create_default_context(cadata=ca_pem.decode() if ca_pem else None)
        if cert_key:
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
                for path, data in ((cert, cert_key[0]), (key, cert_key[1])):
                    path.touch(mode=0o600)
                    path.write_bytes(data)
                self._ctx.load_cert_chain(str(cert), str(key))
        #: Every path requested, with its Accept header (tests check no Secret was read in full).
        self.requests: list[tuple[str, str]] = []

    @classmethod
    def from_kubeconfig(cls, text: str, base: Path | None = None) -> KubeReader:
        doc = yaml.safe_load(text) or {}
        current = doc.get("current-context")
        contexts = {c["name"]: c["context"] for c in doc.get("contexts") or []}
        context = contexts.get(current) or (next(iter(contexts.values())) if contexts else {})
        cluster = {c["name"]: c["cluster"] for c in doc.get("clusters") or []}.get(context.get("cluster"), {})
        user = {u["name"]: u["user"] for u in doc.get("users") or []}.get(context.get("user"), {}) or {}

        def blob(data_key: str, file_key: str, holder: Mapping[str, Any]) -> bytes | None:
            if holder.get(data_key):
                return base64.b64decode(holder[data_key])
            if holder.get(file_key):
                return (Path(base or ".") / holder[file_key]).read_bytes()
            return None

        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = (Path(base or ".") / user["tokenFile"]).read_text().strip()
        cert = blob("client-certificate-data", "client-certificate", user)
        key = blob("client-key-data", "client-key", user)
        if not cluster.get("server"):
            raise OpsError("the kubeconfig names no cluster server", fix=f"check {ENV_KUBECONFIG}")
        return cls(
            cluster["server"],
            blob("certificate-authority-data", "certificate-authority", cluster),
            token,
            (cert, key) if cert and key else None,
        )

    def get(self, path: str, accept: str = "application/json") -> tuple[int, Any]:
        if "secrets" in path.split("?", 1)[0].split("/") and accept != METADATA_ONLY:
            raise OpsError(f"refusing to read {path}: Secrets are read as metadata only")
        self.requests.append((path, accept))
        req = urllib.request.Request(self.server + path, method="GET")
        req.add_header("Accept", accept)
        if self._token:
            req.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=20) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")
        except urllib.error.URLError as err:
            raise OpsError(f"Kubernetes API {self.server} unreachable: {err.reason}") from err

    def items(self, path: str, accept: str = "application/json") -> list[dict[str, Any]]:
        """The items of a list; none when the resource or namespace does not exist (404)."""
        status, body = self.get(path, accept)
        if status == 404:
            return []
        if status != 200:
            raise OpsError(f"GET {path}: {status} {str(body)[:300]}", fix="check the read grants (docs/preflight.md)")
        return list(body.get("items") or [])

    def one(self, path: str) -> dict[str, Any] | None:
        status, body = self.get(path)
        if status == 404:
            return None
        if status != 200:
            raise OpsError(f"GET {path}: {status} {str(body)[:300]}", fix="check the read grants (docs/preflight.md)")
        return dict(body)

    def secrets_metadata(self, namespace: str) -> list[dict[str, Any]]:
        return self.items(f"/api/v1/namespaces/{namespace}/secrets", accept=METADATA_ONLY)


class PgReader:
    """Read-only PostgreSQL sessions (``default_transaction_read_only``) from one libpq conninfo."""

    def __init__(self, conninfo: str | Mapping[str, Any]) -> None:
        self._conninfo = conninfo

    def connect(self, dbname: str | None = None) -> Any:
        import psycopg

        kwargs: dict[str, Any] = {"options": "-c default_transaction_read_only=on", "connect_timeout": 10}
        if dbname:
            kwargs["dbname"] = dbname
        try:
            if isinstance(self._conninfo, str):
                conn = psycopg.connect(self._conninfo, autocommit=True, **kwargs)
            else:
                conn = psycopg.connect(**{**self._conninfo, **kwargs}, autocommit=True)
        except psycopg.OperationalError as exc:
            raise OpsError(f"PostgreSQL: {str(exc).strip()}", fix=f"check {ENV_PG} (docs/preflight.md)") from exc
        return conn


class VaultReader:
    """GET-only Vault client (reads and `?list=true`)."""

    def __init__(self, address: str, token: str, cacert: str | None = None) -> None:
        self.address = address.rstrip("/")
        self._token = token
        self._ctx = ssl.create_default_context(cafile=cacert) if cacert else None

    def get(self, path: str, list_: bool = False) -> Any:
        url = f"{self.address}/v1/{path.lstrip('/')}" + ("?list=true" if list_ else "")
        req = urllib.request.Request(url, method="GET")
        req.add_header("X-Vault-Token", self._token)
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=20) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise OpsError(
                f"Vault GET {path}: {err.code} {err.read().decode(errors='replace')[:200]}",
                fix="check the read policy (docs/preflight.md)",
            ) from err
        except urllib.error.URLError as err:
            raise OpsError(f"Vault {self.address} unreachable: {err.reason}") from err

    def keys(self, path: str) -> list[str]:
        body = self.get(path, list_=True)
        return list(((body or {}).get("data") or {}).get("keys") or [])


@dataclass
class Sources:
    """The three read-only readers of one stack."""

    kube: KubeReader
    pg: PgReader
    vault: VaultReader
    #: Where they came from, printed at the top of the report (never a credential).
    origin: str


def from_environment(environ: Mapping[str, str], vault_address: str) -> Sources:
    """The readers from ``KEYBUZZ_PREFLIGHT_*`` (docs/preflight.md); every missing one is named at once."""
    missing = [name for name in (ENV_KUBECONFIG, ENV_PG, ENV_VAULT_TOKEN_FILE) if not environ.get(name)]
    if missing:
        raise OpsError(
            f"no read-only credentials for the preflight: {', '.join(missing)} not set",
            fix="set them to the read-only identities of docs/preflight.md ('Connection settings'); lab stacks "
            "use the lab's own (LAB_STATE_DIR, or --lab-state)",
        )
    kubeconfig = Path(environ[ENV_KUBECONFIG])
    kube = KubeReader.from_kubeconfig(kubeconfig.read_text(), base=kubeconfig.parent)
    token = Path(environ[ENV_VAULT_TOKEN_FILE]).read_text().strip()
    vault = VaultReader(environ.get(ENV_VAULT_ADDR) or vault_address, token, environ.get(ENV_VAULT_CACERT))
    return Sources(kube, PgReader(environ[ENV_PG]), vault, f"{ENV_KUBECONFIG}, {ENV_PG}, {ENV_VAULT_TOKEN_FILE}")


def from_lab(state_dir: Path) -> Sources:
    """The readers of a lab stack: the lab's own API server, PostgreSQL (through its LB, over TLS) and OpenBao."""
    from lab.cluster import Lab
    from lab.config import HOST

    lab = Lab(state_dir)
    if not lab.kube.kubeconfig_path.exists():
        raise OpsError(f"the lab in {state_dir} has no Kubernetes API", fix="make lab-up")
    kube = KubeReader.from_kubeconfig(lab.kube.kubeconfig_path.read_text(), base=lab.kube.kubeconfig_path.parent)
    pg = PgReader({**lab.conninfo(), "sslmode": "require"})
    vault = VaultReader(f"http://{HOST}:{lab.ports.bao}", lab.secrets.bao_root_token)
    return Sources(kube, pg, vault, f"the lab in {state_dir}")


def lab_state_dir(lab_state: Path | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    """A lab stack's lab: --lab-state, else LAB_STATE_DIR (`python -m lab env`), else the checkout's `.lab`."""
    if lab_state:
        return lab_state
    if environ.get("LAB_STATE_DIR"):
        return Path(environ["LAB_STATE_DIR"])
    return cwd / ".lab" if (cwd / ".lab").is_dir() else None


def resolve_sources(
    stack: str, environ: Mapping[str, str], vault_address: str, lab_state: Path | None, cwd: Path
) -> Sources:
    """The environment's read-only settings when set; else, for a lab stack, the lab's."""
    if environ.get(ENV_KUBECONFIG) or environ.get(ENV_PG) or environ.get(ENV_VAULT_TOKEN_FILE):
        return from_environment(environ, vault_address)
    state = lab_state_dir(lab_state, environ, cwd)
    if stack.rsplit("/", 1)[-1].startswith("lab-") and state is not None:
        return from_lab(state)
    return from_environment(environ, vault_address)


def environ() -> Mapping[str, str]:
    return dict(os.environ)


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")
