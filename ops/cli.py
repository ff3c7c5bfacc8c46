"""`python -m ops <command>`: up, history, rollback, drift, preview, preflight, destroy on one stack of the program.

Exit codes: 0 ok; 1 error (a policy violation included); 2 refused (estate stack without --estate);
3 refused (the rollback would delete or replace a protected resource; a destroy not approved); 4 drift found;
5 the preflight found something that blocks the up; 6 the preflight found something the up would drop or
that the stack does not list (docs/preflight.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pulumi import automation as auto

from ops import engine
from ops.drift_fields import ForeignField
from ops.errors import EXIT_DRIFT, EXIT_ERROR, EXIT_REFUSED_PROTECTED, OpsError
from ops.guard import ESTATE_ENV, check_destroy_approved, check_stack_allowed, short_name
from ops.policy import Policy, resolve
from ops.preflight_sources import ENV_KUBECONFIG, KubeReader
from ops.record import (
    TAG_DEPLOYMENT,
    TAG_DIRTY,
    TAG_REVISION,
    Deployment,
    config_changes,
    format_message,
    git_revision,
    repo_root,
)
from ops.steps import changed_steps, protected_violations, steps_from_events

echo = engine._echo


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ops", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, *, policy: bool = False) -> None:
        sp.add_argument("--stack", "-s", required=True, help="stack name (lab-dev, lab-prod; dev/prod need --estate)")
        sp.add_argument("--cwd", type=Path, default=Path.cwd(), help="the program's directory (default: .)")
        sp.add_argument(
            "--estate",
            action="store_true",
            help=f"allow the estate stacks dev/prod (only where the estate is reachable; or {ESTATE_ENV}=yes)",
        )
        if policy:
            sp.add_argument(
                "--policy-pack",
                action="append",
                default=[],
                help="policy pack directory, relative to --cwd (repeatable; default: the program's policy/)",
            )
            sp.add_argument(
                "--policy-pack-config",
                action="append",
                default=[],
                help="its JSON config, relative to --cwd (repeatable; default: the stack's, see docs/operations.md)",
            )
            sp.add_argument(
                "--no-policy",
                action="store_true",
                help="run without the policy pack (refused on the estate stacks; for throwaway stacks only)",
            )

    sp = sub.add_parser("up", help="apply the checkout to the stack and record what was deployed")
    common(sp, policy=True)
    sp.add_argument(
        "--refresh",
        action="store_true",
        help="read the live objects first, so out-of-band changes (drift) are put back to what the program says",
    )
    sp = sub.add_parser("history", help="list the recorded deployments of the stack")
    common(sp)
    sp.add_argument("--json", action="store_true", help="machine-readable output (secrets masked)")
    sp = sub.add_parser("rollback", help="re-apply an earlier deployment (preview first; --yes to apply)")
    common(sp, policy=True)
    sp.add_argument("--to", type=int, required=True, metavar="N", help="deployment number from `history`")
    sp.add_argument("--yes", action="store_true", help="apply after the preview (without it: preview only)")
    sp.add_argument("--allow-dirty", action="store_true", help="roll back to a deployment made from a dirty tree")
    sp = sub.add_parser(
        "drift",
        help="refresh preview, then fields of program objects another field manager set: exit 4 and list them; "
        "then the policy pack",
    )
    common(sp, policy=True)
    sp.add_argument(
        "--run-program",
        action="store_true",
        help="configure the providers from the stack's current config (the program runs), not from the state: for "
        "short-lived credentials (the CI identities'); read resources (StackReference) are then re-read, not "
        "reported",
    )
    sp.add_argument("--lab-state", type=Path, help="a lab stack's lab (default: $LAB_STATE_DIR)")
    sp = sub.add_parser(
        "preflight",
        help="read-only: what the next up would do to the live estate, each fact classified with its fix",
    )
    common(sp)
    sp.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON to FILE")
    sp.add_argument("--lab-state", type=Path, help="a lab stack's lab (default: $LAB_STATE_DIR)")
    sp.add_argument(
        "--while-adopting",
        action="store_true",
        help="do nothing (exit 0) once the stack is past the adoption (deploy.yml runs it before every up)",
    )
    sp.add_argument(
        "--only",
        action="append",
        choices=("kubernetes", "postgresql", "vault"),
        help="check only this area (repeatable; default: all)",
    )
    sp = sub.add_parser("preview", help="`pulumi preview --diff` of the checkout on the stack")
    common(sp, policy=True)
    sp = sub.add_parser("destroy", help="decommission the stack, once approved (preview first; --yes to destroy)")
    common(sp)
    sp.add_argument("--yes", action="store_true", help="destroy after the checks (without it: preview only)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        check_stack_allowed(args.stack, estate_flag=args.estate)
        return int(COMMANDS[args.command](args))
    except OpsError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.code
    except auto.errors.CommandError as exc:
        print(f"error: pulumi failed on stack '{args.stack}':\n{exc}", file=sys.stderr)
        return EXIT_ERROR


# --- commands ----------------------------------------------------------------------------------


def _policy(args: argparse.Namespace) -> Policy:
    """The stack's policy pack and config (ops/policy.py), resolved before any engine run and announced."""
    policy = resolve(
        args.stack,
        args.cwd.resolve(),
        packs=args.policy_pack,
        configs=args.policy_pack_config,
        no_policy=args.no_policy,
    )
    echo(policy.describe())
    return policy


