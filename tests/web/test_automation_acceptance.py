"""Acceptance: a tenant configured from the web (schedule, threshold, mail, webhooks, board) gets, over a simulated
month-end (injected clocks, never today's date), one scheduled push per target — ConnectWise, Autotask, HaloPSA and
Gradient, each on its sandbox over a real socket — held rows on Approvals (approved from the page: exactly those
are sent), the mails and webhooks, and a ticket opened and closed; a push by hand asks before it sends a row over
the threshold; each step is in History."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

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
OCTOBER_1 = date(2026, 10, 1)
GRADIENT_VENDOR = "demo-vendor"
GRADIENT_TOKEN = "alpha-partner"
#: the billable users of October in the world's tenant a (tests/web/conftest.py: users 1-12 over five companies)
BILLABLE = {"a-001": 2, "a-002": 3, "a-003": 3, "a-004": 2, "a-005": 2}


@pytest.fixture(autouse=True)
def _mail(smtp_server: tuple[str, Mailbox], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SEATSYNC_SMTP_URL", smtp_server[0])
    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", GRADIENT_VENDOR)
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


@dataclass
class Others:
    """The tenant's Autotask, HaloPSA and Gradient sandboxes (connected, mapped), and the items by company."""

    autotask: Any
    halopsa: Any
    gradient: Any
    services: dict[str, int]
    licences: dict[str, int]

    def units(self, company_id: str) -> int:
        return int(self.autotask.units_on(self.services[company_id], OCTOBER_1))

    def count(self, company_id: str) -> float:
        return float(self.halopsa.licences[self.licences[company_id]]["count"])

    def gradient_counts(self) -> dict[str, set[float]]:
        counts: dict[str, set[float]] = {}
        for (account, _service), n in self.gradient.latest_counts(GRADIENT_TOKEN).items():
            counts.setdefault(account, set()).add(float(n))
        return counts


@contextmanager
def other_targets(world: World) -> Iterator[tuple[Others, str]]:
    """Autotask: a-001 2 units (unchanged), a-002 1 (→ 3, +200 %), a-004 3 (→ 2, -33 %). HaloPSA: a-002 1 (→ 3),
    a-003 4 (→ 3, -25 %), a-005 2 (unchanged). Gradient: every company and service mapped on the MSP's side."""
    from seatsync.sandboxes import gradient as gradient_sandbox
    from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, SECURITY_AWARENESS_SERVICE, AutotaskSandbox
    from seatsync.sandboxes.autotask import create_app as create_at_app
    from seatsync.sandboxes.halopsa import HaloPSASandbox
    from seatsync.sandboxes.halopsa import create_app as create_halo_app
    from seatsync.services import autotask_connection, halopsa_connection, psa_mappings
    from seatsync.services.psa_mappings import MappingValues
    from tests.web.conftest import CLIENTS

    autotask, halopsa = AutotaskSandbox(seed=None, slowdown_ms=0), HaloPSASandbox(seed=None)
    gradient = gradient_sandbox.GradientSandbox.seeded("empty")
    gradient.add_partner(
        GRADIENT_VENDOR,
        GRADIENT_TOKEN,
        name="Alpha MSP",
        psa_companies=CLIENTS,
        psa_products=("Security Awareness Training", "Phishing Simulation"),
    )
    with (
        BackgroundServer(create_at_app(autotask)) as at_server,
        BackgroundServer(create_halo_app(halopsa)) as halo_server,
        BackgroundServer(gradient_sandbox.create_app(gradient, rate_limit=None)) as gradient_server,
    ):
        services: dict[str, int] = {}
        licences: dict[str, int] = {}
        with transaction(world.engine) as session:
            tenant = get_tenant(session, slug=world.tenants["a"])
            connected = autotask_connection.connect(
                session, tenant=tenant, username="demo-api@example.com", secret="demo-secret",
                integration_code=DEMO_INTEGRATION_CODE, zone_url=at_server.url,
            )  # fmt: skip
            assert connected.status.value == "connected", connected.reason
            for company_id, units in (("a-001", 2), ("a-002", 1), ("a-004", 3)):
                remote = autotask.add_company(f"AT {company_id}")
                contract = autotask.add_contract(remote["id"])
                service = autotask.add_contract_service(contract["id"], SECURITY_AWARENESS_SERVICE, units=units)
                services[company_id] = service["id"]
                psa_mappings.save_mapping(
                    session, tenant=tenant, target="autotask", company_id=company_id,
                    values=MappingValues(str(remote["id"]), remote["companyName"], str(contract["id"]),
                                         contract["contractName"], str(service["id"]), "Security Awareness"),
                    by="test",
                )  # fmt: skip
            connected = halopsa_connection.connect(
                session, tenant=tenant, url=halo_server.url, client_id="demo-client", client_secret="demo-secret"
            )
            assert connected.status.value == "connected", connected.reason
            for company_id, count in (("a-002", 1), ("a-003", 4), ("a-005", 2)):
                client = halopsa.add_client(f"Halo {company_id}")
                licence = halopsa.add_licence(client["id"], name=f"Halo {company_id} - Seats", count=count)
                licences[company_id] = licence["id"]
                psa_mappings.save_mapping(
                    session, tenant=tenant, target="halopsa", company_id=company_id,
                    values=MappingValues(str(client["id"]), client["name"], item_id=str(licence["id"]),
                                         item_name=licence["name"]),
                    by="test",
                )  # fmt: skip
        yield Others(autotask, halopsa, gradient, services, licences), gradient_server.url


