"""Company → Autotask company → recurring-service contract → contract service, kept in ``psa_mappings``.

Only active recurring-service contracts (contractType 7) bill by units, so only they are offered and accepted.
Every chain is checked against Autotask before it is stored.

    refresh_companies(session, tenant=t, client=at)            # the cached companies the mapper searches
    set_mapping(session, tenant=t, company_id="acme", at_company=29683000, contract=29684000,
                service=12, by=email, client=at)
    suggest(session, tenant=t, client=at)                      # auto-map suggestions, nothing saved
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.connectors.autotask import AutotaskClient, Company, Contract
from seatsync.db.models import Company as SeatsyncCompany
from seatsync.db.models import PSACompany, PSAMapping, Tenant
from seatsync.domain.matching import Candidate, Matcher
from seatsync.errors import Conflict, ConnectorError, RecordNotFound
from seatsync.services import psa_mappings
from seatsync.services.psa_mappings import ALL_PRODUCTS, MappingValues, RemoteCompany

TARGET = "autotask"
#: suggestions below this are not shown at all
MINIMUM = 0.6

__all__ = [
    "MINIMUM",
    "TARGET",
    "ServiceChoice",
    "Suggestion",
    "accept",
    "contract_services",
    "contracts",
    "refresh_companies",
    "search_companies",
    "set_mapping",
    "suggest",
    "validate_chain",
]


def refresh_companies(session: Session, *, tenant: Tenant, client: AutotaskClient) -> int:
    """Replace the cached Autotask companies with Autotask's current list (inactive ones kept, marked)."""
    found = client.companies()
    return psa_mappings.refresh_companies(
        session,
        tenant=tenant,
        target=TARGET,
        companies=(RemoteCompany(str(c.id), c.company_name, "", c.is_active) for c in found),
    )


def _cached(session: Session, tenant: Tenant) -> bool:
    found = session.scalar(
        select(PSACompany.id).where(PSACompany.tenant_id == tenant.id, PSACompany.target == TARGET).limit(1)
    )
    return found is not None


def search_companies(
    session: Session, *, tenant: Tenant, query: str = "", limit: int = 50, client: AutotaskClient | None = None
) -> list[PSACompany]:
    """The cached companies matching ``query`` (the cache is filled first when empty and a client is given)."""
    if client is not None and not _cached(session, tenant):
        refresh_companies(session, tenant=tenant, client=client)
    return psa_mappings.search_companies(session, tenant=tenant, target=TARGET, query=query, limit=limit)


def contracts(client: AutotaskClient, *, at_company: int, include_inactive: bool = False) -> list[Contract]:
    """The company's recurring-service contracts, active first (inactive ones only when asked)."""
    found = client.company_contracts(int(at_company))
    if not include_inactive:
        found = [c for c in found if c.active]
    return sorted(found, key=lambda c: (not c.active, c.contract_name.casefold(), c.id))


@dataclass(frozen=True, slots=True)
class ServiceChoice:
    """A contract service with its catalog service's name (what the mapper shows)."""

    id: int
    service_id: int
    name: str


def contract_services(client: AutotaskClient, *, contract: int) -> list[ServiceChoice]:
    services = client.contract_services(int(contract))
    names = {s.id: s.name for s in client.services([s.service_id for s in services])}
    return [ServiceChoice(s.id, s.service_id, names.get(s.service_id) or f"service {s.service_id}") for s in services]


def _refuse(exc: ConnectorError, what: str) -> Conflict:
    if isinstance(exc, RecordNotFound):
        return Conflict(f"Autotask has no {what}")
    return Conflict(f"{what} could not be checked in Autotask: {exc}")


def _company(client: AutotaskClient, at_company: int) -> Company:
    try:
        company = client.company(int(at_company))
    except ConnectorError as exc:
        raise _refuse(exc, f"company {at_company}") from exc
    if not company.is_active:
        raise Conflict(f"Autotask company {company.company_name} ({company.id}) is inactive")
    return company


def _contract(client: AutotaskClient, company: Company, contract_id: int) -> Contract:
    try:
        contract = client.contract(int(contract_id))
    except ConnectorError as exc:
        raise _refuse(exc, f"contract {contract_id}") from exc
    if contract.company_id != company.id:
        raise Conflict(
            f"contract {contract.contract_name} ({contract.id}) belongs to Autotask company {contract.company_id}, "
            f"not to {company.company_name} ({company.id})"
        )
    if not contract.recurring_service:
        raise Conflict(
            f"contract {contract.contract_name} ({contract.id}) is not a recurring-service contract "
            f"(contractType {contract.contract_type}); only those bill by units"
        )
    if not contract.active:
        raise Conflict(f"contract {contract.contract_name} ({contract.id}) is inactive in Autotask")
    return contract


