"""The Billing Status cell every mapper shows, from a row's latest push result of the period."""

from __future__ import annotations

from seatsync.push.runs import Outcome
from seatsync.web.mappers.base import MapperLayout, StatusCell


def fmt_qty(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def result_status(
    layout: MapperLayout,
    *,
    chosen: int,
    outcome: str | None,
    reason: str | None,
    before: float | None,
    after: float | None,
    intended: float | None,
    run_id: int | None,
) -> StatusCell:
    """``chosen``: how many levels the row's mapping sets. A row that is not fully mapped says what to choose,
    whatever an earlier push of the period did (its mapping was cleared or changed since). A failed or blocked
    row shows the quantity it meant to set: "8 → 10, not applied"."""
    if chosen < len(layout.levels):
        return StatusCell("none", layout.missing(chosen))
    if outcome is None:
        return StatusCell("none", "Not pushed yet")
    run = str(run_id or "")
    if outcome in (Outcome.SUCCEEDED, Outcome.UNCHANGED):
        quantity = f"{fmt_qty(before)} → {fmt_qty(after)}"
        return StatusCell("ok", "Pushed", reason or f"Pushed: {quantity}", run, quantity)
    if outcome in (Outcome.FAILED, Outcome.BLOCKED):
        meant = intended if intended is not None else after
        quantity = f"{fmt_qty(before)} → {fmt_qty(meant)}, not applied"
        label = "Failed" if outcome == Outcome.FAILED else "Blocked"
        return StatusCell("bad", label, reason or label, run, quantity)
    return StatusCell("none", "Not pushed", reason or "Not pushed", run)
