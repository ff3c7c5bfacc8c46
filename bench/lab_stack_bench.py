"""Benchmark of the real program on the lab, with the real engine and providers (figures for docs/operations.md).

    .venv/bin/python -m bench.lab_stack_bench [--repeat 5] [--base-port 17900]

On a lab of its own (temp state dir, loopback ports from --base-port, stopped at the end):

- `make demo` from nothing, toolchain already built: `python -m lab demo` on that lab (lab up, lab stacks,
  `pulumi up` of lab-dev and lab-prod, summary, proof);
- warm `pulumi preview` of each lab stack (the stacks are up: a no-change preview), median of --repeat
  (target <= 15 s);
- no-op `pulumi up` of each lab stack, median (target <= 30 s);
- the ratio of lab-dev's preview to a *flat* program registering the same resources (same types, inputs,
  providers, imports and dependencies, no component) with the same providers, both on fresh stacks of a
  file backend in the same run, alternated (target <= 1.2x).

Timings are printed, never asserted (the machines are shared and noisy; the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from components.environments import estate_environments
from lab.cluster import Lab
from lab.config import repo_root
from lab.stacks import copy_program, pulumi_env, stack_name, write_stack

IMPORTABLE = {"postgresql:index/database:Database", "kubernetes:core/v1:Namespace"}

FLAT_MAIN = '''"""Flat twin of the KeyBuzz program (bench only): the same resources, registered without components."""
import json

import pulumi

# The typed SDK modules the program loads (same import cost), though resources register untyped here.
import pulumi_kubernetes.apiextensions  # noqa: F401
import pulumi_kubernetes.apps.v1  # noqa: F401
import pulumi_kubernetes.batch.v1  # noqa: F401
import pulumi_kubernetes.core.v1  # noqa: F401
import pulumi_postgresql  # noqa: F401
import pulumi_vault.database  # noqa: F401
import pulumi_vault.kubernetes  # noqa: F401
import pulumi_vault.kv  # noqa: F401

SIG = "4dabf18193072939515e22adb298388d"
resources = json.load(open("resources.json"))
created = {}


def secretize(value):
    """Exported state marks secrets {SIG: ..., "plaintext": json}: back to Output.secret."""
    if isinstance(value, dict):
        if SIG in value:
            return pulumi.Output.secret(json.loads(value["plaintext"]))
        return {k: secretize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [secretize(v) for v in value]
    return value


for r in resources:
    props = secretize(r["inputs"])
    deps = [created[u] for u in r["dependencies"] if u in created]
    if r["type"].startswith("pulumi:providers:"):
        created[r["urn"]] = pulumi.ProviderResource(r["type"].split(":")[2], r["name"], props,
                                                    pulumi.ResourceOptions(depends_on=deps))
        continue
    provider = created.get(r["provider"])
    opts = pulumi.ResourceOptions(provider=provider, depends_on=deps, protect=r["protect"],
                                  import_=r["import_id"] or None)
    created[r["urn"]] = pulumi.CustomResource(r["type"], r["name"], props, opts)
'''


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.monotonic() - t0


def flat_program(lab: Lab, env: dict[str, str], dest: Path) -> Path:
    """The flat twin of lab-dev: every custom resource of its state (`pulumi stack export --show-secrets`),
    with its inputs, provider, dependencies and protection, registered without components; secrets stay
    secrets, and what the stack adopts is imported as the program does."""
    from lab.stacks import shipped_config

    argv = ["pulumi", "stack", "export", "--show-secrets", "--stack", "lab-dev", "--non-interactive"]
    proc = subprocess.run(argv, cwd=dest.parent / "demo-program", env=env, capture_output=True, text=True, check=True)
    exported = json.loads(proc.stdout)
    config = shipped_config("dev")
    adopted = {*config.get("keybuzz:adoptDatabases", []), *config.get("keybuzz:adoptNamespaces", [])}
    custom = [r for r in exported["deployment"]["resources"] if r.get("custom") and r["type"] != "pulumi:pulumi:Stack"]
    urns = {r["urn"] for r in custom}
    rows: list[dict[str, Any]] = [
        {
            "type": r["type"],
            "name": r["urn"].rsplit("::", 1)[1],
            "urn": r["urn"],
            # Engine bookkeeping out (`__defaults`); a dynamic resource keeps its provider (`__provider`).
            "inputs": {k: v for k, v in r.get("inputs", {}).items() if not k.startswith("__") or k == "__provider"},
            "provider": r.get("provider", "").rsplit("::", 1)[0],
            "protect": bool(r.get("protect")),
            "import_id": r["id"] if r["type"] in IMPORTABLE and r["id"] in adopted else "",
            "dependencies": [d for d in r.get("dependencies", []) if d in urns],
        }
        for r in custom
    ]
    dest.mkdir(parents=True)
    (dest / "Pulumi.yaml").write_text(
        "name: keybuzz-flat\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: .venv\n"
    )
    (dest / "__main__.py").write_text(FLAT_MAIN)
    fd = os.open(dest / "resources.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(rows, handle)
    (dest / ".venv").symlink_to(Path(sys.prefix))
    # The dynamic resources' provider is pickled by reference to its module: the provider process imports
    # components.pg_adoption from the program's directory. The twin registers nothing through components.
    shutil.copytree(repo_root() / "components", dest / "components", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--base-port", type=int, default=17900)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="keybuzz-stack-bench-"))
    os.chmod(work, 0o755)
    lab = Lab(work / "lab", args.base_port)
    (work / "lab").mkdir()
    os.chmod(work / "lab", 0o755)
    print(f"load before: {os.getloadavg()[0]:.2f}; lab on base port {args.base_port}; repeat {args.repeat}", flush=True)
    try:
        t0 = time.monotonic()
        argv = [sys.executable, "-m", "lab", "demo", "--state-dir", str(work / "lab"), "--base-port"]
        argv += [str(args.base_port), "--program-dir", str(copy_program(work / "demo-program"))]
        demo = subprocess.run(argv, cwd=repo_root(), capture_output=True, text=True, check=False)
        if demo.returncode != 0:
            raise SystemExit(f"demo failed:\n{demo.stdout[-3000:]}\n{demo.stderr[-3000:]}")
        print(f"make demo from nothing (toolchain built): {time.monotonic() - t0:.1f} s", flush=True)

        env = pulumi_env(lab)
        for stack in map(stack_name, estate_environments()):
            demo_prog = work / "demo-program"
            previews = [timed(["pulumi", "preview", "--stack", stack, "--non-interactive", "--expect-no-changes"],
                              demo_prog, env) for _ in range(args.repeat)]  # fmt: skip
            ups = [timed(["pulumi", "up", "--yes", "--skip-preview", "--stack", stack, "--non-interactive"],
                         demo_prog, env) for _ in range(args.repeat)]  # fmt: skip
            print(f"{stack}: warm preview median {statistics.median(previews):.1f} s "
                  f"(min {min(previews):.1f}, max {max(previews):.1f}); no-op up median "
                  f"{statistics.median(ups):.1f} s (min {min(ups):.1f}, max {max(ups):.1f})", flush=True)  # fmt: skip

        # Fresh stacks of a file backend: the program (lab-dev) and its flat twin, alternated.
        prog = copy_program(work / "program")
        fresh_env = {**env, "PULUMI_BACKEND_URL": f"file://{work / 'fresh-state'}"}
        (work / "fresh-state").mkdir()
        os.environ["LAB_PULUMI_BACKEND_URL"] = fresh_env["PULUMI_BACKEND_URL"]
        write_stack(lab, "dev", root=prog)
        flat = flat_program(lab, env, work / "flat")
        subprocess.run(["pulumi", "stack", "init", "flat-dev", "--secrets-provider", "passphrase",
                        "--non-interactive"], cwd=flat, env=fresh_env, check=True, capture_output=True)  # fmt: skip
        real, twin = [], []
        for _ in range(args.repeat):
            real.append(timed(["pulumi", "preview", "--stack", "lab-dev", "--non-interactive"], prog, fresh_env))
            twin.append(timed(["pulumi", "preview", "--stack", "flat-dev", "--non-interactive"], flat, fresh_env))
        ratio = statistics.median(real) / statistics.median(twin)
        print(f"fresh-stack preview: program {statistics.median(real):.1f} s, flat twin "
              f"{statistics.median(twin):.1f} s, ratio {ratio:.2f}x", flush=True)  # fmt: skip
    finally:
        os.environ.pop("LAB_PULUMI_BACKEND_URL", None)
        lab.down()
        shutil.rmtree(work, ignore_errors=True)
        print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
