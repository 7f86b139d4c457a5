"""What happens after a push run finished (``seatsync.push.engine.on_run_finished``)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.config import Settings, get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushResult, PushRun, Tenant
from seatsync.domain.approvals import change
from seatsync.notify import CompanyLine, Event, EventKind
from seatsync.push import engine as push_engine
from seatsync.push.runs import Outcome
from seatsync.services import notifications, tickets

log = logging.getLogger(__name__)


def waiting_event(session: Session, *, run: PushRun, settings: Settings) -> Event | None:
    """The event of a run that held rows for approval; None when it held none."""
    rows = session.execute(
        select(
            Company.company_id, Company.name, PushResult.quantity_before, PushResult.quantity_after, PushResult.product
        )
        .join(Company, Company.id == PushResult.company_pk)
        .where(PushResult.run_id == run.id, PushResult.outcome == Outcome.AWAITING_APPROVAL.value)
        .order_by(Company.company_id, PushResult.product)
    ).all()
    if not rows:
        return None
    tenant = session.get(Tenant, run.tenant_id)
    assert tenant is not None
    name = notifications.TARGET_NAMES.get(run.target, run.target)
    plural = "s" if len(rows) != 1 else ""
    return Event(
        kind=EventKind.AWAITING_APPROVAL,
        tenant=tenant.slug,
        title=f"{len(rows)} row{plural} of the {name} push of {run.period} wait{'' if plural else 's'} for approval",
        advice="Their change is over the approval threshold: approve or reject them on the Approvals page "
        f"(or `seatsync approve {run.id} --tenant {tenant.slug}`). The other rows were sent.",
        key=f"run:{run.id}:approval",
        target=run.target,
        period=run.period,
        run_id=run.id,
        link=f"{settings.public_url.rstrip('/')}/approvals",
        companies=tuple(
            CompanyLine(cid, cname, f"{product + ': ' if product else ''}{change(before, after or 0.0).describe()}")
            for cid, cname, before, after, product in rows
        ),
    )


def run_finished(finished: push_engine.FinishedRun, *, settings: Settings | None = None) -> None:
    """Tell people, and open, update or close tickets. Nothing here can change the run."""
    if finished.options.dry_run:
        return
    settings = settings or get_settings()
    engine = finished.engine
    notifications.notify_run_finished(engine, settings=settings, run_id=finished.run_id)
    with transaction(engine) as session:
        run = session.get(PushRun, finished.run_id)
        waiting = waiting_event(session, run=run, settings=settings) if run is not None else None
    if waiting is not None:
        notifications.deliver(engine, settings=settings, tenant_id=finished.tenant_id, event=waiting)
    report = tickets.sync_tickets(engine, settings=settings, run_id=finished.run_id)
    for problem in report.errors:
        log.warning("service-desk ticket for run %s: %s", finished.run_id, problem)


def install() -> None:
    """Hang ``run_finished`` on the engine (idempotent)."""
    push_engine.on_run_finished(run_finished)
