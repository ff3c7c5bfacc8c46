"""The preflight's verdicts: what the first `up` would do to each live object of the estate, as data.

Pure functions over plain JSON (live objects as the API servers return them, the rendered program's
manifests, rows read from PostgreSQL's catalog and Vault's API), so that every rule is tested on recorded
fixtures (tests/unit/ops/test_preflight_model.py) and the live run (ops/preflight.py) only gathers inputs.

Every finding carries one verdict (docs/preflight.md, "Verdicts"):

- ``taken over``: the program will own it, nothing the estate relies on is lost;
- ``would be dropped``: the up removes or replaces something the estate uses; model it with a config key;
- ``blocks``: the up fails or cuts traffic (an immutable field, a selector that no longer selects the
  running pods, an owner the ownership transfer refuses);
- ``not listed``: the up meets something the stack does not name; add it to a config key;
- ``left as is``: the program does not touch it (said so that the report lists every estate object).

Why server-side apply decides most verdicts: the program applies with `pulumi.com/patchForce`, so every
field it sets is taken over; a field it does not set stays as the estate had it *unless* it sits inside an
atomic field the program sets (a Deployment's `selector`, a container's `envFrom`, a Service's `selector`):
those are replaced whole (Kubernetes' `x-kubernetes-list-type: atomic` / `map-type: atomic`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PROJECT = "keybuzz"


class Verdict(StrEnum):
    """What the up would do to one live fact (ordered from fine to worst in `SEVERITY`)."""

    TAKEN_OVER = "taken over"
    UNTOUCHED = "left as is"
    NOT_LISTED = "not listed"
    DROPPED = "would be dropped"
    BLOCKS = "blocks"


SEVERITY = {
    Verdict.TAKEN_OVER: 0,
    Verdict.UNTOUCHED: 0,
    Verdict.NOT_LISTED: 1,
    Verdict.DROPPED: 1,
    Verdict.BLOCKS: 2,
}


@dataclass(frozen=True)
class Finding:
    """One live fact and what the up would do to it.

    `key` is the config key whose value fixes it (``keybuzz:apiExtraEnvFrom``) and `items` what to put in
    it (list keys: entries to add; object keys: one JSON object; string keys: one value): `fix_lines`
    turns them into one stack-file line per key. `fix` is a fix that is not a config line (a statement a
    person runs), for what no key can keep.
    """

    area: str
    subject: str
    what: str
    verdict: Verdict
    detail: str
    reason: str = ""
    key: str = ""
    items: tuple[str, ...] = ()
    fix: str = ""

    def label(self) -> str:
        if self.verdict is Verdict.BLOCKS:
            return f"blocks: {self.reason or 'the up fails'}"
        if self.verdict is Verdict.DROPPED:
            return f"would be dropped: model it with {self.key}" if self.key else "would be dropped: no key keeps it"
        if self.verdict is Verdict.NOT_LISTED:
            return f"not listed: add to {self.key}" if self.key else "not listed: not modelled"
        return str(self.verdict)

    def as_json(self, lines: Mapping[str, str]) -> dict[str, Any]:
        return {
            "area": self.area,
            "subject": self.subject,
            "what": self.what,
            "verdict": str(self.verdict),
            "label": self.label(),
            "detail": self.detail,
            "key": self.key,
            "fix": lines.get(self.key, "") if self.key else self.fix,
        }


# --- config keys and their fix lines ---------------------------------------------------------------------

#: Keys whose value is a JSON object (the others the preflight names are lists, or a string below).
OBJECT_KEYS = ("SelectorLabels",)
STRING_KEYS = ("EstateExternalSecret", "ServicePortName")


def app_key(app: str, suffix: str) -> str:
    return f"{PROJECT}:{app}{suffix}"


def _current(config: Mapping[str, Any], key: str) -> Any:
    value = config.get(key)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def fix_lines(findings: Iterable[Finding], config: Mapping[str, Any]) -> dict[str, str]:
    """One stack-file line per key the findings name: the key's current value with every item added.

    List keys keep their current entries first, then the new ones in order of appearance (no duplicate);
    object keys take the finding's object (the live selector); string keys the finding's value.
    """
    wanted: dict[str, list[str]] = {}
    for f in findings:
        if f.key and f.verdict in (Verdict.DROPPED, Verdict.NOT_LISTED, Verdict.BLOCKS):
            bucket = wanted.setdefault(f.key, [])
            bucket.extend(i for i in f.items if i not in bucket)
    lines = {}
    for key, items in wanted.items():
        if key.endswith(OBJECT_KEYS):
            value: Any = json.loads(items[0]) if items else {}
        elif key.endswith(STRING_KEYS):
            value = items[0] if items else ""
        else:
            current = _current(config, key)
            value = [str(v) for v in current] if isinstance(current, list) else []
            value += [i for i in items if i not in value]
        lines[key] = f"{key}: {json.dumps(value)}"
    return lines


# --- Kubernetes ------------------------------------------------------------------------------------------


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def subject(obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind', '?')} {where}{meta.get('name', '?')}"


def _pod_spec(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}


def _template_labels(deployment: Mapping[str, Any]) -> dict[str, str]:
    return dict((((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})


def _containers(deployment: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c["name"]: c for c in _pod_spec(deployment).get("containers") or []}


def env_from_refs(container: Mapping[str, Any]) -> list[str]:
    """`envFrom` as ``secret:<name>`` / ``configmap:<name>``, the spelling of `keybuzz:<app>ExtraEnvFrom`."""
    refs = []
    for source in container.get("envFrom") or []:
        if "secretRef" in source:
            refs.append(f"secret:{source['secretRef'].get('name', '')}")
        elif "configMapRef" in source:
            refs.append(f"configmap:{source['configMapRef'].get('name', '')}")
    return refs


def _env_ref(entry: Mapping[str, Any]) -> str:
    source = entry.get("valueFrom") or {}
    if "secretKeyRef" in source:
        return f"secret:{source['secretKeyRef'].get('name', '')}"
    if "configMapKeyRef" in source:
        return f"configmap:{source['configMapKeyRef'].get('name', '')}"
    return ""


def _volume_source(volume: Mapping[str, Any]) -> str:
    for kind, spec in volume.items():
        if kind == "name":
            continue
        if kind == "secret":
            return f"secret {spec.get('secretName', '')}"
        if kind == "configMap":
            return f"configMap {spec.get('name', '')}"
        if kind == "persistentVolumeClaim":
            return f"persistentVolumeClaim {spec.get('claimName', '')}"
        return kind
    return "?"


def _j(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def compare_deployment(
    live: Mapping[str, Any],
    program: Mapping[str, Any],
    app: str | None,
    service_accounts: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Finding]:
    """The program's Deployment applied over the live one (same namespace and name).

    `app` names the per-app keys (None for a platform Deployment: its fixes name no key);
    `service_accounts` are the live ServiceAccounts of the namespace by name (their image pull secrets).
    """
    out: list[Finding] = []
    who = subject(live)
    area = "kubernetes"

    def key(suffix: str) -> str:
        return app_key(app, suffix) if app else ""

    live_sel = (live.get("spec") or {}).get("selector") or {}
    prog_sel = (program.get("spec") or {}).get("selector") or {}
    if _j(live_sel) != _j(prog_sel):
        expressions = bool(live_sel.get("matchExpressions"))
        out.append(
            Finding(
                area, who, "spec.selector", Verdict.BLOCKS,
                f"live {_j(live_sel)}, program {_j(prog_sel)}: a Deployment's selector is immutable, the apply "
                "fails after the Service was already repointed (issue 17, point 1)",
                reason="immutable",
                key="" if expressions else key("SelectorLabels"),
                items=() if expressions else (_j(live_sel.get("matchLabels") or {}),),
                fix="matchExpressions cannot be kept: re-create the Deployment with the program's selector "
                "(a planned outage of that app)" if expressions else "",
            )
        )  # fmt: skip
    else:
        out.append(Finding(area, who, "spec.selector", Verdict.TAKEN_OVER, f"same selector {_j(live_sel)}"))

    live_labels, prog_labels = _template_labels(live), _template_labels(program)
    changed = {k: (v, prog_labels[k]) for k, v in live_labels.items() if k in prog_labels and prog_labels[k] != v}
    kept = sorted(k for k in live_labels if k not in prog_labels)
    detail = f"pod labels {_j(live_labels)}"
    if changed:
        detail += "; values changed: " + ", ".join(f"{k}: {a!r} => {b!r}" for k, (a, b) in changed.items())
    if kept:
        detail += f"; kept (another manager's): {', '.join(kept)}"
    out.append(Finding(area, who, "spec.template.metadata.labels", Verdict.TAKEN_OVER, detail))

    live_c, prog_c = _containers(live), _containers(program)
    for name in prog_c:
        if name not in live_c:
            if live_c:
                out.append(
                    Finding(
                        area, who, f"containers[{name}]", Verdict.BLOCKS,
                        f"the live pods run {sorted(live_c)}, the program's container is {name!r}: server-side apply "
                        f"adds it beside them (two containers on one port)",
                        reason="container name",
                        fix=f"rename the live container to {name} first (kubectl set image and the rollback "
                        "runbook use that name), or re-create the Deployment",
                    )
                )  # fmt: skip
            continue
        out.append(Finding(area, who, f"containers[{name}]", Verdict.TAKEN_OVER, "the program's container"))
        live_refs, prog_refs = env_from_refs(live_c[name]), env_from_refs(prog_c[name])
        for ref in live_refs:
            if ref in prog_refs:
                out.append(Finding(area, who, f"containers[{name}].envFrom {ref}", Verdict.TAKEN_OVER, "kept"))
            else:
                out.append(
                    Finding(
                        area, who, f"containers[{name}].envFrom {ref}", Verdict.DROPPED,
                        f"envFrom is atomic: the program's list {prog_refs} replaces the live {live_refs}",
                        key=key("ExtraEnvFrom"), items=(ref,),
                    )
                )  # fmt: skip
        prog_env = {e["name"]: e for e in prog_c[name].get("env") or []}
        for entry in live_c[name].get("env") or []:
            ref = _env_ref(entry)
            if not ref:
                continue
            what = f"containers[{name}].env {entry['name']} from {ref}"
            if entry["name"] in prog_env and _env_ref(prog_env[entry["name"]]) != ref:
                out.append(
                    Finding(area, who, what, Verdict.DROPPED, "the program sets this variable itself",
                            key=key("ExtraEnvFrom"), items=(ref,))
                )  # fmt: skip
            elif entry["name"] not in prog_env:
                out.append(
                    Finding(
                        area, who, what, Verdict.NOT_LISTED,
                        "kept by server-side apply (another manager's entry), not modelled: `ops drift` reports it "
                        "after the up; the whole object as envFrom keeps it modelled",
                        key=key("ExtraEnvFrom"), items=(ref,),
                    )
                )  # fmt: skip
    for name in live_c:
        if name not in prog_c and any(n in live_c for n in prog_c):
            out.append(
                Finding(
                    area, who, f"containers[{name}]", Verdict.NOT_LISTED,
                    f"sidecar {name!r} ({live_c[name].get('image', '?')}) is kept by server-side apply under its "
                    "manager but not modelled: `ops drift` reports it after the up",
                    fix="model it in the program, or remove it before the up",
                )
            )  # fmt: skip

    live_pod, prog_pod = _pod_spec(live), _pod_spec(program)
    prog_vols = {v["name"]: v for v in prog_pod.get("volumes") or []}
    for vol in live_pod.get("volumes") or []:
        source = _volume_source(vol)
        what = f"volumes[{vol['name']}] ({source})"
        if vol["name"] in prog_vols and _volume_source(prog_vols[vol["name"]]) != source:
            out.append(
                Finding(area, who, what, Verdict.DROPPED,
                        f"the program's volume {vol['name']!r} is {_volume_source(prog_vols[vol['name']])}",
                        fix="rename the live volume, or model it")
            )  # fmt: skip
        elif vol["name"] not in prog_vols:
            out.append(
                Finding(area, who, what, Verdict.NOT_LISTED,
                        "kept by server-side apply under its manager, not modelled: `ops drift` reports it",
                        fix="model it in the program, or remove it before the up")
            )  # fmt: skip

    prog_pull = [p["name"] for p in prog_pod.get("imagePullSecrets") or []]
    live_pull = [p["name"] for p in live_pod.get("imagePullSecrets") or []]
    for name in live_pull:
        if name in prog_pull:
            out.append(Finding(area, who, f"imagePullSecrets {name}", Verdict.TAKEN_OVER, "the program's"))
        else:
            out.append(
                Finding(area, who, f"imagePullSecrets {name}", Verdict.NOT_LISTED,
                        "kept by server-side apply under its manager, not modelled",
                        key=key("ImagePullSecrets"), items=(name,))
            )  # fmt: skip

    live_sa = live_pod.get("serviceAccountName") or "default"
    prog_sa = prog_pod.get("serviceAccountName") or "default"
    if live_sa == prog_sa:
        out.append(Finding(area, who, "serviceAccountName", Verdict.TAKEN_OVER, f"same service account {live_sa}"))
    else:
        sa_pull = [p["name"] for p in ((service_accounts or {}).get(live_sa) or {}).get("imagePullSecrets") or []]
        lost = [p for p in sa_pull if p not in prog_pull and p not in live_pull]
        if lost:
            out.append(
                Finding(
                    area, who, "serviceAccountName", Verdict.DROPPED,
                    f"pods move from service account {live_sa} to {prog_sa}: the pull secrets attached to "
                    f"{live_sa} ({', '.join(lost)}) no longer apply",
                    key=key("ImagePullSecrets"), items=tuple(lost),
                )
            )  # fmt: skip
        else:
            out.append(
                Finding(area, who, "serviceAccountName", Verdict.TAKEN_OVER,
                        f"pods move from service account {live_sa} to {prog_sa} (it has no pull secret)")
            )  # fmt: skip
    return out


def _ports_by_number(obj: Mapping[str, Any]) -> dict[tuple[int, str], Mapping[str, Any]]:
    ports = (obj.get("spec") or {}).get("ports") or []
    return {(int(p["port"]), p.get("protocol") or "TCP"): p for p in ports}


def _named_port(deployments: Iterable[Mapping[str, Any]], name: str) -> list[int]:
    found = []
    for d in deployments:
        for c in _pod_spec(d).get("containers") or []:
            found += [int(p["containerPort"]) for p in c.get("ports") or [] if p.get("name") == name]
    return found


def compare_service(
    live: Mapping[str, Any],
    program: Mapping[str, Any],
    app: str | None,
    live_deployments: Sequence[Mapping[str, Any]],
) -> list[Finding]:
    """The program's Service applied over the live one; `live_deployments` are the namespace's, whose pods the
    live Service selects today (the program's selector and named ports must still find them)."""
    out: list[Finding] = []
    who = subject(live)
    area = "kubernetes"
    live_sel = (live.get("spec") or {}).get("selector") or {}
    prog_sel = (program.get("spec") or {}).get("selector") or {}
    served = [d for d in live_deployments if live_sel and live_sel.items() <= _template_labels(d).items()]
    still = [d for d in served if prog_sel.items() <= _template_labels(d).items()]
    if _j(live_sel) == _j(prog_sel):
        out.append(Finding(area, who, "spec.selector", Verdict.TAKEN_OVER, f"same selector {_j(live_sel)}"))
    elif served and len(still) == len(served):
        out.append(
            Finding(area, who, "spec.selector", Verdict.TAKEN_OVER,
                    f"{_j(live_sel)} => {_j(prog_sel)}: the running pods carry both")
        )  # fmt: skip
    else:
        pods = _j(_template_labels(served[0])) if served else "(no live Deployment's pods)"
        selector = (served[0].get("spec") or {}).get("selector", {}).get("matchLabels") if served else live_sel
        out.append(
            Finding(
                area, who, "spec.selector", Verdict.BLOCKS,
                f"live {_j(live_sel)}, program {_j(prog_sel)}: a Service's selector is replaced whole, and the "
                f"running pods {pods} do not match the program's: they lose their endpoints",
                reason="cuts traffic", key=app_key(app, "SelectorLabels") if app else "",
                items=(_j(selector or {}),),
            )
        )  # fmt: skip
    live_ports, prog_ports = _ports_by_number(live), _ports_by_number(program)
    for number, port in prog_ports.items():
        if number not in live_ports:
            out.append(Finding(area, who, f"port {number[0]}", Verdict.TAKEN_OVER, "added by the program"))
            continue
        mine = live_ports[number]
        what = f"port {number[0]}"
        if (mine.get("name") or "") != (port.get("name") or ""):
            out.append(
                Finding(
                    area, who, f"{what} name", Verdict.DROPPED,
                    f"{mine.get('name')!r} => {port.get('name')!r}: whatever names the port {mine.get('name')!r} (an "
                    "Ingress backend's port.name, a ServiceMonitor) stops resolving",
                    key=app_key(app, "ServicePortName") if app and mine.get("name") else "",
                    items=(str(mine.get("name")),) if app and mine.get("name") else (),
                    fix=f"point those at port {number[0]} by number, or at the name {port.get('name')!r}, "
                    "before the up",
                )
            )  # fmt: skip
        target, live_target = port.get("targetPort"), mine.get("targetPort", number[0])
        if str(target) == str(live_target):
            out.append(Finding(area, who, f"{what} targetPort", Verdict.TAKEN_OVER, f"same targetPort {target}"))
        elif isinstance(target, str) and not target.isdigit():
            named = _named_port(served, target)
            if served and len(named) >= len(served) and all(str(n) == str(live_target) for n in named):
                out.append(
                    Finding(area, who, f"{what} targetPort", Verdict.TAKEN_OVER,
                            f"{live_target} => {target!r}: the running pods name port {live_target} {target!r}")
                )  # fmt: skip
            else:
                out.append(
                    Finding(
                        area, who, f"{what} targetPort", Verdict.BLOCKS,
                        f"{live_target} => {target!r}: the running pods have no container port named {target!r}, so "
                        "they lose their endpoints until new pods are ready",
                        reason="cuts traffic",
                        fix=f"name the live container port {live_target} {target!r} first (`kubectl -n "
                        f"{_meta(live).get('namespace')} edit deployment`: a rolling update, the selector unchanged)",
                    )
                )  # fmt: skip
        else:
            out.append(
                Finding(area, who, f"{what} targetPort", Verdict.BLOCKS, f"{live_target} => {target}",
                        reason="cuts traffic", fix="the container port must match before the up")
            )  # fmt: skip
    for number, port in live_ports.items():
        if number not in prog_ports:
            out.append(
                Finding(area, who, f"port {number[0]} ({port.get('name', '')})", Verdict.NOT_LISTED,
                        "kept by server-side apply under its manager, not modelled: `ops drift` reports it",
                        fix="model it in the program, or remove it before the up")
            )  # fmt: skip
    return out


def compare_namespaces(program: Iterable[str], live: Iterable[str], adopted: Iterable[str]) -> list[Finding]:
    """The program's namespaces against the live ones and `keybuzz:adoptNamespaces`."""
    live_set, adopted_set = set(live), set(adopted)
    key = f"{PROJECT}:adoptNamespaces"
    out = []
    for ns in sorted(set(program)):
        who = f"Namespace {ns}"
        if ns in live_set and ns in adopted_set:
            out.append(Finding("kubernetes", who, "namespace", Verdict.TAKEN_OVER, "imported (adoptNamespaces)"))
        elif ns in live_set:
            out.append(
                Finding("kubernetes", who, "namespace", Verdict.NOT_LISTED,
                        "exists, and the stack would create it", key=key, items=(ns,))
            )  # fmt: skip
        elif ns in adopted_set:
            out.append(
                Finding("kubernetes", who, "namespace", Verdict.BLOCKS, "listed in adoptNamespaces but absent: the "
                        "import fails", reason="nothing to import", fix=f"remove {ns} from {key}")
            )  # fmt: skip
    return out


# --- External Secrets --------------------------------------------------------------------------------------


def es_target(es: Mapping[str, Any]) -> str:
    """The Secret an ExternalSecret writes (`spec.target.name`, else its own name)."""
    target = ((es.get("spec") or {}).get("target") or {}).get("name")
    return str(target or _meta(es).get("name", ""))


def _store(es: Mapping[str, Any]) -> str:
    ref = (es.get("spec") or {}).get("secretStoreRef") or {}
    return f"{ref.get('kind', 'SecretStore')}/{ref.get('name', '')}"


def _remote_keys(es: Mapping[str, Any]) -> list[str]:
    spec = es.get("spec") or {}
    keys = [((d.get("remoteRef") or {}).get("key") or "") for d in spec.get("data") or []]
    keys += [((d.get("extract") or d.get("find") or {}).get("key") or "") for d in spec.get("dataFrom") or []]
    return [k for k in keys if k]


@dataclass(frozen=True)
class EsoContext:
    """What the program declares in one namespace: its ESO objects, the app's database Secret and KV prefix."""

    namespace: str
    app: str | None
    db_secret: str | None
    estate_external_secret: str
    kv_prefix: str
    program_external_secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    program_stores: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def compare_eso(
    ctx: EsoContext,
    external_secrets: Sequence[Mapping[str, Any]],
    stores: Sequence[Mapping[str, Any]],
    secret_owners: Mapping[str, str],
) -> list[Finding]:
    """Every ExternalSecret and SecretStore of one namespace, which Secret each ExternalSecret owns
    (`secret_owners`: Secret name -> the ExternalSecret its ownerReference names, from metadata only)."""
    out: list[Finding] = []
    for es in external_secrets:
        name = str(_meta(es).get("name"))
        who = subject({**es, "kind": "ExternalSecret"})
        target = es_target(es)
        owner = secret_owners.get(target)
        owns = f"owns Secret {target}" + ("" if owner == name else f" (the Secret's owner: {owner or 'none yet'})")
        detail = f"{owns}; store {_store(es)}; reads {', '.join(_remote_keys(es)) or '(nothing)'}"
        if name in ctx.program_external_secrets:
            prog_spec = ctx.program_external_secrets[name].get("spec") or {}
            live_data = (es.get("spec") or {}).get("data") or []
            if live_data and "data" not in prog_spec:  # declared (even empty), the atomic list is replaced
                out.append(
                    Finding(
                        "eso", who, "spec.data", Verdict.BLOCKS,
                        f"{detail}: the program sets dataFrom only, so the live spec.data (another manager's) stays "
                        "and is read with the program's store and policy, which do not allow it: the sync fails",
                        reason="stale spec.data",
                        fix=f"kubectl -n {ctx.namespace} patch externalsecret {name} --type=json "
                        "-p '[{\"op\":\"remove\",\"path\":\"/spec/data\"}]' right before the up",
                    )
                )  # fmt: skip
            else:
                out.append(Finding("eso", who, "externalsecret", Verdict.TAKEN_OVER, detail))
        elif ctx.db_secret and target == ctx.db_secret:
            if ctx.estate_external_secret == name:
                out.append(
                    Finding("eso", who, "externalsecret", Verdict.TAKEN_OVER,
                            f"{detail}: the estate's ExternalSecret of the app's database Secret, named in "
                            f"{app_key(ctx.app or '?', 'EstateExternalSecret')}")
                )  # fmt: skip
            else:
                out.append(
                    Finding(
                        "eso", who, "externalsecret", Verdict.NOT_LISTED,
                        f"{detail}: it owns the app's database Secret {target}; ESO refuses the program's "
                        f"ExternalSecret {target} for a Secret another one owns (owner check), and the app keeps "
                        "the legacy credentials",
                        key=app_key(ctx.app, "EstateExternalSecret") if ctx.app else "", items=(name,),
                    )
                )  # fmt: skip
        else:
            program_store = _store(es).split("/", 1)[1] in ctx.program_stores and _store(es).startswith("SecretStore/")
            denied = [k for k in _remote_keys(es) if not k.startswith(ctx.kv_prefix)]
            if program_store and denied:
                out.append(
                    Finding(
                        "eso", who, "externalsecret", Verdict.DROPPED,
                        f"{detail}: its store is taken over by the program, whose policy allows {ctx.kv_prefix}* only: "
                        f"{', '.join(denied)} denied, the Secret stops refreshing",
                        fix="give it a SecretStore of its own (another name) before the up",
                    )
                )  # fmt: skip
            else:
                out.append(Finding("eso", who, "externalsecret", Verdict.UNTOUCHED, detail))
    for store in stores:
        name = str(_meta(store).get("name"))
        who = subject({**store, "kind": "SecretStore"})
        auth = (((store.get("spec") or {}).get("provider") or {}).get("vault") or {}).get("auth") or {}
        kube = auth.get("kubernetes") or {}
        live_desc = f"role {kube.get('role', '?')}, service account {(kube.get('serviceAccountRef') or {}).get('name')}"
        if name in ctx.program_stores:
            pauth = ((((ctx.program_stores[name].get("spec") or {}).get("provider") or {}).get("vault") or {})
                     .get("auth") or {}).get("kubernetes") or {}  # fmt: skip
            prog_sa = (pauth.get("serviceAccountRef") or {}).get("name")
            prog_desc = f"role {pauth.get('role')}, service account {prog_sa}"
            out.append(Finding("eso", who, "secretstore", Verdict.TAKEN_OVER, f"{live_desc} => {prog_desc}"))
        else:
            out.append(Finding("eso", who, "secretstore", Verdict.UNTOUCHED, live_desc))
    return out


# --- PostgreSQL ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbObject:
    """One object of an adopted database: its kind (as `ALTER <kind>` spells it), identity and owner."""

    kind: str
    identity: str
    owner: str


@dataclass(frozen=True)
class DatabaseContext:
    """One database of the stack: its app, its owner group and the roles the stack names around it."""

    database: str
    app: str
    owner_group: str
    legacy_roles: tuple[str, ...]
    admin: str
    adopted: bool


def compare_ownership(ctx: DatabaseContext, objects: Sequence[DbObject], db_owner: str | None) -> list[Finding]:
    """Every object's owner against the stack: the owner group and `<app>LegacyRoles` are moved by the
    ownership transfer; the admin role's objects stop it (a person checks and moves each); any other role
    must be listed."""
    out: list[Finding] = []
    who = f"database {ctx.database}"
    key = app_key(ctx.app, "LegacyRoles")
    fine = {ctx.owner_group, "pg_database_owner"}
    if db_owner is None:
        if ctx.adopted:
            out.append(
                Finding("postgresql", who, "database", Verdict.BLOCKS, "listed in adoptDatabases but absent",
                        reason="nothing to import", fix=f"remove {ctx.database} from {PROJECT}:adoptDatabases")
            )  # fmt: skip
        return out
    if not ctx.adopted:
        out.append(
            Finding("postgresql", who, "database", Verdict.NOT_LISTED, f"exists (owner {db_owner}); the stack would "
                    "create it", key=f"{PROJECT}:adoptDatabases", items=(ctx.database,))
        )  # fmt: skip
    elif db_owner in fine or db_owner in ctx.legacy_roles or db_owner == ctx.admin:
        out.append(Finding("postgresql", who, "owner", Verdict.TAKEN_OVER, f"{db_owner} => {ctx.owner_group}"))
    else:
        out.append(
            Finding("postgresql", who, "owner", Verdict.NOT_LISTED,
                    f"owned by {db_owner}, a role the stack does not name: it loses the database to "
                    f"{ctx.owner_group}", key=key, items=(db_owner,))
        )  # fmt: skip
    by_owner: dict[str, list[DbObject]] = {}
    for obj in objects:
        by_owner.setdefault(obj.owner, []).append(obj)
    for owner in sorted(by_owner):
        objs = by_owner[owner]
        kinds = ", ".join(
            f"{n} {k.lower()}{'s' if n > 1 else ''}" for k, n in sorted(_count(o.kind for o in objs).items())
        )
        what = f"objects owned by {owner}"
        if owner in fine:
            out.append(Finding("postgresql", who, what, Verdict.TAKEN_OVER, f"{kinds}: already the group's"))
        elif owner in ctx.legacy_roles:
            out.append(
                Finding("postgresql", who, what, Verdict.TAKEN_OVER,
                        f"{kinds}: moved to {ctx.owner_group} by the ownership transfer ({key})")
            )  # fmt: skip
        elif owner == ctx.admin:
            # Before the first up the owner group does not exist yet; a listed legacy role does, and the
            # transfer moves what it owns to the group.
            to = ctx.legacy_roles[0] if ctx.legacy_roles else ctx.owner_group
            why = (f"to {to}, which the transfer then moves to {ctx.owner_group}" if ctx.legacy_roles
                   else f"to {to} (created by the first up)")  # fmt: skip
            statements = " ".join(f"ALTER {o.kind} {o.identity} OWNER TO {to};" for o in objs)
            out.append(
                Finding(
                    "postgresql", who, what, Verdict.BLOCKS,
                    f"{kinds}: owned by the admin role, which the transfer never moves; the up stops on them "
                    "(docs/runbook-adopting-the-estate.md, 'Before the first up')",
                    reason="foreign owner",
                    fix=f"check each (a SECURITY DEFINER function runs with its owner's rights), then give it {why}, "
                    f"as the admin in {ctx.database}, one statement at a time: SET lock_timeout = '1s'; {statements}",
                )
            )  # fmt: skip
        else:
            out.append(
                Finding("postgresql", who, what, Verdict.NOT_LISTED,
                        f"{kinds}: owned by a role the stack does not name; the transfer stops on them",
                        key=key, items=(owner,))
            )  # fmt: skip
    return out


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def compare_database_owners(
    owned: Mapping[str, Sequence[str]], stack_databases: Iterable[str], legacy: Mapping[str, str], phase: str
) -> list[Finding]:
    """Roles that own databases: `owned` is role -> databases it owns (every non-template database),
    `legacy` legacy role -> its app. A legacy role owning a database the stack does not adopt keeps it
    until phase `dropped`, which refuses to drop it (the program never runs REASSIGN OWNED)."""
    mine = set(stack_databases)
    out = []
    for role in sorted(owned):
        for database in sorted(owned[role]):
            who = f"role {role}"
            if database in mine:
                continue  # compare_ownership reports the stack's databases
            if role in legacy:
                blocks = phase == "dropped"
                out.append(
                    Finding(
                        "postgresql", who, f"owns database {database}",
                        Verdict.BLOCKS if blocks else Verdict.UNTOUCHED,
                        f"a legacy role of {legacy[role]} owns {database}, which this stack does not adopt: phase "
                        "dropped refuses to drop the role while it owns a database",
                        reason="owns a database",
                        fix=f"before phase dropped: ALTER DATABASE {database} OWNER TO <its new owner>;",
                    )
                )  # fmt: skip
    return out


@dataclass(frozen=True)
class Session:
    """One distinct login seen connected to one of the stack's databases."""

    login: str
    database: str
    application: str
    client: str
    #: Whether the login keeps CONNECT on the database once PUBLIC's is revoked (its own grant, a role it is a
    #: member of, ownership, superuser).
    connects_without_public: bool


#: Vault's default username template: v-{{display name, 8}}-{{role name, 8}}-{{random 20}}-{{unix time}}.
_VAULT_USER = re.compile(r"^(v-.{1,8}-.{1,8}-)[A-Za-z0-9]{20}-\d+$")


def consumer_entry(login: str) -> str:
    """What to add to `keybuzz:databaseConsumers` for a login: the `v-` prefix of a Vault user, else itself."""
    match = _VAULT_USER.match(login)
    return match.group(1) if match else login


def covered(login: str, consumers: Iterable[str]) -> bool:
    """Whether `keybuzz:databaseConsumers` names the login (exactly, or by a prefix ending in `-` or `*`)."""
    for entry in consumers:
        if login == entry or (entry.endswith(("-", "*")) and login.startswith(entry.rstrip("*"))):
            return True
    return False


def compare_sessions(
    sessions: Sequence[Session], known: Iterable[str], consumers: Iterable[str], phase_revokes_public: bool = True
) -> list[Finding]:
    """Every distinct login seen in `pg_stat_activity` on the stack's databases: `known` are the logins the
    stack names (admin, legacy roles, its own roles), `consumers` `keybuzz:databaseConsumers`. The others lose
    CONNECT when the program revokes it from PUBLIC (phase kept) unless they have their own."""
    known_set = set(known)
    consumer_list = list(consumers)
    out = []
    for s in sessions:
        who = f"login {s.login}"
        what = f"session on {s.database}"
        detail = f"application_name {s.application!r}, client {s.client or 'local'}"
        if s.login in known_set:
            out.append(Finding("postgresql", who, what, Verdict.TAKEN_OVER, f"{detail}: a role the stack names"))
        elif covered(s.login, consumer_list):
            out.append(Finding("postgresql", who, what, Verdict.TAKEN_OVER, f"{detail}: in databaseConsumers"))
        elif s.connects_without_public or not phase_revokes_public:
            out.append(
                Finding("postgresql", who, what, Verdict.UNTOUCHED, f"{detail}: keeps CONNECT without PUBLIC's")
            )  # fmt: skip
        else:
            out.append(
                Finding(
                    "postgresql", who, what, Verdict.NOT_LISTED,
                    f"{detail}: a consumer the stack does not know; it connects through PUBLIC's CONNECT, which "
                    "the program revokes",
                    key=f"{PROJECT}:databaseConsumers", items=(consumer_entry(s.login),),
                )
            )  # fmt: skip
    return out


def compare_roles(
    program_roles: Iterable[str], legacy: Iterable[str], live: Iterable[str], adopted: Iterable[str]
) -> list[Finding]:
    """The program's roles that already exist must be in adoptRoles; a legacy role must exist."""
    live_set, adopted_set = set(live), set(adopted)
    out = []
    for role in sorted(set(program_roles)):
        if role in live_set and role not in adopted_set:
            out.append(
                Finding("postgresql", f"role {role}", "role", Verdict.NOT_LISTED, "exists; the stack would create it",
                        key=f"{PROJECT}:adoptRoles", items=(role,))
            )  # fmt: skip
        elif role in live_set:
            out.append(Finding("postgresql", f"role {role}", "role", Verdict.TAKEN_OVER, "imported (adoptRoles)"))
    for role in sorted(set(legacy)):
        if role not in live_set:
            out.append(
                Finding("postgresql", f"role {role}", "legacy role", Verdict.BLOCKS,
                        "a legacy role that does not exist", reason="unknown role",
                        fix="remove it from its <app>LegacyRoles")
            )  # fmt: skip
    return out


# --- Vault --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VaultProgram:
    """What the program declares in Vault."""

    database_mount: str
    adopted_mounts: tuple[str, ...]
    connections: tuple[str, ...]
    roles: tuple[str, ...]
    auth_mount: str
    auth_roles: tuple[str, ...]
    policies: tuple[str, ...]
    databases: tuple[str, ...]
    #: host:port of the PostgreSQL the stack's databases are on (the LB): a connection there issues users
    #: who can log in to them (through PUBLIC's CONNECT) whatever database its URL names.
    endpoint: str = ""


@dataclass(frozen=True)
class VaultLive:
    """What Vault has: mounts (path -> type), each database mount's connections (name -> connection_url,
    allowed roles) and roles, the Kubernetes auth roles and ACL policy names."""

    mounts: Mapping[str, str]
    connections: Mapping[str, Mapping[str, tuple[str, tuple[str, ...]]]]
    roles: Mapping[str, tuple[str, ...]]
    auth_roles: tuple[str, ...]
    policies: tuple[str, ...]


def _url_database(url: str) -> str:
    path = url.split("?", 1)[0].rsplit("/", 1)
    return path[1] if len(path) == 2 and "@" not in path[1] and ":" not in path[1] else ""


def _url_endpoint(url: str) -> str:
    """``host:port`` of a connection URL (``postgresql://{{username}}:{{password}}@10.0.0.10:5432/db``)."""
    rest = url.split("://", 1)[-1].rsplit("@", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0]


def compare_vault(program: VaultProgram, live: VaultLive) -> list[Finding]:
    """The mounts, connections and roles the program would collide with, and every connection that issues
    users for one of the stack's databases."""
    out = []
    mount = program.database_mount
    key = f"{PROJECT}:adoptVaultMounts"
    if mount in live.mounts:
        if live.mounts[mount] != "database":
            out.append(
                Finding("vault", f"mount {mount}", "mount", Verdict.BLOCKS,
                        f"a {live.mounts[mount]} mount at the program's database engine path", reason="path in use",
                        fix="move that mount, or change the environment's mount name")
            )  # fmt: skip
        elif mount in program.adopted_mounts:
            out.append(Finding("vault", f"mount {mount}", "mount", Verdict.TAKEN_OVER, "imported (adoptVaultMounts)"))
        else:
            out.append(
                Finding("vault", f"mount {mount}", "mount", Verdict.NOT_LISTED,
                        "exists; the stack would mount it again (path already in use)", key=key, items=(mount,))
            )  # fmt: skip
    elif mount in program.adopted_mounts:
        out.append(
            Finding("vault", f"mount {mount}", "mount", Verdict.BLOCKS, "listed in adoptVaultMounts but absent",
                    reason="nothing to import", fix=f"remove {mount} from {key}")
        )  # fmt: skip
    for path in sorted(live.connections):
        for name, (url, allowed) in sorted(live.connections[path].items()):
            who = f"connection {path}/config/{name}"
            database = _url_database(url)
            if path == mount and name in program.connections:
                out.append(
                    Finding("vault", who, "connection", Verdict.TAKEN_OVER, f"{url}: overwritten by the program's")
                )  # fmt: skip
            elif database in program.databases or (program.endpoint and _url_endpoint(url) == program.endpoint):
                out.append(
                    Finding(
                        "vault", who, "connection", Verdict.UNTOUCHED,
                        f"{url} (roles {', '.join(allowed) or 'any'}): issues users the program does not know on the "
                        f"PostgreSQL of {', '.join(program.databases)}; their sessions are under postgresql (login "
                        "v-...) and must be in keybuzz:databaseConsumers until the connection is retired",
                    )
                )  # fmt: skip
    mine = set(program.roles)
    for name in sorted(live.roles.get(mount, ())):
        verdict = Verdict.TAKEN_OVER if name in mine else Verdict.UNTOUCHED
        detail = "overwritten by the program's" if name in mine else "not the program's; kept"
        out.append(Finding("vault", f"role {mount}/roles/{name}", "role", verdict, detail))
    for name in sorted(set(live.auth_roles) & set(program.auth_roles)):
        out.append(
            Finding("vault", f"auth role {program.auth_mount}/role/{name}", "auth role", Verdict.TAKEN_OVER,
                    "exists: overwritten by the program's (bound service accounts, policies, audience)")
        )  # fmt: skip
    for name in sorted(set(live.policies) & set(program.policies)):
        out.append(
            Finding("vault", f"policy {name}", "policy", Verdict.TAKEN_OVER,
                    "exists: its text is replaced by the program's")
        )  # fmt: skip
    return out


def exit_verdict(findings: Iterable[Finding]) -> Verdict:
    """The worst verdict of a report (TAKEN_OVER when everything is fine)."""
    worst = Verdict.TAKEN_OVER
    for f in findings:
        if SEVERITY[f.verdict] > SEVERITY[worst] or (
            SEVERITY[f.verdict] == SEVERITY[worst] and f.verdict is Verdict.DROPPED
        ):
            worst = f.verdict
    return worst
