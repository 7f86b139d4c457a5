"""The Autotask JSON API: connect/check/disconnect naming missing permissions, never the secret; the mapper's
choices; a mapping checked against Autotask and saved; suggestions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.domain.periods import local_date, shown_instant, time_zone
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, AutotaskSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from tests.web.conftest import World


@pytest.fixture
def at_server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(AutotaskSandbox(seed="demo", slowdown_ms=0))) as running:
        yield running


def _connect(client: TestClient, url: str, username: str = "demo-api@example.com", secret: str = "demo-secret") -> dict:  # type: ignore[type-arg]
    answer = client.post(
        "/api/v1/autotask/connect",
        json={"username": username, "secret": secret, "integration_code": DEMO_INTEGRATION_CODE, "zone_url": url},
    )
    assert answer.status_code == 200, answer.text
    body: dict = answer.json()  # type: ignore[type-arg]
    return body


def test_connect_check_and_disconnect(admin: TestClient, at_server: BackgroundServer, world: World) -> None:
    readonly = _connect(admin, at_server.url, "readonly-api@example.com", "readonly-secret")
    assert readonly["status"] == "broken"
    assert readonly["missing_permissions"] == ["contract services adjust", "contract notes and attachments add"]
    ok = _connect(admin, at_server.url)
    assert ok["status"] == "connected" and ok["username"] == "demo-api@example.com"
    assert "demo-secret" not in str(ok) and DEMO_INTEGRATION_CODE not in str(ok)
    assert "demo-secret" not in admin.get("/api/v1/autotask").text
    kept = _connect(admin, at_server.url, "demo-api@example.com", "wrong")
    assert kept["kept_previous"] and kept["status"] == "connected"
    checked = admin.post("/api/v1/autotask/check").json()
    assert checked["status"] == "connected" and all(p["status"] == "present" for p in checked["permissions"])
    gone = admin.post("/api/v1/autotask/disconnect").json()
    assert gone["status"] == "disconnected"


def test_viewers_cannot_connect(viewer: TestClient, at_server: BackgroundServer) -> None:
    answer = viewer.post(
        "/api/v1/autotask/connect",
        json={
            "username": "demo-api@example.com",
            "secret": "demo-secret",
            "integration_code": "X",
            "zone_url": at_server.url,
        },
    )
    assert answer.status_code == 403


def test_choices_mapping_and_suggestions(admin: TestClient, at_server: BackgroundServer, world: World) -> None:
    _connect(admin, at_server.url)
    found = admin.get("/api/v1/autotask/companies", params={"q": "globex"}).json()
    assert [c["name"] for c in found] == ["Globex Logistics"]
    contracts = admin.get(f"/api/v1/autotask/companies/{found[0]['id']}/contracts").json()
    assert [c["name"] for c in contracts] == ["Managed Services - Globex Logistics"]  # not the T&M contract
    services = admin.get(f"/api/v1/autotask/contracts/{contracts[0]['id']}/services").json()
    assert [s["name"] for s in services] == ["Security Awareness Training (per user)"]
    company_id = "a-004"  # Globex Logistics in the web tests' tenant
    saved = admin.put(
        f"/api/v1/autotask/mappings/{company_id}",
        json={"at_company_id": int(found[0]["id"]), "contract_id": contracts[0]["id"], "service_id": services[0]["id"]},
    )
    assert saved.status_code == 200, saved.text
    assert (
        saved.json()["service_name"] == "Security Awareness Training (per user)"
        and saved.json()["saved_by"] == "admin@a.test"
    )
    wrong = admin.put("/api/v1/autotask/mappings/a-001", json={"at_company_id": int(found[0]["id"]), "contract_id": 1})
    assert wrong.status_code == 409 and "Autotask has no contract 1" in wrong.json()["detail"]
    assert [m["product"] for m in admin.get(f"/api/v1/autotask/mappings/{company_id}").json()] == [""]
    suggestions = {s["company_id"]: s for s in admin.get("/api/v1/autotask/suggestions").json()}
    assert suggestions["a-002"]["at_company_name"] == "Northwind Traders" and company_id not in suggestions
    assert admin.delete(f"/api/v1/autotask/mappings/{company_id}").status_code == 204
    assert admin.get(f"/api/v1/autotask/mappings/{company_id}").json() == []
    assert admin.get("/api/v1/autotask/mappings/nobody").status_code == 404


def test_the_integrations_page_connects_checks_and_disconnects(admin: TestClient, at_server: BackgroundServer) -> None:
    page = admin.get("/integrations")
    assert page.status_code == 200 and 'id="at-title"' in page.text and "disconnected" in page.text
    csrf = admin.headers["X-CSRF-Token"]
    form = {"csrf_token": csrf, "username": "readonly-api@example.com", "secret": "readonly-secret",
            "integration_code": DEMO_INTEGRATION_CODE, "zone_url": at_server.url}  # fmt: skip
    broken = admin.post("/integrations/autotask/connect", data=form)
    assert broken.status_code == 200
    assert "Saved, but the connection is broken" in broken.text
    assert "contract services adjust" in broken.text and 'id="at-permissions"' in broken.text
    connected = admin.post(
        "/integrations/autotask/connect", data={**form, "username": "demo-api@example.com", "secret": "demo-secret"}
    )
    assert "Connected to Autotask: every permission is granted." in connected.text
    assert "demo-secret" not in connected.text and DEMO_INTEGRATION_CODE not in connected.text
    checked = admin.post("/integrations/autotask/check", data={"csrf_token": csrf})
    assert "every permission is granted" in checked.text
    assert "Forget the API user's secret?" in checked.text  # disconnect asks first
    gone = admin.post("/integrations/autotask/disconnect", data={"csrf_token": csrf})
    assert "Autotask disconnected" in gone.text


def test_viewers_see_no_autotask_forms(viewer: TestClient) -> None:
    page = viewer.get("/integrations")
    assert 'id="at-title"' in page.text and "/integrations/autotask/connect" not in page.text


def test_the_autotask_mapper_page_choices_and_preview(admin: TestClient, at_server: BackgroundServer) -> None:
    _connect(admin, at_server.url)
    page = admin.get("/autotask/billing", params={"period": "2026-10"})
    assert page.status_code == 200 and "Autotask › Billing" in page.text and "Globex Logistics" in page.text
    companies = admin.get("/api/v1/mapper/autotask/choices/company", params={"q": "globex"}).json()
    assert [c["label"] for c in companies] == ["Globex Logistics"]
    contracts = admin.get("/api/v1/mapper/autotask/choices/contract", params={"parent": companies[0]["id"]}).json()
    services = admin.get("/api/v1/mapper/autotask/choices/service", params={"parent": contracts[0]["id"]}).json()
    assert [s["label"] for s in services] == ["Security Awareness Training (per user)"]
    admin.put(
        "/api/v1/autotask/mappings/a-004",
        json={"at_company_id": int(companies[0]["id"]), "contract_id": int(contracts[0]["id"]),
              "service_id": int(services[0]["id"])},
    ).raise_for_status()  # fmt: skip
    page = admin.get("/autotask/billing", params={"period": "2026-10", "q": "globex"})
    assert "Security Awareness Training (per user)" in page.text and "Not pushed yet" in page.text
    plan = admin.post("/api/v1/pushes/preview", json={"period": "2026-10", "target": "autotask"}).json()
    row = next(r for r in plan["rows"] if r["company_id"] == "a-004")
    assert row["action"] == "update" and row["before"] is not None
    assert plan["counts"]["skip"] == 4
    assert admin.get("/api/v1/mapper/autotask/choices/agreement", params={"parent": "1"}).status_code == 404


def test_a_saved_mapping_answers_the_mappers_saved_cell(
    admin: TestClient, at_server: BackgroundServer, world: World
) -> None:
    """The save's ``saved_date`` and ``saved_shown`` are what the mapper's "Mapping Saved" shows after a reload:
    the tenant's zone, not UTC (mapper.js writes them into the row at once)."""
    with transaction(world.engine) as session:
        session.execute(update(Tenant).values(time_zone="Pacific/Kiritimati"))
    _connect(admin, at_server.url)
    [company] = admin.get("/api/v1/autotask/companies", params={"q": "globex"}).json()
    contract = admin.get(f"/api/v1/autotask/companies/{company['id']}/contracts").json()[0]
    service = admin.get(f"/api/v1/autotask/contracts/{contract['id']}/services").json()[0]
    body = {"at_company_id": int(company["id"]), "contract_id": contract["id"], "service_id": service["id"]}
    saved = admin.put("/api/v1/autotask/mappings/a-004", json=body).json()
    zone = time_zone("Pacific/Kiritimati")
    at = datetime.fromisoformat(saved["saved_at"])
    assert (saved["saved_date"], saved["saved_shown"]) == (local_date(at, zone), shown_instant(at, zone))
    page = admin.get("/autotask/billing", params={"q": "globex"}).text
    cell = re.search(r'<tr data-company="a-004">.*?<td class="saved" title="([^"]*)">([^\n<]*)', page, re.S)
    assert cell is not None
    assert (cell.group(2), cell.group(1)) == (saved["saved_date"], f"by admin@a.test at {saved['saved_shown']}")
