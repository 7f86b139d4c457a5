"""The mapper's "Bill products separately" / "One item for all products" switch (every PSA's mapper).

A company with both products is billed on one item for all of them or on one item per product (``PRODUCT.md``,
mapping). The switch saves through each target's ``set_mapping``, the service ``seatsync map ... --product`` and
the mapping API use: the chain above the item is kept, Training keeps the item the row had (or, going back to one
item, the one item is Training's), and every other product's item is chosen in the row afterwards.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.models import Company, CWMapping, PSAMapping
from seatsync.db.models import Tenant as TenantRow
from seatsync.errors import NotFound, SeatsyncError, UserInputError
from seatsync.services import autotask_connection as at
from seatsync.services import autotask_mappings, halopsa_mappings, mappings, psa_mappings
from seatsync.services import connectwise_connection as cw
from seatsync.services import halopsa_connection as halo
from seatsync.web.deps import AdminOperator, DbSession, State, Tenant
from seatsync.web.flash import flash_redirect
from seatsync.web.mappers import mapper_source

__all__ = ["router", "switch_products"]

router = APIRouter(include_in_schema=False)

#: the products a company needs for the switch, in the order their items are kept
BOTH = ("sat", "phishing")


def _company(db: Session, tenant: TenantRow, company_id: str) -> Company:
    company = db.scalar(select(Company).where(Company.tenant_id == tenant.id, Company.company_id == company_id))
    if company is None:
        raise NotFound(f"no company {company_id!r} in this tenant")
    if not set(BOTH) <= set(company.products.split(";")):
        raise UserInputError(
            f"{company.name} subscribes only to {company.products.replace(';', ', ')}: one item bills it"
        )
    return company


def _chain(found: dict[str, object], name: str, noun: str) -> object:
    """The mapping whose chain is kept: the all-products one, else Training's, else the first."""
    kept = found.get("") or found.get("sat") or next(iter(found.values()), None)
    if kept is None:
        raise UserInputError(f"{name}: choose its {noun} first, then bill its products separately")
    return kept


def switch_products(
    db: Session, *, tenant: TenantRow, settings: Settings, target: str, company_id: str, separate: bool, by: str
) -> str:
    """Bill the company's products on one item each (``separate``) or on one item for all; what was done, said."""
    company = _company(db, tenant, company_id)
    layout = mapper_source(target).layout
    item, first = layout.levels[-1].noun, layout.levels[0].noun
    # every product's item emptied first (this replaces the other kind's rows), then the kept item set again:
    # saved at once, it would still be billed by the row it replaces and be refused as taken
    products = BOTH if separate else ("",)
    steps = [(p, False) for p in products] + [(products[0], True)]
    if target == "connectwise":
        found = mappings.company_mappings(db, tenant=tenant, company_id=company_id)
        kept = _chain(dict(found), company.name, f"ConnectWise {first}")
        assert isinstance(kept, CWMapping)
        if kept.cw_company_id is None:
            raise UserInputError(f"{company.name}: choose its ConnectWise {first} first")
        with cw.client_for(db, tenant=tenant, settings=settings) as client:
            chain = (kept.cw_company_id, kept.agreement_id)
            addition, together = kept.addition_id, kept.billed_together
            for product, keep in steps:
                if keep and addition is None:
                    continue
                mappings.set_mapping(
                    db, tenant=tenant, company_id=company_id, cw_company=chain[0],
                    agreement=chain[1], addition=addition if keep else None, by=by,
                    client=client, product=product, billed_together=together and keep,
                )  # fmt: skip
    elif target in ("autotask", "halopsa"):
        found_psa = psa_mappings.get_mappings(db, tenant=tenant, target=target, company_id=company_id)
        kept_psa = _chain(dict(found_psa), company.name, f"{layout.name} {first}")
        assert isinstance(kept_psa, PSAMapping)
        if not kept_psa.psa_company_id:
            raise UserInputError(f"{company.name}: choose its {layout.name} {first} first")
        kept_item, kept_together = kept_psa.item_id, kept_psa.billed_together
        company_no, contract = int(kept_psa.psa_company_id), kept_psa.contract_id
        connection = at if target == "autotask" else halo
        with connection.client_for(db, tenant=tenant, settings=settings) as psa_client:  # one client for every step
            for product, keep in steps:
                if keep and not kept_item:
                    continue
                item_id = int(kept_item) if keep and kept_item else None
                together = kept_together and keep
                if target == "autotask":
                    autotask_mappings.set_mapping(
                        db, tenant=tenant, company_id=company_id, at_company=company_no,
                        contract=int(contract) if contract else None, service=item_id,
                        by=by, client=psa_client, product=product, billed_together=together,
                    )  # fmt: skip
                else:
                    halopsa_mappings.set_mapping(
                        db, tenant=tenant, company_id=company_id, client_id=company_no,
                        licence_id=item_id, by=by, client=psa_client, product=product, billed_together=together,
                    )  # fmt: skip
    else:
        raise NotFound(f"{layout.name} has no per-product items")
    if separate:
        return f"{company.name}: each product has its own {item} now; choose the {item} of each product in its row."
    return f"{company.name}: one {item} for all its products now (Training's, if it had one)."


@router.post("/{target}/billing/products")
def products_submit(
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    target: Annotated[str, Path(pattern="^(connectwise|autotask|halopsa)$")],
    company_id: Annotated[str, Form(max_length=200)],
    mode: Annotated[Literal["separate", "together"], Form()],
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The row's switch: post, then back to the same mapper page (post/redirect/get)."""
    path = mapper_source(target).layout.path
    to = back if back == path or back.startswith(path + "?") else path
    try:
        said = switch_products(
            db, tenant=tenant, settings=state.settings, target=target, company_id=company_id,
            separate=mode == "separate", by=principal.email,
        )  # fmt: skip
    except SeatsyncError as exc:
        db.rollback()
        return flash_redirect(to, str(exc), "error")
    return flash_redirect(to, said)
