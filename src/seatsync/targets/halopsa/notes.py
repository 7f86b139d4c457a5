"""The evidence a HaloPSA push leaves on a subscription: one line per period in its notes. Pure, no I/O.

HaloPSA documents no attachment to a client or subscription, so the report's summary goes into the notes
(``seatsync 2026-11: 42 billable users, report sha256 0123456789ab``); the full report stays downloadable in
seatsync's History. The MSP's own text in the notes is kept as it is; seatsync's lines follow it, one per period
(a period pushed again replaces its line), the last ``KEEP`` periods.
"""

from __future__ import annotations

import re

#: seatsync's lines kept in a subscription's notes (a year of months)
KEEP = 12
_LINE = re.compile(r"^seatsync (\d{4}-\d{2}): ")

__all__ = ["KEEP", "evidence_line", "evidence_periods", "with_evidence"]


def evidence_line(
    *, period: str, count: int, sha256: str, rule: str | None = None, members: tuple[tuple[str, int], ...] = ()
) -> str:
    """``members``: the companies billed together on the subscription, (company, count) each; the line lists them
    all (the count is their sum), whichever of them pushed: ``seatsync 2026-11: 10 billable users (acme 7, beta 3),
    report sha256 ...``."""
    users = f"{count} billable user{'' if count == 1 else 's'}"
    if members:
        users += " (" + ", ".join(f"{label} {n}" for label, n in members) + ")"
    under = f" (rule {rule})" if rule else ""
    return f"seatsync {period}: {users}{under}, report sha256 {sha256[:12]}"


def evidence_periods(notes: str | None) -> dict[str, str]:
    """The periods seatsync's lines in ``notes`` name, with their line."""
    found: dict[str, str] = {}
    for line in (notes or "").splitlines():
        match = _LINE.match(line)
        if match:
            found[match.group(1)] = line
    return found


def with_evidence(notes: str | None, line: str) -> str:
    """``notes`` with ``line`` as its period's seatsync line (the MSP's own lines untouched)."""
    match = _LINE.match(line)
    if match is None:
        raise ValueError(f"not a seatsync evidence line: {line!r}")
    period = match.group(1)
    own: list[str] = []
    ours: list[str] = []
    for existing in (notes or "").splitlines():
        found = _LINE.match(existing)
        if found is None:
            own.append(existing)
        elif found.group(1) != period:
            ours.append(existing)
    while own and not own[-1].strip():
        own.pop()
    kept = sorted([*ours, line], key=lambda text: text[len("seatsync ") : len("seatsync ") + 7])[-KEEP:]
    return "\n".join([*own, *kept])
