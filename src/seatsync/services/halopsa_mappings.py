"""Company → HaloPSA client → subscription (software licence) of that client, kept in ``psa_mappings``.

HaloPSA has no contract level: a mapping is the client and one of its subscriptions (``contract_id`` stays
empty). Every chain is checked against HaloPSA before it is stored; a company without a subscription can get
one created (``create_subscription``: name, Halo item, start date; count 0 until the first push).

    refresh_clients(session, tenant=t, client=halo)            # the cached clients the mapper searches
    set_mapping(session, tenant=t, company_id="acme", client_id=45, licence_id=812, by=email, client=halo)
    create_subscription(session, tenant=t, company_id="initech", client_id=48, name="Initech - Security
                        Awareness", item_id=11, start_date=date(2026, 11, 1), by=email, client=halo)
    suggest(session, tenant=t, client=halo)                     # auto-map suggestions, nothing saved
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.connectors.halopsa import Customer, HaloPSAClient, Item, NewLicence, SoftwareLicence
from seatsync.db.models import Company, PSACompany, PSAMapping, Tenant
from seatsync.domain.matching import Candidate, Matcher
from seatsync.errors import Conflict, ConnectorError, RecordNotFound, UserInputError
from seatsync.services import psa_mappings
from seatsync.services.psa_mappings import ALL_PRODUCTS, MappingValues, RemoteCompany

TARGET = "halopsa"
#: suggestions below this are not shown at all
MINIMUM = 0.6

__all__ = [
    "MINIMUM",
    "TARGET",
    "Suggestion",
    "accept",
    "create_subscription",
    "has_cached_clients",
    "items",
    "refresh_clients",
    "search_clients",
    "set_mapping",
    "subscriptions",
    "suggest",
    "validate_chain",
]


def refresh_clients(session: Session, *, tenant: Tenant, client: HaloPSAClient) -> int:
    """Replace the cached HaloPSA clients with HaloPSA's current list (inactive ones kept, marked)."""
    found = client.list_customers(include_inactive=True)
    return psa_mappings.refresh_companies(
        session,
        tenant=tenant,
        target=TARGET,
        companies=(RemoteCompany(str(c.id), c.name, c.ref or "", not c.inactive) for c in found),
    )


def search_clients(
    session: Session, *, tenant: Tenant, query: str = "", limit: int = 50, client: HaloPSAClient | None = None
) -> list[PSACompany]:
    """The cached clients matching ``query`` (the cache is filled first when empty and a client is given)."""
    found = psa_mappings.search_companies(session, tenant=tenant, target=TARGET, query=query, limit=limit)
    if not found and client is not None and not has_cached_clients(session, tenant):
        refresh_clients(session, tenant=tenant, client=client)
        found = psa_mappings.search_companies(session, tenant=tenant, target=TARGET, query=query, limit=limit)
    return found


def has_cached_clients(session: Session, tenant: Tenant) -> bool:
    """Whether the tenant's HaloPSA clients were read at least once."""
    return (
        session.scalar(
            select(PSACompany.id).where(PSACompany.tenant_id == tenant.id, PSACompany.target == TARGET).limit(1)
        )
        is not None
    )


def subscriptions(client: HaloPSAClient, *, client_id: int, include_inactive: bool = False) -> list[SoftwareLicence]:
    return client.list_licences(client_id=int(client_id), include_inactive=include_inactive)


def items(client: HaloPSAClient, *, search: str | None = None) -> list[Item]:
    return [i for i in client.list_items(search=search) if not i.inactive]


def _refuse(exc: ConnectorError, what: str) -> Conflict:
    if isinstance(exc, RecordNotFound):
        return Conflict(f"HaloPSA has no {what}")
    return Conflict(f"{what} could not be checked in HaloPSA: {exc}")


def _customer(client: HaloPSAClient, client_id: int) -> Customer:
    try:
        customer = client.get_customer(int(client_id))
    except ConnectorError as exc:
        raise _refuse(exc, f"client {client_id}") from exc
    if customer.inactive:
        raise Conflict(f"HaloPSA client {customer.name} ({customer.id}) is inactive")
    return customer


def validate_chain(client: HaloPSAClient, *, client_id: int, licence_id: int | None) -> MappingValues:
    """Check the client exists and is active and the subscription is one of its own; the ids and names to store."""
    customer = _customer(client, client_id)
    if licence_id is None:
        return MappingValues(str(customer.id), customer.name)
    try:
        licence = client.get_licence(int(licence_id))
    except ConnectorError as exc:
        raise _refuse(exc, f"subscription {licence_id}") from exc
    if licence.client_id != customer.id:
        raise Conflict(
            f"subscription {licence.name} ({licence.id}) belongs to HaloPSA client {licence.client_id}, "
            f"not to {customer.name} ({customer.id})"
        )
    return MappingValues(str(customer.id), customer.name, item_id=str(licence.id), item_name=licence.name)