def _service(client: AutotaskClient, contract: Contract, service: int) -> ServiceChoice:
    """``service`` is the contract service's id (or the catalog service's, when the contract has it once)."""
    choices = contract_services(client, contract=contract.id)
    found = [c for c in choices if c.id == int(service)] or [c for c in choices if c.service_id == int(service)]
    if len(found) != 1:
        offered = ", ".join(f"{c.name} ({c.id})" for c in choices) or "none"
        raise Conflict(
            f"contract {contract.contract_name} ({contract.id}) has no contract service {service}; it has: {offered}"
        )
    return found[0]


def validate_chain(
    client: AutotaskClient, *, at_company: int, contract: int | None, service: int | None
) -> MappingValues:
    """Check each link belongs to the one before it; the ids and names to store."""
    company = _company(client, at_company)
    if contract is None:
        if service is not None:
            raise Conflict("a contract service needs its contract: choose the contract first")
        return MappingValues(str(company.id), company.company_name)
    chosen = _contract(client, company, contract)
    if service is None:
        return MappingValues(str(company.id), company.company_name, str(chosen.id), chosen.contract_name)
    item = _service(client, chosen, service)
    return MappingValues(
        str(company.id), company.company_name, str(chosen.id), chosen.contract_name, str(item.id), item.name
    )


def set_mapping(
    session: Session,
    *,
    tenant: Tenant,
    company_id: str,
    at_company: int,
    contract: int | None,
    service: int | None,
    by: str,
    client: AutotaskClient,
    product: str = ALL_PRODUCTS,
    billed_together: bool = False,
) -> PSAMapping:
    """Check the chain against Autotask and save it (a change record when anything changed). An item another
    company's mapping bills is refused unless ``billed_together`` (then it gets their sum)."""
    values = validate_chain(client, at_company=at_company, contract=contract, service=service)
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


# -- auto-map --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suggestion:
    company_pk: int
    company_id: str
    company_name: str
    at_company_id: int
    at_company_name: str
    confidence: float
    contract_id: int | None = None
    contract_name: str | None = None
    service_id: int | None = None
    service_name: str | None = None
    #: why no contract service was suggested, or what else matched
    note: str | None = None


def _chain(client: AutotaskClient, at_company: int) -> tuple[Contract, ServiceChoice] | str:
    try:
        found = contracts(client, at_company=at_company)
        if len(found) != 1:
            return (
                f"{len(found)} active recurring-service contracts: choose one"
                if found
                else "no active recurring-service contract"
            )
        services = contract_services(client, contract=found[0].id)
    except ConnectorError as exc:
        return f"contracts could not be read: {exc}"
    if len(services) != 1:
        return f"{len(services)} services on contract {found[0].id}: choose one"
    return found[0], services[0]


def suggest(
    session: Session, *, tenant: Tenant, client: AutotaskClient | None = None, minimum: float = MINIMUM
) -> list[Suggestion]:
    """An Autotask company (and its contract service when unambiguous) for every live company without a
    complete mapping, best first. Reads only; the company cache is filled when empty."""
    if client is not None and not _cached(session, tenant):
        refresh_companies(session, tenant=tenant, client=client)
    cached = psa_mappings.search_companies(session, tenant=tenant, target=TARGET, limit=100_000)
    matcher = Matcher(Candidate(int(c.remote_id), c.name) for c in cached)
    mapped = psa_mappings.tenant_mappings(session, tenant_id=tenant.id, target=TARGET)
    companies = session.scalars(
        select(SeatsyncCompany)
        .where(SeatsyncCompany.tenant_id == tenant.id, SeatsyncCompany.archived.is_(False))
        .order_by(SeatsyncCompany.company_id)
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
        found = [_with_chain(s, _chain(client, s.at_company_id)) for s in found]
    return sorted(found, key=lambda s: (-s.confidence, s.company_id))


def _with_chain(s: Suggestion, chain: tuple[Contract, ServiceChoice] | str) -> Suggestion:
    if isinstance(chain, str):
        return replace(s, note="; ".join(n for n in (s.note, chain) if n))
    contract, service = chain
    return replace(
        s,
        contract_id=contract.id,
        contract_name=contract.contract_name,
        service_id=service.id,
        service_name=service.name,
    )


def accept(session: Session, *, tenant: Tenant, suggestion: Suggestion, by: str, client: AutotaskClient) -> PSAMapping:
    """Save one suggestion (checked against Autotask like any mapping)."""
    return set_mapping(
        session,
        tenant=tenant,
        company_id=suggestion.company_id,
        at_company=suggestion.at_company_id,
        contract=suggestion.contract_id,
        service=suggestion.service_id,
        by=by,
        client=client,
    )
