"""The approval gate. Pure: which planned rows change a quantity by more than the tenant's threshold.

A threshold is a percentage of the current quantity and/or a number of seats; a row goes over it when its change
exceeds either (strictly: a change of exactly the threshold passes). A row whose current quantity is 0 or unknown
and whose new quantity is not 0 has an infinite percentage: it goes over any percentage threshold (a new
company's first bill is worth a look), and is judged by seats alone when only seats are set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Threshold:
    percent: float | None = None
    seats: int | None = None

    @property
    def active(self) -> bool:
        return self.percent is not None or self.seats is not None

    def describe(self) -> str:
        parts = []
        if self.percent is not None:
            parts.append(f"more than {self.percent:g}%")
        if self.seats is not None:
            parts.append(f"more than {self.seats} seat{'s' if self.seats != 1 else ''}")
        return " or ".join(parts) if parts else "no threshold"


@dataclass(frozen=True, slots=True)
class Change:
    before: float | None
    after: float
    #: after - before (before None counts as 0)
    seats: float
    #: the change as a percentage of before; None when before is 0 or unknown
    percent: float | None

    def describe(self) -> str:
        sign = "+" if self.seats > 0 else ""
        pct = f" ({sign}{self.percent:.0f}%)" if self.percent is not None else " (new)"
        return f"{_n(self.before)} → {_n(self.after)} seats, {sign}{_n(self.seats)}{pct}"


def _n(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def change(before: float | None, after: float) -> Change:
    base = before or 0.0
    delta = after - base
    percent = delta / base * 100 if base else None
    return Change(before, after, delta, percent)


def over(threshold: Threshold, before: float | None, after: float | None) -> bool:
    """Whether setting ``after`` where ``before`` is needs an admin's approval."""
    if not threshold.active or after is None:
        return False
    found = change(before, after)
    if found.seats == 0:
        return False
    if threshold.seats is not None and abs(found.seats) > threshold.seats:
        return True
    if threshold.percent is not None:
        return found.percent is None or abs(found.percent) > threshold.percent
    return False


class Planned(Protocol):
    """What the gate reads of a planned row (``seatsync.targets.base.PlannedRow`` has it)."""

    @property
    def key(self) -> tuple[int, str]: ...

    before: float | None
    after: float | None


def held(rows: Iterable[Planned], threshold: Threshold) -> set[tuple[int, str]]:
    """The keys of the rows that wait for approval."""
    return {row.key for row in rows if over(threshold, row.before, row.after)}
