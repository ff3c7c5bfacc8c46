"""TLS as production runs it, on the lab: what each PostgreSQL driver does with the variables the program
emits (issue 18).

The lab's PostgreSQL serves TLS with a certificate of the lab's own CA (lab/tls.py) behind the TCP
passthrough LB, and refuses plaintext logins other than the superuser's, replication and the estate's
legacy logins (lab/files.py).
The environment an app gets is the program's ExternalSecret template for lab-prod's api (rendered, not
applied: the e2e tier applies it with the real engine and runs node-postgres on the Secret ESO really
synced) filled in, as ESO fills it, with a credential from a plain OpenBao database engine on the LB.
node-postgres is the real driver (lab/node_pg.py runs `new pg.Client()` with nothing but that
environment); libpq is psycopg. These are the driver semantics the program relies on: libpq's `require`
encrypts without verifying; node-postgres's `require` verifies (and fails without the CA), its
`no-verify` is libpq's `require`, and `NODE_EXTRA_CA_CERTS` is how it is given a CA.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from lab import bao
from lab.cluster import Lab
from lab.config import HOST, NODES, SUPERUSER, Layout
from lab.files import estate_logins
from lab.node_pg import UNVERIFIED_CERTIFICATE_CODES, probe
from lab.program import lab_overrides
from lab.tls import ensure_certificates, session_tls
from lab.writer import CONN_OPTS
from render import Rendering, render_stack

pytestmark = pytest.mark.lab

EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
CONNECTION = "vault:database/secretBackendConnection:SecretBackendConnection"
APP_NAMESPACE = "keybuzz-api-prod"  # lab-prod's api: a Node app reading PG*
SECRET_NAME = "keybuzz-api-postgres"


MOUNT, ROLE = "database-tls", "tls-app"


@pytest.fixture(scope="module")
def rendering(lab: Lab) -> Rendering:
    """lab-prod as the program renders it for this lab, its api on Vault's credentials (phase dynamic)."""
    return render_stack("lab-prod", overrides=lab_overrides(lab, legacyLoginPhase="dynamic"))


def _template(rendering: Rendering) -> dict[str, str]:
    for es in rendering.of_type(EXTERNAL_SECRET):
        spec = es.inputs["spec"]
        if es.inputs["metadata"]["namespace"] == APP_NAMESPACE and spec["target"]["name"] == SECRET_NAME:
            return dict(spec["target"]["template"]["data"])
    raise AssertionError(f"no ExternalSecret writes {APP_NAMESPACE}/{SECRET_NAME}")


def _fill(template: dict[str, str], cred: bao.Credential) -> dict[str, str]:
    """The Secret ESO writes from `template` for `cred` (the only template expressions it uses)."""
    values = {
        "{{ .username }}": cred.username,
        "{{ .password }}": cred.password,
        "{{ .username | urlquery }}": urllib.parse.quote(cred.username, safe=""),
        "{{ .password | urlquery }}": urllib.parse.quote(cred.password, safe=""),
    }
    filled = {}
    for key, value in template.items():
        for expression, replacement in values.items():
            value = value.replace(expression, replacement)
        assert "{{" not in value, f"{key}: a template expression this test does not fill: {value}"
        filled[key] = value
    return filled


@pytest.fixture(scope="module")
def synced(lab: Lab, rendering: Rendering) -> dict[str, str]:
    """lab-prod's api Secret as ESO would write it from the program's template, with a credential issued by a
    plain OpenBao engine through the LB. No engine applied the program in this tier, so its database does not
    exist here: the Secret names `postgres` instead (the drivers' TLS handling does not depend on it)."""
    bao.database_engine(lab, MOUNT, ROLE)
    cred = bao.issue(lab.vault(), MOUNT, ROLE)
    secret = _fill(_template(rendering), cred)
    assert (secret["PGHOST"], secret["PGPORT"]) == ("127.0.0.1", str(lab.ports.lb_write)), "not the LB"
    return {**secret, "PGDATABASE": "postgres"}


def test_node_postgres_with_require_verifies_and_refuses_the_lab_certificate(synced: dict[str, str]) -> None:
    """`require`, what the program wrote as PGSSLMODE before issue 18: node-postgres verifies the certificate,
    and with no CA given every connection fails (the issue's failure, before any password is sent)."""
    result = probe({**synced, "PGSSLMODE": "require"})
    assert not result.ok, result.describe()
    assert result.code in UNVERIFIED_CERTIFICATE_CODES, result.describe()


def test_the_programs_secret_as_written_connects_with_node_postgres(synced: dict[str, str]) -> None:
    """The program writes the stack's `require` in node-postgres's spelling: the Secret, unchanged, connects."""
    assert synced["PGSSLMODE"] == "no-verify"
    result = probe(synced)
    assert result.ok, result.describe()
    assert (result.session_user, result.ssl) == (synced["PGUSER"], True)


def test_node_postgres_no_verify_is_libpqs_require(synced: dict[str, str]) -> None:
    result = probe({**synced, "PGSSLMODE": "no-verify"})
    assert result.ok, result.describe()
    assert (result.session_user, result.database, result.ssl) == (synced["PGUSER"], synced["PGDATABASE"], True)


