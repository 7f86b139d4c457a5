"""The JSON API route by route: status codes, validation errors, and what is stored."""

from __future__ import annotations

import io
import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushResult
from seatsync.push import runs
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services.tenants import get_tenant
from tests.web.conftest import World


def test_companies_list_search_get_put(admin: TestClient) -> None:
    page = admin.get("/api/v1/companies", params={"q": "north"}).json()
    assert page["total"] == 1 and page["companies"][0]["company_id"] == "a-002"
    assert admin.get("/api/v1/companies/a-002").json()["name"] == "Northwind Traders"
    assert admin.get("/api/v1/companies/nope").status_code == 404
    r = admin.put("/api/v1/companies/a-002", json={"name": "Northwind Traders LLC", "products": ["sat"]})
    assert r.status_code == 200 and r.json()["products"] == ["sat"] and r.json()["name"] == "Northwind Traders LLC"
    r = admin.put("/api/v1/companies/a-002", json={"name": "X", "products": "sat;bogus"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"line": 1, "column": "products", "reason": "unknown product 'bogus': use sat, phishing or sat;phishing"}
    ]
    assert admin.put("/api/v1/companies/a-002", json={}).status_code == 422


def test_company_batch_all_or_nothing(admin: TestClient) -> None:
    good = {"company_id": "a-100", "name": "New Co"}
    r = admin.post("/api/v1/companies/batch", json={"records": [good, {"company_id": "", "name": ""}, {"name": "x"}]})
    assert r.status_code == 422
    body = r.json()
    assert body["total"] >= 2 and {e["line"] for e in body["errors"]} == {2, 3}
    assert admin.get("/api/v1/companies/a-100").status_code == 404  # nothing stored
    r = admin.post("/api/v1/companies/batch", json={"records": [good]})
    assert r.status_code == 200 and r.json()["created"] == 1


def test_user_events_and_activity_batches(admin: TestClient) -> None:
    event = {
        "user_id": "new-1",
        "company_id": "a-001",
        "email": "n@a.test",
        "name": "N",
        "status": "active",
        "at": "2026-10-02T10:00:00-05:00",
    }
    r = admin.post("/api/v1/users/events", json={"records": [event]})
    assert r.status_code == 200 and r.json()["created"] == 1
    again = admin.post("/api/v1/users/events", json={"records": [event]}).json()
    assert again["created"] == 0 and again["unchanged"] == 1
    bad = {**event, "company_id": "b-001", "at": "2026-10-02T10:00:00"}
    r = admin.post("/api/v1/users/events", json={"records": [event, bad]})
    assert r.status_code == 422
    columns = {(e["line"], e["column"]) for e in r.json()["errors"]}
    assert columns == {(2, "company_id"), (2, "at")}  # another tenant's company is unknown here
    r = admin.post(
        "/api/v1/activity", json={"records": [{"user_id": "new-1", "kind": "training", "at": "2026-10-03T00:00:00Z"}]}
    )
    assert r.status_code == 200 and r.json()["created"] == 1
    r = admin.post("/api/v1/activity", json={"records": [{"user_id": "ghost", "kind": "nap", "at": "x"}]})
    assert r.status_code == 422


def test_csv_upload(admin: TestClient) -> None:
    files = {"file": ("companies.csv", io.BytesIO(b"company_id,name\na-200,Uploaded Co\n"), "text/csv")}
    r = admin.post("/api/v1/imports/companies", files=files)
    assert r.status_code == 200 and r.json()["created"] == 1
    files = {"file": ("users.csv", io.BytesIO(b"user_id,company_id\n"), "text/csv")}
    r = admin.post("/api/v1/imports/users", files=files)
    assert r.status_code == 422 and any(e["column"] == "email" for e in r.json()["errors"])
    assert admin.post("/api/v1/imports/people", files=files).status_code == 422


