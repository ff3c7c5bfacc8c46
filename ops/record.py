"""What an `up` records on the stack, and reading it back as numbered deployments.

Where the record lives, and why: in the stack's own update history, which every Pulumi backend keeps (the
local file backend and Pulumi Cloud alike), append-only, per stack. For each update the engine stores the
stack's whole config (secrets encrypted at rest with the stack's secrets provider, shown only as
`[secret]` unless explicitly decrypted) and the git metadata of the working tree (`git.head`,
`git.dirty`). `ops` adds to it an explicit update message, `keybuzz-ops <action> rev=<sha> dirty=<0|1>
[to=<N>]`, so the revision is recorded even where the engine cannot read git, and stack tags
(`keybuzz:revision`, `keybuzz:dirty`, `keybuzz:deployment`) naming the deployment that is live now
(`pulumi stack ls --tag keybuzz:revision=<sha>`). Nothing is stored outside the backend, so there is no
second copy to keep consistent, and secrets never leave it in clear text.

`dirty` is computed by `ops` over the program's files: stack config files (`Pulumi.<stack>.yaml`) are left
out because the config is recorded on its own (and `pulumi config set --secret` writes them locally).

A deployment is an update of kind `update`; they are numbered from 1 (oldest) in the order the backend
lists them, because the file backend numbers none of them (its `version` is always 0).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config.keys import key_name
from ops.errors import OpsError

MESSAGE_PREFIX = "keybuzz-ops"
TAG_REVISION = "keybuzz:revision"
TAG_DIRTY = "keybuzz:dirty"
TAG_DEPLOYMENT = "keybuzz:deployment"

_MESSAGE_RE = re.compile(r"^keybuzz-ops (?P<action>\w+)(?P<fields>( \w+=\S+)*)")
_STACK_FILE_RE = re.compile(r"(^|/)Pulumi\.[^/]+\.ya?ml$")


@dataclass(frozen=True)
class GitRevision:
    """The commit a deployment was made from; `dirty` when the program's files differed from it."""

    sha: str
    dirty: bool
    dirty_paths: tuple[str, ...] = ()


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise OpsError(
            f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}",
            fix="run ops inside the git checkout of the Pulumi program",
        )
    return proc.stdout


def repo_root(path: Path) -> Path:
    return Path(_git(path, "rev-parse", "--show-toplevel").strip())


def git_revision(path: Path) -> GitRevision:
    """HEAD of the checkout holding `path`, and whether the program's files differ from it."""
    sha = _git(path, "rev-parse", "HEAD").strip()
    status = _git(path, "status", "--porcelain", "--untracked-files=all")
    dirty_paths = []
    for line in status.splitlines():
        name = line[3:].split(" -> ")[-1].strip('"')
        if not _STACK_FILE_RE.search(name):
            dirty_paths.append(name)
    return GitRevision(sha=sha, dirty=bool(dirty_paths), dirty_paths=tuple(dirty_paths))


def format_message(action: str, rev: GitRevision, **extra: str | int) -> str:
    fields = [f"rev={rev.sha}", f"dirty={int(rev.dirty)}", *(f"{k}={v}" for k, v in extra.items())]
    return f"{MESSAGE_PREFIX} {action} {' '.join(fields)}"


def parse_message(message: str) -> tuple[str, dict[str, str]]:
    """`keybuzz-ops up rev=abc dirty=0` -> ("up", {"rev": "abc", "dirty": "0"}); ("", {}) otherwise."""
    match = _MESSAGE_RE.match(message or "")
    if not match:
        return "", {}
    fields = dict(item.split("=", 1) for item in match.group("fields").split())
    return match.group("action"), fields


@dataclass(frozen=True)
class Deployment:
    """One `update` in a stack's history, as `ops history` shows it and `ops rollback --to` picks it."""

    number: int
    action: str  # up, rollback, or "" for an update made outside ops (pulumi up)
    revision: str  # commit sha, "" when nothing recorded one
    dirty: bool
    result: str
    start_time: str
    message: str
    rolled_back_to: int | None
    config: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {"value"|"objectValue", "secret"}
    resource_changes: dict[str, int] = field(default_factory=dict)

    def public_config(self) -> dict[str, str]:
        """Config for display: secret values replaced by `[secret]`, whatever the record holds."""
        return {k: "[secret]" if v.get("secret") else str(v.get("value", "")) for k, v in sorted(self.config.items())}


