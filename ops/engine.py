"""The Automation API side: select a stack of a program directory, run the engine, restore a recorded config.

Uses the `pulumi` on PATH (the hermetic toolchain: `eval "$(make -s toolchain-env)"`; or a standard
install). The environment is passed through untouched: backend URL, passphrase, PULUMI_HOME.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto
from pulumi.automation import events

from ops.errors import OpsError
from ops.record import Deployment, deployments_from_history, rollback_config


def _echo(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def pulumi_command() -> auto.PulumiCommand:
    if shutil.which("pulumi") is None:
        raise OpsError(
            "no `pulumi` on PATH",
            fix='eval "$(make -s toolchain-env)" (hermetic toolchain) or install the CLI at the version pinned '
            "in toolchain/pins.env",
        )
    return auto.PulumiCommand()


def select_stack(work_dir: Path, stack: str, command: auto.PulumiCommand | None = None) -> auto.Stack:
    """The existing stack `stack` of the program in `work_dir` (never creates one)."""
    if not (work_dir / "Pulumi.yaml").is_file():
        raise OpsError(f"no Pulumi.yaml in {work_dir}", fix="run from the program's directory or pass --cwd DIR")
    backend = os.environ.get("PULUMI_BACKEND_URL", "")
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://")).expanduser().mkdir(parents=True, exist_ok=True)  # as pulumi.sh does
    ws = auto.LocalWorkspace(work_dir=str(work_dir), pulumi_command=command or pulumi_command())
    names = {s.name for s in ws.list_stacks()}
    if stack not in names and stack.rsplit("/", 1)[-1] not in names:
        raise OpsError(
            f"stack '{stack}' does not exist in the backend {os.environ.get('PULUMI_BACKEND_URL', '(default)')}",
            fix=f"known stacks: {', '.join(sorted(names)) or 'none'}; create it with `pulumi stack init {stack}`",
        )
    return auto.Stack.select(stack, ws)


def cli(stack: auto.Stack, *args: str) -> str:
    """Run `pulumi ARGS --stack S` in the stack's workspace; returns stdout."""
    ws = stack.workspace
    assert isinstance(ws, auto.LocalWorkspace)
    result = ws.pulumi_command.run([*args, "--stack", stack.name], ws.work_dir, ws.env_vars or {})
    return result.stdout


def history_entries(stack: auto.Stack) -> list[dict[str, Any]]:
    """`pulumi stack history --json` as dicts (the Automation API's own summary drops `objectValue`); secrets
    stay masked: nothing in ops decrypts a recorded secret (a rollback keeps the current ones)."""
    return list(json.loads(cli(stack, "stack", "history", "--json") or "[]"))


def deployments(stack: auto.Stack) -> list[Deployment]:
    return deployments_from_history(history_entries(stack))


class EventLog:
    """Collects engine events (for step inspection) while output streams to the terminal."""

    def __init__(self) -> None:
        self.events: list[events.EngineEvent] = []

    def __call__(self, event: events.EngineEvent) -> None:
        self.events.append(event)


def run_engine(what: str, stack: auto.Stack, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except auto.errors.CommandError as exc:
        raise OpsError(f"{what} of stack '{stack.name}' failed: {engine_errors(str(exc))}") from exc


_GENERIC = ("an unhandled error occurred: program exited with non-zero exit code", "preview failed", "update failed")


def engine_errors(text: str) -> str:
    """Every error the engine reported, each with its continuation lines (a config error lists one problem
    and its fix per line), without the generic "program exited" lines when a real error is there."""
    blocks: list[str] = []
    # The Automation API's CommandError reads " code: N\n stdout: ...\n stderr: ...": unwrap those prefixes.
    lines = [re.sub(r"^ (stdout|stderr): ", "", line) for line in text.splitlines()]
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("error:"):
            indent = len(line) - len(line.lstrip())
            block = [stripped]
            i += 1
            while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > indent:
                block.append(lines[i][indent:].rstrip())
                i += 1
            text_block = "\n".join(block)
            if text_block not in blocks:
                blocks.append(text_block)
            continue
        i += 1
    real = [b for b in blocks if not any(g in b for g in _GENERIC)]
    chosen = real or blocks
    if not chosen:
        return text.strip().splitlines()[-1] if text.strip() else "unknown error"
    return "\n" + "\n".join(chosen)


# --- restoring a recorded config into a worktree ------------------------------------------------


def write_recorded_config(
    source_settings: Path, target_dir: Path, stack: auto.Stack, deployment: Deployment
) -> tuple[str, ...]:
    """Make `target_dir/Pulumi.<stack>.yaml` hold the deployment's non-secret config and the current secrets.

    The encryption settings (secretsprovider, encryptedkey, encryptionsalt) and the secrets come from the
    current stack file `source_settings` (record.rollback_config says why and which keys); the plain values
    as recorded. Nothing is decrypted. Returns the keys kept at their current value.
    """
    short = stack.name.rsplit("/", 1)[-1]
    settings: dict[str, Any] = {}
    if source_settings.is_file():
        settings = yaml.safe_load(source_settings.read_text()) or {}
    current = settings.pop("config", None) or {}
    chosen = rollback_config(deployment.config, current, stack.name, deployment.number)
    if chosen.config:
        settings["config"] = chosen.config
    (target_dir / f"Pulumi.{short}.yaml").write_text(yaml.safe_dump(settings, sort_keys=True))
    return chosen.kept_current
