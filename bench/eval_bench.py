"""Time mocked evaluation of the program (make bench). Figures go to the README.

Measures, each as the median of --repeat runs after one warm-up run:
  - each real stack (DEV, PROD): __main__.py under mocks;
  - DEV with 10x the apps: the same components for ten copies of every DEV app;
  - a bare program registering DEV's resources (same types, names, inputs) flat, without components;
and, once, the wall time of the unit tier (`pytest -m unit tests/unit`) in a subprocess.

Targets (issue 2): each stack <= 1.5 s, components <= 1.3x the bare program, 10x apps <= 3x the time,
unit tier <= 10 s. Timing is never asserted in tests (the machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pulumi

from components.config import load_config
from components.environment import Environment, EnvironmentArgs
from components.plan import plan
from render import render_stack, run_under_mocks, stack_config

REPO = Path(__file__).resolve().parent.parent


def _time(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    count = fn()  # warm-up: imports, first-use caches
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), count


def _stack(stack: str) -> Callable[[], int]:
    return lambda: len(render_stack(stack).resources)


def _ten_x(stack: str) -> Callable[[], int]:
    """10x the apps: ten Environment components over the stack's config (so 10x every app's resources).

    Each copy gets its own component name; physical names repeat, which mocks do not mind.
    """
    raw, secret_keys = stack_config(stack)
    config = load_config(raw, stack, secret_keys)

    def run() -> int:
        def program() -> None:
            for i in range(10):
                Environment(f"keybuzz-{stack}-{i}", EnvironmentArgs(plan=plan(config)))

        return len(run_under_mocks(program, stack, raw, secret_keys))

    return run


REPLAY = Path(tempfile.gettempdir()) / "keybuzz-bench-replay.json"


def _record_replay(stack: str) -> None:
    """Write what the real stack registers (types, names, inputs) for the bare program to replay."""
    rows = [
        {"type": r.type, "name": r.name, "inputs": r.inputs, "custom": r.custom} for r in render_stack(stack).resources
    ]
    REPLAY.write_text(json.dumps(rows))


def _bare() -> Callable[[], int]:
    """The same resources with the same inputs, registered flat: no components, no config model.

    Replays what the real DEV stack registered, each as a plain custom resource under the root stack,
    so the difference to the real stack is what the components and the config model cost.
    """
    rows = json.loads(REPLAY.read_text())
    # A hand-written flat program would import the same typed SDK modules: load them too.
    import pulumi_kubernetes as k8s
    import pulumi_postgresql as postgresql
    import pulumi_vault as vault

    _ = (
        k8s.core.v1.Namespace,
        k8s.apps.v1.Deployment,
        k8s.batch.v1.Job,
        k8s.apiextensions.CustomResource,
        vault.database.SecretBackendRole,
        vault.kubernetes.AuthBackendRole,
        vault.kv.SecretV2,
        vault.Mount,
        postgresql.Role,
        postgresql.DefaultPrivileges,
    )

    def run() -> int:
        def program() -> None:
            for r in rows:
                pulumi.CustomResource(r["type"] if r["custom"] else "keybuzz:bench:Flat", r["name"], r["inputs"])

        return len(run_under_mocks(program, "dev"))

    return run


CASES: dict[str, Callable[[], Callable[[], int]]] = {
    "stack dev": lambda: _stack("dev"),
    "stack prod": lambda: _stack("prod"),
    "dev x10 apps": lambda: _ten_x("dev"),
    "bare program (dev's resources, flat)": _bare,
}


def _cold(case: str, repeat: int) -> float:
    """Median wall time of a fresh interpreter that imports the program's SDKs and runs `case` once.

    This is what `pulumi preview` pays per run: interpreter start, imports, config, evaluation. Every
    case imports the same modules (this script's), so the bare program pays the same SDK imports.
    """
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bench.eval_bench", "--child", case], cwd=REPO, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _unit_tier() -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "unit", "tests/unit", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-unit", action="store_true", help="do not time the unit tier")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        CASES[args.child]()()
        return 0

    _record_replay("dev")
    results: dict[str, dict[str, float]] = {}
    for name, make in CASES.items():
        warm, count = _time(make(), args.repeat)
        results[name] = {"resources": count, "warm": warm, "cold": _cold(name, max(3, args.repeat // 2))}
    unit = None if args.skip_unit else _unit_tier()

    bare, dev, ten = (results[k] for k in ("bare program (dev's resources, flat)", "stack dev", "dev x10 apps"))
    ratios = {
        "components / bare": {m: dev[m] / bare[m] for m in ("warm", "cold")},
        "x10 apps / dev": {m: ten[m] / dev[m] for m in ("warm", "cold")},
    }
    if args.json:
        print(json.dumps({"results": results, "ratios": ratios, "unit_tier_seconds": unit}, indent=2))
        return 0
    print(
        f"warm: median of {args.repeat} in-process runs after a warm-up; cold: median of fresh interpreters "
        f"(start + imports + config + evaluation); python {sys.version.split()[0]}"
    )
    print("| measure | resources | warm s | cold s |\n|---|---:|---:|---:|")
    for name, row in results.items():
        print(f"| {name} | {int(row['resources'])} | {row['warm']:.3f} | {row['cold']:.3f} |")
    for name, pair in ratios.items():
        print(f"| {name} | | {pair['warm']:.2f}x | {pair['cold']:.2f}x |")
    if unit is not None:
        print(f"| unit tier (pytest -m unit tests/unit) | | | {unit:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