def cmd_up(args: argparse.Namespace) -> int:
    work_dir = args.cwd.resolve()
    policy = _policy(args)
    rev = git_revision(work_dir)
    stack = engine.select_stack(work_dir, args.stack)
    deployments = engine.deployments(stack)
    number = len(deployments) + 1
    if rev.dirty:
        echo(f"warning: the program's files differ from {rev.sha[:12]}: {', '.join(rev.dirty_paths[:5])}")
    _up(stack, format_message("up", rev), args, policy, number, rev.sha, rev.dirty)
    return 0


def _up(
    stack: auto.Stack,
    message: str,
    args: argparse.Namespace,
    policy: Policy,
    number: int,
    sha: str,
    dirty: bool,
    *,
    previewed: bool = False,
) -> None:
    # The Automation API's up applies without a preview, step by step: a mandatory violation would fail the
    # update only at the violating resource, after the ones before it were applied (seen with the fixture:
    # the stack's outputs changed, a failed update recorded). So the pack judges a preview first, and
    # nothing is applied unless it passes; the up runs the pack again on the values known only then.
    if not previewed:
        refused = _policy_check(stack, policy)
        if refused:
            raise refused
    engine.run_engine(
        "up",
        stack,
        lambda: stack.up(
            message=message,
            on_output=engine._echo,
            show_secrets=False,
            color="never",
            refresh=bool(getattr(args, "refresh", False)),
            **policy.engine_args(),
        ),
    )
    for key, value in ((TAG_REVISION, sha), (TAG_DIRTY, str(dirty).lower()), (TAG_DEPLOYMENT, str(number))):
        stack.set_tag(key, value)
    echo(f"recorded deployment #{number} of stack '{stack.name}': revision {sha[:12]}{' (dirty)' if dirty else ''}")


def cmd_history(args: argparse.Namespace) -> int:
    stack = engine.select_stack(args.cwd.resolve(), args.stack)
    deps = engine.deployments(stack)
    if args.json:
        rows = [
            {
                "number": d.number,
                "action": d.action or "pulumi",
                "revision": d.revision,
                "dirty": d.dirty,
                "result": d.result,
                "startTime": d.start_time,
                "rolledBackTo": d.rolled_back_to,
                "config": d.public_config(),
                "resourceChanges": d.resource_changes,
            }
            for d in deps
        ]
        echo(json.dumps(rows, indent=2))
        return 0
    if not deps:
        echo(f"stack '{stack.name}': no deployment recorded yet")
        return 0
    echo(f"deployments of stack '{stack.name}' (oldest first):")
    previous: Deployment | None = None
    for d in deps:
        what = d.action or "pulumi up"
        if d.rolled_back_to:
            what += f" to #{d.rolled_back_to}"
        rev = (d.revision[:12] or "(none)") + (" dirty" if d.dirty else "")
        echo(f"  #{d.number:<3} {d.start_time:<24} {d.result:<10} {what:<16} {rev}")
        changes = config_changes(previous, d)
        if changes:
            echo(f"       config: {'; '.join(changes)}")
        previous = d
    return 0


