"""Write the policy pack's config files from the environment table: ``policy/config/<env>.json``.

    python -m scripts.policy_config          # (re)write policy/config/<env>.json for every environment
    python -m scripts.policy_config --check  # write nothing; exit 1 with a diff when a file drifted

The pack may not import the program (the policy host runs it on its own, from policy/), so the environment
facts it judges by (which environments exist, their legacy names, which are pinned to release tags or
protected, how their client images are tagged) reach it only through these files, and the pack has no
default for them. This script is their one writer: those facts come from components/environments.py, the
other keys from the pack's schema defaults, and the pack checks each document before it is written.
One file per environment of the table; a file of an environment the table no longer has is removed.
tests/unit/test_environment_table.py fails on drift.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.environments import environments, facts
from policy.keybuzz_policy.config import config_document

CONFIG_DIR = Path(__file__).resolve().parents[1] / "policy" / "config"
REGENERATE = "python -m scripts.policy_config"


def table_facts(env: str) -> dict[str, Any]:
    """The pack's environment facts for a stack of `env` (the pack's keys), read from the table."""
    every = environments()
    return {
        "environment": env,
        "otherEnvironments": [e for e in every if e != env],
        "legacyNames": {e: sorted(facts(e).legacy_names) for e in every},
        "pinnedEnvironments": [e for e in every if facts(e).pinned_tags],
        "protectedEnvironments": [e for e in every if facts(e).protected],
        "clientBuildTags": {e: facts(e).client_build.pattern for e in every},
    }


def rendered() -> dict[str, str]:
    """File name -> text of every config file the table calls for."""
    return {f"{env}.json": json.dumps(config_document(table_facts(env)), indent=2) + "\n" for env in environments()}


def drift(config_dir: Path = CONFIG_DIR) -> list[str]:
    """How the files in `config_dir` differ from the table's: a unified diff per changed or missing file, a
    line per file of an environment the table does not have. Empty when nothing drifted."""
    wanted = rendered()
    problems = []
    for name, text in wanted.items():
        path = config_dir / name
        have = path.read_text() if path.exists() else ""
        if have != text:
            lines = difflib.unified_diff(
                have.splitlines(keepends=True), text.splitlines(keepends=True), f"{path} (committed)",
                f"{path} (from components/environments.py)",
            )  # fmt: skip
            problems.append("".join(lines))
    for path in sorted(config_dir.glob("*.json")):
        if path.name not in wanted:
            problems.append(f"{path}: components/environments.py has no environment '{path.stem}'\n")
    return problems


def write(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Make `config_dir` hold exactly the table's files; what was written or removed, one line each."""
    wanted = rendered()
    done = []
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, text in wanted.items():
        path = config_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            done.append(f"wrote {path}")
    for path in sorted(config_dir.glob("*.json")):
        if path.name not in wanted:
            path.unlink()
            done.append(f"removed {path} (no such environment in the table)")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=REGENERATE, description="Write policy/config/<env>.json from components/environments.py."
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff on drift")
    parser.add_argument("--dir", type=Path, default=CONFIG_DIR, help="the config directory (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift(args.dir)
        for problem in problems:
            print(problem, end="")
        if problems:
            print(f"{args.dir} drifted from components/environments.py: run `{REGENERATE}`")
            return 1
        return 0
    for line in write(args.dir) or [f"{args.dir} is up to date"]:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
