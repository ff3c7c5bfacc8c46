"""Which policy pack, with which config, guards an operation on a stack: on by default, per stack.

The pack (`policy/`) blocks node addresses, cross-environment names, moving PROD tags and the rest of
docs/policy.md; it only helps if it runs on every preview and apply, not only in CI. So every `ops`
command that runs the engine on a stack (up, preview, rollback, drift) resolves the stack's pack and
config here, and only an explicit `--no-policy` on a non-estate stack turns it off.

The config of a stack (the estate facts the pack judges by) is found by its name:

- an estate stack (`dev`, `prod`: components/environments.py): `policy/config/<stack>.json` of the program,
  written from the environment table by `python -m scripts.policy_config`;
- a lab stack (`lab-<env>`): `<lab state>/pulumi/policy-lab-<env>.json`, the shipped config with the lab's
  LB and node addresses, written by `lab.stacks.policy_config` (`make lab-stacks`). The lab state is
  `LAB_STATE_DIR` (exported by `python -m lab env` and the lab's pulumi environment), else `.lab` of the
  checkout, as for `python -m lab`;
- any other stack: none; pass `--policy-pack-config FILE`.

Paths are made absolute against the checkout, so a rollback (which runs the engine in a worktree of an
older revision) is judged by the checkout's pack: today's guardrails, not the ones of the old revision.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.errors import OpsError
from ops.guard import ESTATE_STACKS, is_estate_stack, short_name

PACK_DIR = "policy"
PACK_FILE = "PulumiPolicy.yaml"
LAB_STACK_PREFIX = "lab-"


@dataclass(frozen=True)
class Policy:
    """The packs and their configs (pairwise) an engine run gets; empty only on an explicit opt-out."""

    packs: tuple[Path, ...] = ()
    configs: tuple[Path, ...] = ()

    def engine_args(self) -> dict[str, Any]:
        """Keyword arguments of `Stack.preview`/`Stack.up` (`--policy-pack`/`--policy-pack-config`)."""
        return {
            "policy_packs": [str(p) for p in self.packs] or None,
            "policy_pack_configs": [str(c) for c in self.configs] or None,
        }

    def describe(self) -> str:
        """One line for the operator: what guards this run (or that nothing does)."""
        if not self.packs:
            return "policy pack: OFF (--no-policy)"
        pairs = ", ".join(f"{p} with {c}" for p, c in zip(self.packs, self.configs, strict=True))
        return f"policy pack: {pairs}"


def lab_state_dir(checkout: Path, environ: Mapping[str, str]) -> Path:
    """The lab's state directory as `python -m lab` picks it (lab/config.py `default_state_dir`)."""
    return Path(environ.get("LAB_STATE_DIR") or checkout / ".lab")


def default_config(stack: str, checkout: Path, environ: Mapping[str, str]) -> Path | None:
    """The pack config of `stack` by its name (module docstring), or None when the name says nothing."""
    short = short_name(stack)
    if short in ESTATE_STACKS:
        return checkout / PACK_DIR / "config" / f"{short}.json"
    env = short.removeprefix(LAB_STACK_PREFIX)
    if short.startswith(LAB_STACK_PREFIX) and env in ESTATE_STACKS:
        # Written by lab.stacks.policy_config (one file per lab stack, beside the lab's passphrase).
        return lab_state_dir(checkout, environ) / "pulumi" / f"policy-{short}.json"
    return None


def resolve(
    stack: str,
    checkout: Path,
    *,
    packs: Sequence[str] = (),
    configs: Sequence[str] = (),
    no_policy: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Policy:
    """The policy of one operation on `stack`, run from the program directory `checkout`.

    Explicit `--policy-pack`/`--policy-pack-config` win (a config without a pack is the program's pack with
    that config); otherwise the program's pack with the stack's default config. Raises when the pack or a
    config is missing, when packs and configs do not pair up, and on `--no-policy` for an estate stack.
    """
    env = os.environ if environ is None else environ
    if no_policy:
        if packs or configs:
            raise OpsError("--no-policy contradicts --policy-pack/--policy-pack-config", fix="pass one or the other")
        if is_estate_stack(stack):
            raise OpsError(
                f"refusing --no-policy on stack '{stack}': the estate's stacks always run the policy pack",
                fix="drop --no-policy; a violation is fixed in the program or its config, never by skipping the pack",
            )
        return Policy()
    pack_paths = [_absolute(p, checkout) for p in packs] or [checkout / PACK_DIR]
    if configs:
        config_paths = [_absolute(c, checkout) for c in configs]
    else:
        default = default_config(stack, checkout, env)
        if default is None:
            raise OpsError(
                f"no policy pack config is known for stack '{stack}' (only the estate stacks "
                f"{', '.join(sorted(ESTATE_STACKS))} and the lab stacks lab-<env> have one)",
                fix="pass --policy-pack-config FILE (e.g. policy/config/<env>.json), or --no-policy on a "
                "throwaway stack",
            )
        config_paths = [default]
    if len(config_paths) != len(pack_paths):
        raise OpsError(
            f"{len(pack_paths)} policy pack(s) but {len(config_paths)} config(s)",
            fix="pass one --policy-pack-config per --policy-pack, in the same order",
        )
    for pack in pack_paths:
        if not (pack / PACK_FILE).is_file():
            raise OpsError(
                f"no policy pack at {pack} (no {PACK_FILE})", fix="run from the program's directory or pass --cwd DIR"
            )
    for config in config_paths:
        if not config.is_file():
            raise OpsError(f"the policy pack config of stack '{stack}' is missing: {config}", fix=_config_fix(stack))
    return Policy(tuple(pack_paths), tuple(config_paths))


def _config_fix(stack: str) -> str:
    if is_estate_stack(stack):
        return "python -m scripts.policy_config (writes policy/config/<env>.json from the environment table)"
    return (
        "write the lab stacks and their pack configs with `make lab-stacks`; if the lab lives elsewhere, "
        'eval "$(python -m lab env --state-dir DIR)" first (it exports LAB_STATE_DIR)'
    )


def _absolute(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p
