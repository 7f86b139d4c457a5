"""ConnectWise Manage as a billing target: per company, an agreement addition's quantity and an attached report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.connectwise.api import ConnectWiseApi
from seatsync.db.models import Company, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import AuthenticationFailed
from seatsync.push.intents import Pending
from seatsync.push.reports import rebuild_report
from seatsync.services import connectwise_connection as cw
from seatsync.services import mappings
from seatsync.targets.base import (
    Choice,
    ConnectionCheck,
    Disconnected,
    Evidence,
    ItemKey,
    ItemRef,
    PlannedRow,
    Prepared,
    PushOptions,
    RightCheck,
    RowResult,
    Scope,
)
from seatsync.targets.connectwise import push


def _check(result: cw.ConnectionResult) -> ConnectionCheck:
    rights = tuple(RightCheck(c.setting, c.status.value, c.detail) for c in result.checks)
    return ConnectionCheck(result.status.value, result.reason, rights)


class ConnectWiseTarget:
    key = "connectwise"
    label = "ConnectWise"
    queue = "connectwise"
    #: pushed from the web, the CLI or a job (no monthly schedule of its own yet)
    scheduled = False
    schedule_day = 1

    def default_period(self, current: BillingPeriod) -> BillingPeriod:
        return current  # the month in progress: ConnectWise bills it at the end of the month

    def rate_limit_key(self, settings: Settings, tenant_id: int) -> str:
        return f"connectwise:tenant:{tenant_id}"  # each site counts requests per API member, i.e. per tenant

    def concurrency(self, settings: Settings) -> int:
        return max(1, settings.connectwise_concurrency)

    def check_options(self, options: PushOptions) -> None:
        return None  # every option: dry run, retry failed, force, skip invoiced (the agreement's next invoice)

    # -- connection

    def connect(
        self, session: Session, *, tenant: Tenant, credentials: Mapping[str, str], settings: Settings
    ) -> ConnectionCheck:
        result = cw.connect(
            session,
            tenant=tenant,
            site=credentials["site"],
            company_id=credentials["company_id"],
            public_key=credentials["public_key"],
            private_key=credentials["private_key"],
            client_id=credentials.get("client_id"),
            settings=settings,
        )
        return _check(result)

    def check(self, session: Session, *, tenant: Tenant, settings: Settings) -> ConnectionCheck:
        return _check(cw.check_connection(session, tenant=tenant, settings=settings))

    def disconnect(self, session: Session, *, tenant: Tenant) -> Disconnected:
        found = cw.get_integration(session, tenant=tenant)
        was = found is not None and found.secret is not None  # before: disconnect changes this very row
        cw.disconnect(session, tenant=tenant)
        return Disconnected(was, "the keys are forgotten")

    def connected_since(self, session: Session, *, tenant: Tenant) -> datetime | None:
        found = cw.get_integration(session, tenant=tenant)
        if found is None or found.status != cw.IntegrationStatus.CONNECTED or found.secret is None:
            return None
        return found.connected_at or found.checked_at

    def require_connection(self, session: Session, *, tenant: Tenant, settings: Settings) -> None:
        cw.client_for(session, tenant=tenant, settings=settings).close()  # says how to connect when it cannot

    def mark_broken(self, session: Session, *, tenant: Tenant, reason: str) -> None:
        cw.mark_broken(session, tenant=tenant, reason=reason)

    def client(
        self, session: Session, tenant: Tenant, *, settings: Settings, engine: Engine, shared_pacing: bool
    ) -> ConnectWiseApi:
        from seatsync.jobs import observe
        from seatsync.jobs.limiter import connectwise_limiter

        options: dict[str, Any] = {"transport": observe.MeteredTransport("connectwise")}
        if shared_pacing:
            options["rate_limiter"] = connectwise_limiter(engine, settings, tenant.id)
        client: ConnectWiseApi = cw.client_for(session, tenant=tenant, settings=settings, **options)
        return client

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
        work = push.load(session, tenant=tenant, period=options.period, scope=scope, attempts=attempts)
        now = datetime.now(UTC)
        remote = [t for t in work.targets if t.complete]
        local = [push.local_result(t, now) for t in work.targets if not t.complete]
        try:
            push.read_ahead(client, work, pool)
        except AuthenticationFailed as exc:
            return Prepared(units=[push.Unit(t, {}, now) for t in remote], local=local, fatal=exc)
        return Prepared(units=[push.Unit(t, work.agreements, now, work.period_start) for t in remote], local=local)

    def apply(self, client: Any, unit: Any, *, options: PushOptions, final: bool) -> RowResult:
        return push.push_one(client, unit, options)

    def read_back(self, client: Any, pending: Pending) -> RowResult:
        return push.read_back(client, pending)

    def not_sent(self, unit: Any, reason: str) -> RowResult:
        return push.not_sent(unit, reason)

    def conclude(self, client: Any, results: Sequence[RowResult], *, options: PushOptions) -> str | None:
        return None

    def record(self, session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
        push.confirm(session, run=run, results=results)

    def after_run(
        self, session: Session, *, tenant: Tenant, results: Sequence[RowResult], options: PushOptions
    ) -> None:
        return None

    def plan(self, session: Session, *, tenant: Tenant, period: BillingPeriod, client: Any) -> list[PlannedRow]:
        return [
            PlannedRow(
                company=r.company,
                product=r.product,
                billable=r.billable,
                before=r.current_quantity,
                after=r.proposed_quantity,
                action=r.action,
                reason=r.reason,
                mapping=r.mapping_state.value,
                item=ItemRef(
                    company_id=str(r.cw_company_id) if r.cw_company_id is not None else None,
                    contract_id=str(r.agreement_id) if r.agreement_id is not None else None,
                    item_id=str(r.addition_id) if r.addition_id is not None else None,
                ),
            )
            for r in push.preview(session, tenant=tenant, period=period, client=client).rows
        ]

    def evidence(self, session: Session, *, tenant: Tenant, run: PushRun, company_pk: int) -> Evidence | None:
        company = session.get(Company, company_pk)
        if company is None or company.tenant_id != tenant.id:
            return None
        report = rebuild_report(session, tenant=tenant, run=run, company=company)
        return Evidence(report.filename, report.content, report.sha256)

    # -- the mapper's choices

    def search_companies(self, session: Session, *, tenant: Tenant, query: str, limit: int) -> list[Choice]:
        found = mappings.search_cw_companies(session, tenant=tenant, query=query, limit=limit)
        return [Choice(str(c.cw_id), c.name, c.identifier, not c.deleted) for c in found]

    def contracts(self, client: Any, *, company_id: str) -> list[Choice]:
        found = mappings.cw_agreements(client, cw_company=int(company_id))
        ordered = sorted(found, key=lambda a: (not a.active, a.name.lower(), a.id))
        return [Choice(str(a.id), a.name, a.agreement_status, a.active) for a in ordered]

    def items(self, client: Any, *, contract_id: str) -> list[Choice]:
        found = mappings.cw_additions(client, agreement=int(contract_id))
        ordered = sorted(found, key=lambda a: (a.cancelled, a.id))
        return [Choice(str(a.id), mappings.addition_name(a), None, not a.cancelled) for a in ordered]


TARGET = ConnectWiseTarget()

__all__ = ["TARGET", "ConnectWiseTarget"]
