"""kube-score (built by the toolchain) on the rendered DEV and PROD manifests: a peer's reading (issue 18).

docs/kube-score.md lists each check kube-score reports and on which objects, marked ``real defect: fix``
or ``deliberately not followed`` (with the reason). The real defects must be gone; the deliberate ones
must be exactly the documented objects, so a new finding (or one gone) is a change of that document.

Toolchain tier, not policy: its prerequisite is the kube-score binary `make toolchain` builds, which is
what `make test-toolchain` builds first; the policy tier needs only the virtualenv.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from render import REPO
from render.manifests import write

pytestmark = pytest.mark.toolchain

DOC = REPO / "docs" / "kube-score.md"
STACKS = ("dev", "prod")
REAL_DEFECT = "real defect: fix"
DELIBERATE = "deliberately not followed"
#: kube-score's grades below this are findings (1 critical, 5 warning; 10 is all good).
GRADE_ALL_OK = 10

Findings = dict[str, set[str]]


def kube_score(toolchain_bin: Path, folder: Path, pins: dict[str, str]) -> list[dict]:
    """kube-score's JSON report of every manifest file in `folder`."""
    exe = toolchain_bin / "kube-score"
    if not exe.is_file():
        pytest.fail(f"no kube-score in {toolchain_bin}: run `make toolchain`")
    # The Kubernetes version the lab serves (the estate's is not in the seeds): it decides which
    # apiVersions `stable-version` calls deprecated.
    minor = ".".join(pins["KUBERNETES_VERSION"].split(".")[:2])
    files = sorted(str(p) for p in folder.glob("*.yaml"))
    proc = subprocess.run(
        [exe, "score", "--output-format", "json", "--kubernetes-version", f"v{minor}", *files],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode in (0, 1), f"kube-score failed ({proc.returncode}): {proc.stderr}"  # 1: findings
    report: list[dict] = json.loads(proc.stdout)
    return report


def findings_of(report: list[dict]) -> Findings:
    """check id -> {"Kind namespace/name"} of every object it grades below all-good."""
    found: Findings = defaultdict(set)
    for obj in report:
        meta = obj["object_meta"]
        name = f"{obj['type_meta']['kind']} {meta.get('namespace', '')}/{meta['name']}"
        for check in obj["checks"]:
            if not check["skipped"] and check["grade"] < GRADE_ALL_OK:
                found[check["check"]["id"]].add(name)
    return dict(found)


def documented() -> dict[str, tuple[str, set[str]]]:
    """check id -> (verdict, objects) from the table of docs/kube-score.md."""
    rows: dict[str, tuple[str, set[str]]] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.fullmatch(r"`[a-z0-9-]+`", cells[0]):
            continue
        check, _message, objects, verdict = cells
        assert verdict in (REAL_DEFECT, DELIBERATE), f"{check}: verdict {verdict!r}"
        rows[check.strip("`")] = (verdict, set(re.findall(r"`([^`]+)`", objects)))
    assert rows, f"no check table in {DOC}"
    return rows


@pytest.fixture(scope="module")
def report(toolchain_bin: Path, pins: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """kube-score's report on the rendered manifests of both stacks."""
    folder = tmp_path_factory.mktemp("manifests")
    write(folder, STACKS)
    return kube_score(toolchain_bin, folder, pins)


@pytest.fixture(scope="module")
def findings(report: list[dict]) -> Findings:
    return findings_of(report)


def test_kube_score_reads_every_workload(report: list[dict]) -> None:
    """It graded the objects it was given (an unparsed file would be an empty, passing report)."""
    graded = {(o["type_meta"]["kind"], o["object_meta"].get("namespace"), o["object_meta"]["name"]) for o in report}
    assert ("CronJob", "keybuzz-ops-prod", "keybuzz-prod-rotate-root") in graded
    assert ("Deployment", "keybuzz-worker-dev", "keybuzz-worker") in graded
    assert ("NetworkPolicy", "keybuzz-api-prod", "default-deny") in graded


def test_every_reported_check_is_documented(findings: Findings) -> None:
    assert sorted(set(findings) - set(documented())) == []


def test_deliberate_deviations_are_exactly_the_documented_ones(findings: Findings) -> None:
    differences = []
    for check, (verdict, objects) in sorted(documented().items()):
        reported = findings.get(check, set())
        if verdict == DELIBERATE:
            differences += [f"{check}: reported, not documented: {obj}" for obj in sorted(reported - objects)]
            differences += [f"{check}: documented, not reported: {obj}" for obj in sorted(objects - reported)]
    assert not differences, "\n".join(differences)


def test_real_defects_are_fixed(findings: Findings) -> None:
    """Fails until the component changes land (docs/kube-score.md says what each fix is)."""
    remaining = [
        f"{check}: {obj}"
        for check, (verdict, _) in sorted(documented().items())
        if verdict == REAL_DEFECT
        for obj in sorted(findings.get(check, ()))
    ]
    assert not remaining, "kube-score still reports the real defects docs/kube-score.md names:\n" + "\n".join(remaining)