@pytest.mark.parametrize("mode", ["require", "verify-full"])
def test_node_postgres_verifies_with_the_ca_in_node_extra_ca_certs(lab: Lab, synced: dict[str, str], mode: str) -> None:
    """With a CA (verify-full's case): node-postgres checks the chain and that the certificate names the
    address it dialled (127.0.0.1, the LB), and connects over TLS."""
    result = probe({**synced, "PGSSLMODE": mode, "NODE_EXTRA_CA_CERTS": str(lab.ca_certificate)})
    assert result.ok, result.describe()
    assert (result.session_user, result.ssl) == (synced["PGUSER"], True)


def test_node_postgres_with_a_ca_that_did_not_sign_the_server_refuses(
    lab: Lab, synced: dict[str, str], tmp_path: Path
) -> None:
    """The control for the test above: the CA is what made it pass, not a lax driver."""
    other = Layout(tmp_path)
    ensure_certificates(other)
    result = probe({**synced, "PGSSLMODE": "require", "NODE_EXTRA_CA_CERTS": str(other.ca_certificate)})
    assert not result.ok
    assert result.code in UNVERIFIED_CERTIFICATE_CODES, result.describe()


def test_libpq_require_encrypts_without_verifying(synced: dict[str, str]) -> None:
    with psycopg.connect(
        host=synced["PGHOST"], port=synced["PGPORT"], dbname=synced["PGDATABASE"], user=synced["PGUSER"],
        password=synced["PGPASSWORD"], sslmode="require", connect_timeout=5,
    ) as conn:  # fmt: skip
        assert session_tls(conn) is True


def test_libpq_verify_full_accepts_the_lab_certificate_for_the_lb_address(lab: Lab, synced: dict[str, str]) -> None:
    with psycopg.connect(
        host=synced["PGHOST"], port=synced["PGPORT"], dbname=synced["PGDATABASE"], user=synced["PGUSER"],
        password=synced["PGPASSWORD"], sslmode="verify-full", sslrootcert=str(lab.ca_certificate), connect_timeout=5,
    ) as conn:  # fmt: skip
        assert session_tls(conn) is True


def test_an_app_login_without_tls_is_refused(synced: dict[str, str]) -> None:
    """pg_hba's `hostssl` for what the program creates: an app's Vault credential never crosses in clear,
    whichever driver and mode (libpq `disable`, node-postgres `disable`)."""
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(
            host=synced["PGHOST"], port=synced["PGPORT"], dbname=synced["PGDATABASE"], user=synced["PGUSER"],
            password=synced["PGPASSWORD"], sslmode="disable", connect_timeout=5,
        )  # fmt: skip
    result = probe({**synced, "PGSSLMODE": "disable"})
    assert not result.ok
    assert "no encryption" in (result.error or ""), result.describe()


def test_an_estate_legacy_login_may_still_log_in_in_clear(lab: Lab) -> None:
    """The estate's path today (phase `kept`): an app's hand-written Secret names no sslmode, so node-postgres
    does not ask for TLS, and the estate accepts it (its api runs). The lab accepts it for the legacy logins
    of the shipped stacks only."""
    role, password = estate_logins()[0], "obviously-fake-legacy-password"
    with psycopg.connect(**lab.conninfo(), **CONN_OPTS, autocommit=True) as admin:
        created = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
        verb = "CREATE" if created else "ALTER"
        admin.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
    try:
        estate_secret = {"PGHOST": HOST, "PGPORT": str(lab.ports.lb_write), "PGDATABASE": "postgres",
                         "PGUSER": role, "PGPASSWORD": password}  # fmt: skip
        result = probe(estate_secret)
        assert result.ok, result.describe()
        assert (result.session_user, result.ssl) == (role, False)
    finally:
        if created:
            with psycopg.connect(**lab.conninfo(), **CONN_OPTS, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_superuser_plumbing_may_still_connect_in_clear(lab: Lab) -> None:
    """The other half of the pg_hba decision (lab/files.py): the lab's own superuser connections."""
    with psycopg.connect(**lab.conninfo(), sslmode="disable", connect_timeout=5) as conn:
        assert session_tls(conn) is False
        assert conn.execute("SELECT current_user").fetchone() == (SUPERUSER,)


def test_every_node_and_both_lb_ports_serve_tls(lab: Lab) -> None:
    """Whichever node leads (or serves reads), a client meets TLS: each node has ssl on."""
    ports = [lab.ports.lb_write, lab.ports.lb_read, *(lab.ports.pg(node) for node in NODES)]
    for port in ports:
        with psycopg.connect(**lab.conninfo(port), **CONN_OPTS) as conn:
            assert conn.execute("SHOW ssl").fetchone() == ("on",), port
            assert session_tls(conn) is True, port


def test_openbaos_plugin_connects_with_the_programs_require(lab: Lab, rendering: Rendering) -> None:
    """The program's Vault connection URLs say `sslmode=require` (no CA); OpenBao's PostgreSQL plugin (pgx)
    with that sslmode, through the LB, issues credentials: it encrypts without verifying. The issued user,
    not a superuser, is admitted over TLS only."""
    connections = rendering.of_type(CONNECTION)
    assert connections
    assert all(c.inputs["postgresql"]["connectionUrl"].endswith("?sslmode=require") for c in connections)
    assert bao.lab_connection_url(lab.ports.lb_write).endswith("?sslmode=require")
    bao.database_engine(lab, MOUNT, ROLE)
    cred = bao.issue(lab.vault(), MOUNT, ROLE)
    with cred.connect(lab.ports.lb_write, "postgres") as session:
        assert session_tls(session) is True
    bao.revoke(lab.vault(), cred.lease_id)
