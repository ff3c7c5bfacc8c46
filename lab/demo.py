"""`python -m lab demo` (`make demo`): the platform applied for real on the lab, then what exists and a proof.

1. the lab up with its Kubernetes API and the ESO controller (`up --kube`);
2. a lab stack written from each shipped stack file (lab-dev, lab-prod), the estate's adopted objects
   seeded (`stacks`);
3. `pulumi up` of each lab stack with the toolchain's engine and real providers, state in the lab's
   PostgreSQL through the LB;
4. a short summary read back from the real servers: databases and their owner groups, Vault mounts, roles
   and policies, namespaces, Deployments, ExternalSecrets and their sync status;
5. the proof: the credentials in each environment's api Secret (the estate's own login until the
   cutover, then ESO's) connect through the LB over
   TLS (the lab's PostgreSQL serves it; the stacks keep the shipped ``postgresSslMode``) and write, with
   psycopg and with node-postgres, the api's own driver, given exactly the Secret's keys as its
   environment; none connects to another environment's database.

The environments are the estate's (`components.environments`), in table order.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from components.catalog import CATALOG
from components.environments import estate_environments
from components.naming import Naming
from lab.cluster import Lab
from lab.config import HOST, repo_root
from lab.estate import seed
from lab.kube import ready_condition
from lab.node_pg import probe
from lab.procs import LabError
from lab.stacks import pulumi_env, stack_name, write_stack
from lab.tls import session_tls


def _say(text: str) -> None:
    print(text, flush=True)


def _step(n: int, text: str) -> float:
    _say(f"\n==> [{n}/5] {text}")
    return time.monotonic()


def _connect(creds: dict[str, str], sslmode: str, dbname: str | None = None) -> psycopg.Connection[Any]:
    """libpq with the Secret's address and login and the stack's (libpq) `sslmode`. Not the Secret's
    PGSSLMODE: that one is written for the app's driver, which need not be libpq (node-postgres is probed
    with it below)."""
    return psycopg.connect(
        host=creds["PGHOST"], port=creds["PGPORT"], dbname=dbname or creds["PGDATABASE"],
        user=creds["PGUSER"], password=creds["PGPASSWORD"], sslmode=sslmode, connect_timeout=5, autocommit=True,
    )  # fmt: skip


def summary(lab: Lab) -> list[str]:
    """What exists, read back from the real servers."""
    lines = ["databases (owner group):"]
    with psycopg.connect(**lab.conninfo()) as conn:
        for name, owner in conn.execute(
            "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname LIKE 'keybuzz%%' ORDER BY 1"
        ):
            lines.append(f"  {name:<24} {owner}")
    vault = lab.vault()
    mounts = sorted(m.rstrip("/") for m in vault.read("sys/mounts")["data"] if m.startswith("database-"))
    lines.append("vault database mounts and roles:")
    for mount in mounts:
        roles = vault.call("LIST", f"{mount}/roles")["data"]["keys"]
        lines.append(f"  {mount:<24} {', '.join(roles)}")
    policies = [p for p in vault.call("LIST", "sys/policies/acl")["data"]["keys"] if p.startswith("keybuzz-")]
    lines.append(f"vault policies: {', '.join(sorted(policies))}")
    namespaces = [n["metadata"]["name"] for n in lab.kube.request("GET", "/api/v1/namespaces")[1]["items"]]
    lines.append(f"namespaces: {', '.join(n for n in sorted(namespaces) if n.startswith('keybuzz-'))}")
    lines.append("deployments (image):")
    for d in lab.kube.request("GET", "/apis/apps/v1/deployments")[1]["items"]:
        image = d["spec"]["template"]["spec"]["containers"][0]["image"]
        lines.append(f"  {d['metadata']['namespace'] + '/' + d['metadata']['name']:<36} {image}")
    lines.append("external secrets (sync status):")
    for es in lab.kube.external_secrets():
        ok, message = ready_condition(es)
        where = f"{es['metadata']['namespace']}/{es['metadata']['name']}"
        lines.append(f"  {where:<50} {'Ready' if ok else 'NOT READY'}: {message}")
    return lines


def _written_by_eso(lab: Lab, namespace: str, name: str) -> bool:
    return any(
        es["metadata"]["namespace"] == namespace and es["spec"]["target"]["name"] == name
        for es in lab.kube.external_secrets()
    )


def _synced_database_secrets(lab: Lab) -> list[str]:
    """Every database Secret ESO synced (whatever the cutover phase: the worker's in `kept`), given exactly as
    it is to node-postgres, the Node apps' driver: it must connect as the Secret's user, over TLS."""
    lines = []
    for es in lab.kube.external_secrets():
        namespace, name = es["metadata"]["namespace"], es["spec"]["target"]["name"]
        data = lab.kube.secret_data(namespace, name)
        if "PGHOST" not in data:
            continue  # a KV Secret (the apps' own settings), not a database one
        node = probe(data)
        if not (node.ok and node.ssl and node.session_user == data["PGUSER"]):
            raise LabError(
                f"node-postgres with exactly the keys ESO synced into {namespace}/{name} "
                f"(PGSSLMODE={data.get('PGSSLMODE')}): {node.describe()}"
            )
        lines.append(
            f"{namespace}/{name}, synced by ESO (PGSSLMODE={data['PGSSLMODE']}), node-postgres: {node.describe()}"
        )
    if not lines:
        raise LabError("no database Secret synced by ESO: nothing proves the Vault credentials")
    return lines


def proof(lab: Lab) -> list[str]:
    """Each environment's api credentials work through the LB over TLS with libpq, and with node-postgres, the
    api's own driver, given exactly the Secret's keys; every other environment's database refuses them.

    Which Secret the api reads depends on the stack's ``legacyLoginPhase``: the shipped phase (``kept``)
    keeps the estate's hand-written Secret (the legacy login, no PGSSLMODE: node-postgres then does not ask
    for TLS, as on the estate today); from ``dynamic`` on it is ESO's, with the mode the program wrote, and
    node-postgres must then get TLS."""
    from lab.stacks import NAMESPACE, shipped_config

    lb = f"{HOST}:{lab.ports.lb_write}"
    secret_name = CATALOG["api"].db_secret_name
    assert secret_name is not None  # the api owns a database
    creds = {env: lab.kube.secret_data(Naming(env).namespace("api"), secret_name) for env in estate_environments()}
    lines = []
    for env, mine in creds.items():
        namespace = Naming(env).namespace("api")
        sslmode = str(shipped_config(env)[f"{NAMESPACE}:postgresSslMode"])  # the lab stacks keep it
        synced = _written_by_eso(lab, namespace, secret_name)
        source = "synced by ESO" if synced else "the estate's, kept in the shipped phase"
        if f"{mine['PGHOST']}:{mine['PGPORT']}" != lb:
            raise LabError(
                f"{stack_name(env)}'s api Secret points at {mine['PGHOST']}:{mine['PGPORT']}, not the LB {lb}"
            )
        with _connect(mine, sslmode) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS demo_probe (at timestamptz DEFAULT now())")
            conn.execute("INSERT INTO demo_probe DEFAULT VALUES")
            (count,) = conn.execute("SELECT count(*) FROM demo_probe").fetchone() or (0,)
            tls = session_tls(conn)
        lines.append(
            f"{env.upper()} api credentials ({mine['PGUSER']}; Secret {namespace}/{secret_name}, {source}) via the "
            f"LB {lb}, libpq sslmode={sslmode}: connected to {mine['PGDATABASE']} ({'TLS' if tls else 'NOT TLS'}), "
            f"wrote a row ({count} so far)"
        )
        # The api is a Node app: its driver, node-postgres, with exactly the Secret's keys as its environment.
        node = probe(mine)
        mode = f"PGSSLMODE={mine['PGSSLMODE']}" if "PGSSLMODE" in mine else "no PGSSLMODE"
        if not (node.ok and node.session_user == mine["PGUSER"]) or (synced and not node.ssl):
            _say("\n".join(f"    {line}" for line in lines))
            raise LabError(
                f"node-postgres, the api's driver, with exactly the keys of {namespace}/{secret_name} ({source}, "
                f"{mode}): {node.describe()}. The api could not reach its database over TLS (issue 18)."
            )
        lines.append(f"the same Secret as the api's environment ({mode}), node-postgres: {node.describe()}")
    lines += _synced_database_secrets(lab)
    for env, mine in creds.items():
        sslmode = str(shipped_config(env)[f"{NAMESPACE}:postgresSslMode"])
        for other, theirs in creds.items():
            if other == env:
                continue
            try:
                _connect(mine, sslmode, theirs["PGDATABASE"]).close()
            except psycopg.OperationalError as exc:
                reason = str(exc).strip().splitlines()[-1]
                lines.append(
                    f"{env.upper()} api credentials ({mine['PGUSER']}) on {theirs['PGDATABASE']}: refused ({reason})"
                )
            else:
                raise LabError(
                    f"{env.upper()}'s credentials connected to the {other.upper()} database: isolation is broken"
                )
    return lines


def run(lab: Lab, program_dir: Path | None = None) -> int:
    root = program_dir or repo_root()

    t0 = time.monotonic()
    t = _step(1, "lab up (Patroni x3, HAProxy, OpenBao, Kubernetes API, ESO controller)")
    lab.up(kube=True)
    _say(f"    up in {time.monotonic() - t:.1f} s; state in {lab.layout.state_dir}")
    t = _step(2, "a lab stack from each shipped stack file")
    for env in estate_environments():
        made = seed(lab, env)
        path = write_stack(lab, env, root=root)
        _say(f"    {path.name}; estate objects created: {made}")
    env_vars = pulumi_env(lab)
    _say(f"    state backend: {env_vars['PULUMI_BACKEND_URL'].split('?')[0]}")
    for env in estate_environments():
        t = _step(3, f"pulumi up --stack {stack_name(env)}")
        proc = subprocess.run(
            ["pulumi", "up", "--yes", "--skip-preview", "--stack", stack_name(env), "--non-interactive"],
            cwd=root, env=env_vars, capture_output=True, text=True, check=False,
        )  # fmt: skip
        tail = [line for line in proc.stdout.splitlines() if line.strip()][-6:]
        _say("\n".join(f"    {line}" for line in tail))
        if proc.returncode != 0:
            # The engine prints each resource's error in its output's Diagnostics, not on stderr.
            diagnostics = proc.stdout.partition("Diagnostics:")[2].partition("Outputs:")[0]
            _say((diagnostics.strip() or proc.stdout)[-6000:])
            _say(proc.stderr[-3000:])
            raise LabError(f"pulumi up of {stack_name(env)} failed (exit {proc.returncode})")
        _say(f"    done in {time.monotonic() - t:.1f} s")
    t = _step(4, "what exists (read back from PostgreSQL, OpenBao and the Kubernetes API)")
    lab.kube.wait_external_secrets_ready()
    _say("\n".join(f"    {line}" for line in summary(lab)))
    _step(5, "proof")
    _say("\n".join(f"    {line}" for line in proof(lab)))
    _say(
        f'\ndemo done in {time.monotonic() - t0:.0f} s. Next: eval "$(.venv/bin/python -m lab env)" then '
        "`make preview STACK=lab-dev` or `pulumi stack ls`; `make lab-down` stops everything."
    )
    return 0


if __name__ == "__main__":
    sys.exit(run(Lab()))
