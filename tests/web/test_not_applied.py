"""A failed or blocked row says the quantity it meant to set, not the one it left (issue 17.5): "8 → 10, not
applied", on the mapper's status cell and on History › Run."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushResult, PushRun
from seatsync.services.tenants import get_tenant
from seatsync.web.mappers import connectwise as cw_mapper
from seatsync.web.mappers.cells import result_status
from tests.web.conftest import World
from tests.web.test_pages import form_login


def test_the_result_status_of_a_failed_or_blocked_row_names_the_meant_quantity() -> None:
    layout = cw_mapper.LAYOUT
    full = len(layout.levels)
    for outcome, label in (("failed", "Failed"), ("blocked", "Blocked")):
        cell = result_status(
            layout, chosen=full, outcome=outcome, reason=None, before=8, after=8, intended=10, run_id=3
        )
        assert (cell.label, cell.quantity) == (label, "8 → 10, not applied")
    pushed = result_status(
        layout, chosen=full, outcome="succeeded", reason=None, before=8, after=10, intended=10, run_id=3
    )
    assert (pushed.label, pushed.quantity) == ("Pushed", "8 → 10")


def test_history_run_shows_what_a_failed_row_meant(app_client: TestClient, world: World) -> None:
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenants["a"])
        run = PushRun(tenant_id=tenant.id, target="connectwise", period="2026-09", started_by="cli", status="failed")
        session.add(run)
        session.flush()
        first, second = list(session.scalars(select(Company.id).where(Company.tenant_id == tenant.id)))[:2]
        session.add_all(
            [
                PushResult(
                    run_id=run.id,
                    tenant_id=tenant.id,
                    company_pk=first,
                    outcome="failed",
                    quantity_before=8,
                    quantity_after=8,
                    billable=10,
                    reason="the addition is locked",
                ),
                PushResult(
                    run_id=run.id,
                    tenant_id=tenant.id,
                    company_pk=second,
                    outcome="succeeded",
                    quantity_before=4,
                    quantity_after=5,
                    billable=5,
                ),
            ]
        )
        run_id = run.id
    form_login(app_client, "admin@a.test")
    text = re.sub(r"<[^>]+>", " ", app_client.get(f"/history/{run_id}").text)
    assert "8 → 10, not applied" in text and "8 → 8" not in text
    assert "4 → 5" in text and "4 → 5, not applied" not in text
