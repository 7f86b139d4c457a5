"""The Gradient usage push: per account (= company) and subscribed service, SET the month's billable count.

    items = plan(session, tenant=t, period=p)                              # what would be sent; reads only

The one engine (``seatsync.push.engine``) drives it through ``seatsync.targets.gradient.TARGET``.

Order of work: first every non-archived company gets its account (``services.gradient.sync_accounts``: one
listing, creations in batches of 100, renames), then one ``POST /service/{id}/count`` per account and service,
with ``no_build=true`` on all but the last one, which is sent alone after the others finished. A few threads
send them under the process-wide limiter (Gradient's limit is per vendor key, so tenants pushing at once share
it); the client backs off on 429 (pausing every thread) and retries 5xx and dropped connections.

Outcomes per account and service: ``succeeded``; ``not_mapped`` (404: the MSP has not mapped the account or the
service in Synthesize; not a failure, the run still succeeds); ``failed`` (retries exhausted, other refusals).
A 401 marks the integration broken (the web page shows it), sends nothing more and fails the run.

Crash safety: counts are SET, so sending one again is harmless; each count's intent (the count, the account and
service) is committed before it is sent (``seatsync.push.intents``) and its result only after Gradient accepted
it. Gradient's API has no call that reads a count back, so a count whose answer may hide its effect (a 5xx, a
lost answer) is recorded ``unconfirmed``, and so is a count a killed run sent without recording it (the next run
writes it on the killed run): never claimed as accepted, never lost from History; *retry failed* re-sends both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.connectors.gradient import GradientClient, NotMappedInGradient
from seatsync.db.models import Company, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.planning import CompanyRef
from seatsync.errors import AuthenticationFailed, ConnectorError, RateLimited, RetriableError, maybe_applied
from seatsync.push import intents
from seatsync.push.runs import Outcome
from seatsync.services import gradient as gradient_service
from seatsync.services.billing import count_billable
from seatsync.targets.base import PushOptions, RowResult, Scope

log = logging.getLogger(__name__)

NOT_MAPPED = "not mapped in Gradient (map the account and the service in Synthesize; it is pushed once mapped)"
SERVICE_NAMES = {spec.product: spec.name for spec in gradient_service.SERVICES}


@dataclass(frozen=True, slots=True)
class Item:
    """One count to send: an account (the company) and one service it subscribes to."""

    company_pk: int
    company_id: str
    company_name: str
    product: str
    #: None when the service of this product is not registered in Gradient (reconnect to register it)
    service_id: str | None
    count: int

    @property
    def service_name(self) -> str:
        return SERVICE_NAMES.get(self.product, self.product)


def plan(session: Session, *, tenant: Tenant, period: BillingPeriod, scope: Scope | None = None) -> list[Item]:
    """Every non-archived company's count for each service it subscribes to (0 without users, never null),
    by company id then service. Reads only the database."""
    integration = gradient_service.connected_integration(session, tenant=tenant)
    services = gradient_service.service_ids(integration)
    archived = set(session.scalars(select(Company.id).where(Company.tenant_id == tenant.id, Company.archived)))
    order = list(SERVICE_NAMES)
    items: list[Item] = []
    for c in count_billable(session, tenant=tenant, period=period):
        if c.company_pk in archived:
            continue
        for product in sorted(c.products, key=lambda p: order.index(p) if p in order else len(order)):
            if scope is not None and not scope((c.company_pk, product.value)):
                continue
            items.append(
                Item(c.company_pk, c.company_id, c.name, product.value, services.get(product.value), c.billable_users)
            )
    return items


def describe(exc: ConnectorError) -> str:
    """A reason a person can act on, never a bare status code."""
    if isinstance(exc, RateLimited):
        return "Gradient kept refusing requests as too many (429); push again later (counts are set, not added)"
    if isinstance(exc, RetriableError):
        return f"{exc.message}; push again (counts are set, not added, so re-sending is harmless)"
    return exc.message


def result(
    item: Item, outcome: Outcome, reason: str | None = None, *, fatal: ConnectorError | None = None
) -> RowResult:
    sent = item.service_id is not None and outcome is not Outcome.PLANNED
    return RowResult(
        company=CompanyRef(item.company_pk, item.company_id, item.company_name),
        product=item.product,
        outcome=outcome,
        billable=item.count,
        after=float(item.count) if outcome in (Outcome.SUCCEEDED, Outcome.PLANNED, Outcome.UNCONFIRMED) else None,
        reason=reason,
        sent=sent,
        fatal=fatal,
        columns={"service": item.service_id, "remote_id": item.company_id},
        memo=item,
    )


def send(client: GradientClient, item: Item, *, options: PushOptions, no_build: bool) -> RowResult:
    """SET one account's count of one service (a dry run says it would)."""
    if item.service_id is None:
        return result(
            item,
            Outcome.FAILED,
            f"the Gradient service {item.service_name!r} is not registered: connect Gradient again "
            "(`seatsync connect gradient`) to register it",
        )
    if options.dry_run:
        return result(item, Outcome.PLANNED)
    ids = {"service": item.service_id, "remote_id": item.company_id}
    intents.declare(intents.Intent(item.company_pk, item.product, None, float(item.count), item.count, item=ids))
    try:
        client.set_unit_count(item.service_id, item.company_id, item.count, no_build=no_build)
    except NotMappedInGradient:
        return result(item, Outcome.NOT_MAPPED, NOT_MAPPED)
    except AuthenticationFailed as exc:
        return result(item, Outcome.FAILED, str(exc), fatal=exc)
    except ConnectorError as exc:
        if maybe_applied(exc):
            said = (
                f"sent, but Gradient's answer was lost or unreadable ({exc.message}); Gradient offers no way to read "
                "a count back, so it is unconfirmed: push again (counts are set, not added)"
            )
            return result(item, Outcome.UNCONFIRMED, said)
        return result(item, Outcome.FAILED, describe(exc))
    return result(item, Outcome.SUCCEEDED)


def build(client: GradientClient, results: Sequence[RowResult]) -> None:
    """The last call did not go through, so Gradient was not asked to build: send an accepted count again
    without ``no_build`` (it is set, not added, so nothing changes but the build)."""
    accepted = [r.memo for r in results if r.outcome is Outcome.SUCCEEDED and isinstance(r.memo, Item)]
    if not results or results[-1].outcome is Outcome.SUCCEEDED or not accepted:
        return
    item = accepted[-1]
    assert item.service_id is not None
    try:
        client.set_unit_count(item.service_id, item.company_id, item.count, no_build=False)
    except ConnectorError as exc:
        log.warning("Gradient was not asked to build after the push: %s", exc)


__all__ = ["NOT_MAPPED", "SERVICE_NAMES", "Item", "build", "describe", "plan", "send"]
