"""The pinned upstream trees: digests, refusal of a missing or altered tree, and the fetch script,
run against a local git repository the test creates (no network)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.toolchain.support import TOOLCHAIN, read_pins

pytestmark = pytest.mark.toolchain

UPSTREAM_SH = TOOLCHAIN / "upstream.sh"
LOCK = TOOLCHAIN / "upstream.lock"


def lock_entries(path: Path = LOCK) -> dict[str, dict[str, str]]:
    entries = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, repo, ref, commit, paths, omit, digest = line.split()
        entries[name] = {"repo": repo, "ref": ref, "commit": commit, "paths": paths, "omit": omit, "digest": digest}
    return entries


def tree_digest(root: Path, omit: set[str] = frozenset()) -> str:
    """The lock's digest, computed independently of upstream.sh: sha256 over sorted
    `sha256sum`-style lines of every file but MISSING.txt and the omitted paths."""
    lines = []
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and not p.is_symlink()),
        key=lambda p: ("./" + p.relative_to(root).as_posix()).encode(),
    )
    for path in files:
        rel = path.relative_to(root).as_posix()
        if rel == "MISSING.txt" or rel in omit:
            continue
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  ./{rel}\n")
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(UPSTREAM_SH), *args], capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


# --- the lock and the pins ------------------------------------------------------------------------


def test_every_tree_the_pins_name_is_locked() -> None:
    pins, entries = read_pins(), lock_entries()
    wanted = {
        f"pulumi-kubernetes-v{pins['PULUMI_KUBERNETES_VERSION']}",
        f"pulumi-vault-v{pins['PULUMI_VAULT_VERSION']}",
        f"pulumi-postgresql-v{pins['PULUMI_POSTGRESQL_VERSION']}",
        f"pulumi-language-python-v{pins['PULUMI_LANGUAGE_PYTHON_VERSION']}",
        f"external-secrets-v{pins['EXTERNAL_SECRETS_VERSION']}",
        f"reloader-v{pins['RELOADER_VERSION']}",
        pins["TERRAFORM_PROVIDER_VAULT_TREE"],
        pins["TERRAFORM_PROVIDER_POSTGRESQL_TREE"],
        pins["FLUXCD_SSA_TREE"],
        pins["OPENSHIFT_API_TREE"],
    }
    assert wanted == set(entries), f"pins name {sorted(wanted)}, the lock has {sorted(entries)}"
    for name, entry in entries.items():
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", entry["digest"]), name
        # A versioned tree name agrees with the tag it is fetched at.
        if "-v" in name and entry["ref"].startswith("v"):
            assert name.endswith(entry["ref"]), f"{name} is locked at {entry['ref']}"


def test_the_source_trees_match_the_lock() -> None:
    """The trees this build uses (../shared/upstream or KEYBUZZ_UPSTREAM_DIR) are the locked ones,
    by a digest computed here independently of upstream.sh."""
    src = Path(run("dir").stdout.strip())
    for name, entry in lock_entries().items():
        omit = set() if entry["omit"] == "-" else set(entry["omit"].split(","))
        assert tree_digest(src / name, omit) == entry["digest"], name
    proc = run("verify")
    assert proc.returncode == 0, proc.stderr


# --- refusing a missing or altered tree -------------------------------------------------------------


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A source dir holding copies of Reloader's two locked trees (reloader, openshift's apps/v1)."""
    src = Path(run("dir").stdout.strip())
    pins = read_pins()
    dst = tmp_path / "upstream"
    for name in (f"reloader-v{pins['RELOADER_VERSION']}", pins["OPENSHIFT_API_TREE"]):
        shutil.copytree(src / name, dst / name, symlinks=True)
    for path in dst.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    return dst


def test_a_missing_tree_is_refused_with_how_to_get_it(tmp_path: Path) -> None:
    name = read_pins()["OPENSHIFT_API_TREE"]
    proc = run("verify", name, env={"KEYBUZZ_UPSTREAM_DIR": str(tmp_path / "empty")})
    assert proc.returncode == 1
    assert f"upstream tree '{name}'" in proc.stderr
    assert "is missing" in proc.stderr
    assert f"toolchain/upstream.sh fetch {name}" in proc.stderr
    assert "KEYBUZZ_UPSTREAM_DIR" in proc.stderr


def test_an_altered_tree_is_refused(tree_copy: Path) -> None:
    name = read_pins()["OPENSHIFT_API_TREE"]
    assert run("verify", name, env={"KEYBUZZ_UPSTREAM_DIR": str(tree_copy)}).returncode == 0
    (tree_copy / name / "go.mod").write_text((tree_copy / name / "go.mod").read_text() + "\n// edited\n")
    proc = run("verify", name, env={"KEYBUZZ_UPSTREAM_DIR": str(tree_copy)})
    assert proc.returncode == 1
    assert "altered" in proc.stderr
    assert name in proc.stderr
    assert "fetch" in proc.stderr


