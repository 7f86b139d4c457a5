"""Sending approved rows: a push of the held run's target and period that the engine's gate limits to them."""

from __future__ import annotations

from sqlalchemy import Engine

from seatsync.config import Settings
from seatsync.domain.periods import BillingPeriod
from seatsync.push import engine as push_engine
from seatsync.push.gate import approval_started_by
from seatsync.services.approvals import ApprovedRows, Sender
from seatsync.targets.base import PushOptions


def push_here(settings: Settings, *, clock: push_engine.Clock | None = None) -> Sender:
    """Push the approved rows in this process, to the end (the CLI)."""

    def send(engine: Engine, request: ApprovedRows) -> int:
        options = PushOptions(
            BillingPeriod.parse(request.period),
            started_by=approval_started_by(request.by, request.held_run_id),
            skip_invoiced=request.skip_invoiced,  # the options of the run that held the rows
        )
        return push_engine.push(
            engine, tenant_id=request.tenant_id, target=request.target, options=options, settings=settings, clock=clock
        )

    return send
