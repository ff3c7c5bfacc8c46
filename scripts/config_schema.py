"""Print the config declarations derived from components/config/.

    python -m scripts.config_schema yaml      # the `config:` block of Pulumi.yaml
    python -m scripts.config_schema markdown  # the README's config table

The unit tests fail when Pulumi.yaml or the README table drift from the model.
"""

from __future__ import annotations

import json
import sys

import yaml

from components.config import NAMESPACE, key_specs, pulumi_config_schema


def markdown_table() -> str:
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for spec in key_specs():
        if spec.secret:
            default = "**secret, required**"
        elif spec.default is None:
            default = "**required**"
        else:
            default = f"`{json.dumps(spec.default)}`"
        rows.append(f"| `{NAMESPACE}:{spec.name}` | {spec.type} | {default} | {spec.description} |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else "yaml"
    if what == "yaml":
        print(yaml.safe_dump({"config": pulumi_config_schema()}, sort_keys=False, width=110), end="")
    elif what == "markdown":
        print(markdown_table())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
