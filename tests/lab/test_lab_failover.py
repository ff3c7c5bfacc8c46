"""The lab itself, and failover under load (issue 4, contract test 2: the PH16 incident reproduced).

A writer commits through the LB write port while the leader is switched over, then killed. Asserted:
no acknowledged commit is lost, the writer resumes through the same endpoint, OpenBao issues working
credentials afterwards with no reconfiguration, and a direct write to a replica node's port fails
read-only. Write gaps are measured and reported (`-rP` shows them), never asserted: timings belong to
`make bench-lab` and docs/lab.md.

Credentials come from an OpenBao database engine whose connection names the LB write port, as the
program's does (`lab.bao.database_engine`, plain Vault API calls). That the program's own connections name
the LB, and that the program converges when a failover happens during `up`, is the e2e tier's
(tests/e2e/test_lab_platform.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lab import bao
from lab.cluster import Lab, free_base_port
from lab.config import NODES
from lab.failover import FailoverReport
from lab.procs import is_running, postmaster_pid
from lab.writer import CONN_OPTS

pytestmark = pytest.mark.lab

MOUNT, ROLE = "lab-database", "writer"
PROBE = "failover_probe"


@pytest.fixture(scope="module")
def vault_writer(lab: Lab) -> str:
    """The lab's database engine and a table its users write to; returns the engine's connection URL."""
    bao.database_engine(lab, MOUNT, ROLE)
    with psycopg.connect(**lab.conninfo(), **CONN_OPTS, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {PROBE} (v text)")
    return str(lab.vault().read(f"{MOUNT}/config/lab")["data"]["connection_details"]["connection_url"])


def write_with(lab: Lab, cred: bao.Credential) -> None:
    """Connect with `cred` through the LB write port, write a row and read it back."""
    value = uuid.uuid4().hex
    with cred.connect(lab.ports.lb_write, "postgres", autocommit=True) as conn:
        conn.execute(f"INSERT INTO {PROBE} VALUES (%s)", (value,))
        row = conn.execute(f"SELECT v FROM {PROBE} WHERE v = %s", (value,)).fetchone()
    assert row == (value,)


def show(report: FailoverReport, record_property: Any) -> None:
    record_property(f"{report.mode}_gap_s", report.gap_s)
    print(report.summary())


def test_status_reports_one_leader_two_replicas_and_loopback_endpoints(lab: Lab) -> None:
    status = lab.status()
    assert status["running"]
    roles = sorted(m["role"] for m in status["members"])
    assert roles == ["leader", "replica", "sync_standby"]
    assert status["haproxy"]["pg_write"][status["leader"]] == "UP"
    assert all(endpoint.split("//")[-1].startswith("127.0.0.1:") for endpoint in status["endpoints"].values())
    assert {p["name"] for p in status["processes"]} == {"etcd", "bao", "haproxy"} | {f"patroni-{n}" for n in NODES}


def test_cli_status_json_matches_the_lab(lab: Lab) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lab", "status", "--json", "--state-dir", str(lab.layout.state_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    status = json.loads(out.stdout)
    assert status["leader"] == lab.leader()
    assert status["ports"]["lb_write"] == lab.ports.lb_write
    assert lab.secrets.superuser_password not in out.stdout


def test_lb_routes_writes_to_the_leader_and_reads_to_replicas(lab: Lab) -> None:
    leader = lab.leader()
    assert leader is not None
    with psycopg.connect(**lab.conninfo(lab.ports.lb_write), **CONN_OPTS) as conn:
        in_recovery, port = conn.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone() or (None, None)
    assert (in_recovery, port) == (False, lab.ports.pg(leader))
    replica_ports = {lab.ports.pg(n) for n in lab.replicas()}
    with psycopg.connect(**lab.conninfo(lab.ports.lb_read), **CONN_OPTS) as conn:
        in_recovery, port = conn.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone() or (None, None)
    assert in_recovery is True
    assert port in replica_ports


def test_direct_write_to_a_replica_node_fails_read_only(lab: Lab) -> None:
    """PH16: secrets pointed at a node that had become a replica; every write failed like this."""
    replica = lab.replicas()[0]
    with (
        psycopg.connect(**lab.conninfo(lab.ports.pg(replica)), **CONN_OPTS, autocommit=True) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only transaction"),
    ):
        conn.execute("CREATE TABLE ph16_direct_to_node (id int)")


def test_switchover_under_load_loses_no_acknowledged_commit(lab: Lab, vault_writer: str, record_property: Any) -> None:
    assert f"@127.0.0.1:{lab.ports.lb_write}/" in vault_writer  # OpenBao connects through the LB, never a node
    before = bao.issue(lab.vault(), MOUNT, ROLE)
    report = lab.failover("switchover")
    show(report, record_property)
    assert report.lost == []
    assert report.acked > 0
    assert report.new_leader != report.old_leader
    assert report.gap_s > 0  # measured; the figure goes to docs/lab.md via `make bench-lab`
    assert [a["returncode"] for a in report.attempts][-1] == 0
    # Same endpoint, same Vault config: a credential issued before still works, and a new one too.
    write_with(lab, before)
    write_with(lab, bao.issue(lab.vault(), MOUNT, ROLE))


def test_leader_kill_under_load_loses_no_acknowledged_commit(lab: Lab, vault_writer: str, record_property: Any) -> None:
    report = lab.failover("kill")
    show(report, record_property)
    assert report.lost == []
    assert report.acked > 0
    assert report.new_leader != report.old_leader
    assert report.gap_s > 0
    # OpenBao keeps its connection config (the LB) and issues working credentials right away.
    write_with(lab, bao.issue(lab.vault(), MOUNT, ROLE))
    # The killed leader came back as a replica: writing to its port directly is the PH16 failure.
    assert report.old_leader in lab.replicas()
    with (
        psycopg.connect(**lab.conninfo(lab.ports.pg(report.old_leader)), **CONN_OPTS, autocommit=True) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("CREATE TABLE ph16_old_leader (id int)")


def test_down_stops_every_recorded_process_and_is_idempotent() -> None:
    """A second lab on other ports: up, then down twice; none of its processes is left running."""
    state = Path(tempfile.mkdtemp(prefix="keybuzz-lab-test-down-"))
    os.chmod(state, 0o755)
    other = Lab(state, free_base_port(15500, 16500))  # the session lab holds its own range
    try:
        other.up()
        records = other.procs.all()
        assert {r.name for r in records} == {"etcd", "bao", "haproxy"} | {f"patroni-{n}" for n in NODES}
        postmasters = [postmaster_pid(other.layout.node_data(n)) for n in NODES]
        assert all(postmasters)
        first = other.down()
        assert set(first["stopped"]) == {r.name for r in records}
        assert not any(is_running(r.pid, r.ticks) for r in records)
        assert not any(pid is not None and is_running(pid) for pid in postmasters)
        assert other.down()["stopped"] == []
    finally:
        other.down()
        shutil.rmtree(state, ignore_errors=True)
