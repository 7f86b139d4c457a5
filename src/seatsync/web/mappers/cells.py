"""The Billing Status cell every mapper shows, from a row's latest push result of the period."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from seatsync.db.models import PSAMapping, PushResult
from seatsync.domain.periods import local_date, shown_instant
from seatsync.push.runs import Outcome
from seatsync.web.mappers.base import ChoiceCell, MapperLayout, RowCells, StatusCell


class Saved(Protocol):
    """A saved mapping of any target (``saved_at`` UTC)."""

    @property
    def saved_at(self) -> datetime: ...

    @property
    def saved_by(self) -> str: ...


def saved_cell(saved: Saved | None, zone: ZoneInfo) -> tuple[str, str]:
    """The "Mapping Saved" cell's text and title: the date in the tenant's zone, "by X at <local time>" (mapper.js
    writes the same from a save's answer, ``saved_date`` and ``saved_shown``); "—" when never saved."""
    if saved is None:
        return "—", ""
    return local_date(saved.saved_at, zone), f"by {saved.saved_by} at {shown_instant(saved.saved_at, zone)}"


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


def psa_row_cells(
    layout: MapperLayout,
    *,
    pk: int,
    company_id: str,
    name: str,
    billable: int,
    mappings: dict[str, PSAMapping],
    result: PushResult | None,
    admin: bool,
    zone: ZoneInfo,
) -> RowCells:
    """One row of an Autotask or HaloPSA mapper (``psa_mappings``): the levels above the item from the company's
    mappings (they share them), then one item choice for all its products or one per product."""
    items: list[tuple[str, PSAMapping | None]] = [(k, m) for k, m in sorted(mappings.items())] or [("", None)]
    first = items[0][1]
    above_item = [
        (first.psa_company_id, first.psa_company_name) if first else (None, None),
        (first.contract_id, first.contract_name) if first else (None, None),
    ][: len(layout.levels) - 1]
    cells: list[tuple[ChoiceCell, ...]] = []
    chosen = 0
    above = True
    for value, label in above_item:
        cells.append((ChoiceCell(value or "", label or "", not admin or not above),))
        if value and above:
            chosen += 1
        above = above and bool(value)
    cells.append(
        tuple(ChoiceCell(m.item_id or "" if m else "", m.item_name or "" if m else "", not admin or not above, product)
              for product, m in items)
    )  # fmt: skip
    if above and all(m is not None and m.item_id for _, m in items):
        chosen += 1
    status = result_status(
        layout,
        chosen=chosen,
        outcome=result.outcome if result else None,
        reason=result.reason if result else None,
        before=result.quantity_before if result else None,
        after=result.quantity_after if result else None,
        intended=result.billable if result else None,
        run_id=result.run_id if result else None,
    )
    # the newest save of the row's items, and who made it
    newest = max((m for _, m in items if m is not None), key=lambda m: m.saved_at, default=None)
    saved_date, saved_title = saved_cell(newest, zone)
    return RowCells(
        pk=pk,
        company_id=company_id,
        name=name,
        billable=billable,
        choices=tuple(cells),
        status=status,
        saved_date=saved_date,
        saved_title=saved_title,
    )
