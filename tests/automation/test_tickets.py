"""Service-desk tickets: opened once for a failing company on its mapped ConnectWise company, updated by a later
failure, closed by the next success; checked in the ConnectWise sandbox's state."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, select

from seatsync.config import Settings
from seatsync.connectors.connectwise import Right
from seatsync.db.engine import transaction
from seatsync.db.models import Company, CWMapping, ServiceTicket
from seatsync.errors import UserInputError
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import connectwise_connection as cw
from seatsync.services import tickets
from seatsync.services.tenants import get_tenant
from tests.foundation.util import companies, make_tenant
from tests.notify.test_notifications import LINK_BASE, make_run

CLIENT_ID = "3f1c2a4e-0000-4000-8000-000000000001"


@pytest.fixture
def sandbox() -> ConnectWiseSandbox:
    return ConnectWiseSandbox(seed="demo")


@pytest.fixture
def cw_url(sandbox: ConnectWiseSandbox) -> Iterator[str]:
    with BackgroundServer(create_app(sandbox)) as server:
        yield server.url


@pytest.fixture
def slug(engine: Engine, cw_url: str, sandbox: ConnectWiseSandbox) -> str:
    """A tenant connected to the sandbox, companies c1 and c2 mapped onto two ConnectWise companies."""
    tenant = make_tenant(engine)
    companies(engine, tenant, "c1", "c2", "c3")
    cw_companies = [c for c in sandbox.companies.values() if not c["deletedFlag"]][:2]
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=tenant.slug)
        result = cw.connect(
            session,
            tenant=tenant,
            site=cw_url,
            company_id="demo",
            public_key="demo-public",
            private_key="demo-private",
            client_id=CLIENT_ID,
        )
        assert result.status.value == "connected"
        for company_id, remote in zip(("c1", "c2"), cw_companies, strict=True):
            pk = session.scalar(
                select(Company.id).where(Company.tenant_id == tenant.id, Company.company_id == company_id)
            )
            session.add(
                CWMapping(
                    tenant_id=tenant.id,
                    company_pk=pk,
                    cw_company_id=remote["id"],
                    cw_company_name=remote["name"],
                    saved_by="test",
                )
            )
        return tenant.slug


def settings() -> Settings:
    return Settings(public_url=LINK_BASE)


def service_state(url: str) -> dict[str, list[dict[str, object]]]:
    state: dict[str, list[dict[str, object]]] = httpx.get(f"{url}/_sandbox/state").json()["service"]
    return state


def choose(engine: Engine, slug: str, board: str | None) -> str | None:
    with transaction(engine) as session:
        return tickets.choose_board(
            session,
            tenant=get_tenant(session, slug=slug),
            target="connectwise",
            board_id=board,
            settings=settings(),
            by="test",
        )


def test_a_ticket_is_opened_once_updated_and_closed(
    engine: Engine, slug: str, cw_url: str, sandbox: ConnectWiseSandbox
) -> None:
    # no board chosen: no tickets
    first = make_run(
        engine,
        slug,
        outcomes={
            "c1": ("failed", "ConnectWise refused the quantity: the addition is cancelled"),
            "c2": ("succeeded", None),
        },
    )
    assert tickets.sync_tickets(engine, settings=settings(), run_id=first) == tickets.TicketReport()
    assert service_state(cw_url)["tickets"] == []

    assert choose(engine, slug, "2") == "Billing"
    report = tickets.sync_tickets(engine, settings=settings(), run_id=first)
    assert len(report.opened) == 1 and not report.errors
    [ticket] = service_state(cw_url)["tickets"]
    c1_remote = next(c for c in sandbox.companies.values() if not c["deletedFlag"])
    assert ticket["board"] == {"id": 2, "name": "Billing"}
    assert ticket["company"]["id"] == c1_remote["id"]  # type: ignore[index]
    assert ticket["closedFlag"] is False
    assert "Company C1 needs attention" in str(ticket["summary"])
    [note] = service_state(cw_url)["notes"]
    text = str(note["text"])
    assert "failed: ConnectWise refused the quantity: the addition is cancelled" in text
    assert "What to do:" in text and f"{LINK_BASE}/history/{first}" in text

    # the same run's hook called twice opens nothing more
    again = tickets.sync_tickets(engine, settings=settings(), run_id=first)
    assert again.opened == [] and again.updated == [str(ticket["id"])]

    second = make_run(
        engine, slug, outcomes={"c1": ("blocked", "the period was already invoiced"), "c2": ("succeeded", None)}
    )
    report = tickets.sync_tickets(engine, settings=settings(), run_id=second)
    assert report.updated == [str(ticket["id"])] and report.opened == []
    state = service_state(cw_url)
    assert len(state["tickets"]) == 1
    assert "It happened again" in str(state["notes"][-1]["text"])
    assert "blocked: the period was already invoiced" in str(state["notes"][-1]["text"])

    third = make_run(engine, slug, outcomes={"c1": ("unchanged", None), "c2": ("succeeded", None)})
    report = tickets.sync_tickets(engine, settings=settings(), run_id=third)
    assert report.closed == [str(ticket["id"])]
    [closed] = service_state(cw_url)["tickets"]
    assert closed["closedFlag"] is True and closed["status"]["name"] == "Resolved"  # type: ignore[index]
    assert "went through for this company: closing" in str(service_state(cw_url)["notes"][-1]["text"])
    with transaction(engine) as session:
        [row] = session.scalars(select(ServiceTicket))
        assert (row.opened_run_id, row.last_run_id, row.closed_run_id) == (first, second, third)

    # a success with nothing open does nothing; a new failure opens a new ticket
    assert tickets.sync_tickets(engine, settings=settings(), run_id=third).closed == []
    fourth = make_run(engine, slug, outcomes={"c1": ("failed", "refused again")})
    assert len(tickets.sync_tickets(engine, settings=settings(), run_id=fourth).opened) == 1
    assert len(service_state(cw_url)["tickets"]) == 2


def test_a_ticket_closed_by_hand_is_not_reopened(
    engine: Engine, slug: str, cw_url: str, sandbox: ConnectWiseSandbox
) -> None:
    choose(engine, slug, "2")
    first = make_run(engine, slug, outcomes={"c1": ("failed", "refused")})
    [opened] = tickets.sync_tickets(engine, settings=settings(), run_id=first).opened
    ticket = sandbox.service.tickets[int(opened)]
    sandbox.service.set_status(ticket, sandbox.service.statuses_of(2)[4], by="admin")  # Closed, by a technician
    second = make_run(engine, slug, outcomes={"c1": ("failed", "refused")})
    report = tickets.sync_tickets(engine, settings=settings(), run_id=second)
    assert len(report.opened) == 1 and report.opened != [opened]
    assert sandbox.service.tickets[int(opened)]["status"]["name"] == "Closed"


def test_no_mapping_and_psa_refusals_never_raise(engine: Engine, slug: str, sandbox: ConnectWiseSandbox) -> None:
    choose(engine, slug, "2")
    run = make_run(engine, slug, outcomes={"c3": ("failed", "not mapped well")})
    report = tickets.sync_tickets(engine, settings=settings(), run_id=run)
    assert report.opened == []
    assert report.errors == ["Company C3 (c3): it has no ConnectWise company mapped, so no ticket can be opened for it"]
    sandbox.add_member("demo-public", "demo-private", lacking=(Right.TICKETS_ADD,))
    run = make_run(engine, slug, outcomes={"c1": ("failed", "refused")})
    report = tickets.sync_tickets(engine, settings=settings(), run_id=run)
    assert report.opened == [] and "Service Tickets › Add" in report.errors[0]
    assert sandbox.service.tickets == {}


def test_choosing_an_unknown_board_is_refused(engine: Engine, slug: str) -> None:
    with pytest.raises(UserInputError, match=r"no active service board 3; its boards: 1 \(Help Desk\), 2 \(Billing\)"):
        choose(engine, slug, "3")
    assert choose(engine, slug, None) is None