def set_mapping(
    session: Session,
    *,
    tenant: Tenant,
    company_id: str,
    client_id: int,
    licence_id: int | None,
    by: str,
    client: HaloPSAClient,
    product: str = ALL_PRODUCTS,
    billed_together: bool = False,
) -> PSAMapping:
    """Check the chain against HaloPSA and save it (a change record when anything changed). An item another
    company's mapping bills is refused unless ``billed_together`` (then it gets their sum)."""
    values = validate_chain(client, client_id=client_id, licence_id=licence_id)
    return psa_mappings.save_mapping(
        session,
        tenant=tenant,
        target=TARGET,
        company_id=company_id,
        product=product,
        values=values,
        by=by,
        billed_together=billed_together,
    )


def create_subscription(
    session: Session,
    *,
    tenant: Tenant,
    company_id: str,
    client_id: int,
    name: str,
    item_id: int | None,
    start_date: date | None,
    by: str,
    client: HaloPSAClient,
    product: str = ALL_PRODUCTS,
) -> PSAMapping:
    """Create a subscription under the client (count 0 until the first push) and map the company to it.

    A name the client already uses is refused, so a retried creation is recognised by its name.
    """
    name = name.strip()
    if not name:
        raise UserInputError("the new subscription needs a name")
    customer = _customer(client, client_id)
    if item_id is not None:
        try:
            client.get_item(int(item_id))
        except ConnectorError as exc:
            raise _refuse(exc, f"item {item_id}") from exc
    taken = {s.name.casefold() for s in subscriptions(client, client_id=customer.id, include_inactive=True)}
    if name.casefold() in taken:
        raise Conflict(f"HaloPSA client {customer.name} already has a subscription named {name!r}: map it instead")
    created = client.create_licence(
        NewLicence(client_id=customer.id, name=name, item_id=item_id, start_date=start_date, count=0)
    )
    values = MappingValues(str(customer.id), customer.name, item_id=str(created.id), item_name=created.name)
    return psa_mappings.save_mapping(
        session, tenant=tenant, target=TARGET, company_id=company_id, product=product, values=values, by=by
    )


# -- auto-map --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suggestion:
    company_pk: int
    company_id: str
    company_name: str
    client_id: int
    client_name: str
    confidence: float
    licence_id: int | None = None
    licence_name: str | None = None
    #: why no subscription was suggested, or what else matched
    note: str | None = None


def _licence_for(client: HaloPSAClient, client_id: int) -> tuple[int, str] | str:
    try:
        found = subscriptions(client, client_id=client_id)
    except ConnectorError as exc:
        return f"subscriptions could not be read: {exc}"
    if len(found) != 1:
        return f"{len(found)} active subscriptions: choose one" if found else "no subscription: create one"
    return found[0].id, found[0].name


def suggest(
    session: Session, *, tenant: Tenant, client: HaloPSAClient | None = None, minimum: float = MINIMUM
) -> list[Suggestion]:
    """A HaloPSA client (and its subscription when it has exactly one) for every live company without a
    complete mapping, best first. Reads only; the client cache is filled when empty."""
    if client is not None and not has_cached_clients(session, tenant):
        refresh_clients(session, tenant=tenant, client=client)
    cached = psa_mappings.search_companies(session, tenant=tenant, target=TARGET, limit=100_000)
    matcher = Matcher(Candidate(int(c.remote_id), c.name) for c in cached)
    mapped = psa_mappings.tenant_mappings(session, tenant_id=tenant.id, target=TARGET)
    companies = session.scalars(
        select(Company).where(Company.tenant_id == tenant.id, Company.archived.is_(False)).order_by(Company.company_id)
    )
    found: list[Suggestion] = []
    for company in companies:
        rows = mapped.get(company.id, {})
        if rows and all(m.item_id for m in rows.values()):
            continue
        chosen = next((m for m in rows.values() if m.psa_company_id), None)
        if chosen is not None:
            match_id, match_name, confidence, note = (
                int(chosen.psa_company_id or 0),
                chosen.psa_company_name or "",
                1.0,
                None,
            )
        else:
            match = matcher.best(company.name, minimum=minimum)
            if match is None:
                continue
            match_id, match_name, confidence = match.candidate.key, match.candidate.name, match.confidence
            note = f"also close: {match.rival.name} ({match.rival.key})" if match.rival else None
        found.append(
            Suggestion(company.id, company.company_id, company.name, match_id, match_name, confidence, note=note)
        )
    if client is not None:
        found = [_with_licence(s, _licence_for(client, s.client_id)) for s in found]
    return sorted(found, key=lambda s: (-s.confidence, s.company_id))


def _with_licence(s: Suggestion, licence: tuple[int, str] | str) -> Suggestion:
    if isinstance(licence, str):
        return replace(s, note="; ".join(n for n in (s.note, licence) if n))
    return replace(s, licence_id=licence[0], licence_name=licence[1])


def accept(session: Session, *, tenant: Tenant, suggestion: Suggestion, by: str, client: HaloPSAClient) -> PSAMapping:
    """Save one suggestion (checked against HaloPSA like any mapping)."""
    return set_mapping(
        session,
        tenant=tenant,
        company_id=suggestion.company_id,
        client_id=suggestion.client_id,
        licence_id=suggestion.licence_id,
        by=by,
        client=client,
    )