def test_billable(admin: TestClient) -> None:
    r = admin.get("/api/v1/billable", params={"period": "2026-10", "users": "true"})
    assert r.status_code == 200
    body = r.json()
    assert sum(c["billable_users"] for c in body["companies"]) == 12 and len(body["users"]) == 12
    assert admin.get("/api/v1/billable", params={"period": "2026-13"}).status_code == 422
    assert admin.get("/api/v1/billable").status_code == 422


def test_connectwise_connection_routes(admin: TestClient, cw_server: BackgroundServer) -> None:
    assert admin.get("/api/v1/connectwise").json()["status"] == "disconnected"
    r = admin.post(
        "/api/v1/connectwise/connect",
        json={
            "site": cw_server.url,
            "company_id": "demo",
            "public_key": "readonly-public",
            "private_key": "readonly-private",
            "client_id": "c",
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "broken"
    assert "Finance › Agreements › Edit Level (All)" in body["missing_rights"]
    assert "private" not in r.text.replace("readonly-private", "")  # never echoes keys
    assert "readonly-private" not in r.text
    r = admin.post(
        "/api/v1/connectwise/connect",
        json={
            "site": cw_server.url,
            "company_id": "demo",
            "public_key": "demo-public",
            "private_key": "demo-private",
            "client_id": "c",
        },
    )
    assert r.json()["status"] == "connected" and r.json()["missing_rights"] == []
    assert admin.post("/api/v1/connectwise/check").json()["status"] == "connected"
    assert admin.post("/api/v1/connectwise/disconnect").json()["status"] == "disconnected"
    r = admin.post("/api/v1/connectwise/check")
    assert r.status_code == 409 and "not connected" in r.json()["detail"]


def test_mapper_flow_map_preview_push(
    admin: TestClient, connected: BackgroundServer, cw_sandbox: ConnectWiseSandbox
) -> None:
    assert admin.post("/api/v1/connectwise/companies/refresh").json()["companies"] >= 30
    found = admin.get("/api/v1/connectwise/companies", params={"q": "acme"}).json()
    assert [c["name"] for c in found] == ["Acme Corporation"]
    acme = found[0]["id"]
    agreements = admin.get(f"/api/v1/connectwise/companies/{acme}/agreements").json()
    assert len(agreements) == 1
    additions = admin.get(f"/api/v1/connectwise/agreements/{agreements[0]['id']}/additions").json()
    active = [a for a in additions if not a["cancelled"]]
    assert len(active) == 1
    # saved step by step, as the page does
    r = admin.put("/api/v1/mappings/a-001", json={"cw_company_id": acme})
    assert r.status_code == 200 and r.json()["complete"] is False and r.json()["saved_at"]
    r = admin.put(
        "/api/v1/mappings/a-001",
        json={"cw_company_id": acme, "agreement_id": agreements[0]["id"], "addition_id": active[0]["id"]},
    )
    assert r.status_code == 200 and r.json()["complete"] is True
    r = admin.put("/api/v1/mappings/a-002", json={"cw_company_id": acme, "agreement_id": 999999})
    assert r.status_code == 409
    assert admin.get("/api/v1/mappings/a-001").json()["addition_id"] == active[0]["id"]

    page = admin.get("/api/v1/mappings", params={"period": "2026-10"}).json()
    assert page["total"] == 5 and page["per_page"] == 50
    assert admin.get("/api/v1/mappings", params={"filter": "unmapped"}).json()["total"] == 4
    assert admin.get("/api/v1/mappings", params={"q": "acme"}).json()["rows"][0]["billable"] == 2

    preview = admin.post("/api/v1/pushes/preview", json={"period": "2026-10"}).json()
    acme_row = next(r for r in preview["rows"] if r["company_id"] == "a-001")
    assert acme_row["action"] == "update" and acme_row["after"] == 2
    assert preview["counts"]["skip"] == 4

    started = admin.post("/api/v1/pushes", json={"period": "2026-10"})
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    status = wait_for_run(admin, run_id)
    assert status["status"] == "succeeded" and status["succeeded"] == 1
    detail = admin.get(f"/api/v1/pushes/{run_id}", params={"results": "true"}).json()
    acme_result = next(r for r in detail["results"] if r["company_id"] == "a-001")
    assert acme_result["outcome"] == "succeeded" and acme_result["after"] == 2 and acme_result["has_report"]
    rows = admin.get("/api/v1/mappings", params={"period": "2026-10", "q": "acme"}).json()["rows"]
    assert rows[0]["status"] == "ok"
    assert admin.get("/api/v1/mappings", params={"period": "2026-10"}).json()["last_push"]

    csv_text = admin.get(f"/api/v1/pushes/{run_id}/results.csv").text
    assert csv_text.splitlines()[0].startswith("run_id,period,target,company_id")
    assert "a-001,Acme Corp" in csv_text
    report = admin.get(f"/api/v1/pushes/{run_id}/reports/a-001")
    assert report.status_code == 200 and "a-u" in report.text
    assert admin.get(f"/api/v1/pushes/{run_id}/reports/a-002").status_code == 404
    runs = admin.get("/api/v1/pushes").json()
    assert [r["id"] for r in runs] == [run_id]
    assert admin.get("/api/v1/pushes/export.csv").text.count("\n") == 2

    assert admin.delete("/api/v1/mappings/a-001").status_code == 204
    assert admin.get("/api/v1/mappings/a-001").json()["cw_company_id"] is None


def wait_for_run(client: TestClient, run_id: int) -> dict[str, object]:
    deadline = time.monotonic() + 180  # an upper bound, not a speed target
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/pushes/{run_id}")
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        if body["status"] != "running":
            return body
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def test_failed_row_shows_reason(
    admin: TestClient, connected: BackgroundServer, cw_sandbox: ConnectWiseSandbox
) -> None:
    admin.post("/api/v1/connectwise/companies/refresh")
    contoso = admin.get("/api/v1/connectwise/companies", params={"q": "contoso"}).json()[0]["id"]
    agreement = admin.get(f"/api/v1/connectwise/companies/{contoso}/agreements").json()[0]["id"]
    addition = admin.get(f"/api/v1/connectwise/agreements/{agreement}/additions").json()[0]["id"]
    assert (
        admin.put(
            "/api/v1/mappings/a-003",
            json={"cw_company_id": contoso, "agreement_id": agreement, "addition_id": addition},
        ).status_code
        == 200
    )
    cw_sandbox.set_quantity_by_hand(addition, 77)  # drift: blocked
    # first push records what seatsync set; then the hand edit makes the next one blocked
    run = wait_for_run(admin, admin.post("/api/v1/pushes", json={"period": "2026-10"}).json()["run_id"])
    assert run["succeeded"] == 1
    cw_sandbox.set_quantity_by_hand(addition, 77)
    run = wait_for_run(admin, admin.post("/api/v1/pushes", json={"period": "2026-10"}).json()["run_id"])
    assert run["blocked"] == 1
    rows = admin.get("/api/v1/mappings", params={"period": "2026-10", "filter": "blocked"}).json()["rows"]
    assert [r["company_id"] for r in rows] == ["a-003"] and "changed in ConnectWise" in rows[0]["reason"]
    assert admin.get("/api/v1/mappings", params={"period": "2026-10", "filter": "drift"}).json()["total"] == 1
    forced = wait_for_run(
        admin, admin.post("/api/v1/pushes", json={"period": "2026-10", "force": True}).json()["run_id"]
    )
    assert forced["succeeded"] == 1


def test_automap_suggest_and_accept(admin: TestClient, connected: BackgroundServer) -> None:
    found = admin.get("/api/v1/automap/suggestions").json()
    by_company = {s["company_id"]: s for s in found}
    assert by_company["a-001"]["cw_company_name"] == "Acme Corporation" and by_company["a-001"]["addition_id"]
    assert "a-005" not in by_company  # nothing close enough
    one = by_company["a-004"]
    r = admin.post(
        "/api/v1/automap/accept",
        json={k: one[k] for k in ("company_id", "cw_company_id", "agreement_id", "addition_id")},
    )
    assert r.status_code == 200 and r.json()["cw_company_name"] == "Globex Logistics"
    r = admin.post("/api/v1/automap/accept-all", json={"above": 0.99})
    assert r.status_code == 200
    assert admin.post("/api/v1/automap/accept-all", json={"above": 2}).status_code == 422


def test_gradient_routes(admin: TestClient) -> None:
    r = admin.get("/api/v1/gradient")
    assert r.status_code == 200 and r.json()["status"] == "disconnected"
    r = admin.post("/api/v1/gradient/connect", json={"token": "x"})
    assert r.status_code == 409 and "SEATSYNC_GRADIENT_VENDOR_KEY" in r.json()["detail"]
    assert admin.post("/api/v1/gradient/sync-accounts").status_code == 409
    assert admin.post("/api/v1/gradient/disconnect").json()["status"] == "disconnected"


def test_push_without_connection_is_409(admin: TestClient) -> None:
    r = admin.post("/api/v1/pushes", json={"period": "2026-10"})
    assert r.status_code == 409
    assert admin.post("/api/v1/pushes/preview", json={}).status_code == 409
    assert admin.post("/api/v1/pushes", json={"target": "gradient"}).status_code == 409


def test_a_running_push_shows_its_progress_from_any_worker(admin: TestClient, world: World) -> None:
    """The run planned 3 results and wrote 1: a process that does not run it (another worker, a restarted one)
    still answers "1 of 3" from the run's row."""
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenants["a"])
        run_id = runs.start_run(session, tenant_id=tenant.id, target="connectwise", period="2026-10", started_by="t").id
        company = session.scalars(select(Company).where(Company.tenant_id == tenant.id)).first()
        assert company is not None
        session.add(PushResult(run_id=run_id, tenant_id=tenant.id, company_pk=company.id, outcome="succeeded"))
    before = admin.get(f"/api/v1/pushes/{run_id}").json()
    assert (before["status"], before["done"], before["expected"]) == ("running", 1, None)  # not planned yet
    runs.expect_results(world.engine, run_id=run_id, count=3)
    body = admin.get(f"/api/v1/pushes/{run_id}").json()
    assert (body["status"], body["done"], body["expected"]) == ("running", 1, 3)


def test_company_rule_override(admin: TestClient) -> None:
    r = admin.put("/api/v1/companies/a-002/rule", json={"rule": "peak"})
    assert r.status_code == 200 and r.json()["billing_rule"] == "peak"
    assert admin.get("/api/v1/companies/a-002").json()["billing_rule"] == "peak"
    body = admin.get("/api/v1/billable", params={"period": "2026-10", "users": "true"}).json()
    rules = {c["company_id"]: c["rule"] for c in body["companies"]}
    assert rules["a-002"] == "peak" and rules["a-001"] == "active" and body["rule"] == "active"
    assert {u["rule"] for u in body["users"] if u["company_id"] == "a-002"} == {"peak"}
    # one rule asked for applies to every company
    forced = admin.get("/api/v1/billable", params={"period": "2026-10", "rule": "engaged"}).json()
    assert {c["rule"] for c in forced["companies"]} == {"engaged"}
    assert admin.put("/api/v1/companies/a-002/rule", json={"rule": "most"}).status_code == 422
    assert admin.put("/api/v1/companies/nope/rule", json={"rule": "peak"}).status_code == 404
    cleared = admin.put("/api/v1/companies/a-002/rule", json={"rule": None})
    assert cleared.status_code == 200 and cleared.json()["billing_rule"] is None
