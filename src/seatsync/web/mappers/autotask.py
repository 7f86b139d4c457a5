"""The Autotask mapper: company → recurring-service contract → contract service, from ``psa_mappings``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.models import Tenant
from seatsync.errors import NotFound
from seatsync.web.mappers.base import Choice, Level, MapperLayout
from seatsync.web.mappers.cells import psa_row_cells

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


#: one mapper row (one service choice per product), every value ready to print
row_cells = partial(psa_row_cells, LAYOUT)


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