def test_the_build_refuses_an_altered_tree_before_building(tree_copy: Path, tmp_path: Path) -> None:
    name = read_pins()["OPENSHIFT_API_TREE"]
    (tree_copy / name / "LICENSE").write_text("not the licence\n")
    env = {**os.environ, "KEYBUZZ_UPSTREAM_DIR": str(tree_copy), "KEYBUZZ_TOOLCHAIN_CACHE": str(tmp_path / "cache")}
    status = subprocess.run(["bash", str(TOOLCHAIN / "build.sh"), "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0
    lines = {line.removeprefix("NOT ").split()[1]: line for line in status.stdout.splitlines()}
    assert lines["reloader"].startswith("NOT BUILDABLE")
    assert f"'{name}'" in lines["reloader"]
    assert "altered" in lines["reloader"]
    # Artifacts from the module proxy are unaffected by a broken tree.
    assert lines["etcd"].startswith("missing")

    build = subprocess.run(
        ["bash", str(TOOLCHAIN / "build.sh"), "build"], env={**env, "KEYBUZZ_TOOLCHAIN_ONLY": "reloader"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert build.returncode == 1
    assert f"upstream tree '{name}'" in build.stderr
    assert "building" not in build.stderr
    assert not list((tmp_path / "cache" / "objects").glob("reloader-*"))


def test_unknown_tree_names_the_known_ones() -> None:
    proc = run("verify", "no-such-tree")
    assert proc.returncode == 1
    assert "no tree 'no-such-tree'" in proc.stderr
    assert "reloader-v" in proc.stderr


# --- fetching from a repository -----------------------------------------------------------------


@pytest.fixture
def upstream_repo(tmp_path: Path) -> tuple[Path, str]:
    """A local git repository: v1.0.0 holds the tree we want, a later commit changes it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "LICENSE").write_text("licence text\n")
    (repo / "provider" / "cmd").mkdir(parents=True)
    (repo / "provider" / "go.mod").write_text("module example.invalid/provider\n")
    (repo / "provider" / "cmd" / "schema.json").write_text('{"large": "generated"}\n')
    (repo / "docs").mkdir()
    (repo / "docs" / "index.md").write_text("not part of the tree\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    git(repo, "tag", "v1.0.0")
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "provider" / "go.mod").write_text("module example.invalid/provider // changed later\n")
    git(repo, "commit", "-q", "-am", "later")
    return repo, commit


def _lock_for(tmp_path: Path, repo: Path, ref: str, commit: str, digest: str) -> Path:
    lock = tmp_path / "upstream.lock"
    lock.write_text(
        "# test lock\n"
        f"demo-v1.0.0 file://{repo} {ref} {commit[:12]} LICENSE,provider provider/cmd/schema.json {digest}\n"
    )
    return lock


def _expected_digest(tmp_path: Path) -> str:
    expected = tmp_path / "expected"
    (expected / "provider").mkdir(parents=True)
    (expected / "LICENSE").write_text("licence text\n")
    (expected / "provider" / "go.mod").write_text("module example.invalid/provider\n")
    return tree_digest(expected)


def test_fetch_fills_the_source_dir_at_the_locked_commit(tmp_path: Path, upstream_repo: tuple[Path, str]) -> None:
    repo, commit = upstream_repo
    lock = _lock_for(tmp_path, repo, "v1.0.0", commit, _expected_digest(tmp_path))
    src = tmp_path / "src"
    env = {"KEYBUZZ_UPSTREAM_DIR": str(src), "KEYBUZZ_UPSTREAM_LOCK": str(lock)}

    proc = run("fetch", env=env)
    assert proc.returncode == 0, proc.stderr
    tree = src / "demo-v1.0.0"
    assert (tree / "provider" / "go.mod").read_text() == "module example.invalid/provider\n"  # the tag, not main
    assert not (tree / "docs").exists()  # only the locked paths
    assert not (tree / "provider" / "cmd" / "schema.json").exists()  # omitted, regenerated by the build
    assert run("verify", env=env).returncode == 0

    again = run("fetch", env=env)  # a good tree is kept
    assert again.returncode == 0
    assert "present, digest matches" in again.stderr


def test_fetch_refuses_a_tag_that_moved(tmp_path: Path, upstream_repo: tuple[Path, str]) -> None:
    repo, commit = upstream_repo
    git(repo, "tag", "-f", "v1.0.0", "HEAD")  # the tag now names the later commit
    lock = _lock_for(tmp_path, repo, "v1.0.0", commit, _expected_digest(tmp_path))
    proc = run("fetch", env={"KEYBUZZ_UPSTREAM_DIR": str(tmp_path / "src"), "KEYBUZZ_UPSTREAM_LOCK": str(lock)})
    assert proc.returncode == 1
    assert f"the lock pins {commit[:12]}" in proc.stderr
    assert not (tmp_path / "src" / "demo-v1.0.0").exists()


def test_fetch_refuses_content_that_does_not_match_the_digest(tmp_path: Path, upstream_repo: tuple[Path, str]) -> None:
    repo, commit = upstream_repo
    lock = _lock_for(tmp_path, repo, commit[:12], commit, "sha256:" + "0" * 64)
    proc = run("fetch", env={"KEYBUZZ_UPSTREAM_DIR": str(tmp_path / "src"), "KEYBUZZ_UPSTREAM_LOCK": str(lock)})
    assert proc.returncode == 1
    assert "fetched tree has digest" in proc.stderr
    assert not (tmp_path / "src" / "demo-v1.0.0").exists()
