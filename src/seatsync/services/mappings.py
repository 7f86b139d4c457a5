"""Company → ConnectWise company, agreement and addition: one mapping per company, shared by every
ConnectWise feature, validated against ConnectWise when set, and every change kept (who, when, from → to).

    set_mapping(session, tenant=t, company_id="acme", cw_company=250, agreement=100, addition=1000,
                by="ops@msp.example", client=client)

A mapping may be partial while an operator is choosing (company only, or company and agreement); such a
row is not pushed. The cached ConnectWise companies (``cw_companies``) back the mapper's search.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from seatsync.connectors.connectwise.api import ConnectWiseApi
from seatsync.connectors.connectwise.conditions import where
from seatsync.connectors.connectwise.models import Addition, Agreement
from seatsync.db.models import Company, CWCompany, CWMapping, CWMappingChange, Tenant
from seatsync.errors import Conflict, ConnectorError, NotFound, RecordNotFound, UserInputError

FIELDS = ("cw_company_id", "cw_company_name", "agreement_id", "agreement_name", "addition_id", "addition_name")


def _company(session: Session, tenant: Tenant, company_id: str) -> Company:
    company = session.scalar(select(Company).where(Company.tenant_id == tenant.id, Company.company_id == company_id))
    if company is None:
        raise NotFound(f"no company {company_id!r} in tenant {tenant.slug!r}")
    return company


def _snapshot(mapping: CWMapping | None) -> dict[str, Any] | None:
    if mapping is None or mapping.cw_company_id is None:
        return None
    return {name: getattr(mapping, name) for name in FIELDS}


def addition_name(addition: Addition) -> str:
    product = addition.product.identifier if addition.product and addition.product.identifier else None
    parts = [p for p in (product, addition.description) if p]
    return " - ".join(dict.fromkeys(parts)) or f"addition {addition.id}"


def _refuse(exc: ConnectorError, what: str) -> Conflict:
    if isinstance(exc, RecordNotFound):
        return Conflict(f"ConnectWise has no {what}; refresh the lists and choose again")
    return Conflict(f"cannot check {what} in ConnectWise: {exc}")


def validate_chain(
    client: ConnectWiseApi, *, cw_company: int, agreement: int | None, addition: int | None
) -> dict[str, Any]:
    """The names of a valid chain; ``Conflict`` with the reason when the chain is broken."""
    if addition is not None and agreement is None:
        raise UserInputError("an addition needs its agreement: choose the agreement first")
    try:
        company = client.get_company(cw_company)
    except ConnectorError as exc:
        raise _refuse(exc, f"company {cw_company}") from exc
    if company.deleted:
        raise Conflict(f"ConnectWise company {company.name!r} ({cw_company}) is deleted; choose an active company")
    found: dict[str, Any] = {"cw_company_id": cw_company, "cw_company_name": company.name}
    found.update(agreement_id=None, agreement_name=None, addition_id=None, addition_name=None)
    if agreement is None:
        return found
    try:
        chosen: Agreement = client.get_agreement(agreement)
    except ConnectorError as exc:
        raise _refuse(exc, f"agreement {agreement}") from exc
    owner = chosen.company.id if chosen.company else None
    if owner != cw_company:
        who = chosen.company.name if chosen.company and chosen.company.name else f"company {owner}"
        raise Conflict(
            f"agreement {agreement} ({chosen.name}) belongs to ConnectWise {who}, not to {company.name!r}; "
            "choose one of this company's agreements"
        )
    if not chosen.active:
        raise Conflict(
            f"agreement {agreement} ({chosen.name}) is {chosen.agreement_status or 'cancelled'}; choose an active one"
        )
    found.update(agreement_id=agreement, agreement_name=chosen.name)
    if addition is None:
        return found
    try:
        item = client.get_addition(agreement, addition)
    except ConnectorError as exc:
        raise _refuse(exc, f"addition {addition} on agreement {agreement}") from exc
    if item.agreement_id not in (None, agreement):
        raise Conflict(f"addition {addition} is on agreement {item.agreement_id}, not on agreement {agreement}")
    if item.cancelled:
        raise Conflict(f"addition {addition} ({addition_name(item)}) is cancelled; choose an active addition")
    found.update(addition_id=addition, addition_name=addition_name(item))
    return found


PRODUCTS = ("", "sat", "phishing")


def _product(product: str | None) -> str:
    value = (product or "").strip().lower()
    if value not in PRODUCTS:
        raise UserInputError(
            f"unknown product {product!r}: use sat or phishing (or none for all the company's products)"
        )
    return value


def _check_products(session: Session, company: Company, product: str) -> None:
    """A product's own item only for a product the company subscribes to."""
    if product and product not in company.products.split(";"):
        raise UserInputError(
            f"company {company.company_id!r} does not subscribe to {product} (its products: {company.products})"
        )


