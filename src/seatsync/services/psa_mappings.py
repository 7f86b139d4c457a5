"""Company → PSA company, contract and item for the PSAs that share one mapping model (Autotask, HaloPSA ...).

A mapping is per company, PSA (``target``) and product: ``product=""`` is one item billing every product the
company subscribes to; ``"sat"`` / ``"phishing"`` give that product its own item. A company has either the one
``""`` row or per-product rows, never both (saving one kind clears the other, with change records). Each target
validates the chain against its PSA first and hands the checked ids and names here; this module only stores,
keeps every change (who, when, before → after) and serves the cached PSA companies.

    save_mapping(session, tenant=t, target="autotask", company_id="acme", product="",
                 values=MappingValues("29683", "Acme", "7", "Acme SAT", "11", "Seats"), by="ops@msp.example")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from seatsync.db.models import Company, PSACompany, PSAMapping, PSAMappingChange, Tenant
from seatsync.domain.items import ItemShare, ItemSum
from seatsync.domain.items import item_sums as _item_sums
from seatsync.errors import Conflict, NotFound, UserInputError

#: ``""``: one item for every product of the company
ALL_PRODUCTS = ""
PRODUCTS = ("sat", "phishing")


@dataclass(frozen=True, slots=True)
class MappingValues:
    """A checked chain; later links may be None while an operator is still choosing (a partial mapping).

    Whether an item needs a contract is the target's rule (Autotask: a contract service of a contract;
    HaloPSA has no contract level, its subscriptions belong to the client): each target checks its own chain.
    """

    psa_company_id: str
    psa_company_name: str | None = None
    contract_id: str | None = None
    contract_name: str | None = None
    item_id: str | None = None
    item_name: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteCompany:
    """One PSA company as a target's client lists it, for the cache."""

    remote_id: str
    name: str
    identifier: str = ""
    active: bool = True


def _company(session: Session, tenant: Tenant, company_id: str) -> Company:
    company = session.scalar(select(Company).where(Company.tenant_id == tenant.id, Company.company_id == company_id))
    if company is None:
        raise NotFound(f"no company {company_id!r} in tenant {tenant.slug!r}")
    return company


def _check_product(product: str) -> str:
    if product not in (ALL_PRODUCTS, *PRODUCTS):
        raise UserInputError(f"unknown product {product!r}: use one of {', '.join(PRODUCTS)} (or none for all)")
    return product


_FIELDS = ("psa_company_id", "psa_company_name", "contract_id", "contract_name", "item_id", "item_name")


def _snapshot(mapping: PSAMapping | None) -> dict[str, Any] | None:
    if mapping is None:
        return None
    return {name: getattr(mapping, name) for name in _FIELDS}


def _record(
    session: Session, *, mapping_of: tuple[Tenant, Company, str, str], before: Any, after: Any, by: str, at: datetime
) -> None:
    tenant, company, target, product = mapping_of
    session.add(
        PSAMappingChange(
            tenant_id=tenant.id,
            company_pk=company.id,
            target=target,
            product=product,
            changed_at=at,
            changed_by=by,
            before=before,
            after=after,
        )
    )


def _rows(session: Session, *, company: Company, target: str) -> dict[str, PSAMapping]:
    found = session.scalars(select(PSAMapping).where(PSAMapping.company_pk == company.id, PSAMapping.target == target))
    return {m.product: m for m in found}


def _check_item_free(
    session: Session,
    *,
    tenant: Tenant,
    target: str,
    company: Company,
    product: str,
    values: MappingValues,
    together: bool,
) -> None:
    """One item is billed by one mapping unless the companies on it are billed together (their sum)."""
    if values.item_id is None:
        return
    sharing = list(
        session.scalars(
            select(PSAMapping).where(
                PSAMapping.tenant_id == tenant.id,
                PSAMapping.target == target,
                PSAMapping.item_id == values.item_id,
                or_(PSAMapping.company_pk != company.id, PSAMapping.product != product),
            )
        )
    )
    if not sharing:
        return
    if not together:
        names = sorted(
            session.scalars(select(Company.company_id).where(Company.id.in_({m.company_pk for m in sharing})))
        )
        raise Conflict(
            f"{values.item_name or 'item ' + values.item_id} already bills {', '.join(names)}: one item is billed by "
            "one mapping; choose another item, or say the companies are billed together (the item then gets their sum)"
        )
    for other in sharing:
        other.billed_together = True


def save_mapping(
    session: Session,
    *,
    tenant: Tenant,
    target: str,
    company_id: str,
    product: str = ALL_PRODUCTS,
    values: MappingValues,
    by: str,
    now: datetime | None = None,
    billed_together: bool = False,
) -> PSAMapping:
    """Store a checked chain for one company, target and product; a change record when anything changed.

    An item another mapping already bills is refused (``Conflict``) unless ``billed_together``: then every
    mapping on it is marked so and the item gets their sum (``seatsync.domain.items``).
    """
    product = _check_product(product)
    company = _company(session, tenant, company_id)
    at = now or datetime.now(UTC)
    _check_item_free(
        session, tenant=tenant, target=target, company=company, product=product, values=values, together=billed_together
    )
    rows = _rows(session, company=company, target=target)
    # one kind per company: an all-products item replaces per-product items, and the other way round
    for other, stale in list(rows.items()):
        if (product == ALL_PRODUCTS) != (other == ALL_PRODUCTS):
            _record(
                session, mapping_of=(tenant, company, target, other), before=_snapshot(stale), after=None, by=by, at=at
            )
            session.delete(stale)
            del rows[other]
    mapping = rows.get(product)
    after = asdict(values)
    before = _snapshot(mapping)
    if before == after and mapping is not None:
        mapping.billed_together = billed_together
        session.flush()
        return mapping
    if mapping is None:
        mapping = PSAMapping(tenant_id=tenant.id, company_pk=company.id, target=target, product=product, saved_by=by)
        session.add(mapping)
    if mapping.item_id != values.item_id:
        # drift is judged against what seatsync set on *this* item
        mapping.last_pushed_quantity = None
        mapping.last_pushed_at = None
    for name, value in after.items():
        setattr(mapping, name, value)
    mapping.billed_together = billed_together
    mapping.saved_at, mapping.saved_by = at, by
    _record(session, mapping_of=(tenant, company, target, product), before=before, after=after, by=by, at=at)
    session.flush()
    return mapping


