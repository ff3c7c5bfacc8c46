"""Scheduled rotation of the Vault connections' root passwords (``rotate-root``), as a Kubernetes CronJob.

Vault's own scheduled root rotation (``rotation_schedule`` on a connection) is a Vault Enterprise
feature (1.19+), which the estate's Vault and the lab's OpenBao do not have; a CronJob that logs in with
its own service account and may do nothing but ``rotate-root`` on this environment's connections is the
portable equivalent. Each connection has its own login role, so rotating one never touches another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s
import pulumi_vault as vault

from .k8s import TMP, hardened, labels_of
from .namespace import host_cidr, platform_namespace
from .spec import VAULT_AUDIENCE

#: Vault CLI image of the rotation job (pinned; the CLI talks to the estate's Vault over its HTTP API).
VAULT_CLI_IMAGE = "hashicorp/vault:1.18.3"
SERVICE_ACCOUNT = "keybuzz-vault-rotate-root"
#: The job's service-account token for Vault (a projected token with Vault's audience, not the API token).
TOKEN_DIR = "/var/run/secrets/vault"
TOKEN_PATH = f"{TOKEN_DIR}/token"


@dataclass(frozen=True)
class RootRotationArgs:
    """Inputs of `RootRotation`."""

    env: str
    #: Policy, Kubernetes-auth role and CronJob name (naming.root_rotation()).
    name: str
    namespace: str
    vault_address: str
    kubernetes_auth_mount: str
    mount: pulumi.Input[str]
    connections: Sequence[str]
    schedule: str
    #: Vault's addresses when `vault_address` names a host (a NetworkPolicy cannot name a DNS host).
    vault_cidrs: Sequence[str] = ()
    adopt_namespace: bool = False
    skip_await: bool = False


def rotation_policy(mount: str, connections: Sequence[str]) -> str:
    """HCL: ``rotate-root`` on exactly these connections of this environment's mount, nothing else."""
    rules = [f'path "{mount}/rotate-root/{c}" {{\n  capabilities = ["update"]\n}}' for c in sorted(connections)]
    header = "# rotate the root password of this environment's Vault connections, nothing else\n"
    return header + "\n".join(rules) + "\n"


def vault_egress(address: str, cidrs: Sequence[str] = ()) -> dict[str, Any]:
    """The egress rule to Vault, on Vault's port only: to `cidrs` when given (Vault named by a host name, such
    as the estate's ``vault.keybuzz.io``: a NetworkPolicy cannot name a DNS host), else to its address as a
    ``/32``. A host name without `cidrs` is refused by the config (rule `egress`), never widened to any address."""
    url = urlparse(address)
    port = url.port or (443 if url.scheme == "https" else 80)
    if not cidrs:
        cidrs = [host_cidr(url.hostname or "")]
    return {"to": [{"ipBlock": {"cidr": c}} for c in cidrs], "ports": [{"protocol": "TCP", "port": port}]}


def rotation_script(args: RootRotationArgs, mount: str) -> str:
    """The job's shell script: log in as the job's service account, rotate every connection, fail on any error."""
    lines = [
        "set -eu",
        f'export VAULT_ADDR="{args.vault_address}"',
        f'VAULT_TOKEN="$(vault write -field=token auth/{args.kubernetes_auth_mount}/login role={args.name} '
        f'jwt="$(cat {TOKEN_PATH})")"',
        "export VAULT_TOKEN",
    ]
    lines += [f'vault write -f "{mount}/rotate-root/{c}"' for c in sorted(args.connections)]
    return "\n".join(lines) + "\n"


