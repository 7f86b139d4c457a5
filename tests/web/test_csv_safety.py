"""CSV formula injection, through the API: results and run downloads and the report download are safe."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from seatsync.csv_safe import FORMULA_STARTS
from seatsync.db.engine import transaction
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services.imports import ImportKind, import_records
from seatsync.services.tenants import get_tenant
from tests.web.conftest import World
from tests.web.test_api import wait_for_run

HOSTILE_COMPANY = "=1+2"
HOSTILE_NAME = "@SUM(A1:A9)"


def formula_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row if cell.startswith(FORMULA_STARTS)]


def test_downloads_neutralise_formulas(admin: TestClient, connected: BackgroundServer, world: World) -> None:
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenants["a"])
        records = [(1, {"company_id": "a-001", "name": HOSTILE_COMPANY, "products": ""})]
        import_records(session, tenant=tenant, kind=ImportKind.COMPANIES, records=records, source="t")
        user = {
            "user_id": "a-evil",
            "company_id": "a-001",
            "email": "-1@a.test",
            "name": HOSTILE_NAME,
            "status": "active",
            "at": "2026-09-01T00:00:00Z",
        }
        import_records(session, tenant=tenant, kind=ImportKind.USERS, records=[(1, user)], source="t")
    assert admin.post("/api/v1/connectwise/companies/refresh").status_code == 200
    acme = admin.get("/api/v1/connectwise/companies", params={"q": "acme"}).json()[0]["id"]
    agreement = admin.get(f"/api/v1/connectwise/companies/{acme}/agreements").json()[0]["id"]
    additions = admin.get(f"/api/v1/connectwise/agreements/{agreement}/additions").json()
    addition = next(a for a in additions if not a["cancelled"])["id"]
    mapping = {"cw_company_id": acme, "agreement_id": agreement, "addition_id": addition}
    assert admin.put("/api/v1/mappings/a-001", json=mapping).status_code == 200
    run_id = admin.post("/api/v1/pushes", json={"period": "2026-10"}).json()["run_id"]
    assert wait_for_run(admin, run_id)["status"] == "succeeded"

    results = admin.get(f"/api/v1/pushes/{run_id}/results.csv").text
    assert "'" + HOSTILE_COMPANY in results
    assert formula_cells(results) == []
    report = admin.get(f"/api/v1/pushes/{run_id}/reports/a-001")
    assert report.status_code == 200, report.text
    assert "'" + HOSTILE_NAME in report.text and "'-1@a.test" in report.text
    assert formula_cells(report.text) == []
    runs = admin.get("/api/v1/pushes/export.csv").text
    assert formula_cells(runs) == []
