"""Credential pickup (issue 13, item 1) proven on the lab: with short TTLs, a client that stands in for an app
(it reads its Secret once and re-reads it only when its Deployment's pod template changes, as a pod gets its
environment only when it starts) keeps every query working for 5 minutes while Reloader runs, and fails
within a bound without it; a second `up` after reloads is a no-op and keeps them.

Both stacks run with credentialTtlSeconds 60 (max 240), secretRefreshSeconds 20 and the apps on Vault's
credentials (legacyLoginPhase dynamic), set on this module's own copy of the lab stacks. DEV's Reloader
runs as the program's service account (so with exactly the RBAC the program grants it); PROD's Reloader is
stopped: the DEV api client is "with", the PROD api client "without", both at once. Figures are printed
(run with ``-s``) and kept in docs/operations.md.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from components.naming import Naming
from components.pickup import RELOAD_ANNOTATION, RELOADED_FROM_ANNOTATION, RELOADER_FIELD_MANAGER, reloader_args
from lab.cluster import Lab
from lab.kube import reloader_namespaces
from lab.procs import wait_for
from tests.e2e.lab_support import k8s, pulumi

pytestmark = pytest.mark.e2e

TTL, MAX_TTL, REFRESH = 60, 240, 20
WITH_SECONDS = 300  # the client with Reloader must see no failure for this long
WITHOUT_BOUND = 3 * TTL  # the client without it must fail within this (it holds credentials ≤ REFRESH old)
PERIOD = 2.0  # a new connection, a write and a read every PERIOD seconds
ENVS = ("dev", "prod")


def _deployment_path(env: str, app: str = "api") -> str:
    return f"/apis/apps/v1/namespaces/{Naming(env).namespace(app)}/deployments/keybuzz-{app}"


@dataclass
class StandIn:
    """An app's stand-in: reads its Secret at "start", then every PERIOD s opens a NEW connection through the
    LB with those credentials and writes and reads a row; re-reads the Secret only when its Deployment's
    pod template changes (what a rollout does to a real pod). Stops at its first failure if told to."""

    lab: Lab
    env: str
    duration: float
    stop_at_first_failure: bool
    successes: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)
    reloads: list[float] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.namespace = Naming(self.env).namespace("api")
        self.thread = threading.Thread(target=self._guarded, name=f"stand-in-{self.env}", daemon=True)

    def _template(self) -> str:
        return json.dumps(k8s(self.lab, _deployment_path(self.env))["spec"]["template"], sort_keys=True)

    def _credentials(self) -> dict[str, str]:
        return self.lab.kube.secret_data(self.namespace, "keybuzz-api-postgres")

    def _query(self, creds: dict[str, str]) -> None:
        with psycopg.connect(
            host=creds["PGHOST"], port=creds["PGPORT"], dbname=creds["PGDATABASE"],
            user=creds["PGUSER"], password=creds["PGPASSWORD"], connect_timeout=5,
            # The stacks' libpq mode: without it libpq's `prefer` retries in clear after a refused TLS login,
            # and reports pg_hba's refusal of the clear attempt instead of the real reason (the lab serves TLS).
            sslmode="require",
        ) as conn:  # fmt: skip
            conn.execute("CREATE TABLE IF NOT EXISTS pickup_probe (id bigserial PRIMARY KEY, client text)")
            row = conn.execute("INSERT INTO pickup_probe (client) VALUES (%s) RETURNING id", (self.env,)).fetchone()
            assert row is not None
            assert conn.execute("SELECT client FROM pickup_probe WHERE id = %s", (row[0],)).fetchone() == (self.env,)

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)

    def _run(self) -> None:
        template, creds = self._template(), self._credentials()
        t0 = time.monotonic()
        tick = t0
        while (now := time.monotonic()) - t0 < self.duration:
            current = self._template()
            if current != template:  # a rollout: the new pods start with the Secret as it is now
                template, creds = current, self._credentials()
                self.reloads.append(round(now - t0, 1))
            try:
                self._query(creds)
                self.successes += 1
            except psycopg.Error as exc:
                self.failures.append((round(time.monotonic() - t0, 1), str(exc).strip().splitlines()[-1][:160]))
                if self.stop_at_first_failure:
                    return
            tick += PERIOD
            time.sleep(max(0.0, tick - time.monotonic()))

    def summary(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "queries": self.successes + len(self.failures),
            "failures": len(self.failures),
            "first_failure_s": self.failures[0][0] if self.failures else None,
            "first_failure": self.failures[0][1] if self.failures else None,
            "reloads_seen": len(self.reloads),
            "reload_times_s": self.reloads,
        }


@pytest.fixture(scope="module")
def short_ttl_stacks(lab: Lab, prog: Path) -> Path:
    """Both lab stacks up with TTL 60 s / max 240 s / refresh 20 s; DEV's Reloader as the program's service
    account, PROD's stopped."""
    for env in ENVS:
        stack = f"lab-{env}"
        for key, value in (
            ("credentialTtlSeconds", TTL),
            ("credentialMaxTtlSeconds", MAX_TTL),
            ("secretRefreshSeconds", REFRESH),
            # Apps on Vault's credentials (cutover phase `dynamic`): in `kept` they read the estate's own Secret.
            ("legacyLoginPhase", "dynamic"),
        ):
            pulumi(lab, prog, "config", "set", f"keybuzz:{key}", str(value), "--stack", stack)
        pulumi(lab, prog, "up", "--yes", "--skip-preview", "--stack", stack)
    lab.kube.wait_external_secrets_ready()
    naming = Naming("dev")
    lab.kube.start_reloader("dev", service_account=(naming.reloader_namespace(), naming.reloader_service_account()))
    wait_for(lambda: lab.kube.reloader_healthy("dev"), 60, "DEV's Reloader (as its service account)", 0.25)
    lab.kube.stop_reloader("prod")
    assert not lab.kube.reloader_healthy("prod")
    return prog