def approve_all(client: TestClient, csrf: str, run_id: int) -> None:
    r = client.post(f"/approvals/{run_id}", data={"csrf_token": csrf, "action": "approve-all"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/history/"), r.text[:300]


def test_a_month_end_configured_from_the_web(
    app_client: TestClient,
    world: World,
    connected: BackgroundServer,
    cw_sandbox: ConnectWiseSandbox,
    smtp_server: tuple[str, Mailbox],
    webhook_receiver: Receiver,
) -> None:
    additions = map_companies(world, cw_sandbox)
    with other_targets(world) as (others, gradient_url):
        csrf = form_login(app_client, "admin@a.test")
        r = app_client.post(
            "/integrations/gradient/connect",
            data={"csrf_token": csrf, "token": GRADIENT_TOKEN, "url": gradient_url},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        monthly = {"day": "1", "at": "00:00", "period": "previous"}
        for data in (
            {"target": "connectwise", **monthly, "approve_above": "50"},
            {"target": "autotask", **monthly, "approve_above": "50"},
            {"target": "halopsa", **monthly, "approve_above": "50"},
            {"target": "gradient", **monthly, "approve_above_seats": "2"},
        ):
            assert app_client.post("/integrations/schedule", data={"csrf_token": csrf, **data}).status_code == 200
        app_client.post(
            "/integrations/notifications/add",
            data={"csrf_token": csrf, "kind": "email", "address": "billing@alpha.example"},
        )
        for fmt in ("teams", "slack"):
            app_client.post(
                "/integrations/notifications/add",
                data={"csrf_token": csrf, "kind": "webhook", "address": f"{webhook_receiver.url}/hooks/{fmt}",
                      "format": fmt},
            )  # fmt: skip
        app_client.post("/integrations/tickets/connectwise/boards", data={"csrf_token": csrf})
        page = app_client.post(
            "/integrations/tickets/connectwise/board", data={"csrf_token": csrf, "board_id": "2"}
        ).text
        assert '<dd id="cw-board">Billing</dd>' in page
        page = app_client.get("/integrations").text
        assert page.count("day 1 of each month at 00:00, the previous month") == 4
        assert page.count("more than 50%") == 3 and "more than 2 seats" in page
        with transaction(world.engine) as session:  # configured in mid-October (the web's clock), connected before
            session.execute(update(Integration).values(connected_at=SET_UP))
            session.execute(update(TargetAutomation).values(updated_at=SET_UP))
            tenant_a = get_tenant(session, slug=world.tenants["a"]).id

        # the month ends: the schedule pushes October once per target
        started = scheduler.run_due(world.engine, now=MONTH_END)
        assert scheduler.run_due(world.engine, now=MONTH_END) == []
        with transaction(world.engine) as session:
            scheduled = {
                run.target: run
                for run in (session.get(PushRun, r) for r in started)
                if run is not None and run.tenant_id == tenant_a
            }
        assert sorted(scheduled) == ["autotask", "connectwise", "gradient", "halopsa"]
        assert {r.started_by for r in scheduled.values()} == {"schedule"}
        # within the threshold: sent; over it: held
        assert float(cw_sandbox.additions[additions["a-002"]]["quantity"]) == 1
        assert (others.units("a-001"), others.units("a-002"), others.units("a-004")) == (2, 1, 2)
        assert (others.count("a-002"), others.count("a-003"), others.count("a-005")) == (1, 3, 2)
        assert others.gradient_counts() == {"a-001": {2}, "a-004": {2}, "a-005": {2}}
        for run in scheduled.values():
            history = app_client.get(f"/history/{run.id}").text
            assert "schedule" in history and "awaiting" in history, run.target
        assert "blocked" in app_client.get(f"/history/{scheduled['connectwise'].id}").text

        approvals_page = app_client.get("/approvals").text
        assert approvals_page.count('class="waiting-row"') == 1 + 1 + 1 + 4
        assert "1 → 3" in approvals_page and "+200%" in approvals_page

        mailbox = smtp_server[1]
        subjects = sorted(m["Subject"].strip() for m in mailbox.messages)
        assert subjects == [
            "[seatsync] alpha-msp: 1 row of the Autotask push of 2026-10 waits for approval",
            "[seatsync] alpha-msp: 1 row of the ConnectWise push of 2026-10 waits for approval",
            "[seatsync] alpha-msp: 1 row of the HaloPSA push of 2026-10 waits for approval",
            "[seatsync] alpha-msp: 4 rows of the Gradient push of 2026-10 wait for approval",
            "[seatsync] alpha-msp: ConnectWise push of 2026-10 finished with 1 blocked",
        ]
        teams, slack = webhook_receiver.received["teams"], webhook_receiver.received["slack"]
        assert len(teams) == 5 and all(m["attachments"][0]["content"]["type"] == "AdaptiveCard" for m in teams)
        assert len(slack) == 5 and all(m["blocks"] for m in slack)
        [ticket] = cw_sandbox.service.tickets.values()
        assert ticket["board"]["id"] == 2 and ticket["closedFlag"] is False
        assert "addition" in cw_sandbox.service.notes_of(ticket["id"])[0]["text"]

        # the admin approves the held rows from the page: exactly those are sent, on every target
        for run in scheduled.values():
            approve_all(app_client, csrf, run.id)
            app_client.app.state.seatsync.dispatcher.wait(30)  # type: ignore[attr-defined]
        assert float(cw_sandbox.additions[additions["a-002"]]["quantity"]) == 3
        assert (others.units("a-001"), others.units("a-002"), others.units("a-004")) == (2, 3, 2)
        assert (others.count("a-002"), others.count("a-003"), others.count("a-005")) == (3, 3, 2)
        assert others.gradient_counts() == {c: {float(n)} for c, n in BILLABLE.items()}
        assert 'id="nothing-waiting"' in app_client.get("/approvals").text

        # someone fixes the cancelled addition in ConnectWise; the next push of a-003 succeeds and closes the ticket
        cw_sandbox.additions[additions["a-003"]].pop("cancelledDate")
        r = app_client.post(
            "/api/v1/pushes", json={"target": "connectwise", "period": "2026-10"}, headers={"X-CSRF-Token": csrf}
        )
        assert r.status_code == 202, r.text
        app_client.app.state.seatsync.dispatcher.wait(30)  # type: ignore[attr-defined]
        assert cw_sandbox.service.tickets[ticket["id"]]["closedFlag"] is True

        # a push by hand asks first: Gradient's "Push now" names the rows over the threshold (counts of 3)
        push_now = {"csrf_token": csrf, "target": "gradient", "period": "2026-10"}
        asked = app_client.post("/integrations/push", data=push_now, follow_redirects=False)
        assert asked.status_code == 303  # post/redirect/get: the question is a page of its own
        assert asked.headers["location"] == "/integrations/push/ask?target=gradient&period=2026-10"
        runs_before = run_count(world)
        question = app_client.get(asked.headers["location"])
        assert question.status_code == 200 and 'id="push-question"' in question.text
        again = app_client.get(asked.headers["location"])  # a reload asks again and sends nothing
        assert 'id="push-question"' in again.text and run_count(world) == runs_before
        assert question.text.count('<tr class="over-threshold">') == 4 and "Send these 4 changes too" in question.text
        r = app_client.post(
            "/integrations/push",
            data={**push_now, "asked": "yes", "approve_over_threshold": "yes"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/history/"), r.text[:300]
        app_client.app.state.seatsync.dispatcher.wait(30)  # type: ignore[attr-defined]
        assert 'id="nothing-waiting"' in app_client.get("/approvals").text

    listed = app_client.get("/history").text
    with transaction(world.engine) as session:
        runs = list(session.scalars(select(PushRun).where(PushRun.tenant_id == tenant_a).order_by(PushRun.id)))
    by = [(r.target, r.started_by) for r in runs]
    assert sorted(by[:4]) == sorted((t, "schedule") for t in scheduled)
    assert sorted(by[4:8]) == sorted((t, f"admin@a.test (approval of run {r.id})") for t, r in scheduled.items())
    assert by[8:] == [("connectwise", "admin@a.test"), ("gradient", "admin@a.test")]
    assert runs[-1].approved_over_threshold and {r.status for r in runs[4:]} == {"succeeded"}
    for run in runs:
        assert f"/history/{run.id}" in listed


def run_count(world: World) -> int:
    with transaction(world.engine) as session:
        return len(list(session.scalars(select(PushRun.id))))