def deployments_from_history(entries: list[dict[str, Any]]) -> list[Deployment]:
    """Number the `update` entries of `pulumi stack history --json` (newest first) from 1, oldest first."""
    updates = [e for e in entries if e.get("kind") == "update"]
    updates.sort(key=lambda e: e.get("startTime", ""))  # the backend lists newest first; be explicit
    out = []
    for number, e in enumerate(updates, start=1):
        action, fields = parse_message(e.get("message", ""))
        env = e.get("environment") or {}
        revision = fields.get("rev") or env.get("git.head", "")
        dirty = fields["dirty"] == "1" if "dirty" in fields else env.get("git.dirty") == "true"
        to = fields.get("to")
        out.append(
            Deployment(
                number=number,
                action=action,
                revision=revision,
                dirty=dirty,
                result=e.get("result", ""),
                start_time=e.get("startTime", ""),
                message=e.get("message", ""),
                rolled_back_to=int(to) if to and to.isdigit() else None,
                config=dict(e.get("config") or {}),
                resource_changes=dict(e.get("resourceChanges") or {}),
            )
        )
    return out


def config_changes(before: Deployment | None, after: Deployment) -> list[str]:
    """Readable config changes between two deployments; secret values are never shown."""
    old = before.public_config() if before else {}
    new = after.public_config()
    secret_keys = {k for k, v in {**(before.config if before else {}), **after.config}.items() if v.get("secret")}
    changes = []
    for key in sorted(set(old) | set(new)):
        if key in secret_keys:
            if key not in old:
                changes.append(f"{key} set (secret)")
            elif key not in new:
                changes.append(f"{key} removed (secret)")
            continue  # a changed secret cannot be told from the masked record, and is not decrypted here
        if key not in old:
            changes.append(f"{key}={new[key]}")
        elif key not in new:
            changes.append(f"{key} removed")
        elif old[key] != new[key]:
            changes.append(f"{key}: {old[key]} -> {new[key]}")
    return changes


#: Plain keys that follow a secret, not the program: kept at their current value by a rollback, like the
#: secrets. `vaultDbPasswordVersion` says when `vaultDbPassword` is sent (write-only); an older version
#: beside the current password would re-send it, or pair a version with a password it never meant.
KEPT_CURRENT_KEYS = frozenset({f"keybuzz:{key_name('vault_db_password_version')}"})


def is_secret_value(value: Any) -> bool:
    """A stack-file config value that is (or holds) a secret: `{secure: <ciphertext>}` at any depth."""
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(is_secret_value(v) for v in value.values())
    if isinstance(value, list):
        return any(is_secret_value(v) for v in value)
    return False


@dataclass(frozen=True)
class RollbackConfig:
    """The `config:` block a rollback writes, and what it kept from the current stack file."""

    config: dict[str, Any]
    kept_current: tuple[str, ...]


def rollback_config(
    recorded: dict[str, dict[str, Any]], current: dict[str, Any], stack: str, number: int
) -> RollbackConfig:
    """The config of a rollback to a deployment: its recorded non-secret values, with the *current* secrets.

    A rollback re-applies an older program and its settings, never older credentials: a rotated Vault token
    or admin password must not come back (it may be revoked, or compromised: that is why it was rotated).
    So every key that is secret in the recorded deployment or in the current stack file, and the keys of
    `KEPT_CURRENT_KEYS`, take the current stack file's value, ciphertext copied as is (the same stack, so
    the same secrets provider decrypts it); nothing is decrypted, and the history's secrets are not read.
    `recorded` is the deployment's config as `pulumi stack history --json` lists it (`value`/`objectValue`,
    `secret`); `current` the `config:` block of the checkout's `Pulumi.<stack>.yaml`. A secret the deployment
    had and the current file lacks is refused: the old program needs it and its old value may not return.
    """
    kept = {k: v for k, v in current.items() if is_secret_value(v) or k in KEPT_CURRENT_KEYS}
    missing = sorted(k for k, e in recorded.items() if e.get("secret") and k not in kept)
    if missing:
        raise OpsError(
            f"deployment #{number} of stack '{stack}' used secret config {', '.join(missing)}, which the current "
            "stack file does not set; a rollback keeps the current secrets and never restores recorded ones",
            fix=f"set the current value first (pulumi config set --secret KEY --stack {stack}), then roll back",
        )
    config = {
        key: entry["objectValue"] if "objectValue" in entry else entry.get("value", "")
        for key, entry in recorded.items()
        if key not in kept and not entry.get("secret")
    }
    # Only the kept keys the older deployment knew: a key added since means nothing to its program.
    kept_used = {k: v for k, v in kept.items() if k in recorded}
    return RollbackConfig(config={**config, **kept_used}, kept_current=tuple(sorted(kept_used)))
