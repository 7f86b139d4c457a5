"""What a PSA implements for service-desk tickets (``TicketDesk``), and the ticket texts. The texts are pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: PSAs cap a ticket's summary (ConnectWise: 100 characters)
SUMMARY_MAX = 100


@dataclass(frozen=True, slots=True)
class BoardChoice:
    id: str
    name: str


class TicketDesk(Protocol):
    """One tenant's service desk in one PSA. Ids are the PSA's own, as text."""

    def list_boards(self) -> list[BoardChoice]: ...

    def open_ticket(self, *, board_id: str, psa_company_id: str, summary: str, description: str) -> str:
        """Open a ticket on the board for the PSA company; its id."""
        ...

    def is_open(self, ticket_id: str) -> bool:
        """False when the ticket is closed (by someone in the PSA) or gone."""
        ...

    def add_note(self, ticket_id: str, text: str) -> None: ...

    def close_ticket(self, *, board_id: str, ticket_id: str, note: str) -> None:
        """Add ``note`` and move the ticket to the board's first closing status."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one company's push did not go through, for a ticket."""

    company_id: str
    company_name: str
    target_name: str
    period: str
    #: per item: "failed: the addition is cancelled"
    details: tuple[str, ...]
    blocked_only: bool
    link: str


def summary(problem: Problem) -> str:
    text = f"seatsync: {problem.target_name} billing of {problem.company_name} needs attention"
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _advice(problem: Problem) -> str:
    if problem.blocked_only:
        return (
            "What to do: the push was held back on purpose (the reason above says why). Check the record in "
            f"{problem.target_name}; when the new quantity is right, push again from seatsync with Push Billing "
            "and “Also push the blocked rows” ticked (on the command line: push with --force)."
        )
    return (
        f"What to do: fix what {problem.target_name} refused (the reason above), or correct the company's mapping "
        "in seatsync, then push again with “retry failed”. This ticket is closed by the next successful push."
    )


def description(problem: Problem) -> str:
    lines = [
        f"The {problem.target_name} billing push of {problem.period} did not update {problem.company_name} "
        f"(seatsync company {problem.company_id}):",
        *(f"- {d}" for d in problem.details),
        "",
        _advice(problem),
        "",
        f"Run: {problem.link}",
    ]
    return "\n".join(lines)


def update_note(problem: Problem) -> str:
    return "It happened again.\n\n" + description(problem)


def close_note(*, target_name: str, period: str, link: str) -> str:
    return f"The {target_name} billing push of {period} went through for this company: closing. Run: {link}"
