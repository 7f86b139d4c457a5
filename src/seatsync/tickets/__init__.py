"""Service-desk tickets for companies whose push failed or was blocked (``TicketDesk`` per PSA)."""

from seatsync.tickets.base import BoardChoice, Problem, TicketDesk, close_note, description, summary, update_note
from seatsync.tickets.connectwise import ConnectWiseTicketDesk

__all__ = [
    "BoardChoice",
    "ConnectWiseTicketDesk",
    "Problem",
    "TicketDesk",
    "close_note",
    "description",
    "summary",
    "update_note",
]
