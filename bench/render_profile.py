"""Where a mocked render of a stack spends its time: the config model, the plan, the SDK's registrations.

    .venv/bin/python -m bench.render_profile [--stack dev] [--repeat 5]

Prints, as JSON, the mean time of `load_config` and of `plan()` on the stack's config, of a whole warm
`render_stack`, and, from one profiled render, the cumulative time spent in the Pulumi SDK's `do_register`
(every resource registration) against the profiled render's total. It explains `make bench`'s
components/bare ratio; it asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections.abc import Callable

from components.config import load_config
from components.plan import plan
from render import render_stack, stack_config


def _mean(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render_profile", description=__doc__)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    raw, secret_keys = stack_config(args.stack)
    render_stack(args.stack)  # warm-up: imports, the SDK's caches
    config = load_config(raw, args.stack, secret_keys)
    profile = cProfile.Profile()
    profile.enable()
    render_stack(args.stack)
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    register = sum(v[3] for k, v in stats.items() if k[2] == "do_register" and k[0].endswith("runtime/resource.py"))
    total = max(v[3] for v in stats.values())
    report = {
        "stack": args.stack,
        "load_config_s": round(_mean(lambda: load_config(raw, args.stack, secret_keys), args.repeat), 4),
        "plan_s": round(_mean(lambda: plan(config), args.repeat), 4),
        "render_s": round(_mean(lambda: render_stack(args.stack), args.repeat), 4),
        "profiled_render_s": round(total, 3),
        "profiled_do_register_s": round(register, 3),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
