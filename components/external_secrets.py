"""External Secrets Operator objects of one namespace: store, credential generators, synced Secrets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .durations import go_duration
from .k8s import PATCH_FORCE
from .spec import DRIVER_SSL, DatabaseSecret, KvSecret, VaultLogin

ESO_API = "external-secrets.io/v1"
GENERATORS_API = "generators.external-secrets.io/v1alpha1"
#: The namespace's SecretStore (one per app namespace, logged in with the app's service account).
STORE_NAME = "vault"

#: Defaults ESO writes back when absent: spelled out so `pulumi refresh` shows no drift.
REMOTE_REF_DEFAULTS: Mapping[str, str] = {
    "conversionStrategy": "Default",
    "decodingStrategy": "None",
    "metadataPolicy": "None",
}


@dataclass(frozen=True)
class AppSecretsArgs:
    """Inputs of `AppSecrets`."""

    namespace: pulumi.Input[str]
    #: The namespace's store login (the app's service account) and the KV mount it reads.
    store_login: VaultLogin
    kv_mount: str
    database_secrets: Sequence[DatabaseSecret]
    kv_secrets: Sequence[KvSecret]
    #: refreshInterval in seconds; validated below half the credentials' default_ttl.
    refresh_seconds: int
    #: The Vault objects ESO needs before it can log in and read (the Kubernetes auth roles, policies, KV
    #: secrets, database roles). A component's own depends_on does not reach its children, so every child
    #: here depends on them (as `MigrationsArgs.credentials_after`); without, ESO's first syncs fail and wait
    #: for its backoff.
    credentials_after: Sequence[pulumi.Resource] = ()
    #: Per database Secret, the estate ExternalSecret that owns it today (``<app>EstateExternalSecret``): the
    #: program's ExternalSecret takes that name (see `dynamic_database_secret`).
    estate_external_secrets: Mapping[str, str] = field(default_factory=dict)
    #: Whether `up` waits until ESO has synced each database Secret (Ready): an `up` that reports success
    #: while the apps still read the legacy credentials is worse than one that fails.
    await_database_secrets: bool = True


def database_template(secret: DatabaseSecret) -> dict[str, str]:
    """The ``target.template.data`` of a database Secret: the keys the apps read today, plus PGSSLMODE.

    The PG* keys are read by the Node apps' node-postgres, DATABASE_URL by Prisma: each carries the stack's
    sslmode in that driver's spelling (`DRIVER_SSL`), so `require` means "encrypted, unverified" to both."""
    data = {
        "PGHOST": secret.lb.host,
        "PGPORT": str(secret.lb.port),
        "PGDATABASE": secret.database,
        "PGUSER": "{{ .username }}",
        "PGPASSWORD": "{{ .password }}",
        "PGSSLMODE": DRIVER_SSL["node-postgres"][secret.ssl_mode],
    }
    if secret.with_database_url:
        data["DATABASE_URL"] = (
            "postgresql://{{ .username | urlquery }}:{{ .password | urlquery }}@"
            f"{secret.lb.host}:{secret.lb.port}/{secret.database}?sslmode={DRIVER_SSL['prisma'][secret.ssl_mode]}"
        )
    return data


#: Makes `pulumi up` wait until ESO has synced the target Secret (pulumi-kubernetes reads this annotation:
#: provider/pkg/metadata/overrides.go `ReadyCondition`, `condition=` as in `kubectl wait`; ESO sets the
#: ExternalSecret's `Ready` condition once the Secret is written). Without it a custom resource is "created"
#: as soon as the API server accepts it.
WAIT_FOR_READY: Mapping[str, str] = {"pulumi.com/waitFor": "condition=Ready"}


def external_secret(
    logical: str,
    namespace: pulumi.Input[str],
    target: str,
    refresh: str,
    store_name: str,
    spec_extra: dict[str, Any],
    template: dict[str, Any] | None,
    opts: pulumi.ResourceOptions,
    wait_ready: bool = False,
    name: str | None = None,
) -> k8s.apiextensions.CustomResource:
    """One ExternalSecret writing the Kubernetes Secret `target` (ESO owns it: deleted with it), named
    `name` (default: `target`)."""
    target_spec: dict[str, Any] = {"name": target, "creationPolicy": "Owner", "deletionPolicy": "Retain"}
    if template is not None:
        target_spec["template"] = template
    metadata: dict[str, Any] = {"name": name or target, "namespace": namespace, "annotations": dict(PATCH_FORCE)}
    if wait_ready:
        metadata["annotations"].update(WAIT_FOR_READY)
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=ESO_API,
        kind="ExternalSecret",
        metadata=metadata,
        spec={
            "refreshInterval": refresh,
            "secretStoreRef": {"name": store_name, "kind": "SecretStore"},
            "target": target_spec,
            **spec_extra,
        },
        opts=opts,
    )