def job_pod(script: pulumi.Input[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(container, pod spec fields) of the job: the Vault CLI, hardened, running `script`.

    It logs in to Vault with a token of its service account issued for Vault's audience (a projected token: the
    Kubernetes auth role checks the audience); it never calls the Kubernetes API, so no API token is mounted."""
    container, pod = hardened(
        {
            "name": "rotate-root",
            "image": VAULT_CLI_IMAGE,
            "command": ["/bin/sh", "-c", script],
            "env": [{"name": "HOME", "value": TMP}],
            "resources": {
                "requests": {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "16Mi"},
                "limits": {"memory": "64Mi", "ephemeral-storage": "64Mi"},
            },
        }
    )
    container["volumeMounts"] = [*container["volumeMounts"], {"name": "vault-token", "mountPath": TOKEN_DIR,
                                                               "readOnly": True}]  # fmt: skip
    token = {"audience": VAULT_AUDIENCE, "expirationSeconds": 600, "path": TOKEN_PATH.rsplit("/", 1)[1]}
    pod["volumes"] = [
        *pod["volumes"],
        {"name": "vault-token", "projected": {"sources": [{"serviceAccountToken": token}]}},
    ]
    return container, pod


class RootRotation(pulumi.ComponentResource):
    """Rotates the root password of each of the environment's Vault database connections on a schedule.

    Type token: ``keybuzz:vault:RootRotation``.

    Children: the Vault policy (``update`` on ``<mount>/rotate-root/<connection>`` only) and the
    Kubernetes-auth role bound to the job's service account in the environment's ops namespace (the
    ``vault`` provider); the namespace with its NetworkPolicies (default-deny, then DNS and Vault's port
    only: `platform_namespace`), the service account and the CronJob (the ``kubernetes`` provider).

    Outputs: ``schedule`` and ``connections``.
    """

    def __init__(
        self,
        name: str,
        args: RootRotationArgs,
        vault_opts: pulumi.ResourceOptions,
        k8s_opts: pulumi.ResourceOptions,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("keybuzz:vault:RootRotation", name, None, opts)
        in_vault = vault_opts.merge(pulumi.ResourceOptions(parent=self))
        in_k8s = k8s_opts.merge(pulumi.ResourceOptions(parent=self))
        labels = labels_of(args.name, args.env)

        self._vault_role(name, args, in_vault)

        # Like every namespace of the stack: deny by default (policy `namespaces-default-deny`), then DNS and
        # Vault's API for the job, nothing else (no ingress at all).
        _, in_ns = platform_namespace(
            name,
            args.namespace,
            labels,
            [vault_egress(args.vault_address, args.vault_cidrs)],
            in_k8s,
            skip_await=args.skip_await,
            adopt=args.adopt_namespace,
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": SERVICE_ACCOUNT, "namespace": args.namespace, "labels": labels},
            opts=in_ns,
        )
        script = pulumi.Output.from_input(args.mount).apply(lambda m: rotation_script(args, m))
        container, pod = job_pod(script)
        k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata={"name": args.name, "namespace": args.namespace, "labels": labels},
            spec={
                "schedule": args.schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                # A run missed by more than an hour (controller down) is skipped, not started late; without a
                # deadline the controller stops scheduling after 100 missed runs.
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 2,
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {
                                "restartPolicy": "Never",
                                "serviceAccountName": SERVICE_ACCOUNT,
                                **pod,
                                "containers": [container],
                            },
                        },
                    }
                },
            },
            opts=in_ns,
        )
        self.register_outputs({"schedule": args.schedule, "connections": sorted(args.connections)})

    def _vault_role(self, name: str, args: RootRotationArgs, in_vault: pulumi.ResourceOptions) -> None:
        """The job's Vault policy (`rotation_policy`) and the Kubernetes-auth role its service account logs in with."""
        policy = vault.Policy(
            f"{name}-policy",
            name=args.name,
            policy=pulumi.Output.from_input(args.mount).apply(lambda m: rotation_policy(m, args.connections)),
            opts=in_vault,
        )
        vault.kubernetes.AuthBackendRole(
            f"{name}-auth",
            backend=args.kubernetes_auth_mount,
            role_name=args.name,
            bound_service_account_names=[SERVICE_ACCOUNT],
            bound_service_account_namespaces=[args.namespace],
            token_policies=[policy.name],
            audience=VAULT_AUDIENCE,
            token_ttl=300,
            token_max_ttl=600,
            opts=in_vault,
        )
