"""The ConnectWise mapper: Company → Agreement → Addition, from the mapper's read model (``seatsync.web.mapper``)."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.models import Tenant
from seatsync.errors import NotFound
from seatsync.web.mapper import MapperRow, MappingView
from seatsync.web.mappers.base import Choice, ChoiceCell, Level, MapperLayout, RowCells
from seatsync.web.mappers.cells import fmt_qty, result_status, saved_cell

LAYOUT = MapperLayout(
    target="connectwise",
    name="ConnectWise",
    path="/connectwise/billing",
    levels=(
        Level("company", "ConnectWise Company", "cw_company_id", "company", "Search ConnectWise…"),
        Level("agreement", "ConnectWise Agreement", "agreement_id", "agreement", "Choose agreement…"),
        Level("addition", "ConnectWise Addition", "addition_id", "addition", "Choose addition…"),
    ),
    save_url="/api/v1/mappings/{company}",
    create_item_url="/api/v1/connectwise/additions",
    create_item_label="Create addition",
    links=(("Catalog settings", "/connectwise/catalog"),),
)


def _chain(m: MappingView | None) -> tuple[tuple[int | None, str | None], ...]:
    if m is None:
        return ((None, None),) * 3
    return ((m.cw_company_id, m.cw_company_name), (m.agreement_id, m.agreement_name), (m.addition_id, m.addition_name))


def row_cells(row: MapperRow, *, admin: bool, zone: ZoneInfo) -> RowCells:
    """One mapper row, every value ready to print. A company whose products are billed apart shows one chain
    (company, agreement, addition) per product, each labelled; the row is complete when every chain is."""
    apart = [m for m in row.mappings if m.product]
    chains: list[tuple[str, MappingView | None]] = (
        [(m.product, m) for m in apart] if apart and len(apart) == len(row.mappings) else [("", row.mapping)]
    )
    columns: list[list[ChoiceCell]] = [[], [], []]
    chosen = len(LAYOUT.levels)
    for product, mapping in chains:
        above, depth = True, 0  # the level above is chosen (the first level has none)
        for level, (value, label) in enumerate(_chain(mapping)):
            columns[level].append(
                ChoiceCell(str(value) if value else "", str(label or ""), not admin or not above, product)
            )
            if value and above:
                depth += 1
            above = above and bool(value)
        chosen = min(chosen, depth)
    r, m = row.result, row.mapping
    status = result_status(
        LAYOUT,
        chosen=chosen,
        outcome=r.outcome if r else None,
        reason=r.reason if r else None,
        before=r.quantity_before if r else None,
        after=r.quantity_after if r else None,
        intended=r.billable if r else None,
        run_id=r.run_id if r else None,
    )
    saved_date, saved_title = saved_cell(max(row.mappings, key=lambda v: v.saved_at) if row.mappings else m, zone)
    return RowCells(
        pk=row.company_pk,
        company_id=row.company_id,
        name=row.name,
        billable=row.billable,
        choices=tuple(tuple(c) for c in columns),
        status=status,
        saved_date=saved_date,
        saved_title=saved_title,
    )


class ConnectWiseMapper:
    layout = LAYOUT

    def choices(
        self, session: Session, *, tenant: Tenant, settings: Settings, level: str, parent: str | None, q: str
    ) -> Sequence[Choice]:
        from seatsync.web.api.routes import connectwise as routes

        if level == "company":
            found = routes.search_cached_companies(session, tenant, settings, q=q, limit=20)
            return [Choice(str(c.cw_id), c.name, f"{c.identifier} · #{c.cw_id}") for c in found]
        parent_id = _parent_id(parent, level)
        if level == "agreement":
            agreements = routes.list_agreements(session, tenant, settings, parent_id)
            return [Choice(str(a.id), _agreement_label(a.name, a.type, a.active)) for a in agreements]
        if level == "addition":
            additions = routes.list_additions(session, tenant, settings, parent_id)
            return [Choice(str(a.id), f"{a.name} · qty {_qty(a.quantity)}") for a in additions if not a.cancelled]
        raise NotFound(f"the ConnectWise mapper has no level {level!r} (company, agreement, addition)")


def _qty(value: float | None) -> str:
    return fmt_qty(value or 0)


def _agreement_label(name: str, kind: str | None, active: bool) -> str:
    return name + (f" ({kind})" if kind else "") + ("" if active else " · not active")


def _parent_id(parent: str | None, level: str) -> int:
    if parent is None or not parent.isdigit() or not 0 < int(parent) < 2**31:
        above = "company" if level == "agreement" else "agreement"
        raise NotFound(f"choose the ConnectWise {above} first (parent must be its id)")
    return int(parent)


SOURCE = ConnectWiseMapper()