def dynamic_database_secret(
    prefix: str,
    namespace: pulumi.Input[str],
    secret: DatabaseSecret,
    refresh: str,
    store_name: str,
    opts: pulumi.ResourceOptions,
    wait_ready: bool = False,
    external_secret_name: str | None = None,
) -> tuple[k8s.apiextensions.CustomResource, k8s.apiextensions.CustomResource]:
    """The ``VaultDynamicSecret`` generator issuing `secret`'s credentials and the ExternalSecret templating
    them into the PG* Secret, named ``<prefix>-<secret>-creds`` and ``<prefix>-<secret>``. `opts` apply to
    both.

    The ExternalSecret's ``metadata.name`` is the Secret's, or `external_secret_name`: the estate's
    ExternalSecret that owns the Secret today. ESO refuses to write a Secret whose controller is another
    ExternalSecret, judged by *name* (external-secrets ``externalsecret_controller.go``: ``GetControllerOf``,
    "we ignore the UID"), so a second ExternalSecret would never sync and two owners would fight; upserted
    under the estate's name (with `PATCH_FORCE`) the program's is the same object, so the owner check keeps
    passing and nothing is deleted. Its ``spec.data`` is declared empty: ``data`` and ``dataFrom`` are atomic
    lists in ESO's CRD, so the forced apply replaces whatever the estate read (its KV path, which the program's
    policy denies) with the generator alone."""
    generator_name = f"{secret.secret_name}-creds"
    generator = k8s.apiextensions.CustomResource(
        f"{prefix}-{generator_name}",
        api_version=GENERATORS_API,
        kind="VaultDynamicSecret",
        metadata={"name": generator_name, "namespace": namespace, "annotations": dict(PATCH_FORCE)},
        spec={
            "path": secret.creds_path,
            "method": "GET",
            "resultType": "Data",
            "provider": secret.login.provider(),
        },
        opts=opts,
    )
    synced = external_secret(
        f"{prefix}-{secret.secret_name}",
        namespace,
        secret.secret_name,
        refresh,
        store_name,
        {
            "data": [],
            "dataFrom": [
                {
                    "sourceRef": {
                        "generatorRef": {
                            "apiVersion": GENERATORS_API,
                            "kind": "VaultDynamicSecret",
                            "name": generator_name,
                        }
                    }
                }
            ],
        },
        {"engineVersion": "v2", "mergePolicy": "Replace", "data": database_template(secret)},
        opts.merge(pulumi.ResourceOptions(depends_on=[generator])),
        wait_ready=wait_ready,
        name=external_secret_name,
    )
    return generator, synced


class AppSecrets(pulumi.ComponentResource):
    """Vault -> Kubernetes sync for one namespace.

    Type token: ``keybuzz:eso:AppSecrets``.

    Children: a ``SecretStore`` (Vault provider, Kubernetes auth, KV v2); per database Secret a
    ``VaultDynamicSecret`` generator and an ``ExternalSecret`` templating PG* keys with the LB host and
    port (awaited until ESO reports it synced, and named as the estate's ExternalSecret it takes over when
    there is one: `dynamic_database_secret`); per KV secret an ``ExternalSecret`` extracting it. API
    versions ``external-secrets.io/v1`` and ``generators.external-secrets.io/v1alpha1``; ESO defaults are
    spelled out.

    Outputs: ``secrets`` (names of the Kubernetes Secrets ESO maintains).
    """

    STORE_NAME = STORE_NAME

    def __init__(self, name: str, args: AppSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("keybuzz:eso:AppSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.credentials_after))
        refresh = go_duration(args.refresh_seconds)

        store = k8s.apiextensions.CustomResource(
            f"{name}-store",
            api_version=ESO_API,
            kind="SecretStore",
            metadata={"name": STORE_NAME, "namespace": args.namespace, "annotations": dict(PATCH_FORCE)},
            spec={"provider": {"vault": args.store_login.provider(args.kv_mount)}},
            opts=child,
        )
        after_store = child.merge(pulumi.ResourceOptions(depends_on=[store]))

        for secret in args.database_secrets:
            dynamic_database_secret(
                name,
                args.namespace,
                secret,
                refresh,
                STORE_NAME,
                after_store,
                wait_ready=args.await_database_secrets,
                external_secret_name=args.estate_external_secrets.get(secret.secret_name),
            )

        for kv in args.kv_secrets:
            external_secret(
                f"{name}-{kv.secret_name}",
                args.namespace,
                kv.secret_name,
                refresh,
                STORE_NAME,
                {"dataFrom": [{"extract": {"key": kv.kv_key, **REMOTE_REF_DEFAULTS}}]},
                None,
                after_store,
            )

        self.secret_names = [s.secret_name for s in args.database_secrets] + [k.secret_name for k in args.kv_secrets]
        self.register_outputs({"secrets": self.secret_names})
