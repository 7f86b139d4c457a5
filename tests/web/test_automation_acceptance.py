"""Acceptance: a tenant configured from the web (schedule, threshold, mail, webhook, board) gets, over a simulated
month-end (injected clock), one scheduled ConnectWise push, held rows on Approvals, the mails and webhooks, and a
ticket opened and closed; each step is in History."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from seatsync.config import get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Company, CWMapping, Integration, PushRun, TargetAutomation
from seatsync.push import scheduler
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services.tenants import get_tenant
from tests.notify.conftest import Mailbox, Receiver
from tests.notify.conftest import smtp_server as smtp_server
from tests.notify.conftest import webhook_receiver as webhook_receiver
from tests.web.conftest import World
from tests.web.test_pages import form_login

MONTH_END = datetime(2026, 11, 1, 0, 5, tzinfo=UTC)
SET_UP = datetime(2026, 10, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _mail(smtp_server: tuple[str, Mailbox], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SEATSYNC_SMTP_URL", smtp_server[0])
    monkeypatch.setenv("SEATSYNC_NOTIFICATION_RETRY_WAIT", "0.01")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def map_companies(world: World, sandbox: ConnectWiseSandbox) -> dict[str, int]:
    """a-001 (2 billable) at 2: unchanged; a-002 (3) at 1: +200 %; a-003 (3) on a cancelled addition: blocked.
    The addition ids, by company."""
    out: dict[str, int] = {}
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenants["a"])
        for company_id, quantity, cancelled in (("a-001", 2, False), ("a-002", 1, False), ("a-003", 3, True)):
            remote = sandbox.add_company(f"CW {company_id}")
            agreement = sandbox.add_agreement(remote["id"])
            addition = sandbox.add_addition(
                agreement["id"], quantity=quantity, cancelled_date="2026-09-30T00:00:00Z" if cancelled else None
            )
            pk = session.scalar(
                select(Company.id).where(Company.tenant_id == tenant.id, Company.company_id == company_id)
            )
            session.add(
                CWMapping(
                    tenant_id=tenant.id,
                    company_pk=pk,
                    cw_company_id=remote["id"],
                    cw_company_name=remote["name"],
                    agreement_id=agreement["id"],
                    agreement_name=agreement["name"],
                    addition_id=addition["id"],
                    addition_name="addition",
                    saved_by="test",
                )
            )
            out[company_id] = addition["id"]
    return out


def test_a_month_end_configured_from_the_web(
    app_client: TestClient,
    world: World,
    connected: BackgroundServer,
    cw_sandbox: ConnectWiseSandbox,
    smtp_server: tuple[str, Mailbox],
    webhook_receiver: Receiver,
) -> None:
    additions = map_companies(world, cw_sandbox)
    csrf = form_login(app_client, "admin@a.test")
    for data in (
        {"target": "connectwise", "day": "1", "at": "00:00", "period": "previous", "approve_above": "50"},
        {"target": "gradient", "day": "1", "at": "00:00", "period": "previous"},
    ):
        assert app_client.post("/integrations/schedule", data={"csrf_token": csrf, **data}).status_code == 200
    app_client.post("/integrations/schedule/gradient/off", data={"csrf_token": csrf})  # not connected here
    app_client.post(
        "/integrations/notifications/add",
        data={"csrf_token": csrf, "kind": "email", "address": "billing@alpha.example"},
    )
    app_client.post(
        "/integrations/notifications/add",
        data={
            "csrf_token": csrf,
            "kind": "webhook",
            "address": f"{webhook_receiver.url}/hooks/teams",
            "format": "teams",
        },
    )
    app_client.post("/integrations/tickets/connectwise/boards", data={"csrf_token": csrf})
    page = app_client.post("/integrations/tickets/connectwise/board", data={"csrf_token": csrf, "board_id": "2"}).text
    assert '<dd id="cw-board">Billing</dd>' in page
    assert "day 1 of each month at 00:00, the previous month" in page and "more than 50%" in page
    with transaction(world.engine) as session:  # configured in mid-October (the web's clock), connected before
        session.execute(update(Integration).values(connected_at=SET_UP))
        session.execute(update(TargetAutomation).values(updated_at=SET_UP))

    # the month ends: the schedule pushes October once
    started = scheduler.run_due(world.engine, now=MONTH_END)
    assert scheduler.run_due(world.engine, now=MONTH_END) == []
    with transaction(world.engine) as session:
        tenant_a = get_tenant(session, slug=world.tenants["a"]).id
        mine = [r for r in started if session.get(PushRun, r).tenant_id == tenant_a]  # type: ignore[union-attr]
    [run_id] = mine
    assert float(cw_sandbox.additions[additions["a-002"]]["quantity"]) == 1  # held
    history = app_client.get(f"/history/{run_id}").text
    assert "schedule" in history and "awaiting" in history and "blocked" in history

    approvals_page = app_client.get("/approvals").text
    assert approvals_page.count('class="waiting-row"') == 1 and "1 → 3" in approvals_page and "+200%" in approvals_page

    mailbox = smtp_server[1]
    subjects = sorted(m["Subject"].strip() for m in mailbox.messages)
    assert subjects == [
        "[seatsync] alpha-msp: 1 row of the ConnectWise push of 2026-10 waits for approval",
        "[seatsync] alpha-msp: ConnectWise push of 2026-10 finished with 1 blocked",
    ]
    teams = webhook_receiver.received["teams"]
    assert len(teams) == 2 and all(m["attachments"][0]["content"]["type"] == "AdaptiveCard" for m in teams)
    [ticket] = cw_sandbox.service.tickets.values()
    assert ticket["board"]["id"] == 2 and ticket["closedFlag"] is False
    assert "addition" in cw_sandbox.service.notes_of(ticket["id"])[0]["text"]

    # the admin approves the held row from the page: exactly it is sent
    r = app_client.post(
        f"/approvals/{run_id}", data={"csrf_token": csrf, "action": "approve-all"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/history/"), r.text[:300]
    app_client.app.state.seatsync.dispatcher.wait(30)  # type: ignore[attr-defined]
    assert float(cw_sandbox.additions[additions["a-002"]]["quantity"]) == 3
    assert 'id="nothing-waiting"' in app_client.get("/approvals").text

    # someone fixes the cancelled addition in ConnectWise; the next push of a-003 succeeds and closes the ticket
    cw_sandbox.additions[additions["a-003"]].pop("cancelledDate")
    r = app_client.post(
        "/api/v1/pushes", json={"target": "connectwise", "period": "2026-10"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code in (200, 201, 202), r.text
    app_client.app.state.seatsync.dispatcher.wait(30)  # type: ignore[attr-defined]
    assert cw_sandbox.service.tickets[ticket["id"]]["closedFlag"] is True
    listed = app_client.get("/history").text
    with transaction(world.engine) as session:
        runs = list(session.scalars(select(PushRun).where(PushRun.tenant_id == tenant_a).order_by(PushRun.id)))
    assert [r.started_by for r in runs] == ["schedule", f"admin@a.test (approval of run {run_id})", "admin@a.test"]
    for run in runs:
        assert f"/history/{run.id}" in listed
