"""Every value in the shipped stack files is traceable to a seed line or is a stated decision (issue 12, item 6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components.environments import estate_environments
from render.unseeded import unseeded

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO.parent / "shared" / "seeds"
#: Seed reports by the id the comments cite (their first line names them).
SEED_IDS = {"PH15": "PH15-AMAZON-DB-FOUNDATION", "PH16": "PH16-API-CONNECTION-RESTORE", "PH17": "PH17-DB-ENDPOINT",
            "PH28.2": "PH28.2 - PROD Rebuild", "TOPO": "RAPPORT TOPOLOGIE POSTGRESQL"}  # fmt: skip
CITATION = re.compile(r"\b(PH15|PH16|PH17|PH28\.2|TOPO)\b|\bdecision:")

pytestmark = pytest.mark.unit


def _entries(path: Path) -> list[tuple[str, str]]:
    """(top-level config key, the comments that document it: its own line and the comment block above)."""
    lines = path.read_text().splitlines()
    start = lines.index("config:")
    entries, block = [], []
    for line in lines[start + 1 :]:
        if line.strip().startswith("#"):
            block.append(line)
            continue
        match = re.match(r"^  ([\w:-]+):(.*)$", line)
        if match:
            entries.append((match.group(1), " ".join([*block, match.group(2)])))
            block = []
        elif not line.startswith("    "):
            block = []
    return entries


@pytest.mark.parametrize("env", estate_environments())
def test_every_stack_value_cites_a_seed_or_a_decision(env: str) -> None:
    path = REPO / f"Pulumi.{env}.yaml"
    entries = _entries(path)
    assert {key for key, _ in entries} == set(yaml.safe_load(path.read_text())["config"])
    uncited = [key for key, comment in entries if not CITATION.search(comment)]
    assert uncited == []


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed reports (../shared/seeds) are not on this machine")
def test_the_cited_seeds_exist_and_say_what_the_quotes_say() -> None:
    texts = {p.read_text() for p in SEEDS.glob("*.txt")}
    for seed_id, title in SEED_IDS.items():
        assert any(title in t for t in texts), f"no seed report {seed_id} ({title})"
    everything = "\n".join(texts).replace("`", "")
    quoted = 0
    for env in estate_environments():
        for line in (REPO / f"Pulumi.{env}.yaml").read_text().splitlines():
            if "#" not in line or not re.search(r"\b(PH15|PH16|PH17|PH28\.2|TOPO)\b", line.split("#", 1)[1]):
                continue
            for quote in re.findall(r'"([^"]{6,})"', line.split("#", 1)[1]):
                for part in quote.split(" -> "):  # "a" -> "b": two quotes of one passage
                    quoted += 1
                    assert part.replace("`", "") in everything, f"Pulumi.{env}.yaml quotes {part!r}"
    assert quoted >= 10


@pytest.mark.parametrize("env", estate_environments())
def test_the_stand_ins_are_the_keys_the_stack_file_leaves_unset(env: str) -> None:
    """render/unseeded.py fills exactly what the shipped file's header names as unset, and nothing it sets."""
    path = REPO / f"Pulumi.{env}.yaml"
    header = path.read_text().split("\nconfig:", 1)[0]
    named = set(re.findall(r"^#\s+keybuzz:(\w+)\s", header, re.M))
    assert named, f"{path.name} names no unset key"
    assert set(unseeded(env)) == named
    assert not {f"keybuzz:{key}" for key in named} & set(yaml.safe_load(path.read_text())["config"])


def test_an_environment_without_a_shipped_stack_file_has_no_stand_ins() -> None:
    assert unseeded("staging") == {}
