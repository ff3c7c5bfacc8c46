"""A minimal JSON-over-HTTP client (stdlib only) for the loopback REST APIs the lab talks to:
Patroni, etcd's gRPC gateway, HAProxy's stats page and OpenBao's Vault API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from lab.config import HOST


class HttpError(RuntimeError):
    def __init__(self, status: int, url: str, body: str) -> None:
        super().__init__(f"HTTP {status} from {url}: {body[:500]}")
        self.status = status
        self.body = body


def request(
    method: str,
    port: int,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, Any]:
    """Send one request to 127.0.0.1:`port` and return (status, decoded JSON or text or None).

    Raises HttpError for status >= 400. The host is fixed: the lab never talks to anything else.
    """
    url = f"http://{HOST}:{port}{path}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode(errors="replace")
    if status >= 400:
        raise HttpError(status, url, text)
    if not text:
        return status, None
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def status_of(method: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of one request, or None if nothing answered."""
    try:
        return request(method, port, path, timeout=timeout)[0]
    except HttpError as exc:
        return exc.status
    except OSError:
        return None


class Vault:
    """Vault-API client for the lab's OpenBao server."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        _, payload = request(method, self.port, f"/v1/{path.lstrip('/')}", body, headers={"X-Vault-Token": self.token})
        return payload

    def read(self, path: str) -> Any:
        return self.call("GET", path)

    def write(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)

    def with_token(self, token: str) -> Vault:
        return Vault(self.port, token)
