"""HaloPSA as a billing target: per company (and product), a client subscription's absolute count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.halopsa import HaloPSAClient
from seatsync.db.models import Company, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import ConfigurationError
from seatsync.push.intents import Pending
from seatsync.push.reports import rebuild_report
from seatsync.services import halopsa_connection as halo
from seatsync.services import halopsa_mappings, psa_mappings
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
from seatsync.targets.halopsa import push


def _check(result: halo.ConnectionResult) -> ConnectionCheck:
    rights = tuple(RightCheck(c.setting, c.status.value, c.detail) for c in result.checks)
    return ConnectionCheck(result.status.value, result.reason, rights)


class HaloPSATarget:
    key = "halopsa"
    label = "HaloPSA"
    queue = "default"
    scheduled = False
    schedule_day = 1

    def default_period(self, current: BillingPeriod) -> BillingPeriod:
        return current  # the month in progress, as the other PSAs

    def rate_limit_key(self, settings: Settings, tenant_id: int) -> str:
        return f"halopsa:tenant:{tenant_id}"  # hosted Halo counts requests per instance, i.e. per tenant

    def concurrency(self, settings: Settings) -> int:
        return 4  # the rolling limit, not threads, bounds a push; a few hide the round trips

    def check_options(self, options: PushOptions) -> None:
        # dry run, retry failed and force all apply; not skip invoiced:
        refuse_skip_invoiced(
            self.key, options, "HaloPSA's subscriptions carry no invoice dates seatsync could compare with the period"
        )

    # -- connection

    def connect(
        self, session: Session, *, tenant: Tenant, credentials: Mapping[str, str], settings: Settings
    ) -> ConnectionCheck:
        result = halo.connect(
            session,
            tenant=tenant,
            url=credentials["url"],
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            auth_url=credentials.get("auth_url") or None,
            halo_tenant=credentials.get("halo_tenant") or None,
            settings=settings,
        )
        return _check(result)

    def check(self, session: Session, *, tenant: Tenant, settings: Settings) -> ConnectionCheck:
        return _check(halo.check_connection(session, tenant=tenant, settings=settings))

    def disconnect(self, session: Session, *, tenant: Tenant) -> Disconnected:
        return Disconnected(halo.disconnect(session, tenant=tenant), "the client secret is forgotten")

    def connected_since(self, session: Session, *, tenant: Tenant) -> datetime | None:
        found = halo.integration(session, tenant=tenant)
        if found is None or found.status != halo.IntegrationStatus.CONNECTED or found.secret is None:
            return None
        return found.connected_at or found.checked_at

    def require_connection(self, session: Session, *, tenant: Tenant, settings: Settings) -> None:
        halo.client_for(session, tenant=tenant, settings=settings).close()  # says how to connect when it cannot

    def mark_broken(self, session: Session, *, tenant: Tenant, reason: str) -> None:
        found = halo.integration(session, tenant=tenant)
        if found is None:
            raise ConfigurationError(f"tenant {tenant.slug!r} is not connected to HaloPSA")
        found.status = halo.IntegrationStatus.BROKEN.value
        found.status_reason = reason
        session.flush()

    def client(
        self, session: Session, tenant: Tenant, *, settings: Settings, engine: Engine, shared_pacing: bool
    ) -> HaloPSAClient:
        from seatsync.jobs import observe

        options: dict[str, Any] = {"transport": observe.MeteredTransport("halopsa")}
        return halo.client_for(session, tenant=tenant, settings=settings, **options)

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
        tasks = push.load(session, tenant=tenant, period=options.period, scope=scope, attempts=dict(attempts))
        return Prepared(
            units=[t for t in tasks if t.complete], local=[push.local_result(t) for t in tasks if not t.complete]
        )

    def apply(self, client: Any, unit: Any, *, options: PushOptions, final: bool) -> RowResult:
        return push.push_one(client, unit, options)

    def read_back(self, client: Any, pending: Pending) -> RowResult:
        return push.read_back(client, pending)

    def not_sent(self, unit: Any, reason: str) -> RowResult:
        return push.not_sent(unit, reason)

    def conclude(self, client: Any, results: Sequence[RowResult], *, options: PushOptions) -> str | None:
        return None

    def record(self, session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
        push.record(session, run=run, results=results)

    def after_run(
        self, session: Session, *, tenant: Tenant, results: Sequence[RowResult], options: PushOptions
    ) -> None:
        return None

    def plan(self, session: Session, *, tenant: Tenant, period: BillingPeriod, client: Any) -> list[PlannedRow]:
        return push.preview(session, tenant=tenant, period=period, client=client)

    def evidence(self, session: Session, *, tenant: Tenant, run: PushRun, company_pk: int) -> Evidence | None:
        company = session.get(Company, company_pk)
        if company is None or company.tenant_id != tenant.id:
            return None
        report = rebuild_report(session, tenant=tenant, run=run, company=company)
        return Evidence(report.filename, report.content, report.sha256)

    # -- the mapper's choices: client, then a subscription of that client (HaloPSA has no contract level)

    def search_companies(self, session: Session, *, tenant: Tenant, query: str, limit: int) -> list[Choice]:
        found = psa_mappings.search_companies(session, tenant=tenant, target=self.key, query=query, limit=limit)
        return [Choice(c.remote_id, c.name, c.identifier or None, c.active) for c in found]

    def contracts(self, client: Any, *, company_id: str) -> list[Choice]:
        return []

    def items(self, client: Any, *, contract_id: str) -> list[Choice]:
        found = halopsa_mappings.subscriptions(client, client_id=int(contract_id), include_inactive=True)
        ordered = sorted(found, key=lambda s: (not s.active, s.name.casefold(), s.id))
        return [Choice(str(s.id), s.name, f"count {s.quantity}", s.active) for s in ordered]


TARGET = HaloPSATarget()

__all__ = ["TARGET", "HaloPSATarget"]
