"""`python -m ops preflight --stack S`: what the stack's next `up` would do to the live estate, read-only.

The program is rendered under mocks with the stack's own config (``Pulumi.<stack>.yaml`` of --cwd; secret
values are never read: fake stand-ins take their place, no object the preflight compares depends on
them), which gives "what the stack would apply". The live estate is read through the read-only readers of
ops/preflight_sources.py. ops/preflight_model.py compares them and classifies every fact; this module
gathers the inputs, prints the report and writes it as JSON.

Exit codes (docs/preflight.md): 0 everything is taken over or left as is; 5 something blocks; 6 nothing
blocks but something would be dropped or is not listed (each with the config line that fixes it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.catalog import CATALOG
from components.config.errors import ConfigError
from components.config.load import load_config
from components.config.model import StackConfig
from components.config.per_app import STACK_CONFIG_MODEL
from components.config.schema import key_specs
from ops.errors import EXIT_PREFLIGHT_BLOCKS, EXIT_PREFLIGHT_FIXES, OpsError
from ops.preflight_model import (
    PROJECT,
    DatabaseContext,
    DbObject,
    EsoContext,
    Finding,
    Session,
    VaultLive,
    VaultProgram,
    Verdict,
    compare_database_owners,
    compare_deployment,
    compare_eso,
    compare_namespaces,
    compare_ownership,
    compare_roles,
    compare_service,
    compare_sessions,
    compare_vault,
    exit_verdict,
    fix_lines,
)
from ops.preflight_sources import Sources, quote
from render import FAKE_SECRETS, Rendering, render_stack
from render.manifests import is_manifest, manifest
from render.unseeded import unseeded

#: Keys the preflight names in its fixes that the program may not read yet (other branches add them): read
#: here from the stack file, and kept from the program's config only when its model knows them.
PREFLIGHT_KEYS = re.compile(
    rf"^{PROJECT}:(\w+(SelectorLabels|ServicePortName|ExtraEnvFrom|ImagePullSecrets|EstateExternalSecret)"
    r"|databaseConsumers)$"
)


@dataclass
class StackView:
    """One stack as the preflight sees it: its raw config, the validated model, the rendered program."""

    stack: str
    raw: dict[str, str]
    config: StackConfig
    rendering: Rendering

    def manifests(self) -> list[dict[str, Any]]:
        return [manifest(r) for r in self.rendering.resources if is_manifest(r)]

    def of_kind(self, kind: str, namespace: str | None = None) -> dict[str, dict[str, Any]]:
        return {
            m["metadata"]["name"]: m
            for m in self.manifests()
            if m["kind"] == kind and (namespace is None or m["metadata"].get("namespace") == namespace)
        }

    def listed(self, key: str) -> list[str]:
        """A list key of the raw config (JSON text), e.g. keybuzz:databaseConsumers."""
        value = self.raw.get(key)
        if not value:
            return []
        parsed = json.loads(value) if value.startswith("[") else [value]
        return [str(v) for v in parsed]

    def app_of_namespace(self, namespace: str) -> str | None:
        for app in self.config.apps:
            if self.config.naming.namespace(app) == namespace:
                return app
        return None


def _text(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_this_program(cwd: Path) -> bool:
    """Whether `cwd` holds this program (its Pulumi.yaml names the project `keybuzz`): the field-manager
    check renders it, so `ops drift` on another program (a test fixture) skips that check."""
    path = cwd / "Pulumi.yaml"
    return path.is_file() and (yaml.safe_load(path.read_text()) or {}).get("name") == PROJECT


def stack_config_file(cwd: Path, stack: str) -> Path:
    return cwd / f"Pulumi.{stack.rsplit('/', 1)[-1]}.yaml"


def raw_config(cwd: Path, stack: str) -> dict[str, str]:
    """The stack file's plain values as the engine hands them to the program; every secret key a fake
    stand-in (a secret is never decrypted: nothing compared depends on one)."""
    path = stack_config_file(cwd, stack)
    if not path.is_file():
        raise OpsError(f"no stack file {path}", fix="run from the program's directory or pass --cwd DIR")
    data = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    raw = {k: _text(v) for k, v in data.items() if not (isinstance(v, dict) and "secure" in v)}
    env = str(data.get(f"{PROJECT}:environment", ""))
    for key, value in unseeded(env).items():
        raw.setdefault(f"{PROJECT}:{key}", _text(value))
    raw.update(FAKE_SECRETS)
    return raw


def load_stack(cwd: Path, stack: str) -> StackView:
    """Render the stack's program with its config (keys the program does not read yet are left out of it)."""
    raw = raw_config(cwd, stack)
    known = {f"{PROJECT}:{s.name}" for s in key_specs(STACK_CONFIG_MODEL)}
    program_raw = {k: v for k, v in raw.items() if not (PREFLIGHT_KEYS.match(k) and k not in known)}
    try:
        config = load_config(program_raw, stack.rsplit("/", 1)[-1], FAKE_SECRETS)
        rendering = render_stack(stack.rsplit("/", 1)[-1], raw_config=(program_raw, list(FAKE_SECRETS)))
    except ConfigError as exc:
        raise OpsError(f"the stack's config is refused by the program:\n{exc}") from exc
    return StackView(stack, raw, config, rendering)


