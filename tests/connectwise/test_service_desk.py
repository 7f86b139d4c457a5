"""The sandbox's service desk (boards, statuses, tickets, notes) through the client, over real sockets."""

from __future__ import annotations

import httpx
import pytest

from seatsync.connectors.connectwise import Right
from seatsync.connectors.http import RetryPolicy
from seatsync.errors import PermissionDenied, RecordNotFound, RequestRejected
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from tests.connectwise.conftest import ClientFactory


def test_boards_and_statuses(make_client: ClientFactory) -> None:
    client = make_client()
    boards = client.list_boards()
    assert [(b.id, b.name, b.inactive_flag) for b in boards] == [
        (1, "Help Desk", False),
        (2, "Billing", False),
        (3, "Old Projects", True),
    ]
    statuses = client.list_board_statuses(2)
    assert [s.name for s in statuses] == ["New", "In Progress", "Waiting on Client", "Resolved", "Closed"]
    assert [s.name for s in statuses if s.closed_status] == ["Resolved", "Closed"]
    assert [s.name for s in statuses if s.default_flag] == ["New"]
    with pytest.raises(RecordNotFound):
        client.list_board_statuses(99)


def test_ticket_lifecycle(make_client: ClientFactory, sandbox: ConnectWiseSandbox) -> None:
    client = make_client()
    company = next(c for c in sandbox.companies.values() if not c["deletedFlag"])
    ticket = client.create_ticket(
        board_id=2, company_id=company["id"], summary="Billing needs attention", description="What is wrong"
    )
    assert ticket.board is not None and ticket.board.id == 2
    assert ticket.company is not None and ticket.company.id == company["id"]
    assert ticket.status is not None and ticket.status.name == "New"
    assert ticket.closed_flag is False
    client.add_ticket_note(ticket.id, "It happened again.")
    notes = sandbox.service.notes_of(ticket.id)
    assert [n["text"] for n in notes] == ["What is wrong", "It happened again."]
    resolved = next(s for s in client.list_board_statuses(2) if s.name == "Resolved")
    closed = client.set_ticket_status(ticket.id, resolved.id)
    assert closed.closed_flag is True
    assert client.get_ticket(ticket.id).closed_flag is True
    state = httpx.get(f"http://127.0.0.1:{_port(client)}/_sandbox/state").json()["service"]
    [stored] = state["tickets"]
    assert stored["status"]["name"] == "Resolved" and stored["closedDate"]
    assert [t.id for t in client.list_tickets("closedFlag=true")] == [ticket.id]
    assert client.list_tickets("closedFlag=false") == []


def _port(client: object) -> int:
    return int(str(client.origin).rsplit(":", 1)[1])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"summary": "x" * 101, "board": {"id": 2}, "company": {"id": "C"}}, "at most 100"),
        ({"summary": "ok", "board": {"id": 3}}, "not found or inactive"),
        ({"summary": "ok", "board": {"id": 2}, "company": {"id": 99999}}, "Company recID 99999"),
        ({"summary": "ok", "board": {"id": 2}, "company": {"id": 0}, "status": {"id": 1}}, "not a status of board 2"),
        ({"board": {"id": 2}}, "summary is required"),
    ],
)
def test_invalid_tickets_are_refused(
    server: BackgroundServer,
    sandbox: ConnectWiseSandbox,
    body: dict[str, object],
    words: str,
    make_client: ClientFactory,
) -> None:
    company = next(c for c in sandbox.companies.values() if not c["deletedFlag"])
    if body.get("company") == {"id": "C"} or body.get("company") == {"id": 0}:
        body["company"] = {"id": company["id"]}
    client = make_client()
    with pytest.raises(RequestRejected, match=words):
        client._send("POST", client.base_url + "/service/tickets", json=body, record="a ticket", idempotent=False)
    assert sandbox.service.tickets == {}


def test_a_member_without_the_ticket_right_is_refused(make_client: ClientFactory, sandbox: ConnectWiseSandbox) -> None:
    sandbox.add_member("noticket-public", "noticket-private", lacking=(Right.TICKETS_ADD,))
    client = make_client("noticket-public", "noticket-private")
    assert client.list_boards()
    company = next(c for c in sandbox.companies.values() if not c["deletedFlag"])
    with pytest.raises(PermissionDenied, match="Service Tickets › Add"):
        client.create_ticket(board_id=2, company_id=company["id"], summary="s", description="d")
    assert sandbox.service.tickets == {}


def test_a_lost_creation_answer_does_not_open_two_tickets(
    sandbox: ConnectWiseSandbox, make_client: ClientFactory
) -> None:
    company = next(c for c in sandbox.companies.values() if not c["deletedFlag"])
    sandbox.configure(slow_seconds=2)
    client = make_client(timeout=0.5, retry=RetryPolicy(max_retries=2, backoff_base=0.01))
    sandbox.draw_fault = lambda: "slow"  # type: ignore[method-assign]
    created = {"n": 0}

    # the first POST is processed but answered too late (a timeout); the look-up that follows finds it
    original = sandbox.service.add_ticket

    def counting(**kw: object) -> dict[str, object]:
        created["n"] += 1
        sandbox.draw_fault = lambda: None  # type: ignore[method-assign]
        return original(**kw)  # type: ignore[arg-type]

    sandbox.service.add_ticket = counting  # type: ignore[method-assign]
    ticket = client.create_ticket(board_id=2, company_id=company["id"], summary="once", description="d")
    assert created["n"] == 1
    assert [t["id"] for t in sandbox.service.tickets.values()] == [ticket.id]
