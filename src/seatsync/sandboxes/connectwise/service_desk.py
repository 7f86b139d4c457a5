"""The sandbox's service desk: boards, their statuses, tickets and ticket notes (``/service/...``).

Shaped as ConnectWise Manage's ``service/boards``, ``service/boards/{id}/statuses``, ``service/tickets`` and
``service/tickets/{id}/notes`` answer them: a ticket names its board, status and company by reference; its
``closedFlag`` follows its status (a status with ``closedStatus``); ``initialDescription`` is taken on creation
and kept as the ticket's first note (ConnectWise does not return it on a read).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]

#: (id, name, inactive) of the demo boards
DEMO_BOARDS = ((1, "Help Desk", False), (2, "Billing", False), (3, "Old Projects", True))
#: (name, closed, default) of every demo board's statuses, in board order
DEMO_STATUSES = (
    ("New", False, True),
    ("In Progress", False, False),
    ("Waiting on Client", False, False),
    ("Resolved", True, False),
    ("Closed", True, False),
)
SUMMARY_MAX = 100


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _info(by: str) -> Record:
    return {"lastUpdated": _now(), "updatedBy": by}


@dataclass
class ServiceDesk:
    lock: threading.RLock = field(default_factory=threading.RLock)
    boards: dict[int, Record] = field(default_factory=dict)
    statuses: dict[int, Record] = field(default_factory=dict)
    tickets: dict[int, Record] = field(default_factory=dict)
    notes: dict[int, Record] = field(default_factory=dict)
    _ids: dict[str, int] = field(default_factory=lambda: {"board": 1, "status": 1, "ticket": 1, "note": 1})

    def reset(self, seed: str | None) -> None:
        with self.lock:
            for store in (self.boards, self.statuses, self.tickets, self.notes):
                store.clear()
            self._ids = {"board": 1, "status": 1, "ticket": 1, "note": 1}
            if seed == "demo":
                for board_id, name, inactive in DEMO_BOARDS:
                    self.add_board(name, id=board_id, inactive=inactive)

    def _next(self, kind: str, wanted: int | None = None) -> int:
        value = wanted if wanted is not None else self._ids[kind]
        self._ids[kind] = max(self._ids[kind], value + 1)
        return value

    def add_board(self, name: str, *, id: int | None = None, inactive: bool = False) -> Record:
        """A board with the five usual statuses (New is the default; Resolved and Closed close a ticket)."""
        with self.lock:
            board_id = self._next("board", id)
            board: Record = {"id": board_id, "name": name, "inactiveFlag": inactive, "_info": _info("sandbox")}
            self.boards[board_id] = board
            for order, (status, closed, default) in enumerate(DEMO_STATUSES):
                status_id = self._next("status")
                self.statuses[status_id] = {
                    "id": status_id,
                    "name": status,
                    "board": {"id": board_id, "name": name},
                    "sortOrder": order,
                    "displayOnBoard": True,
                    "inactive": False,
                    "closedStatus": closed,
                    "defaultFlag": default,
                    "_info": _info("sandbox"),
                }
            return board

    def statuses_of(self, board_id: int) -> list[Record]:
        with self.lock:
            return [s for s in self.statuses.values() if s["board"]["id"] == board_id]

    def default_status(self, board_id: int) -> Record:
        found = [s for s in self.statuses_of(board_id) if s["defaultFlag"]]
        return found[0] if found else self.statuses_of(board_id)[0]

    def add_ticket(
        self, *, summary: str, board_id: int, company: Record, status_id: int | None, description: str, by: str
    ) -> Record:
        with self.lock:
            board = self.boards[board_id]
            status = self.statuses[status_id] if status_id is not None else self.default_status(board_id)
            ticket_id = self._next("ticket")
            ticket: Record = {
                "id": ticket_id,
                "summary": summary,
                "recordType": "ServiceTicket",
                "board": {"id": board_id, "name": board["name"]},
                "status": {"id": status["id"], "name": status["name"]},
                "company": {"id": company["id"], "identifier": company["identifier"], "name": company["name"]},
                "closedFlag": bool(status["closedStatus"]),
                "_info": {**_info(by), "dateEntered": _now(), "enteredBy": by},
            }
            self.tickets[ticket_id] = ticket
            if description:
                self.add_note(ticket_id, text=description, by=by)
            return ticket

    def set_status(self, ticket: Record, status: Record, *, by: str) -> None:
        with self.lock:
            ticket["status"] = {"id": status["id"], "name": status["name"]}
            closed = bool(status["closedStatus"])
            if closed and not ticket["closedFlag"]:
                ticket["closedDate"], ticket["closedBy"] = _now(), by
            if not closed:
                ticket.pop("closedDate", None)
                ticket.pop("closedBy", None)
            ticket["closedFlag"] = closed
            ticket["_info"] = {**ticket["_info"], **_info(by)}

    def add_note(self, ticket_id: int, *, text: str, by: str, internal: bool = False) -> Record:
        with self.lock:
            note_id = self._next("note")
            note: Record = {
                "id": note_id,
                "ticketId": ticket_id,
                "text": text,
                "detailDescriptionFlag": not internal,
                "internalAnalysisFlag": internal,
                "resolutionFlag": False,
                "dateCreated": _now(),
                "createdBy": by,
                "_info": _info(by),
            }
            self.notes[note_id] = note
            return note

    def notes_of(self, ticket_id: int) -> list[Record]:
        with self.lock:
            return [n for n in self.notes.values() if n["ticketId"] == ticket_id]

    def state(self) -> Record:
        with self.lock:
            return {
                "boards": list(self.boards.values()),
                "statuses": list(self.statuses.values()),
                "tickets": list(self.tickets.values()),
                "notes": list(self.notes.values()),
            }
