"""HaloPSA as a billing target: per company (and product), a client subscription's absolute count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.halopsa import HaloPSAClient
from seatsync.db.models import PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import ConfigurationError
from seatsync.push.intents import Pending
from seatsync.services import halopsa_connection as halo
from seatsync.services import halopsa_mappings, psa_mappings
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
from seatsync.targets.halopsa import push
from seatsync.targets.psa import PsaTarget, connection_check


class HaloPSATarget(PsaTarget[HaloPSAClient]):
    key = "halopsa"
    label = "HaloPSA"
    queue = "default"

    def __init__(self) -> None:
        super().__init__(halo, push, forgot="the client secret is forgotten")

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
        return connection_check(result)

    def mark_broken(self, session: Session, *, tenant: Tenant, reason: str) -> None:
        # HaloPSA's own: a tenant with no HaloPSA row is an error here (PsaTarget's marks nothing), checked_at stays
        found = halo.integration(session, tenant=tenant)
        if found is None:
            raise ConfigurationError(f"tenant {tenant.slug!r} is not connected to HaloPSA")
        found.status = halo.IntegrationStatus.BROKEN.value
        found.status_reason = reason
        session.flush()

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

    def read_back(self, client: Any, pending: Pending) -> RowResult:
        return push.read_back(client, pending)

    def record(self, session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
        push.record(session, run=run, results=results)

    def plan(self, session: Session, *, tenant: Tenant, period: BillingPeriod, client: Any) -> list[PlannedRow]:
        return push.preview(session, tenant=tenant, period=period, client=client)

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
