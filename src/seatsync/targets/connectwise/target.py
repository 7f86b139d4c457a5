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
from seatsync.db.models import PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import AuthenticationFailed
from seatsync.push.intents import Pending
from seatsync.services import connectwise_connection as cw
from seatsync.services import mappings
from seatsync.targets.base import (
    Choice,
    ConnectionCheck,
    ItemKey,
    ItemRef,
    PlannedRow,
    Prepared,
    PushOptions,
    RowResult,
    Scope,
)
from seatsync.targets.connectwise import push
from seatsync.targets.psa import PsaTarget, connection_check


class ConnectWiseTarget(PsaTarget[ConnectWiseApi]):
    key = "connectwise"
    label = "ConnectWise"
    queue = "connectwise"

    def __init__(self) -> None:
        super().__init__(cw, push, forgot="the keys are forgotten")

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
        return connection_check(result)

    def shared_pacing(self, tenant: Tenant, *, settings: Settings, engine: Engine) -> dict[str, Any]:
        from seatsync.jobs.limiter import connectwise_limiter

        return {"rate_limiter": connectwise_limiter(engine, settings, tenant.id)}

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

    def read_back(self, client: Any, pending: Pending) -> RowResult:
        return push.read_back(client, pending)

    def record(self, session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
        push.confirm(session, run=run, results=results)

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
