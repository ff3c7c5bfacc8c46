"""The lab's TLS material and settings, checked without a running lab (tests/lab/test_lab_tls.py uses them
on real servers)."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml

from lab import config as cfg
from lab.cli import main
from lab.cluster import Lab
from lab.config import Layout
from lab.files import estate_logins
from lab.program import lab_overrides
from lab.stacks import LAB_KEYS
from lab.tls import ensure_certificates

REPO = Path(__file__).resolve().parents[2]


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def test_the_server_certificate_is_signed_by_the_lab_ca_for_what_clients_dial(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ensure_certificates(layout)
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(layout.ca_certificate), str(layout.server_certificate)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    names = _openssl("x509", "-in", str(layout.server_certificate), "-noout", "-ext", "subjectAltName")
    assert "IP Address:127.0.0.1" in names
    assert "DNS:localhost" in names
    # The key is the certificate's (what PostgreSQL checks at start), and only its owner can read it.
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(layout.server_certificate, layout.server_key)
    assert layout.server_key.stat().st_mode & 0o777 == 0o600
    assert layout.ca_key.stat().st_mode & 0o777 == 0o600


def test_certificates_are_kept_across_restarts_and_a_lost_server_key_is_remade_from_the_same_ca(
    tmp_path: Path,
) -> None:
    layout = Layout(tmp_path)
    ensure_certificates(layout)
    ca, server = layout.ca_certificate.read_bytes(), layout.server_certificate.read_bytes()
    ensure_certificates(layout)
    assert (layout.ca_certificate.read_bytes(), layout.server_certificate.read_bytes()) == (ca, server)
    layout.server_key.unlink()
    ensure_certificates(layout)
    assert layout.ca_certificate.read_bytes() == ca
    assert layout.server_certificate.read_bytes() != server
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(layout.server_certificate, layout.server_key)


def test_a_lost_ca_key_means_a_new_ca_and_a_server_certificate_it_signed(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ensure_certificates(layout)
    ca = layout.ca_certificate.read_bytes()
    layout.ca_key.unlink()
    ensure_certificates(layout)
    assert layout.ca_certificate.read_bytes() != ca
    _openssl("verify", "-CAfile", str(layout.ca_certificate), str(layout.server_certificate))


def test_the_lab_stacks_keep_the_shipped_ssl_mode(tmp_path: Path) -> None:
    cfg.load_or_create_secrets(Layout(tmp_path))
    assert "postgresSslMode" not in lab_overrides(Lab(tmp_path, 15400))
    assert "postgresSslMode" not in LAB_KEYS  # so a lab stack that differs there fails the e2e comparison
    for env in ("dev", "prod"):
        assert yaml.safe_load((REPO / f"Pulumi.{env}.yaml").read_text())["config"]["keybuzz:postgresSslMode"] == (
            "require"
        )


def test_the_estates_legacy_logins_are_those_of_the_shipped_stacks() -> None:
    expected = set()
    for env in ("dev", "prod"):
        config = yaml.safe_load((REPO / f"Pulumi.{env}.yaml").read_text())["config"]
        expected |= {
            role for key in ("keybuzz:apiLegacyRoles", "keybuzz:backendLegacyRoles") for role in config.get(key, [])
        }
    assert estate_logins() == sorted(expected)
    assert {"keybuzz_api_prod", "kb_backend"} <= expected  # what the seed reports name


def test_every_node_serves_tls_and_only_plumbing_and_the_estate_may_log_in_without_it(tmp_path: Path) -> None:
    lab = Lab(tmp_path, 15400)
    secrets = cfg.load_or_create_secrets(lab.layout)
    for node in cfg.NODES:
        pg = lab._patroni_config(node, secrets, "/usr/lib/postgresql/15/bin")["postgresql"]
        cert, key = lab.layout.node_tls(node)
        assert (pg["parameters"]["ssl"], pg["parameters"]["ssl_cert_file"], pg["parameters"]["ssl_key_file"]) == (
            "on",
            str(cert),
            str(key),
        )
        # pg_hba is first-match: the TCP lines a login can meet, in order, as (type, database, user).
        tcp = [tuple(line.split()[:3]) for line in pg["pg_hba"] if not line.startswith("local")]
        plaintext_ok = [entry for entry in tcp if entry[0] == "host"]
        assert plaintext_ok == [
            ("host", "replication", cfg.REPLICATION_USER),
            ("host", "all", cfg.SUPERUSER),
            ("host", "all", ",".join(estate_logins())),
        ]
        assert tcp[len(plaintext_ok) :] == [("hostssl", "all", "all"), ("hostnossl", "all", "all")]
        assert pg["pg_hba"][-1].endswith(" reject")


def test_lab_env_exports_the_lab_ca_for_verifying_clients(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg.load_or_create_secrets(Layout(tmp_path))
    assert main(["env", "--state-dir", str(tmp_path), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["PGSSLROOTCERT"] == str(Layout(tmp_path).ca_certificate)
    assert exported["PGSSLMODE"] == "verify-full"
