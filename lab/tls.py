"""The lab's TLS: a CA of its own and the PostgreSQL server certificate it signs, made with openssl.

Production's PostgreSQL is reached through the HAProxy LB by IP, with TLS end to end (HAProxy passes TCP
through), and the stacks' ``postgresSslMode`` is ``require``. The lab does the same on loopback: every
Patroni node serves this certificate (lab/files.py), HAProxy stays TCP, and the clients negotiate TLS with
PostgreSQL itself. The certificate names what the clients dial, ``IP:127.0.0.1`` (the LB and every node)
and ``DNS:localhost``, so a client that verifies (libpq ``verify-full`` with the CA, node-postgres with
the CA in ``NODE_EXTRA_CA_CERTS``) accepts it, and one that verifies without the CA refuses it: the
difference the apps' drivers make (issue 18).

The files live in ``<state>/tls`` and, like ``secrets.json``, are made once per lab and kept across
restarts: ``ca.crt`` (what clients trust; ``Lab.ca_certificate``, ``PGSSLROOTCERT`` in ``python -m lab
env``), ``ca.key``, ``server.crt``, ``server.key`` (keys mode 0600). Nothing here starts a process.
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Final

import psycopg

from lab.config import Layout
from lab.procs import LabError

#: What the clients dial: the LB and the nodes all listen on 127.0.0.1; `localhost` for humans.
SERVER_NAMES: Final = "IP:127.0.0.1,DNS:localhost"
CA_SUBJECT: Final = "/O=KeyBuzz lab/CN=KeyBuzz lab CA"
SERVER_SUBJECT: Final = "/O=KeyBuzz lab/CN=keybuzz-lab-postgres"
# Long enough that a kept lab never meets an expiry; the lab is not where certificate rotation is tested.
DAYS: Final = "3650"
# P-256: fast to generate (a lab is brought up from nothing in every test session) and accepted by every
# client under test (libpq/OpenSSL, node's TLS, Go's crypto/tls in lib/pq and pgx).
KEY_ALGORITHM: Final = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _make_ca(layout: Layout) -> None:
    _openssl(
        "req", "-x509", *KEY_ALGORITHM, "-nodes", "-days", DAYS, "-subj", CA_SUBJECT,
        "-keyout", str(layout.ca_key), "-out", str(layout.ca_certificate),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    layout.ca_key.chmod(0o600)


def _make_server(layout: Layout) -> None:
    extensions = (
        f"subjectAltName={SERVER_NAMES}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    with tempfile.TemporaryDirectory(dir=layout.tls_dir) as work:
        csr, ext = Path(work) / "server.csr", Path(work) / "server.ext"
        ext.write_text(extensions)
        _openssl(
            "req", "-new", *KEY_ALGORITHM, "-nodes", "-subj", SERVER_SUBJECT,
            "-keyout", str(layout.server_key), "-out", str(csr),
        )  # fmt: skip
        layout.server_key.chmod(0o600)
        _openssl(
            "x509", "-req", "-in", str(csr), "-days", DAYS, "-CA", str(layout.ca_certificate),
            "-CAkey", str(layout.ca_key), "-set_serial", "0x" + secrets.token_hex(8),
            "-extfile", str(ext), "-out", str(layout.server_certificate),
        )  # fmt: skip


def ensure_certificates(layout: Layout) -> None:
    """Make the lab CA and the server certificate it signs, unless this lab has them already.

    A missing or unreadable CA means new ones for both (a server certificate is only ever signed by the
    CA beside it); a missing server certificate or key alone is re-made from the existing CA."""
    layout.tls_dir.mkdir(parents=True, exist_ok=True)
    layout.tls_dir.chmod(0o755)  # the certificates are public; the keys are 0600
    new_ca = not (layout.ca_certificate.is_file() and layout.ca_key.is_file())
    if new_ca:
        _make_ca(layout)
    if new_ca or not (layout.server_certificate.is_file() and layout.server_key.is_file()):
        _make_server(layout)


def session_tls(conn: psycopg.Connection[Any]) -> bool | None:
    """Whether PostgreSQL says `conn`'s session is TLS (pg_stat_ssl), None if it does not say.

    Asked as the session user: an app's dynamic user runs as its database's owner group (SET ROLE), and
    PostgreSQL shows another role's session details, pg_stat_ssl's included, as NULL. ``SET ROLE NONE``
    rather than RESET: a role's configured default would come back with RESET."""
    with conn.transaction():
        conn.execute("SET LOCAL ROLE NONE")
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    return None if row is None else bool(row[0])