def _replace_other_kind(session: Session, *, tenant: Tenant, company: Company, product: str, by: str) -> None:
    """One kind per company (as ``psa_mappings``): an all-products addition replaces per-product ones, and the
    other way round, each removal recorded."""
    stale = session.scalars(
        select(CWMapping).where(
            CWMapping.company_pk == company.id,
            CWMapping.product != product,
            (CWMapping.product == "") if product else (CWMapping.product != ""),
        )
    )
    for mapping in list(stale):
        _save(session, tenant=tenant, company=company, values=None, by=by, product=mapping.product)


def check_product_choice(session: Session, *, tenant: Tenant, company_id: str, product: str) -> str:
    """Refuse, before anything is done elsewhere, a product item the company cannot have; the product's key."""
    chosen = _product(product)
    _check_products(session, _company(session, tenant, company_id), chosen)
    return chosen


def _check_item_free(
    session: Session, *, tenant: Tenant, company: Company, product: str, values: dict[str, Any], billed_together: bool
) -> None:
    """One addition is billed by one mapping unless the companies on it are billed together (their sum)."""
    if values.get("addition_id") is None:
        return
    sharing = list(
        session.scalars(
            select(CWMapping).where(
                CWMapping.tenant_id == tenant.id,
                CWMapping.agreement_id == values["agreement_id"],
                CWMapping.addition_id == values["addition_id"],
                or_(CWMapping.company_pk != company.id, CWMapping.product != product),
            )
        )
    )
    if not sharing:
        return
    if not billed_together:
        names = sorted(
            session.scalars(select(Company.company_id).where(Company.id.in_({m.company_pk for m in sharing})))
        )
        raise Conflict(
            f"addition {values['addition_id']} already bills {', '.join(names)}: one addition is billed by one "
            "mapping; choose another addition, or say the companies are billed together (the addition then gets "
            "their sum)"
        )
    for other in sharing:
        other.billed_together = True


def _save(
    session: Session,
    *,
    tenant: Tenant,
    company: Company,
    values: dict[str, Any] | None,
    by: str,
    product: str = "",
    billed_together: bool = False,
) -> CWMapping | None:
    mapping = session.scalar(select(CWMapping).where(CWMapping.company_pk == company.id, CWMapping.product == product))
    before = _snapshot(mapping)
    if before == values:
        if mapping is not None and mapping.billed_together != billed_together:
            mapping.billed_together = billed_together
            session.flush()
        return mapping
    now = datetime.now(UTC)
    if values is None:
        if mapping is not None:
            session.delete(mapping)
        mapping = None
    else:
        if mapping is None:
            mapping = CWMapping(tenant_id=tenant.id, company_pk=company.id, product=product, saved_by=by)
            session.add(mapping)
        mapping.billed_together = billed_together
        if mapping.addition_id != values["addition_id"]:
            # drift is judged against what seatsync set on *this* addition
            mapping.last_pushed_quantity = None
            mapping.last_pushed_at = None
        for name, value in values.items():
            setattr(mapping, name, value)
        mapping.saved_at, mapping.saved_by = now, by
    session.add(
        CWMappingChange(
            tenant_id=tenant.id,
            company_pk=company.id,
            product=product,
            changed_at=now,
            changed_by=by,
            before=before,
            after=values,
        )
    )
    session.flush()
    return mapping


def set_mapping(
    session: Session,
    *,
    tenant: Tenant,
    company_id: str,
    cw_company: int,
    agreement: int | None,
    addition: int | None,
    by: str,
    client: ConnectWiseApi,
    product: str = "",
    billed_together: bool = False,
) -> CWMapping:
    """Validate the chain against ConnectWise and save it (with a change record when anything changed).

    ``product`` ``""`` maps one addition for all the company's products; ``"sat"``/``"phishing"`` that
    product's addition (saving one kind replaces the other kind's mappings, with change records). An addition another mapping already bills is refused (``Conflict``) unless
    ``billed_together``: then every mapping on it is marked so and the addition gets their sum.
    """
    company = _company(session, tenant, company_id)
    chosen = _product(product)
    _check_products(session, company, chosen)
    values = validate_chain(client, cw_company=cw_company, agreement=agreement, addition=addition)
    _check_item_free(
        session, tenant=tenant, company=company, product=chosen, values=values, billed_together=billed_together
    )
    _replace_other_kind(session, tenant=tenant, company=company, product=chosen, by=by)
    mapping = _save(
        session, tenant=tenant, company=company, values=values, by=by, product=chosen, billed_together=billed_together
    )
    assert mapping is not None
    return mapping


def clear_mapping(session: Session, *, tenant: Tenant, company_id: str, by: str, product: str = "") -> None:
    _save(
        session,
        tenant=tenant,
        company=_company(session, tenant, company_id),
        values=None,
        by=by,
        product=_product(product),
    )


