"""`ops preflight` on the seeds-shaped estate (lab/estate_seeds.py): PROD as the operations reports show it
was written by hand, on a lab of its own (one estate shape per lab). The preflight must name each thing
the seeds show that the program does not know (issue 17, "Done when": its report, verbatim, is in the
note), exit 5, and change nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lab.cluster import Lab
from lab.estate_seeds import (
    ESTATE_EXTERNAL_SECRET,
    MONITORING_LOGIN,
    OLD_CONNECTION,
    OLD_MOUNT,
    OTHER_DATABASE,
    PULL_SECRET,
    SMTP_SECRET,
    seed,
)
from tests.e2e.lab_support import run
from tests.e2e.preflight_support import line_with, snapshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def seeds_prog(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lab-prod's stack file beside a copy of the program, on the seeds-shaped estate only."""
    from lab.stacks import write_stack
    from tests.e2e.lab_support import copy_program

    program = copy_program(tmp_path_factory.mktemp("seeds-program") / "program")
    seed(lab)
    write_stack(lab, "prod", root=program)
    return program


def test_the_preflight_names_what_the_seeds_show_and_changes_nothing(lab: Lab, seeds_prog: Path) -> None:
    before = snapshot(lab)
    argv = [sys.executable, "-m", "ops", "preflight", "--stack", "lab-prod", "--cwd", str(seeds_prog),
            "--lab-state", str(lab.layout.state_dir)]  # fmt: skip
    out = run(lab, seeds_prog, argv, expect=5).stdout
    assert snapshot(lab) == before, "the preflight changed something"
    for app in ("api", "client"):
        deployment = f"Deployment keybuzz-{app}-prod/keybuzz-{app}"
        service = f"Service keybuzz-{app}-prod/keybuzz-{app}"
        assert line_with(out, "[blocks: immutable]", f"{deployment}: spec.selector")
        assert line_with(out, "[blocks: cuts traffic]", f"{service}: spec.selector")
        assert line_with(out, "[taken over]", f"{service}: port 80 targetPort")  # by number, as the estate
        assert line_with(
            out, f"[would be dropped: model it with keybuzz:{app}ServicePortName]", f"{service}: port 80 name", "'web'"
        )
        assert line_with(out, f"[not listed: add to keybuzz:{app}ImagePullSecrets]", f"imagePullSecrets {PULL_SECRET}")
        assert f'  keybuzz:{app}SelectorLabels: {{"app": "keybuzz-{app}"}}' in out
    assert line_with(out, "[would be dropped: model it with keybuzz:apiExtraEnvFrom]", f"secret:{SMTP_SECRET}")
    assert line_with(out, "[not listed: add to keybuzz:apiEstateExternalSecret]", ESTATE_EXTERNAL_SECRET)
    assert line_with(out, "[blocks: foreign owner]", "objects owned by postgres", "1 function, 1 sequence, 1 type")
    assert line_with(out, "[left as is]", f"owns database {OTHER_DATABASE}")
    assert line_with(out, "[not listed: add to keybuzz:databaseConsumers]", f"login {MONITORING_LOGIN}")
    assert line_with(out, "[not listed: add to keybuzz:databaseConsumers]", "login v-")
    assert line_with(out, "[left as is]", f"connection {OLD_MOUNT}/config/{OLD_CONNECTION}")
    for fix in (f'keybuzz:apiExtraEnvFrom: ["secret:{SMTP_SECRET}"]',
                f'keybuzz:apiEstateExternalSecret: "{ESTATE_EXTERNAL_SECRET}"',
                f'keybuzz:databaseConsumers: ["{MONITORING_LOGIN}", "v-'):  # fmt: skip
        assert fix in out
    assert out.rstrip().endswith("(exit 5)")
