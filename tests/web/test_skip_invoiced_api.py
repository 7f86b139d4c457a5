"""The API's push takes ``skip_invoiced``: a row whose period the agreement has already invoiced is skipped (reason
in History, nothing sent); a target that cannot honour the option answers 422 and nothing is started."""

from __future__ import annotations

from fastapi.testclient import TestClient

from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from tests.web.test_api import wait_for_run


def _map_acme(admin: TestClient) -> tuple[int, int]:
    admin.post("/api/v1/connectwise/companies/refresh")
    acme = admin.get("/api/v1/connectwise/companies", params={"q": "acme"}).json()[0]["id"]
    agreement = admin.get(f"/api/v1/connectwise/companies/{acme}/agreements").json()[0]["id"]
    additions = admin.get(f"/api/v1/connectwise/agreements/{agreement}/additions").json()
    addition = next(a["id"] for a in additions if not a["cancelled"])
    body = {"cw_company_id": acme, "agreement_id": agreement, "addition_id": addition}
    assert admin.put("/api/v1/mappings/a-001", json=body).status_code == 200
    return agreement, addition


def test_the_api_skips_rows_whose_period_is_invoiced(
    admin: TestClient, connected: BackgroundServer, cw_sandbox: ConnectWiseSandbox
) -> None:
    agreement, addition = _map_acme(admin)
    cw_sandbox.agreements[agreement].update(nextInvoiceDate="2026-12-01T00:00:00Z", prorateFlag=True)
    quantity = cw_sandbox.additions[addition]["quantity"]
    documents = len(cw_sandbox.documents)
    preview = admin.post("/api/v1/pushes/preview", json={"period": "2026-10"}).json()
    assert next(r for r in preview["rows"] if r["company_id"] == "a-001")["already_invoiced"] is True

    started = admin.post("/api/v1/pushes", json={"period": "2026-10", "skip_invoiced": True})
    assert started.status_code == 202, started.text
    run = wait_for_run(admin, started.json()["run_id"])
    assert run["skip_invoiced"] is True and run["skipped"] == 1 and run["succeeded"] == 0
    detail = admin.get(f"/api/v1/pushes/{run['id']}", params={"results": "true"}).json()
    row = next(r for r in detail["results"] if r["company_id"] == "a-001")
    assert row["outcome"] == "skipped" and "period already invoiced" in row["reason"]
    assert not row["has_report"]
    assert cw_sandbox.additions[addition]["quantity"] == quantity
    assert len(cw_sandbox.documents) == documents
    assert cw_sandbox.changes == []
    # History says it: the run's tag and the row's reason
    assert "invoiced skipped" in admin.get("/history").text
    page = admin.get(f"/history/{run['id']}").text
    assert "rows whose period was already invoiced skipped" in page and "skip invoiced" in page


def test_a_target_that_cannot_honour_it_answers_422(admin: TestClient, connected: BackgroundServer) -> None:
    for target in ("autotask", "halopsa", "gradient"):
        refused = admin.post("/api/v1/pushes", json={"target": target, "period": "2026-09", "skip_invoiced": True})
        assert refused.status_code == 422, refused.text
        assert f"a push to {target} cannot honour skip invoiced" in refused.json()["detail"]
    assert admin.get("/api/v1/pushes").json() == []


def test_approving_rows_of_a_run_that_skipped_invoiced_periods_keeps_skipping(
    admin: TestClient, connected: BackgroundServer, cw_sandbox: ConnectWiseSandbox
) -> None:
    """Held by a run with skip_invoiced, Acme's row is approved after ConnectWise invoiced the period: the approval's
    push skips it as its run would have (nothing written), instead of setting the quantity on an invoiced period."""
    agreement, addition = _map_acme(admin)
    cw_sandbox.additions[addition]["quantity"] = 1000  # far from the count: over any threshold
    schedule = {"day": "5", "at": "06:00", "period": "previous", "approve_above_seats": 1}
    assert admin.put("/api/v1/schedules/connectwise", json=schedule).status_code == 200
    started = admin.post("/api/v1/pushes", json={"period": "2026-10", "skip_invoiced": True})
    assert started.status_code == 202, started.text
    held = wait_for_run(admin, started.json()["run_id"])
    assert held["skip_invoiced"] is True
    waiting = admin.get("/api/v1/approvals").json()
    assert any(r["company_id"] == "a-001" for run in waiting for r in run["rows"]), waiting

    cw_sandbox.agreements[agreement].update(nextInvoiceDate="2026-12-01T00:00:00Z", prorateFlag=True)
    approved = admin.post(f"/api/v1/approvals/{held['id']}/approve", json={"company_ids": ["a-001"]})
    assert approved.status_code == 200, approved.text
    sent = wait_for_run(admin, approved.json()["run_id"])
    assert sent["skip_invoiced"] is True and sent["succeeded"] == 0
    detail = admin.get(f"/api/v1/pushes/{sent['id']}", params={"results": "true"}).json()
    row = next(r for r in detail["results"] if r["company_id"] == "a-001")
    assert row["outcome"] == "skipped" and "period already invoiced" in row["reason"]
    assert cw_sandbox.additions[addition]["quantity"] == 1000
