"""ConnectWise Manage's service desk as a ``TicketDesk``: tickets on a service board (``/service/tickets``)."""

from __future__ import annotations

from seatsync.connectors.connectwise import ConnectWiseClient
from seatsync.errors import ConfigurationError, RecordNotFound
from seatsync.tickets.base import BoardChoice


class ConnectWiseTicketDesk:
    def __init__(self, client: ConnectWiseClient) -> None:
        self.client = client

    def list_boards(self) -> list[BoardChoice]:
        return [BoardChoice(str(b.id), b.name) for b in self.client.list_boards() if not b.inactive_flag]

    def open_ticket(self, *, board_id: str, psa_company_id: str, summary: str, description: str) -> str:
        ticket = self.client.create_ticket(
            board_id=int(board_id), company_id=int(psa_company_id), summary=summary, description=description
        )
        return str(ticket.id)

    def is_open(self, ticket_id: str) -> bool:
        try:
            return not self.client.get_ticket(int(ticket_id)).closed_flag
        except RecordNotFound:
            return False

    def add_note(self, ticket_id: str, text: str) -> None:
        self.client.add_ticket_note(int(ticket_id), text)

    def close_ticket(self, *, board_id: str, ticket_id: str, note: str) -> None:
        closing = sorted(
            (s for s in self.client.list_board_statuses(int(board_id)) if s.closed_status and not s.inactive),
            key=lambda s: (s.sort_order or 0, s.id),
        )
        if not closing:
            raise ConfigurationError(
                f"ConnectWise service board {board_id} has no closing status; add one (e.g. Resolved) in "
                "Service Desk › Service Boards › Statuses"
            )
        self.client.add_ticket_note(int(ticket_id), note)
        self.client.set_ticket_status(int(ticket_id), closing[0].id)

    def close(self) -> None:
        self.client.close()
