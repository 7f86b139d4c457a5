"""The Autotask mapper: company → recurring-service contract → contract service, from ``psa_mappings``."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.models import PSAMapping, PushResult, Tenant
from seatsync.domain.periods import local_date, shown_instant
from seatsync.errors import NotFound
from seatsync.web.mappers.base import Choice, ChoiceCell, Level, MapperLayout, RowCells
from seatsync.web.mappers.cells import result_status

LAYOUT = MapperLayout(
    target="autotask",
    name="Autotask",
    path="/autotask/billing",
    levels=(
        Level("company", "Autotask Company", "at_company_id", "company", "Search Autotask…"),
        Level("contract", "Recurring-Service Contract", "contract_id", "contract", "Choose contract…"),
        Level("service", "Contract Service", "service_id", "service", "Choose service…"),
    ),
    save_url="/api/v1/autotask/mappings/{company}",
)


def row_cells(
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
    """One mapper row; a company billed per product has one service choice per product."""
    items: list[tuple[str, PSAMapping | None]] = [(k, m) for k, m in sorted(mappings.items())] or [("", None)]
    first = items[0][1]
    chain = [
        (first.psa_company_id, first.psa_company_name) if first else (None, None),
        (first.contract_id, first.contract_name) if first else (None, None),
    ]
    cells: list[tuple[ChoiceCell, ...]] = []
    chosen = 0
    above = True
    for value, label in chain:
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
        LAYOUT,
        chosen=chosen,
        outcome=result.outcome if result else None,
        reason=result.reason if result else None,
        before=result.quantity_before if result else None,
        after=result.quantity_after if result else None,
        intended=result.billable if result else None,
        run_id=result.run_id if result else None,
    )
    saved = max((m.saved_at for _, m in items if m is not None), default=None)
    by = next((m.saved_by for _, m in items if m is not None), "")
    return RowCells(
        pk=pk,
        company_id=company_id,
        name=name,
        billable=billable,
        choices=tuple(cells),
        status=status,
        saved_date=local_date(saved, zone) if saved else "—",
        saved_title=f"by {by} at {shown_instant(saved, zone)}" if saved else "",
    )


class AutotaskMapper:
    layout = LAYOUT

    def choices(
        self, session: Session, *, tenant: Tenant, settings: Settings, level: str, parent: str | None, q: str
    ) -> Sequence[Choice]:
        from seatsync.services import autotask_connection as at
        from seatsync.services import autotask_mappings

        if level == "company":
            if at.get_integration(session, tenant=tenant) is not None and not autotask_mappings.search_companies(
                session, tenant=tenant, limit=1
            ):
                with at.client_for(session, tenant=tenant, settings=settings) as client:
                    autotask_mappings.refresh_companies(session, tenant=tenant, client=client)
            found = autotask_mappings.search_companies(session, tenant=tenant, query=q, limit=20)
            return [Choice(c.remote_id, c.name, f"#{c.remote_id}") for c in found]
        if level not in ("contract", "service"):
            raise NotFound(f"the Autotask mapper has no level {level!r} (company, contract, service)")
        if parent is None or not parent.isdigit() or not 0 < int(parent) < 2**31:
            above = "company" if level == "contract" else "contract"
            raise NotFound(f"choose the Autotask {above} first (parent must be its id)")
        with at.client_for(session, tenant=tenant, settings=settings) as client:
            if level == "contract":
                contracts = autotask_mappings.contracts(client, at_company=int(parent))
                return [Choice(str(c.id), c.contract_name, c.contract_number or "") for c in contracts]
            services = autotask_mappings.contract_services(client, contract=int(parent))
            return [Choice(str(s.id), s.name) for s in services]


SOURCE = AutotaskMapper()
