"""The seeds-shaped estate (lab/estate_seeds.py) seeded on a lab and read back: what PROD's hand-written
manifests, its estate ExternalSecret, its old Vault connection and its PostgreSQL leave behind, as the
operations reports describe them (and not as the program would write them)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from lab.cluster import Lab
from lab.estate import FIELD_MANAGER, legacy_password
from lab.estate_seeds import (
    DATABASE,
    DATABASE_SECRET,
    ESTATE_EXTERNAL_SECRET,
    LEGACY_ROLE,
    MONITORING_LOGIN,
    OLD_CONNECTION,
    OLD_MOUNT,
    OTHER_DATABASE,
    PULL_SECRET,
    SMTP_SECRET,
    endpoint_problems,
    held_users,
    seed,
)
from tests.e2e.lab_support import k8s

pytestmark = pytest.mark.e2e

API = "/apis/apps/v1/namespaces/keybuzz-api-prod/deployments/keybuzz-api"


@pytest.fixture(scope="module")
def seeded(lab: Lab) -> dict[str, list[str]]:
    return seed(lab)


def test_the_hand_written_api_deployment_and_service(lab: Lab, seeded: dict[str, list[str]]) -> None:
    deployment = k8s(lab, API)
    service = k8s(lab, "/api/v1/namespaces/keybuzz-api-prod/services/keybuzz-api")
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "keybuzz-api"}}
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": "keybuzz-api"}
    assert "serviceAccountName" not in template["spec"]  # the namespace's `default` (set on pods, not here)
    assert template["spec"]["imagePullSecrets"] == [{"name": PULL_SECRET}]
    [container] = template["spec"]["containers"]
    assert [p.get("name") for p in container["ports"]] == [None]
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == [DATABASE_SECRET, SMTP_SECRET]
    assert {m["manager"] for m in deployment["metadata"]["managedFields"]} == {FIELD_MANAGER}
    assert service["spec"]["selector"] == {"app": "keybuzz-api"}
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [("web", 80, 3001)]
    assert endpoint_problems(service, deployment) == []
    client = k8s(lab, "/apis/apps/v1/namespaces/keybuzz-client-prod/deployments/keybuzz-client")
    assert client["spec"]["selector"] == {"matchLabels": {"app": "keybuzz-client"}}


def test_the_database_secret_is_the_estate_external_secrets_and_logs_in(lab: Lab, seeded: dict[str, list[str]]) -> None:
    secret = k8s(lab, f"/api/v1/namespaces/keybuzz-api-prod/secrets/{DATABASE_SECRET}")
    owners = [(o["kind"], o["name"]) for o in secret["metadata"].get("ownerReferences") or []]
    assert owners == [("ExternalSecret", ESTATE_EXTERNAL_SECRET)]
    data = lab.kube.secret_data("keybuzz-api-prod", DATABASE_SECRET)
    assert data["PGUSER"] == LEGACY_ROLE
    with psycopg.connect(
        **lab.conninfo(dbname=data["PGDATABASE"], user=data["PGUSER"], password=data["PGPASSWORD"])
    ) as c:
        assert c.execute("SELECT count(*) FROM tenants").fetchone() == (1,)
    assert set(lab.kube.secret_data("keybuzz-api-prod", SMTP_SECRET)) >= {"SMTP_HOST", "SMTP_PASSWORD"}


def _owners(lab: Lab) -> dict[str, str]:
    with psycopg.connect(**lab.conninfo(dbname=DATABASE)) as conn:
        rows: list[Any] = conn.execute(
            "SELECT typname, pg_get_userbyid(typowner) FROM pg_type WHERE typname = 'conversation_status' "
            "UNION ALL SELECT relname, pg_get_userbyid(relowner) FROM pg_class "
            "WHERE relname IN ('ticket_number_seq', 'tenants') "
            "UNION ALL SELECT proname, pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'next_ticket_number' "
            "UNION ALL SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
            (OTHER_DATABASE,),
        ).fetchall()
    return dict(rows)


def test_postgres_has_the_superusers_objects_and_a_second_database_of_the_legacy_role(
    lab: Lab, seeded: dict[str, list[str]]
) -> None:
    assert _owners(lab) == {
        "conversation_status": "postgres",
        "ticket_number_seq": "postgres",
        "next_ticket_number": "postgres",
        "tenants": LEGACY_ROLE,
        OTHER_DATABASE: LEGACY_ROLE,
    }
    with psycopg.connect(**lab.conninfo(dbname=DATABASE, user=LEGACY_ROLE, password=legacy_password(lab, LEGACY_ROLE))):
        pass


def test_a_v_user_of_the_old_connection_and_the_monitoring_login_stay_connected(
    lab: Lab, seeded: dict[str, list[str]]
) -> None:
    users = held_users(lab)
    assert users[f"estate-{MONITORING_LOGIN}"] == MONITORING_LOGIN
    assert users["estate-v-user"].startswith("v-")
    connection = lab.vault().read(f"{OLD_MOUNT}/config/{OLD_CONNECTION}")["data"]
    assert connection["allowed_roles"] == ["keybuzz-api"]


def test_seeding_again_changes_nothing(lab: Lab, seeded: dict[str, list[str]]) -> None:
    before = k8s(lab, API)["metadata"]["resourceVersion"]
    again = seed(lab)
    assert again["postgres"] == again["kubernetes"] == again["sessions"] == []
    assert k8s(lab, API)["metadata"]["resourceVersion"] == before
