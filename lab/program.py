"""The program's view of the lab: render a stack with the lab's endpoints and read what apps would use.

Rendering itself is `render.render_stack` (the real ``__main__.py`` under Pulumi mocks);
this module only builds the config overrides that point the program at the lab, and reads from a
rendering the chain an app's database credentials follow: ExternalSecret (PGHOST/PGPORT/PGDATABASE
template, refreshInterval) -> VaultDynamicSecret generator (Vault path) -> database secret backend
role (statements, TTLs).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from lab.cluster import Lab
from lab.config import HOST
from lab.kube import kube_ports

EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
GENERATOR = "kubernetes:generators.external-secrets.io/v1alpha1:VaultDynamicSecret"
BACKEND_ROLE = "vault:database/secretBackendRole:SecretBackendRole"

# Placeholder node addresses on the loopback range. The lab's nodes all listen on 127.0.0.1 (told apart
# by port) and the program's node lists hold bare addresses, so these stand in for them: they are only
# there for the program's "never a node" rules and nothing ever connects to them.
PLACEHOLDER_PG_NODES = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
PLACEHOLDER_REDIS_NODES = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]


def lab_overrides(lab: Lab, **extra: Any) -> dict[str, Any]:
    """Config overrides that point a stack at `lab` (and carry the lab's generated secrets)."""
    overrides: dict[str, Any] = {
        "postgresWriteEndpoint": f"{HOST}:{lab.ports.lb_write}",
        "postgresReadEndpoint": f"{HOST}:{lab.ports.lb_read}",
        "redisEndpoint": f"{HOST}:{lab.ports.base + 3}",  # no Redis in the lab; never connected
        "postgresNodes": PLACEHOLDER_PG_NODES,
        "redisNodes": PLACEHOLDER_REDIS_NODES,
        "vaultAddress": f"http://{HOST}:{lab.ports.bao}",
        # The platform namespaces' egress: the lab's OpenBao and API server (no CNI enforces it in the lab).
        "vaultCidrs": [f"{HOST}/32"],
        "kubernetesApiEgress": [f"{HOST}/32:{kube_ports(lab.ports)['kube_api']}"],
        # No postgresSslMode: the lab serves TLS (lab/tls.py), so the stacks keep the shipped mode.
        "postgresAdminPassword": lab.secrets.superuser_password,
        # The program sends this one value both to PostgreSQL (the Vault login role) and to Vault (the
        # connection): verify_connection proves the wiring.
        # A new random value per rendering is fine: the Role and the connection come from the same one.
        "vaultDbPassword": secrets.token_urlsafe(24),
    }
    overrides.update(extra)
    return overrides


def go_seconds(duration: str | int | float) -> float:
    """A Go/Kubernetes duration ("20m0s", "29s", "1h0m0s") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


@dataclass(frozen=True)
class AppDatabaseAccess:
    """How one app gets and uses database credentials, entirely as the program declares it."""

    namespace: str
    secret_name: str  # the Kubernetes Secret ESO writes
    vault_path: str  # <mount>/creds/<role>
    mount: str
    role: str
    host: str
    port: int
    database: str
    refresh_seconds: float
    default_ttl: int
    max_ttl: int
    creation_statements: list[str]
    revocation_statements: list[str]


def database_access(rendering: Any) -> list[AppDatabaseAccess]:
    """Every ExternalSecret fed by a VaultDynamicSecret generator, resolved to its Vault role."""
    generators = {
        (g.inputs["metadata"]["namespace"], g.inputs["metadata"]["name"]): g for g in rendering.of_type(GENERATOR)
    }
    roles = {(r.inputs["backend"], r.inputs["name"]): r for r in rendering.of_type(BACKEND_ROLE)}
    found = []
    for es in rendering.of_type(EXTERNAL_SECRET):
        spec, namespace = es.inputs["spec"], es.inputs["metadata"]["namespace"]
        for source in spec.get("dataFrom", []):
            ref = source.get("sourceRef", {}).get("generatorRef")
            if not ref or ref.get("kind") != "VaultDynamicSecret":
                continue
            path = generators[(namespace, ref["name"])].inputs["spec"]["path"]
            mount, _, role_name = path.partition("/creds/")
            role = roles[(mount, role_name)].inputs
            data = spec["target"]["template"]["data"]
            found.append(
                AppDatabaseAccess(
                    namespace=namespace,
                    secret_name=spec["target"]["name"],
                    vault_path=path,
                    mount=mount,
                    role=role_name,
                    host=data["PGHOST"],
                    port=int(data["PGPORT"]),
                    database=data["PGDATABASE"],
                    refresh_seconds=go_seconds(spec["refreshInterval"]),
                    default_ttl=int(role["defaultTtl"]),
                    max_ttl=int(role["maxTtl"]),
                    creation_statements=list(role["creationStatements"]),
                    revocation_statements=list(role["revocationStatements"]),
                )
            )
    return found