@contextlib.contextmanager
def _worktree(work_dir: Path, sha: str, stack_name: str) -> Iterator[Path]:
    """A temporary `git worktree` at `sha`; yields the program's directory inside it."""
    root = repo_root(work_dir)
    rel = work_dir.relative_to(root)
    probe = subprocess.run(["git", "-C", str(root), "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True)
    if probe.returncode != 0:
        raise OpsError(
            f"stack '{stack_name}': revision {sha} is not in this clone",
            fix="git fetch (the full history: the CI checkout needs fetch-depth: 0)",
        )
    tmp = Path(tempfile.mkdtemp(prefix="keybuzz-rollback-"))
    tree = tmp / "tree"
    subprocess.run(
        ["git", "-C", str(root), "worktree", "add", "--detach", "--quiet", str(tree), sha],
        check=True,
        capture_output=True,
    )
    try:
        program = tree / rel
        # The program's virtualenv (Pulumi.yaml `virtualenv: .venv`) is not in git: reuse the checkout's.
        for name in (".venv",):
            if (work_dir / name).exists() and not (program / name).exists():
                (program / name).symlink_to((work_dir / name).resolve())
        yield program
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], capture_output=True)
        subprocess.run(["git", "-C", str(root), "worktree", "prune"], capture_output=True)
        with contextlib.suppress(OSError):
            tmp.rmdir()


