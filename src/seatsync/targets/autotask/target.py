"""Autotask PSA as a billing target: per company and item, a recurring-service contract service's units on the
period's first day, adjusted by the difference, and the billable-user report on a contract note."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.autotask import DEFAULT_ZONE_URL, ENDPOINT_CONCURRENCY, AutotaskClient
from seatsync.db.models import PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import AuthenticationFailed
from seatsync.push.intents import Pending
from seatsync.services import autotask_connection as at
from seatsync.services import autotask_mappings
from seatsync.targets.autotask import push
from seatsync.targets.base import (
    Choice,
    ConnectionCheck,
    ItemKey,
    PlannedRow,
    Prepared,
    PushOptions,
    RowResult,
    Scope,
    refuse_skip_invoiced,
)
from seatsync.targets.psa import PsaTarget, connection_check


class AutotaskTarget(PsaTarget[AutotaskClient]):
    key = "autotask"
    label = "Autotask"
    queue = "autotask"

    def __init__(self) -> None:
        super().__init__(at, push, forgot="the secret is forgotten")

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
        return connection_check(result)

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

    def read_back(self, client: Any, pending: Pending) -> RowResult:
        return push.read_back(client, pending)

    def record(self, session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
        push.confirm(session, run=run, results=results)

    def plan(self, session: Session, *, tenant: Tenant, period: BillingPeriod, client: Any) -> list[PlannedRow]:
        work = push.load(session, tenant=tenant, period=period, with_reports=False)
        with ThreadPoolExecutor(ENDPOINT_CONCURRENCY, thread_name_prefix="autotask-preview") as pool:
            push.read_ahead(client, work, pool, notes=False)
        return push.preview_rows(client, work)

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
