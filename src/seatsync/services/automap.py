"""Auto-map: suggest a ConnectWise company (and, when unambiguous, its agreement and addition) for every
company that is not fully mapped. Nothing is saved until the operator accepts a suggestion.

    found = suggest(session, tenant=t, client=client)            # refreshes the company cache if empty
    accept(session, tenant=t, suggestion=found[0], by=email, client=client)
    accept_all(session, tenant=t, suggestions=found, above=0.9, by=email, client=client)

Agreement and addition are suggested when the ConnectWise company has exactly one active agreement with
exactly one (not cancelled) addition of the tenant's catalog product for the item (``seatsync.services.cw_catalog``:
``PHISH-SAT`` for one addition of all products unless the tenant chose another identifier).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.config import get_settings
from seatsync.connectors.connectwise.api import ConnectWiseApi
from seatsync.db.models import CWCompany, Tenant
from seatsync.domain.matching import Candidate, Matcher
from seatsync.domain.planning import MappingState
from seatsync.errors import ConnectorError
from seatsync.services import mappings
from seatsync.services.cw_catalog import catalog_settings
from seatsync.services.mappings import addition_name

#: suggestions below this are not shown at all
MINIMUM = 0.6


@dataclass(frozen=True, slots=True)
class Suggestion:
    company_pk: int
    company_id: str
    company_name: str
    cw_company_id: int
    cw_company_name: str
    confidence: float
    agreement_id: int | None = None
    agreement_name: str | None = None
    addition_id: int | None = None
    addition_name: str | None = None
    #: why the agreement/addition were not suggested, or what else matched
    note: str | None = None
    #: the mapping's product (``""``: one addition for all the company's products)
    product: str = ""


def catalog_identifier(session: Session, *, tenant: Tenant, product: str = "") -> str:
    """The tenant's catalog identifier for the item (ConnectWise › Catalog settings; ``PHISH-SAT`` by default)."""
    return catalog_settings(session, tenant=tenant).identifier(product)


def _chain(client: ConnectWiseApi, cw_company: int, product: str) -> tuple[int, str, int, str] | str:
    """(agreement id, name, addition id, name) when unambiguous; otherwise why not."""
    try:
        agreements = mappings.cw_agreements(client, cw_company=cw_company)
        if len(agreements) != 1:
            return f"{len(agreements)} active agreements: choose one"
        agreement = agreements[0]
        additions = [
            a
            for a in mappings.cw_additions(client, agreement=agreement.id)
            if a.product is not None and (a.product.identifier or "").casefold() == product.casefold()
        ]
    except ConnectorError as exc:
        return f"agreements could not be read: {exc}"
    if len(additions) != 1:
        return f"{len(additions)} active {product} additions on agreement {agreement.id}: choose one"
    return agreement.id, agreement.name, additions[0].id, addition_name(additions[0])


def suggest(
    session: Session,
    *,
    tenant: Tenant,
    client: ConnectWiseApi | None = None,
    minimum: float = MINIMUM,
    with_chain: bool = True,
) -> list[Suggestion]:
    """Suggestions for every live company without a complete mapping, best first. Reads only.

    Needs the cached ConnectWise companies; with a ``client`` the cache is filled when empty and the
    agreement/addition are looked up for each suggestion.
    """
    cached = list(session.scalars(select(CWCompany).where(CWCompany.tenant_id == tenant.id)))
    if not cached and client is not None:
        mappings.refresh_cw_companies(session, tenant=tenant, client=client)
        cached = list(session.scalars(select(CWCompany).where(CWCompany.tenant_id == tenant.id)))
    matcher = Matcher(Candidate(c.cw_id, c.name) for c in cached if not c.deleted)
    found: list[Suggestion] = []
    for row in mappings.list_mappings(session, tenant=tenant):
        mapping = row.mapping
        if mapping is not None and mapping.agreement_id is not None and mapping.addition_id is not None:
            continue
        if mapping is not None and mapping.cw_company_id is not None:
            # the operator already chose the company: only the agreement/addition are suggested
            match_id, match_name, confidence, note = mapping.cw_company_id, mapping.cw_company_name or "", 1.0, None
        else:
            match = matcher.best(row.company_name, minimum=minimum)
            if match is None:
                continue
            match_id, match_name, confidence = match.candidate.key, match.candidate.name, match.confidence
            note = f"also close: {match.rival.name} ({match.rival.key})" if match.rival else None
        found.append(
            Suggestion(
                row.company_pk,
                row.company_id,
                row.company_name,
                match_id,
                match_name,
                confidence,
                note=note,
                product=row.product,
            )
        )
    if with_chain and client is not None and found:
        identifiers = catalog_settings(session, tenant=tenant)
        workers = max(1, get_settings().connectwise_concurrency)
        with ThreadPoolExecutor(workers, thread_name_prefix="automap") as pool:
            chains = list(pool.map(lambda s: _chain(client, s.cw_company_id, identifiers.identifier(s.product)), found))
        found = [_with_chain(s, chain) for s, chain in zip(found, chains, strict=True)]
    return sorted(found, key=lambda s: (-s.confidence, s.company_id))


def _with_chain(s: Suggestion, chain: tuple[int, str, int, str] | str) -> Suggestion:
    if isinstance(chain, str):
        return replace(s, note="; ".join(n for n in (s.note, chain) if n))
    agreement_id, agreement_name, addition_id, name = chain
    return replace(
        s, agreement_id=agreement_id, agreement_name=agreement_name, addition_id=addition_id, addition_name=name
    )


def accept(
    session: Session, *, tenant: Tenant, suggestion: Suggestion, by: str, client: ConnectWiseApi
) -> MappingState:
    """Save one suggestion (validated against ConnectWise like any mapping); returns the mapping's state."""
    saved = mappings.set_mapping(
        session,
        tenant=tenant,
        company_id=suggestion.company_id,
        cw_company=suggestion.cw_company_id,
        agreement=suggestion.agreement_id,
        addition=suggestion.addition_id,
        by=by,
        client=client,
        product=suggestion.product,
    )
    return MappingState.COMPLETE if saved.addition_id is not None else MappingState.PARTIAL


def accept_all(
    session: Session,
    *,
    tenant: Tenant,
    suggestions: list[Suggestion],
    above: float,
    by: str,
    client: ConnectWiseApi,
) -> list[Suggestion]:
    """Save every suggestion whose confidence is at least ``above``; returns those saved."""
    chosen = [s for s in suggestions if s.confidence >= above]
    for s in chosen:
        accept(session, tenant=tenant, suggestion=s, by=by, client=client)
    return chosen