def cmd_rollback(args: argparse.Namespace) -> int:
    work_dir = args.cwd.resolve()
    policy = _policy(args)  # the checkout's pack and config: today's guardrails judge the older revision
    current = engine.select_stack(work_dir, args.stack)
    deps = engine.deployments(current)
    by_number = {d.number: d for d in deps}
    target = by_number.get(args.to)
    if target is None:
        known = f"#1..#{len(deps)}" if deps else "none"
        raise OpsError(
            f"stack '{args.stack}' has no deployment #{args.to} (recorded: {known})",
            fix=f"python -m ops history --stack {args.stack}",
        )
    if target.result != "succeeded":
        raise OpsError(
            f"deployment #{args.to} of stack '{args.stack}' {target.result}; only a succeeded one is re-applied"
        )
    if not target.revision:
        raise OpsError(
            f"deployment #{args.to} of stack '{args.stack}' recorded no git revision",
            fix="roll back by hand (docs/runbook-rollback.md)",
        )
    if target.dirty and not args.allow_dirty:
        raise OpsError(
            f"deployment #{args.to} of stack '{args.stack}' was made from a dirty tree: revision "
            f"{target.revision[:12]} is not exactly what ran",
            fix="pass --allow-dirty to re-apply the committed revision with the recorded config anyway",
        )
    echo(
        f"rollback of stack '{args.stack}' to deployment #{target.number} "
        f"(revision {target.revision[:12]}, {target.start_time})"
    )
    changes = config_changes(deps[-1] if deps else None, target)
    if changes:
        echo(f"config back to #{target.number}: {'; '.join(changes)}")
    short = args.stack.rsplit("/", 1)[-1]
    with _worktree(work_dir, target.revision, args.stack) as program:
        stack = engine.select_stack(program, args.stack)
        kept = engine.write_recorded_config(work_dir / f"Pulumi.{short}.yaml", program, stack, target)
        if kept:
            echo(f"kept at their current value (secrets are never rolled back): {', '.join(kept)}")
        log = engine.EventLog()
        pol = policy.engine_args()
        echo("preview:")
        preview_error: OpsError | None = None
        try:
            engine.run_engine(
                "preview",
                stack,
                lambda: stack.preview(diff=True, on_output=echo, on_event=log, color="never", **pol),
            )
        except OpsError as exc:
            preview_error = exc  # a preview the engine refused may still tell which step it refused
        violations = protected_violations(steps_from_events(log.events))
        if violations:
            lines = "\n".join(f"    {s.line()}" for s in violations)
            raise OpsError(
                f"refusing to roll back stack '{args.stack}' to #{target.number}: the preview would delete or "
                f"replace {len(violations)} protected resource(s):\n{lines}",
                fix="protected resources hold data: adopt the live object in the earlier program "
                "(keybuzz:adopt*) or roll forward instead; never unprotect to roll back (docs/runbook-rollback.md)",
                code=EXIT_REFUSED_PROTECTED,
            )
        if preview_error:
            raise preview_error
        if not args.yes:
            echo(f"preview only: re-run with --yes to apply deployment #{target.number} to stack '{args.stack}'")
            return 0
        rev = git_revision(program)
        _up(
            stack,
            format_message("rollback", rev, to=target.number),
            args,
            policy,
            len(deps) + 1,
            target.revision,
            target.dirty,
            previewed=True,  # the preview above ran with the pack and passed
        )
    echo(
        "note: the checkout still holds the newer program/config; the next `up` from it re-applies them. "
        "Revert the change in git to make the rollback permanent (docs/runbook-rollback.md)."
    )
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    policy = _policy(args)
    stack = engine.select_stack(args.cwd.resolve(), args.stack)
    log = engine.EventLog()
    error: OpsError | None = None
    try:
        engine.run_engine(
            "refresh preview",
            stack,
            # --run-program: the providers take the stack's current config. Configured from the state (the
            # default), they log in with the last `up`'s credentials, which the CI identities' short-lived tokens
            # do not outlive (docs/operations.md, "How CI logs in").
            # With it, the providers' new credentials are changes to the engine (not drift: `changed_steps`).
            lambda: stack.preview_refresh(
                expect_no_changes=not args.run_program,
                run_program=args.run_program or None,
                on_output=echo,
                on_event=log,
                color="never",
            ),
        )
    except OpsError as exc:
        error = exc
    drifted = changed_steps(steps_from_events(log.events))
    policy_error = _policy_check(stack, policy)
    foreign = _foreign_fields(args, stack)
    if drifted:
        echo(f"DRIFT on stack '{stack.name}': {len(drifted)} resource(s) changed out of band:")
        for s in drifted:
            echo(f"    {s.line()}")
        echo(
            f"fix: put the live objects back with `python -m ops up --refresh --stack {stack.name}` (a plain `up` "
            "compares with the recorded state and would change nothing), or adopt the change in code and config."
        )
    if foreign:
        echo(
            f"DRIFT on stack '{stack.name}': {len(foreign)} field(s) of program objects set by another field "
            "manager (a refresh does not see them):"
        )
        for f in foreign:
            echo(f"    {f.line()}")
        echo(
            "fix: model each in the program (docs/preflight.md lists the keys) or remove it from the live object; "
            "`ops up --refresh` leaves fields the program does not set as they are."
        )
    if drifted or foreign:
        if policy_error:
            print(policy_error.render(), file=sys.stderr)
        return EXIT_DRIFT
    if error:
        raise error
    if policy_error:
        raise policy_error
    echo(f"no drift on stack '{stack.name}'")
    return 0


def _drift_kube(args: argparse.Namespace, stack: auto.Stack) -> tuple[KubeReader, str]:
    """Kubernetes read access for the field-manager check: the read-only kubeconfig of the preflight when set,
    a lab stack's lab, else the stack's own `keybuzz:kubeconfig` (decrypted by its secrets provider, as an
    `up` does; never printed)."""
    if os.environ.get(ENV_KUBECONFIG):
        path = Path(os.environ[ENV_KUBECONFIG])
        return KubeReader.from_kubeconfig(path.read_text(), base=path.parent), ENV_KUBECONFIG
    from ops.preflight_sources import from_lab, lab_state_dir

    state = lab_state_dir(args.lab_state, os.environ, args.cwd.resolve())
    if short_name(stack.name).startswith("lab-") and state is not None:
        return from_lab(state).kube, f"the lab in {state}"
    text = stack.get_config("keybuzz:kubeconfig").value
    return KubeReader.from_kubeconfig(text), "the stack's keybuzz:kubeconfig"