def _can(lab: Lab, user: str, verb: str, resource: str, namespace: str, group: str = "") -> bool:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": ["system:serviceaccounts", "system:authenticated"],
                 "resourceAttributes": {"namespace": namespace, "verb": verb, "group": group, "resource": resource}},
    }  # fmt: skip
    status, body = lab.kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert status == 201, body
    return bool(body["status"].get("allowed"))


class TestCredentialPickup:
    def test_the_program_declares_each_environments_reloader_and_esos_login_outlives_the_credentials(
        self, lab: Lab, short_ttl_stacks: Path
    ) -> None:
        for env in ENVS:
            naming = Naming(env)
            d = k8s(lab, f"/apis/apps/v1/namespaces/{naming.reloader_namespace()}/deployments/keybuzz-reloader")
            [container] = d["spec"]["template"]["spec"]["containers"]
            assert container["image"] == "ghcr.io/stakater/reloader:v1.4.21"
            # The lab runs the binary with exactly the arguments the program gives the Deployment.
            assert container["args"] == reloader_args(reloader_namespaces(env))
            api = k8s(lab, _deployment_path(env))
            assert api["metadata"]["annotations"][RELOAD_ANNOTATION] == "keybuzz-api-postgres,keybuzz-api-env"
            running = lab.kube.procs.get(f"reloader-{env}")
            if running is not None:
                assert running.argv[1:] == container["args"]
            role = lab.vault().read(f"auth/kubernetes/role/keybuzz-{env}-api")["data"]
            assert role["token_ttl"] == TTL + 60 > TTL  # derived: credentialTtlSeconds + 60

    def test_devs_reloader_may_touch_devs_app_namespaces_only(self, lab: Lab, short_ttl_stacks: Path) -> None:
        dev, prod = Naming("dev"), Naming("prod")
        user = f"system:serviceaccount:{dev.reloader_namespace()}:{dev.reloader_service_account()}"
        for app in ("api", "backend", "worker"):
            assert _can(lab, user, "patch", "deployments", dev.namespace(app), "apps")
            assert _can(lab, user, "watch", "secrets", dev.namespace(app))
            assert not _can(lab, user, "patch", "deployments", prod.namespace(app), "apps")
            assert not _can(lab, user, "list", "secrets", prod.namespace(app))
            assert not _can(lab, user, "delete", "jobs", dev.namespace(app), "batch")
        assert not _can(lab, user, "list", "secrets", "")  # nothing cluster-wide
        assert not _can(lab, user, "patch", "deployments", prod.reloader_namespace(), "apps")

    def test_a_credential_dies_with_the_vault_token_that_fetched_it(self, lab: Lab, short_ttl_stacks: Path) -> None:
        """Why vaultLoginTtlSeconds must exceed credentialTtlSeconds (external-secrets#2198): ESO's generator
        logs in for each re-issue and never renews or revokes that token; Vault revokes its leases with it."""
        root = lab.vault()
        login = root.write("auth/token/create", {"ttl": "10s", "policies": ["keybuzz-dev-api"]})["auth"]
        creds = root.with_token(login["client_token"]).read("database-dev/creds/keybuzz-api-dev")
        assert creds["lease_duration"] == TTL
        data = creds["data"]
        access = {"host": "127.0.0.1", "port": lab.ports.lb_write, "dbname": "keybuzz", "connect_timeout": 5}
        psycopg.connect(**access, user=data["username"], password=data["password"]).close()
        time.sleep(15)  # the token has expired; the lease had 45 s left
        with pytest.raises(psycopg.OperationalError, match=r"password authentication failed|does not exist"):
            psycopg.connect(**access, user=data["username"], password=data["password"])

    def test_with_reloader_no_query_fails_for_5_minutes_and_without_it_they_fail_within_3_ttls(
        self, lab: Lab, short_ttl_stacks: Path
    ) -> None:
        with_reloader = StandIn(lab, "dev", WITH_SECONDS, stop_at_first_failure=False)
        without = StandIn(lab, "prod", WITH_SECONDS, stop_at_first_failure=True)
        for client in (with_reloader, without):
            client.thread.start()
        for client in (with_reloader, without):
            client.thread.join(WITH_SECONDS + 60)
            assert not client.errors, client.errors
        report = {"with": with_reloader.summary(), "without": without.summary()}
        print("\ncredential pickup:", json.dumps(report))
        assert without.failures, f"the client without Reloader never failed in {WITH_SECONDS} s: {report}"
        assert without.failures[0][0] <= WITHOUT_BOUND, report
        assert "password authentication failed" in without.failures[0][1] or "does not exist" in without.failures[0][1]
        assert not without.reloads, report  # nothing restarted PROD's api
        assert with_reloader.failures == [], report
        assert with_reloader.successes >= WITH_SECONDS / PERIOD * 0.8, report
        # One reload per re-issue, roughly every secretRefreshSeconds.
        assert len(with_reloader.reloads) >= WITH_SECONDS // REFRESH // 2, report

    def test_a_second_up_after_reloads_is_a_no_op_and_keeps_them(self, lab: Lab, short_ttl_stacks: Path) -> None:
        path = _deployment_path("dev")

        def reloaded() -> dict[str, Any]:
            annotations = k8s(lab, path)["spec"]["template"]["metadata"].get("annotations") or {}
            return dict(json.loads(annotations[RELOADED_FROM_ANNOTATION]))

        before = reloaded()
        prog = short_ttl_stacks
        pulumi(lab, prog, "preview", "--refresh", "--expect-no-changes", "--stack", "lab-dev")
        out = pulumi(lab, prog, "up", "--yes", "--stack", "lab-dev").stdout
        summary = out.rsplit("Resources:", 1)[1].split("Duration:", 1)[0].split()
        assert summary[1:] == ["unchanged"], out[-1500:]  # "Resources: N unchanged", nothing else
        after = reloaded()
        assert after["observedAt"] >= before["observedAt"], (before, after)  # not undone (Reloader may move on)
        managers = {m["manager"] for m in k8s(lab, path)["metadata"]["managedFields"]
                    if RELOADED_FROM_ANNOTATION in json.dumps(m.get("fieldsV1", {}))}  # fmt: skip
        assert managers == {RELOADER_FIELD_MANAGER}, managers
        # A real change to the Deployment (the first server-side apply after the create) keeps it too.
        tag = pulumi(lab, prog, "config", "get", "keybuzz:apiImageTag", "--stack", "lab-dev").stdout.strip()
        pulumi(lab, prog, "config", "set", "keybuzz:apiImageTag", "v0.1.99-dev", "--stack", "lab-dev")
        try:
            pulumi(lab, prog, "up", "--yes", "--stack", "lab-dev")
            assert k8s(lab, path)["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v0.1.99-dev")
            assert reloaded()["observedAt"] >= after["observedAt"]
        finally:
            pulumi(lab, prog, "config", "set", "keybuzz:apiImageTag", tag, "--stack", "lab-dev")
        pulumi(lab, prog, "up", "--yes", "--stack", "lab-dev")
        assert RELOADED_FROM_ANNOTATION in k8s(lab, path)["spec"]["template"]["metadata"]["annotations"]
        pulumi(lab, prog, "preview", "--refresh", "--expect-no-changes", "--stack", "lab-dev")
