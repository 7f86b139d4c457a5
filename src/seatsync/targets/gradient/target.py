"""Gradient MSP as a billing target: per account (= company) and subscribed service, the month's unit count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.gradient import GradientClient
from seatsync.connectors.gradient.client import DEFAULT_URL
from seatsync.db.models import PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.planning import Action, CompanyRef
from seatsync.errors import AuthenticationFailed, ConnectorError, UnsupportedOption
from seatsync.push.runs import Outcome
from seatsync.services import gradient as gradient_service
from seatsync.targets.base import (
    Choice,
    ConnectionCheck,
    Disconnected,
    Evidence,
    ItemKey,
    PlannedRow,
    Prepared,
    PushOptions,
    RowResult,
    Scope,
    refuse_skip_invoiced,
)
from seatsync.targets.gradient import push


class GradientTarget:
    key = "gradient"
    label = "Gradient"
    queue = "gradient"
    #: the monthly schedule pushes the previous month on the 1st at 00:00 in the tenant's zone
    scheduled = True
    schedule_day = 1

    def default_period(self, current: BillingPeriod) -> BillingPeriod:
        return current.previous()  # usage is reported for a finished month

    def rate_limit_key(self, settings: Settings, tenant_id: int) -> str:
        from seatsync.jobs.limiter import gradient_key

        return gradient_key(gradient_service.configured_vendor_key(settings))  # one limit per vendor key

    def concurrency(self, settings: Settings) -> int:
        return max(1, settings.gradient_concurrency)

    def check_options(self, options: PushOptions) -> None:
        # dry run: nothing sent; retry failed: only failed (account, service) pairs; force: nothing is ever
        # blocked in Gradient (counts are set, there is no drift to guard), so it changes nothing and is honoured
        refuse_skip_invoiced(self.key, options, "Gradient takes unit counts per month and invoices nothing itself")

    # -- connection

    def connect(
        self, session: Session, *, tenant: Tenant, credentials: Mapping[str, str], settings: Settings
    ) -> ConnectionCheck:
        url = credentials.get("url") or DEFAULT_URL
        result = gradient_service.connect(session, tenant=tenant, token=credentials["token"], url=url)
        found = gradient_service.get_integration(session, tenant=tenant)
        status = found.status if found is not None else "disconnected"
        return ConnectionCheck(status, result.sync_error)

    def check(self, session: Session, *, tenant: Tenant, settings: Settings) -> ConnectionCheck:
        integration = gradient_service.connected_integration(session, tenant=tenant)
        try:
            with gradient_service.client_for(session, tenant=tenant) as client:
                client.get_organization()
        except AuthenticationFailed as exc:
            gradient_service.mark_broken(session, tenant=tenant, reason=str(exc))
            return ConnectionCheck("broken", str(exc))
        except ConnectorError as exc:
            return ConnectionCheck(integration.status, str(exc))
        gradient_service.mark_working(session, tenant=tenant)
        return ConnectionCheck(integration.status, integration.status_reason)

    def disconnect(self, session: Session, *, tenant: Tenant) -> Disconnected:
        found = gradient_service.get_integration(session, tenant=tenant)
        was = found is not None and found.status != gradient_service.ConnectionStatus.DISCONNECTED
        note = gradient_service.disconnect(session, tenant=tenant)
        told = "" if note or not was else " and Gradient knows the integration is inactive"
        return Disconnected(was, f"the partner token is forgotten{told}", note)

    def connected_since(self, session: Session, *, tenant: Tenant) -> datetime | None:
        found = gradient_service.get_integration(session, tenant=tenant)
        return found.connected_at if found is not None and gradient_service.is_connected(found) else None

    def require_connection(self, session: Session, *, tenant: Tenant, settings: Settings) -> None:
        gradient_service.connected_integration(session, tenant=tenant)

    def mark_broken(self, session: Session, *, tenant: Tenant, reason: str) -> None:
        gradient_service.mark_broken(session, tenant=tenant, reason=reason)

    def client(
        self, session: Session, tenant: Tenant, *, settings: Settings, engine: Engine, shared_pacing: bool
    ) -> GradientClient:
        from seatsync.jobs import observe
        from seatsync.jobs.limiter import gradient_limiter

        options: dict[str, Any] = {"transport": observe.MeteredTransport("gradient")}
        if shared_pacing:
            options["limiter"] = gradient_limiter(engine, settings, gradient_service.configured_vendor_key(settings))
        return gradient_service.client_for(session, tenant=tenant, **options)  # else the process-wide limiter

    # -- pushing

    def prepare(
        self,
        session: Session,
        *,
        tenant: Tenant,
        client: Any,
        options: PushOptions,
        scope: Scope | None,
        attempts: Mapping[ItemKey, int],
        pool: Executor,
    ) -> Prepared:
        fatal: ConnectorError | None = None
        note: str | None = None
        if not options.dry_run:
            try:
                # new companies become accounts before their counts are sent
                gradient_service.sync_accounts(session, tenant=tenant, client=client)
            except AuthenticationFailed as exc:
                fatal = exc  # marked broken in this session, committed with it
            except ConnectorError as exc:
                note = f"the accounts could not be brought up to date before pushing: {push.describe(exc)}"
        items = push.plan(session, tenant=tenant, period=options.period, scope=scope)
        return Prepared(units=list(items), note=note, fatal=fatal)

    def apply(self, client: Any, unit: Any, *, options: PushOptions, final: bool) -> RowResult:
        return push.send(client, unit, options=options, no_build=not final)  # the last one asks for the build

    def not_sent(self, unit: Any, reason: str) -> RowResult:
        return push.result(unit, Outcome.FAILED, reason)

    def conclude(self, client: Any, results: Sequence[RowResult], *, options: PushOptions) -> str | None:
        if not options.dry_run and not any(r.fatal for r in results):
            push.build(client, results)
        return None

    def record(self, session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
        return None

    def after_run(
        self, session: Session, *, tenant: Tenant, results: Sequence[RowResult], options: PushOptions
    ) -> None:
        if any(r.outcome is Outcome.SUCCEEDED for r in results):
            gradient_service.mark_working(session, tenant=tenant, active=True)

    def plan(self, session: Session, *, tenant: Tenant, period: BillingPeriod, client: Any) -> list[PlannedRow]:
        return [
            PlannedRow(
                company=CompanyRef(i.company_pk, i.company_id, i.company_name),
                product=i.product,
                billable=i.count,
                before=None,  # Gradient does not say what it holds: counts are set, not compared
                after=float(i.count),
                action=Action.UPDATE if i.service_id else Action.ERROR,
                reason=None if i.service_id else f"the Gradient service {i.service_name!r} is not registered",
            )
            for i in push.plan(session, tenant=tenant, period=period)
        ]

    def evidence(self, session: Session, *, tenant: Tenant, run: PushRun, company_pk: int) -> Evidence | None:
        return None  # Gradient takes counts only

    # -- the mapper's choices: accounts are mapped in Gradient's own Synthesize, not in seatsync

    def search_companies(self, session: Session, *, tenant: Tenant, query: str, limit: int) -> list[Choice]:
        raise UnsupportedOption(self.key, "mapping", "accounts are mapped in Synthesize, Gradient's own portal")

    def contracts(self, client: Any, *, company_id: str) -> list[Choice]:
        raise UnsupportedOption(self.key, "mapping", "accounts are mapped in Synthesize, Gradient's own portal")

    def items(self, client: Any, *, contract_id: str) -> list[Choice]:
        raise UnsupportedOption(self.key, "mapping", "accounts are mapped in Synthesize, Gradient's own portal")


TARGET = GradientTarget()

__all__ = ["TARGET", "GradientTarget"]
