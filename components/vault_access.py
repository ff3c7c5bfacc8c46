"""Who may read what in Vault: per-app policies, Kubernetes auth roles, and the apps' KV secrets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_vault as vault
from pydantic import SecretStr

from .spec import VAULT_AUDIENCE, AppAccess


@dataclass(frozen=True)
class AccessArgs:
    """Inputs of `Access`."""

    kv_mount: str
    kubernetes_auth_mount: str
    workloads: Sequence[AppAccess]
    #: Vault token TTL of the workloads' logins (ESO logs in with these roles for every re-issue and never
    #: renews or revokes a generator's token; Vault revokes a token's leases when it expires). Must exceed
    #: `credential_ttl`, else the credentials die with the token (external-secrets#2198).
    token_ttl: int
    #: default_ttl of the database roles whose credentials these logins fetch.
    credential_ttl: int
    #: KV secrets to write: path inside the KV mount -> JSON object (written as a Pulumi secret).
    kv_secrets: Mapping[str, SecretStr] = field(default_factory=dict)


def policy_document(kv_mount: str, access: AppAccess) -> str:
    """HCL of a workload's policy: its own KV prefix and its own credentials, nothing else."""
    lines = [f"# {access.policy}: {access.app} reads its own secrets and database credentials only"]
    if access.kv_prefix:
        lines += [
            f'path "{kv_mount}/data/{access.kv_prefix}/*" {{\n  capabilities = ["read"]\n}}',
            f'path "{kv_mount}/metadata/{access.kv_prefix}/*" {{\n  capabilities = ["read", "list"]\n}}',
        ]
    lines += [f'path "{path}" {{\n  capabilities = ["read"]\n}}' for path in access.creds_paths]
    return "\n".join(lines) + "\n"


class Access(pulumi.ComponentResource):
    """Least-privilege Vault access for one environment's workloads.

    Type token: ``keybuzz:vault:Access``.

    Children: per workload a policy (its own ``<kv>/data/keybuzz/<env>/<app>/*`` and its own
    ``database-<env>/creds/<role>``) and a Kubernetes auth role bound to exactly its namespace and
    service account, whose tokens outlive the credentials they fetch (``token_ttl`` > ``credential_ttl``,
    checked before any child is created); per app with secrets a KV v2 secret (data is a Pulumi secret).

    Outputs: ``policies`` (workload -> policy name) and ``kv_paths``.
    """

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:vault:Access", name, None, opts)
        if args.token_ttl <= args.credential_ttl:
            raise ValueError(
                f"{name}: token_ttl {args.token_ttl}s must exceed credential_ttl {args.credential_ttl}s: a Vault "
                "token's leases are revoked when it expires, and ESO never renews its logins (external-secrets#2198)"
            )
        child = pulumi.ResourceOptions(parent=self)

        self.policies: dict[str, vault.Policy] = {}
        for access in args.workloads:
            policy = vault.Policy(
                f"{name}-{access.app}-policy",
                name=access.policy,
                policy=policy_document(args.kv_mount, access),
                opts=child,
            )
            self.policies[access.app] = policy
            vault.kubernetes.AuthBackendRole(
                f"{name}-{access.app}-auth",
                backend=args.kubernetes_auth_mount,
                role_name=access.auth_role,
                bound_service_account_names=[access.service_account],
                bound_service_account_namespaces=[access.namespace],
                token_policies=[policy.name],
                # Only tokens issued for Vault (ESO asks for this audience), never one for the Kubernetes API.
                audience=VAULT_AUDIENCE,
                token_ttl=args.token_ttl,
                # Nobody renews these tokens (ESO logs in anew each time); the max only has to admit the TTL.
                token_max_ttl=args.token_ttl * 2,
                opts=child,
            )

        for path, data in args.kv_secrets.items():
            vault.kv.SecretV2(
                f"{name}-{path.replace('/', '-')}",
                mount=args.kv_mount,
                name=path,
                data_json=pulumi.Output.secret(data.get_secret_value()),
                # The apps' secrets (ESO keeps syncing them into running pods): kept live on delete.
                opts=child.merge(pulumi.ResourceOptions(retain_on_delete=True)),
            )

        self.register_outputs(
            {
                "policies": {app: p.name for app, p in self.policies.items()},
                "kv_paths": sorted(args.kv_secrets),
            }
        )
