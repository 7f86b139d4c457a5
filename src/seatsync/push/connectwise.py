"""The ConnectWise push, as callers used it before the target seam: thin names over the one engine
(``seatsync.push.engine``) and the ConnectWise target (``seatsync.targets.connectwise``).

    plan = preview(session, tenant=t, period=p, client=client)             # reads only
    run_id = run_push(engine, tenant_id=t.id, period=p, started_by="cli")   # from any process
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.connectors.connectwise.api import ConnectWiseApi
from seatsync.db.models import Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push import engine as push_engine
from seatsync.push.engine import Clock, Progress
from seatsync.targets.base import PushOptions
from seatsync.targets.connectwise.push import ClientFactory, describe, preview

KEY = "connectwise"


def default_client_factory(session: Session, tenant: Tenant) -> ConnectWiseApi:
    from seatsync.services.connectwise_connection import client_for

    client: ConnectWiseApi = client_for(session, tenant=tenant)
    return client


def run_push(
    engine: Engine,
    *,
    tenant_id: int,
    period: BillingPeriod,
    client_factory: ClientFactory | None = None,
    started_by: str = "cli",
    force: bool = False,
    retry_failed: bool = False,
    dry_run: bool = False,
    skip_invoiced: bool = False,
    approve_over_threshold: bool = False,
    progress: Progress | None = None,
    concurrency: int | None = None,
    clock: Clock | None = None,
) -> int:
    """Push ``period``'s billable counts of one tenant to ConnectWise; returns the run id.

    ``force`` pushes blocked rows too; ``retry_failed`` re-runs only the companies that failed in the
    period's latest run; ``dry_run`` records a run whose rows say what would be done (outcome ``planned``)
    and sends nothing but reads; ``skip_invoiced`` leaves out (``skipped``, with the reason) the rows whose
    period the agreement has already invoiced.
    """
    options = PushOptions(
        period,
        dry_run=dry_run,
        retry_failed=retry_failed,
        force=force,
        started_by=started_by,
        skip_invoiced=skip_invoiced,
        approve_over_threshold=approve_over_threshold,
    )
    return push_engine.push(
        engine,
        tenant_id=tenant_id,
        target=KEY,
        options=options,
        client_factory=client_factory,  # None: the stored connection (checked before the run starts)
        progress=progress,
        concurrency=concurrency,
        clock=clock,
    )


__all__ = ["ClientFactory", "Progress", "default_client_factory", "describe", "preview", "run_push"]