@dataclass(frozen=True, slots=True)
class MappingRow:
    company_pk: int
    company_id: str
    company_name: str
    mapping: CWMapping | None
    #: the mapping's product (``""``: one addition for all the company's products, or no mapping)
    product: str = ""


def list_mappings(session: Session, *, tenant: Tenant, search: str | None = None) -> list[MappingRow]:
    """Every live company with each of its mappings (one row with None when unmapped), by company id and product."""
    query = (
        select(Company, CWMapping)
        .outerjoin(CWMapping, CWMapping.company_pk == Company.id)
        .where(Company.tenant_id == tenant.id, Company.archived.is_(False))
    )
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(or_(func.lower(Company.name).like(pattern), func.lower(Company.company_id).like(pattern)))
    rows = session.execute(query.order_by(Company.company_id, CWMapping.product))
    return [MappingRow(c.id, c.company_id, c.name, m, m.product if m is not None else "") for c, m in rows]


def get_mapping(session: Session, *, tenant: Tenant, company_id: str, product: str = "") -> CWMapping | None:
    company = _company(session, tenant, company_id)
    return session.scalar(
        select(CWMapping).where(CWMapping.company_pk == company.id, CWMapping.product == _product(product))
    )


def company_mappings(session: Session, *, tenant: Tenant, company_id: str) -> dict[str, CWMapping]:
    """The company's mappings by product (``""``: one addition for all its products)."""
    company = _company(session, tenant, company_id)
    return {m.product: m for m in session.scalars(select(CWMapping).where(CWMapping.company_pk == company.id))}


def mapping_history(session: Session, *, tenant: Tenant, company_id: str | None = None) -> list[CWMappingChange]:
    """Mapping changes, newest first (of one company, or of the whole tenant)."""
    query = select(CWMappingChange).where(CWMappingChange.tenant_id == tenant.id)
    if company_id is not None:
        query = query.where(CWMappingChange.company_pk == _company(session, tenant, company_id).id)
    return list(session.scalars(query.order_by(CWMappingChange.changed_at.desc(), CWMappingChange.id.desc())))


# -- the cached ConnectWise companies, and the choices of the mapper -------------------------------------------


def refresh_cw_companies(session: Session, *, tenant: Tenant, client: ConnectWiseApi) -> int:
    """Replace the tenant's cached ConnectWise companies with ConnectWise's current list; returns the count."""
    companies = client.list_companies(fields="id,identifier,name,status,deletedFlag")
    now = datetime.now(UTC)
    cached = {c.cw_id: c for c in session.scalars(select(CWCompany).where(CWCompany.tenant_id == tenant.id))}
    seen: set[int] = set()
    for item in companies:
        seen.add(item.id)
        row = cached.get(item.id)
        if row is None:
            row = CWCompany(tenant_id=tenant.id, cw_id=item.id)
            session.add(row)
        row.identifier = item.identifier
        row.name = item.name
        row.status = item.status.name if item.status else None
        row.deleted = item.deleted
        row.refreshed_at = now
    gone = [cw_id for cw_id in cached if cw_id not in seen]
    if gone:
        session.execute(delete(CWCompany).where(CWCompany.tenant_id == tenant.id, CWCompany.cw_id.in_(gone)))
    session.flush()
    return len(seen)


def search_cw_companies(
    session: Session,
    *,
    tenant: Tenant,
    query: str = "",
    include_deleted: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[CWCompany]:
    """The cached ConnectWise companies whose name or identifier contains ``query``, by name."""
    stmt = select(CWCompany).where(CWCompany.tenant_id == tenant.id)
    if not include_deleted:
        stmt = stmt.where(CWCompany.deleted.is_(False))
    if query.strip():
        pattern = f"%{query.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(CWCompany.name).like(pattern), func.lower(CWCompany.identifier).like(pattern)))
    return list(session.scalars(stmt.order_by(CWCompany.name, CWCompany.cw_id).limit(limit).offset(offset)))


def cw_agreements(client: ConnectWiseApi, *, cw_company: int, include_inactive: bool = False) -> list[Agreement]:
    """The agreements of one ConnectWise company (the mapper's agreement choice): active ones by default."""
    conditions = None if include_inactive else where("cancelledFlag", "=", False)
    agreements = client.list_agreements(company_id=cw_company, conditions=conditions)
    return [a for a in agreements if include_inactive or a.active]


def cw_additions(client: ConnectWiseApi, *, agreement: int, include_cancelled: bool = False) -> list[Addition]:
    """The additions of one agreement (the mapper's addition choice): not cancelled ones by default."""
    return [a for a in client.list_additions(agreement) if include_cancelled or not a.cancelled]
