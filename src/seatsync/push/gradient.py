"""The Gradient push, as callers used it before the target seam: thin names over the one engine
(``seatsync.push.engine``) and the Gradient target (``seatsync.targets.gradient``).

    items = plan(session, tenant=t, period=p)                                       # what would be sent
    run_id = run_gradient_push(engine, tenant_id=t.id, period=p, started_by="cli")  # from any process
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.connectors.gradient import GradientClient
from seatsync.db.models import Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push import engine as push_engine
from seatsync.push.engine import Clock, Progress
from seatsync.services import gradient as gradient_service
from seatsync.targets.base import PushOptions
from seatsync.targets.gradient.push import NOT_MAPPED, SERVICE_NAMES, Item, plan

KEY = "gradient"
ClientFactory = Callable[[Session, Tenant], GradientClient]


def default_client_factory(session: Session, tenant: Tenant) -> GradientClient:
    return gradient_service.client_for(session, tenant=tenant)  # the shared, process-wide limiter


def run_gradient_push(
    engine: Engine,
    *,
    tenant_id: int,
    period: BillingPeriod,
    started_by: str,
    client_factory: ClientFactory | None = None,
    progress: Progress | None = None,
    concurrency: int | None = None,
    dry_run: bool = False,
    retry_failed: bool = False,
    force: bool = False,
    clock: Clock | None = None,
    approve_over_threshold: bool = False,
) -> int:
    """Push ``period``'s billable counts of one tenant to Gradient; returns the run id.

    Raises ``ConfigurationError`` when Gradient is not connected and ``Conflict`` while another Gradient push
    of the tenant is running; any other outcome is in the run and its results.
    """
    options = PushOptions(
        period,
        dry_run=dry_run,
        retry_failed=retry_failed,
        force=force,
        started_by=started_by,
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


__all__ = [
    "NOT_MAPPED",
    "SERVICE_NAMES",
    "ClientFactory",
    "Item",
    "default_client_factory",
    "plan",
    "run_gradient_push",
]