def clear_mapping(
    session: Session,
    *,
    tenant: Tenant,
    target: str,
    company_id: str,
    product: str | None = None,
    by: str,
    now: datetime | None = None,
) -> int:
    """Forget a company's mapping in one PSA (every product when ``product`` is None); returns rows removed."""
    company = _company(session, tenant, company_id)
    at = now or datetime.now(UTC)
    removed = 0
    for name, mapping in _rows(session, company=company, target=target).items():
        if product is not None and name != _check_product(product):
            continue
        _record(
            session, mapping_of=(tenant, company, target, name), before=_snapshot(mapping), after=None, by=by, at=at
        )
        session.delete(mapping)
        removed += 1
    session.flush()
    return removed


def get_mappings(session: Session, *, tenant: Tenant, target: str, company_id: str) -> dict[str, PSAMapping]:
    """One company's mappings in one PSA, by product (``""``: all products)."""
    return _rows(session, company=_company(session, tenant, company_id), target=target)


def tenant_mappings(session: Session, *, tenant_id: int, target: str) -> dict[int, dict[str, PSAMapping]]:
    """Every mapping of a tenant in one PSA: company pk → product → mapping."""
    out: dict[int, dict[str, PSAMapping]] = {}
    for m in session.scalars(select(PSAMapping).where(PSAMapping.tenant_id == tenant_id, PSAMapping.target == target)):
        out.setdefault(m.company_pk, {})[m.product] = m
    return out


def item_sums(
    mapped: dict[int, dict[str, PSAMapping]], rows: Iterable[tuple[int, str, int, str]]
) -> dict[tuple[int, str], ItemSum]:
    """What each row's item gets (``seatsync.domain.items``): its own count, or the sum of the companies billed
    together on it, or a refusal when it is shared without that. ``rows``: (company pk, product, count, label) of
    every row of the period (not only those a retry pushes: a sum needs every company on the item)."""
    shares = []
    for pk, product, count, label in rows:
        m = mapped.get(pk, {}).get(product)
        item = m.item_id if m is not None and m.item_id else None
        shares.append(ItemShare((pk, product), item, count, bool(m is not None and m.billed_together), label))
    return _item_sums(shares)


def mapping_history(
    session: Session, *, tenant: Tenant, target: str, company_id: str | None = None
) -> list[PSAMappingChange]:
    """Mapping changes in one PSA, newest first (of one company, or of the whole tenant)."""
    query = select(PSAMappingChange).where(PSAMappingChange.tenant_id == tenant.id, PSAMappingChange.target == target)
    if company_id is not None:
        query = query.where(PSAMappingChange.company_pk == _company(session, tenant, company_id).id)
    return list(session.scalars(query.order_by(PSAMappingChange.changed_at.desc(), PSAMappingChange.id.desc())))


# -- the cached PSA companies ----------------------------------------------------------------------------------


def refresh_companies(
    session: Session, *, tenant: Tenant, target: str, companies: Iterable[RemoteCompany], now: datetime | None = None
) -> int:
    """Replace the tenant's cached companies of one PSA with the PSA's current list; returns how many."""
    at = now or datetime.now(UTC)
    cached = {
        c.remote_id: c
        for c in session.scalars(
            select(PSACompany).where(PSACompany.tenant_id == tenant.id, PSACompany.target == target)
        )
    }
    seen: set[str] = set()
    for item in companies:
        seen.add(item.remote_id)
        row = cached.get(item.remote_id)
        if row is None:
            row = PSACompany(tenant_id=tenant.id, target=target, remote_id=item.remote_id)
            session.add(row)
        row.name, row.identifier, row.active, row.refreshed_at = item.name, item.identifier, item.active, at
    gone = [remote_id for remote_id in cached if remote_id not in seen]
    if gone:
        session.execute(
            delete(PSACompany).where(
                PSACompany.tenant_id == tenant.id, PSACompany.target == target, PSACompany.remote_id.in_(gone)
            )
        )
    session.flush()
    return len(seen)


def search_companies(
    session: Session,
    *,
    tenant: Tenant,
    target: str,
    query: str = "",
    include_inactive: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[PSACompany]:
    """The cached companies of one PSA whose name or identifier contains ``query``, by name."""
    stmt = select(PSACompany).where(PSACompany.tenant_id == tenant.id, PSACompany.target == target)
    if not include_inactive:
        stmt = stmt.where(PSACompany.active.is_(True))
    if query.strip():
        pattern = f"%{query.strip().lower()}%"
        stmt = stmt.where(
            or_(func.lower(PSACompany.name).like(pattern), func.lower(PSACompany.identifier).like(pattern))
        )
    return list(session.scalars(stmt.order_by(PSACompany.name, PSACompany.remote_id).limit(limit).offset(offset)))


__all__ = [
    "ALL_PRODUCTS",
    "PRODUCTS",
    "MappingValues",
    "RemoteCompany",
    "clear_mapping",
    "get_mappings",
    "item_sums",
    "mapping_history",
    "refresh_companies",
    "save_mapping",
    "search_companies",
    "tenant_mappings",
]
