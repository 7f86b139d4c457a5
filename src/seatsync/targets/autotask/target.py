"""Autotask PSA as a billing target: per company and item, a recurring-service contract service's units on the
period's first day, adjusted by the difference, and the billable-user report on a contract note."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.autotask import DEFAULT_ZONE_URL, ENDPOINT_CONCURRENCY, AutotaskClient
from seatsync.db.models import Company, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import AuthenticationFailed
from seatsync.push.intents import Pending
from seatsync.push.reports import rebuild_report
from seatsync.services import autotask_connection as at
from seatsync.services import autotask_mappings
from seatsync.targets.autotask import push
from seatsync.targets.base import (
    Choice,
    ConnectionCheck,
    Disconnected,
    Evidence,
    ItemKey,
    PlannedRow,
    Prepared,
    PushOptions,
    RightCheck,
    RowResult,
    Scope,
    refuse_skip_invoiced,
)


def _check(result: at.ConnectionResult) -> ConnectionCheck:
    rights = tuple(RightCheck(c.setting, c.status.value, c.detail) for c in result.checks)
    return ConnectionCheck(result.status.value, result.reason, rights)


class AutotaskTarget:
    key = "autotask"
    label = "Autotask"
    queue = "autotask"
    #: pushed from the web, the CLI or a job (its own monthly schedule through ``seatsync schedule``)
    scheduled = False
    schedule_day = 1

    def default_period(self, current: BillingPeriod) -> BillingPeriod:
        return current  # the PSAs: the month in progress

    def rate_limit_key(self, settings: Settings, tenant_id: int) -> str:
        return f"autotask:tenant:{tenant_id}"  # Autotask counts requests per database, i.e. per tenant

    def concurrency(self, settings: Settings) -> int:
        return ENDPOINT_CONCURRENCY  # Autotask's thread limit per endpoint

    def check_options(self, options: PushOptions) -> None:
        # every option: dry run, retry failed, force; not skip invoiced:
        refuse_skip_invoiced(
            self.key,
            options,
            "Autotask says which periods it approved and posted (those rows are never changed), not which are invoiced",
        )

    # -- connection

    def connect(
        self, session: Session, *, tenant: Tenant, credentials: Mapping[str, str], settings: Settings
    ) -> ConnectionCheck:
        result = at.connect(
            session,
            tenant=tenant,
            username=credentials["username"],
            secret=credentials["secret"],
            integration_code=credentials["integration_code"],
            zone_url=credentials.get("zone_url") or DEFAULT_ZONE_URL,
            settings=settings,
        )
        return _check(result)

    def check(self, session: Session, *, tenant: Tenant, settings: Settings) -> ConnectionCheck:
        return _check(at.check_connection(session, tenant=tenant, settings=settings))

    def disconnect(self, session: Session, *, tenant: Tenant) -> Disconnected:
        return Disconnected(at.disconnect(session, tenant=tenant), "the secret is forgotten")

    def connected_since(self, session: Session, *, tenant: Tenant) -> datetime | None:
        found = at.get_integration(session, tenant=tenant)
        if found is None or found.status != at.IntegrationStatus.CONNECTED or found.secret is None:
            return None
        return found.connected_at or found.checked_at

    def require_connection(self, session: Session, *, tenant: Tenant, settings: Settings) -> None:
        at.client_for(session, tenant=tenant, settings=settings).close()  # says how to connect when it cannot

    def mark_broken(self, session: Session, *, tenant: Tenant, reason: str) -> None:
        at.mark_broken(session, tenant=tenant, reason=reason)

    def client(
        self, session: Session, tenant: Tenant, *, settings: Settings, engine: Engine, shared_pacing: bool
    ) -> AutotaskClient:
        from seatsync.jobs import observe

        # the hourly budget reads Autotask's own count of the MSP's requests: it is shared by every worker as is
        return at.client_for(session, tenant=tenant, settings=settings, transport=observe.MeteredTransport("autotask"))

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
        remote = [t for t in work.tasks if t.complete]
        local = [push.local_result(t) for t in work.tasks if not t.complete]
        try:
            push.read_ahead(client, work, pool, notes=not options.dry_run)
        except AuthenticationFailed as exc:
            return Prepared(units=[push.Unit(t, work) for t in remote], local=local, fatal=exc)
        return Prepared(units=[push.Unit(t, work) for t in remote], local=local)

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
        work = push.load(session, tenant=tenant, period=period, with_reports=False)
        with ThreadPoolExecutor(ENDPOINT_CONCURRENCY, thread_name_prefix="autotask-preview") as pool:
            push.read_ahead(client, work, pool, notes=False)
        return push.preview_rows(client, work)

    def evidence(self, session: Session, *, tenant: Tenant, run: PushRun, company_pk: int) -> Evidence | None:
        company = session.get(Company, company_pk)
        if company is None or company.tenant_id != tenant.id:
            return None
        report = rebuild_report(session, tenant=tenant, run=run, company=company)
        return Evidence(report.filename, report.content, report.sha256)

    # -- the mapper's choices

    def search_companies(self, session: Session, *, tenant: Tenant, query: str, limit: int) -> list[Choice]:
        found = autotask_mappings.search_companies(session, tenant=tenant, query=query, limit=limit)
        return [Choice(c.remote_id, c.name, c.identifier or None, c.active) for c in found]

    def contracts(self, client: Any, *, company_id: str) -> list[Choice]:
        found = autotask_mappings.contracts(client, at_company=int(company_id))
        return [Choice(str(c.id), c.contract_name, c.contract_number, c.active) for c in found]

    def items(self, client: Any, *, contract_id: str) -> list[Choice]:
        found = autotask_mappings.contract_services(client, contract=int(contract_id))
        return [Choice(str(s.id), s.name, f"service {s.service_id}") for s in found]


TARGET = AutotaskTarget()

__all__ = ["TARGET", "AutotaskTarget"]