def adopting(config: StackConfig) -> bool:
    """Whether the stack is still adopting the estate: its Kubernetes objects upserted, or its legacy logins
    not yet dropped (docs/runbook-adopting-the-estate.md: the preflight runs before every such phase)."""
    return config.kubernetes_upsert_existing or config.legacy_login_phase != "dropped"


# --- gathering ---------------------------------------------------------------------------------------------


def _kind(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """List items carry no `kind` (the list does): give each its own, for the report."""
    return [{**item, "kind": kind} for item in items]


def kubernetes_findings(view: StackView, src: Sources) -> list[Finding]:
    kube = src.kube
    cfg = view.config
    program_ns = sorted(view.of_kind("Namespace"))
    live_ns = [ns for ns in program_ns if kube.one(f"/api/v1/namespaces/{quote(ns)}") is not None]
    out = compare_namespaces(program_ns, live_ns, cfg.adopt_namespaces)
    for ns in live_ns:
        app = view.app_of_namespace(ns)
        base = f"/api/v1/namespaces/{quote(ns)}"
        apps_base = f"/apis/apps/v1/namespaces/{quote(ns)}"
        eso_base = f"/apis/external-secrets.io/v1/namespaces/{quote(ns)}"
        deployments = {d["metadata"]["name"]: d for d in _kind(kube.items(f"{apps_base}/deployments"), "Deployment")}
        services = {s["metadata"]["name"]: s for s in _kind(kube.items(f"{base}/services"), "Service")}
        accounts = {a["metadata"]["name"]: a for a in kube.items(f"{base}/serviceaccounts")}
        for name, program in view.of_kind("Deployment", ns).items():
            if name in deployments:
                out += compare_deployment(deployments[name], program, app, accounts)
        for name in deployments:
            if name not in view.of_kind("Deployment", ns):
                out.append(
                    Finding("kubernetes", f"Deployment {ns}/{name}", "deployment", Verdict.UNTOUCHED,
                            "not the program's; kept")
                )  # fmt: skip
        for name, program in view.of_kind("Service", ns).items():
            if name in services:
                out += compare_service(services[name], program, app, list(deployments.values()))
        owners = {}
        for secret in kube.secrets_metadata(ns):
            for ref in secret["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "ExternalSecret":
                    owners[secret["metadata"]["name"]] = ref.get("name", "")
        kind = CATALOG.get(app) if app else None
        ctx = EsoContext(
            namespace=ns,
            app=app,
            db_secret=kind.db_secret_name if kind else None,
            estate_external_secret=view.raw.get(f"{PROJECT}:{app}EstateExternalSecret", "") if app else "",
            kv_prefix=f"{cfg.naming.kv_app_prefix(app)}/" if app else "",
            program_external_secrets=view.of_kind("ExternalSecret", ns),
            program_stores=view.of_kind("SecretStore", ns),
        )
        out += compare_eso(
            ctx, kube.items(f"{eso_base}/externalsecrets"), kube.items(f"{eso_base}/secretstores"), owners
        )
    return out


_OBJECTS_SQL = """
WITH ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'),
linked AS (SELECT objid FROM pg_depend WHERE classid = 'pg_class'::regclass AND refclassid = 'pg_class'::regclass
           AND deptype IN ('a', 'i'))
SELECT CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'TABLE' WHEN 'v' THEN 'VIEW'
       WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'FOREIGN TABLE' END,
       format('%I.%I', n.nspname, c.relname), pg_get_userbyid(c.relowner)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
   AND c.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_class'::regclass)
   AND c.oid NOT IN (SELECT objid FROM linked)
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
       format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), pg_get_userbyid(p.proowner)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
   AND p.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_proc'::regclass)
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, format('%I.%I', n.nspname, t.typname),
       pg_get_userbyid(t.typowner)
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
   AND (t.typtype IN ('e', 'd', 'r')
        OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
   AND t.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_type'::regclass)
UNION ALL
SELECT 'SCHEMA', format('%I', n.nspname), pg_get_userbyid(n.nspowner) FROM pg_namespace n
 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
   AND n.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_namespace'::regclass)
UNION ALL
SELECT 'COLLATION', format('%I.%I', n.nspname, o.collname), pg_get_userbyid(o.collowner)
  FROM pg_collation o JOIN pg_namespace n ON n.oid = o.collnamespace
 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
   AND o.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_collation'::regclass)
UNION ALL
SELECT 'TEXT SEARCH CONFIGURATION', format('%I.%I', n.nspname, o.cfgname), pg_get_userbyid(o.cfgowner)
  FROM pg_ts_config o JOIN pg_namespace n ON n.oid = o.cfgnamespace
 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
   AND o.oid NOT IN (SELECT objid FROM ext WHERE classid = 'pg_ts_config'::regclass)
UNION ALL
SELECT 'SERVER', format('%I', s.srvname), pg_get_userbyid(s.srvowner) FROM pg_foreign_server s
UNION ALL
SELECT 'PUBLICATION', format('%I', p.pubname), pg_get_userbyid(p.pubowner) FROM pg_publication p
UNION ALL
SELECT 'STATISTICS', format('%I.%I', n.nspname, s.stxname), pg_get_userbyid(s.stxowner)
  FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
UNION ALL
SELECT 'EVENT TRIGGER', format('%I', e.evtname), pg_get_userbyid(e.evtowner) FROM pg_event_trigger e
UNION ALL
SELECT 'LARGE OBJECT', l.oid::text, pg_get_userbyid(l.lomowner) FROM pg_largeobject_metadata l
"""

_SESSIONS_SQL = """
SELECT DISTINCT a.usename, a.datname, coalesce(a.application_name, ''), coalesce(host(a.client_addr), ''),
       r.rolsuper OR d.datdba = r.oid OR pg_has_role(r.oid, d.datdba, 'MEMBER') OR EXISTS (
         SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) x
          WHERE x.privilege_type = 'CONNECT' AND x.grantee <> 0 AND pg_has_role(r.oid, x.grantee, 'MEMBER'))
  FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename JOIN pg_database d ON d.datname = a.datname
 WHERE a.datname = ANY(%s) AND a.pid <> pg_backend_pid()
 ORDER BY 1, 2, 3, 4
"""


def postgres_findings(view: StackView, src: Sources) -> list[Finding]:
    cfg = view.config
    admin = cfg.postgres_admin_username
    contexts = [
        DatabaseContext(
            database=cfg.database_of(app),
            app=app,
            owner_group=cfg.naming.owner_group(app),
            legacy_roles=tuple(cfg.legacy_roles(app)),
            admin=admin,
            adopted=cfg.database_of(app) in cfg.adopt_databases,
        )
        for app in cfg.database_apps
    ]
    legacy = {role: c.app for c in contexts for role in c.legacy_roles}
    program_roles = [str(r.inputs["name"]) for r in view.rendering.of_type("postgresql:index/role:Role")]
    with src.pg.connect() as conn:
        databases = dict(
            conn.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE NOT datistemplate").fetchall()
        )
        live_roles = [r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()]
        groups = [c.owner_group for c in contexts]
        members = [
            r[0]
            for r in conn.execute(
                "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member "
                "JOIN pg_roles g ON g.oid = a.roleid WHERE g.rolname = ANY(%s)",
                (groups,),
            ).fetchall()
        ]
        mine = [c.database for c in contexts if c.database in databases]
        sessions = [
            Session(login=r[0], database=r[1], application=r[2], client=r[3], connects_without_public=bool(r[4]))
            for r in conn.execute(_SESSIONS_SQL, (mine,)).fetchall()
        ]
    out = compare_roles(program_roles, legacy, live_roles, cfg.adopt_roles)
    for ctx in contexts:
        objects: list[DbObject] = []
        if ctx.database in databases:
            with src.pg.connect(ctx.database) as conn:
                objects = [DbObject(*row) for row in conn.execute(_OBJECTS_SQL).fetchall()]
        out += compare_ownership(ctx, objects, databases.get(ctx.database))
    owned: dict[str, list[str]] = {}
    for database, owner in databases.items():
        owned.setdefault(owner, []).append(database)
    out += compare_database_owners(owned, [c.database for c in contexts], legacy, cfg.legacy_login_phase)
    known = {admin, *legacy, *program_roles, *members}
    out += compare_sessions(sessions, known, view.listed(f"{PROJECT}:databaseConsumers"))
    return out


def vault_findings(view: StackView, src: Sources) -> list[Finding]:
    cfg = view.config
    rendering = view.rendering
    mounts = [str(r.inputs["path"]) for r in rendering.of_type("vault:index/mount:Mount")]
    conns = rendering.of_type("vault:database/secretBackendConnection:SecretBackendConnection")
    roles = rendering.of_type("vault:database/secretBackendRole:SecretBackendRole")
    auth = rendering.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
    program = VaultProgram(
        database_mount=mounts[0] if mounts else cfg.naming.database_mount(),
        adopted_mounts=tuple(cfg.adopt_vault_mounts),
        connections=tuple(str(c.inputs["name"]) for c in conns),
        roles=tuple(str(r.inputs["name"]) for r in roles),
        auth_mount=cfg.vault_kubernetes_auth_mount,
        auth_roles=tuple(str(a.inputs["roleName"]) for a in auth),
        policies=tuple(str(p.inputs["name"]) for p in rendering.of_type("vault:index/policy:Policy")),
        databases=tuple(cfg.database_of(a) for a in cfg.database_apps),
        endpoint=view.raw.get(f"{PROJECT}:postgresWriteEndpoint", ""),
    )
    vault = src.vault
    body = vault.get("sys/mounts") or {}
    table = body.get("data") or {k: v for k, v in body.items() if isinstance(v, dict) and "type" in v}
    live_mounts = {path.rstrip("/"): str(spec.get("type")) for path, spec in table.items()}
    connections: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {}
    live_roles: dict[str, tuple[str, ...]] = {}
    for path, type_ in live_mounts.items():
        if type_ != "database":
            continue
        connections[path] = {}
        for name in vault.keys(f"{path}/config"):
            data = (vault.get(f"{path}/config/{quote(name)}") or {}).get("data") or {}
            url = str((data.get("connection_details") or {}).get("connection_url", ""))
            connections[path][name] = (url, tuple(data.get("allowed_roles") or ()))
        live_roles[path] = tuple(vault.keys(f"{path}/roles"))
    live = VaultLive(
        mounts=live_mounts,
        connections=connections,
        roles=live_roles,
        auth_roles=tuple(vault.keys(f"auth/{cfg.vault_kubernetes_auth_mount}/role")),
        policies=tuple(vault.keys("sys/policies/acl")),
    )
    return compare_vault(program, live)


AREAS: tuple[tuple[str, Callable[[StackView, Sources], list[Finding]]], ...] = (
    ("kubernetes", kubernetes_findings),
    ("postgresql", postgres_findings),
    ("vault", vault_findings),
)


# --- the report ----------------------------------------------------------------------------------------------


@dataclass
class Report:
    stack: str
    origin: str
    findings: list[Finding]
    lines: dict[str, str]

    @property
    def verdict(self) -> Verdict:
        return exit_verdict(self.findings)

    @property
    def exit_code(self) -> int:
        worst = self.verdict
        if worst is Verdict.BLOCKS:
            return EXIT_PREFLIGHT_BLOCKS
        if worst in (Verdict.DROPPED, Verdict.NOT_LISTED):
            return EXIT_PREFLIGHT_FIXES
        return 0

    def counts(self) -> dict[str, int]:
        counts = {str(v): 0 for v in Verdict}
        for f in self.findings:
            counts[str(f.verdict)] += 1
        return counts

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "readOnly": True,
            "origin": self.origin,
            "exitCode": self.exit_code,
            "counts": self.counts(),
            "fixes": list(self.lines.values()),
            "findings": [f.as_json(self.lines) for f in self.findings],
        }

    def text(self) -> str:
        out = [f"preflight of stack '{self.stack}' (read-only; live estate read with {self.origin})"]
        for area in dict.fromkeys(f.area for f in self.findings):
            out.append(f"{area}:")
            for f in (f for f in self.findings if f.area == area):
                out.append(f"  [{f.label()}] {f.subject}: {f.what}: {f.detail}")
                fix = self.lines.get(f.key) if f.key else f.fix
                if fix and f.verdict not in (Verdict.TAKEN_OVER, Verdict.UNTOUCHED):
                    out.append(f"      fix: {fix}")
        counts = self.counts()
        out.append("summary: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
        if self.lines:
            out.append("config lines that fix what is not taken over (Pulumi.<stack>.yaml):")
            out += [f"  {line}" for line in self.lines.values()]
        verdict = {0: "nothing blocks, nothing is dropped", EXIT_PREFLIGHT_FIXES: "fix the lines above before the up",
                   EXIT_PREFLIGHT_BLOCKS: "BLOCKED: the up would fail or cut traffic"}[self.exit_code]  # fmt: skip
        out.append(f"result: {verdict} (exit {self.exit_code})")
        return "\n".join(out)


def run(view: StackView, src: Sources, areas: Iterable[str] | None = None) -> Report:
    wanted = set(areas or (a for a, _ in AREAS))
    findings: list[Finding] = []
    for area, gather in AREAS:
        if area in wanted:
            findings += gather(view, src)
    return Report(view.stack, src.origin, findings, fix_lines(findings, view.raw))


def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.as_json(), indent=2) + "\n")
