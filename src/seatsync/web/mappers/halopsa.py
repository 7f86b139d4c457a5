"""The HaloPSA mapper: client → subscription (HaloPSA has no contract level), from ``psa_mappings``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.models import Tenant
from seatsync.errors import NotFound
from seatsync.web.mappers.base import Choice, CreateField, Level, MapperLayout
from seatsync.web.mappers.cells import fmt_qty, psa_row_cells

LAYOUT = MapperLayout(
    target="halopsa",
    name="HaloPSA",
    path="/halopsa/billing",
    levels=(
        Level("client", "HaloPSA Client", "client_id", "client", "Search HaloPSA…"),
        Level("subscription", "HaloPSA Subscription", "licence_id", "subscription", "Choose subscription…"),
    ),
    save_url="/api/v1/halopsa/mappings/{company}",
    create_item_url="/api/v1/halopsa/subscriptions",
    create_item_label="Create subscription",
    create_fields=(
        CreateField("name", "Name", "default: the company's name and “Security Awareness”"),
        CreateField("item_id", "HaloPSA item it bills", "none", choices_url="/api/v1/halopsa/items"),
    ),
)


#: one mapper row (the client, then one subscription (or one per product)), every value ready to print
row_cells = partial(psa_row_cells, LAYOUT)


class HaloPSAMapper:
    layout = LAYOUT

    def choices(
        self, session: Session, *, tenant: Tenant, settings: Settings, level: str, parent: str | None, q: str
    ) -> Sequence[Choice]:
        from seatsync.services import halopsa_connection as halo
        from seatsync.services import halopsa_mappings

        if level == "client":
            if not halopsa_mappings.has_cached_clients(session, tenant):
                with halo.client_for(session, tenant=tenant, settings=settings) as client:
                    halopsa_mappings.refresh_clients(session, tenant=tenant, client=client)
            found = halopsa_mappings.search_clients(session, tenant=tenant, query=q, limit=20)
            return [Choice(c.remote_id, c.name, f"{c.identifier} · #{c.remote_id}") for c in found]
        if level == "subscription":
            if parent is None or not parent.isdigit() or not 0 < int(parent) < 2**31:
                raise NotFound("choose the HaloPSA client first (parent must be its id)")
            with halo.client_for(session, tenant=tenant, settings=settings) as client:
                licences = halopsa_mappings.subscriptions(client, client_id=int(parent))
            return [Choice(str(s.id), f"{s.name} · count {fmt_qty(s.count)}") for s in licences]
        raise NotFound(f"the HaloPSA mapper has no level {level!r} (client, subscription)")


SOURCE = HaloPSAMapper()