def _foreign_fields(args: argparse.Namespace, stack: auto.Stack) -> list[ForeignField]:
    from ops.drift_fields import drift, read_live
    from ops.preflight import is_this_program, load_stack

    if not is_this_program(args.cwd.resolve()):
        echo("field managers: skipped (not the keybuzz program: its objects are not known)")
        return []
    view = load_stack(args.cwd.resolve(), stack.name)
    kube, origin = _drift_kube(args, stack)
    live = read_live(kube, view.manifests())
    echo(f"field managers: {len(live)} live object(s) of the program read with {origin}")
    return drift(live)


def cmd_preflight(args: argparse.Namespace) -> int:
    from ops.preflight import adopting, load_stack, run, write_json
    from ops.preflight_sources import resolve_sources

    view = load_stack(args.cwd.resolve(), args.stack)
    if args.while_adopting and not adopting(view.config):
        echo(
            f"stack '{args.stack}' is past the adoption (kubernetesUpsertExisting false, legacyLoginPhase dropped): "
            "preflight skipped (--while-adopting)"
        )
        return 0
    sources = resolve_sources(args.stack, os.environ, view.config.vault_address, args.lab_state, args.cwd.resolve())
    report = run(view, sources, args.only)
    echo(report.text())
    if args.json:
        write_json(report, args.json)
        echo(f"report written to {args.json}")
    return report.exit_code


def _policy_check(stack: auto.Stack, policy: Policy) -> OpsError | None:
    """The pack on the program as it would apply to the stack now: a preview whose output is shown only
    when it fails (the error, or None when it passed or no pack is on). `up` runs it before applying;
    `drift` runs it after the refresh preview, because `pulumi refresh` takes no policy pack (engine 3.259)."""
    if not policy.packs:
        return None
    lines: list[str] = []
    try:
        engine.run_engine(
            "policy check",
            stack,
            lambda: stack.preview(on_output=lines.append, color="never", **policy.engine_args()),
        )
    except OpsError as exc:
        for line in lines:
            echo(line)
        return exc
    echo(f"policy pack passed on stack '{stack.name}'")
    return None


def cmd_preview(args: argparse.Namespace) -> int:
    policy = _policy(args)
    stack = engine.select_stack(args.cwd.resolve(), args.stack)
    engine.run_engine(
        "preview",
        stack,
        lambda: stack.preview(diff=True, on_output=echo, color="never", **policy.engine_args()),
    )
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    """Refused before the engine runs unless the decommissioning was approved and recorded (ops/guard.py); the
    destroy guard in the stack refuses a bare `pulumi destroy` the same way (components/decommission.py)."""
    stack = engine.select_stack(args.cwd.resolve(), args.stack)
    try:
        approval: str | None = stack.get_config("keybuzz:decommission").value
    except auto.errors.CommandError:
        approval = None  # not set: the default, false
    resources = list((stack.export_stack().deployment or {}).get("resources") or [])
    check_destroy_approved(stack.name, approval, resources)
    echo(f"decommissioning of stack '{stack.name}' approved; what the estate had is retained on delete:")
    engine.run_engine(
        "destroy preview", stack, lambda: stack.preview_destroy(on_output=echo, color="never", show_secrets=False)
    )
    if not args.yes:
        echo(f"preview only: re-run with --yes to destroy stack '{stack.name}'")
        return 0
    engine.run_engine("destroy", stack, lambda: stack.destroy(on_output=echo, color="never", show_secrets=False))
    echo(f"stack '{stack.name}' destroyed; what to remove by hand: docs/runbook-decommissioning.md")
    return 0


COMMANDS = {
    "up": cmd_up,
    "history": cmd_history,
    "rollback": cmd_rollback,
    "drift": cmd_drift,
    "preview": cmd_preview,
    "destroy": cmd_destroy,
    "preflight": cmd_preflight,
}
