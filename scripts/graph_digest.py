"""Digest of the resource graph the program registers for each shipped stack (under mocks).

    python -m scripts.graph_digest                 # one line per stack: resources, sha256 of the graph
    python -m scripts.graph_digest --dump DIR      # also DIR/<stack>.json, to diff two revisions

The graph is every registration as the engine receives it: type, name, parent, provider, protect, import
id, aliases, dependencies and inputs (secret values unwrapped, their paths listed), sorted by URN. The
pickled code of a dynamic resource (``__provider``) is left out: it changes with any edit of its module,
not with what the program declares. A refactor that changes nothing keeps every digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from components.environments import estate_environments
from render import Recorded, render_stack


def canonical(resource: Recorded) -> dict[str, Any]:
    return {
        "urn": resource.urn,
        "type": resource.type,
        "custom": resource.custom,
        "parent": resource.parent,
        "provider": resource.provider.rsplit("::", 1)[0],
        "protect": resource.protect,
        "import": resource.import_id,
        "aliases": sorted(map(list, resource.aliases)),
        "dependencies": sorted(resource.dependencies),
        "secret_paths": sorted(resource.secret_paths),
        "inputs": {k: v for k, v in resource.inputs.items() if k != "__provider"},
    }


def graph(stack: str) -> list[dict[str, Any]]:
    return sorted((canonical(r) for r in render_stack(stack).resources), key=lambda r: str(r["urn"]))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, help="write <stack>.json here")
    args = parser.parse_args(argv)
    for stack in estate_environments():  # the shipped stacks: one per estate environment
        text = json.dumps(graph(stack), sort_keys=True, indent=1)
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / f"{stack}.json").write_text(text + "\n")
        print(f"{stack}: {len(json.loads(text))} resources, sha256 {hashlib.sha256(text.encode()).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
