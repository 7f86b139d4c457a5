"""What the PSA targets (Autotask, ConnectWise, HaloPSA) share, written once: ``PsaTarget`` answers the
connection half of ``BillingTarget`` through the PSA's ``services.<psa>_connection`` module and hands a pushed
item to its ``targets.<psa>.push`` module, and every PSA attaches the billable-user report as its evidence.

    class AutotaskTarget(PsaTarget[AutotaskClient]):
        key = "autotask" ...
        def __init__(self) -> None:
            super().__init__(autotask_connection, push, forgot="the secret is forgotten")

A target's package keeps what is its own: connecting with its credentials, preparing a run, its preview and its
mapper's choices (and overrides anything here its PSA does differently). ``BillingTarget`` stays the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.models import Company, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push.reports import rebuild_report
from seatsync.services import psa_connection
from seatsync.services.psa_connection import IntegrationStatus, RightStatus
from seatsync.targets.base import ConnectionCheck, Disconnected, Evidence, PushOptions, RightCheck, RowResult


class Closable(Protocol):
    def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=Closable)
ClientT_co = TypeVar("ClientT_co", bound=Closable, covariant=True)
ClientT_contra = TypeVar("ClientT_contra", contravariant=True)


class CheckedRight(Protocol):
    """One right or permission as a PSA's check found it (its ``PermissionCheck`` or ``RightCheck``)."""

    @property
    def setting(self) -> str: ...

    @property
    def status(self) -> RightStatus: ...

    @property
    def detail(self) -> str: ...


class CheckResult(Protocol):
    """A PSA's ``ConnectionResult``."""

    @property
    def status(self) -> IntegrationStatus: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def checks(self) -> Sequence[CheckedRight]: ...


class PsaConnection(Protocol[ClientT_co]):
    """What a ``services.<psa>_connection`` module offers its target."""

    KIND: str

    def check_connection(
        self, session: Session, *, tenant: Tenant, settings: Settings | None = None
    ) -> CheckResult: ...

    def disconnect(self, session: Session, *, tenant: Tenant) -> bool: ...

    def client_for(
        self, session: Session, *, tenant: Tenant, settings: Settings | None = None, **client_options: Any
    ) -> ClientT_co: ...


class PsaPush(Protocol[ClientT_contra]):
    """What a ``targets.<psa>.push`` module offers its target: one item pushed, or not sent (each target reads
    an item back itself, ``push.intents.ReadsBack``)."""

    def push_one(self, client: ClientT_contra, unit: Any, options: PushOptions, /) -> RowResult: ...

    def not_sent(self, unit: Any, reason: str, /) -> RowResult: ...


def connection_check(result: CheckResult) -> ConnectionCheck:
    """A PSA's check as the seam says it: the status, the reason and every right it checked."""
    rights = tuple(RightCheck(c.setting, c.status.value, c.detail) for c in result.checks)
    return ConnectionCheck(result.status.value, result.reason, rights)


class PsaTarget(Generic[ClientT]):
    """The ``BillingTarget`` methods the PSAs answer alike; a subclass sets the target's attributes and the rest."""

    key: str
    #: no monthly schedule by default: pushed from the web, the CLI or a job, or as a tenant sets it
    #: (``seatsync schedule set``)
    scheduled = False
    schedule_day = 1

    def __init__(self, connection: PsaConnection[ClientT], push: PsaPush[ClientT], *, forgot: str) -> None:
        self.connection = connection
        self.push = push
        #: what a disconnect says it forgot ("the secret is forgotten")
        self.forgot = forgot

    def default_period(self, current: BillingPeriod) -> BillingPeriod:
        return current  # the month in progress: the PSAs bill it at the end of the month

    def rate_limit_key(self, settings: Settings, tenant_id: int) -> str:
        # each PSA counts requests per tenant: Autotask per database, ConnectWise per API member, Halo per instance
        return f"{self.key}:tenant:{tenant_id}"

    # -- connection

    def check(self, session: Session, *, tenant: Tenant, settings: Settings) -> ConnectionCheck:
        return connection_check(self.connection.check_connection(session, tenant=tenant, settings=settings))

    def disconnect(self, session: Session, *, tenant: Tenant) -> Disconnected:
        return Disconnected(self.connection.disconnect(session, tenant=tenant), self.forgot)

    def connected_since(self, session: Session, *, tenant: Tenant) -> datetime | None:
        found = psa_connection.integration_of(session, tenant, self.connection.KIND)
        if found is None or not psa_connection.working(found):
            return None
        return found.connected_at or found.checked_at

    def require_connection(self, session: Session, *, tenant: Tenant, settings: Settings) -> None:
        self.connection.client_for(session, tenant=tenant, settings=settings).close()  # says how to connect

    def mark_broken(self, session: Session, *, tenant: Tenant, reason: str) -> None:
        psa_connection.mark_broken(session, tenant=tenant, kind=self.connection.KIND, reason=reason)

    def client(
        self, session: Session, tenant: Tenant, *, settings: Settings, engine: Engine, shared_pacing: bool
    ) -> ClientT:
        from seatsync.jobs import observe

        options = self.shared_pacing(tenant, settings=settings, engine=engine) if shared_pacing else {}
        transport = observe.MeteredTransport(self.key)
        return self.connection.client_for(session, tenant=tenant, settings=settings, transport=transport, **options)

    def shared_pacing(self, tenant: Tenant, *, settings: Settings, engine: Engine) -> dict[str, Any]:
        """The client options that pace its requests cluster-wide (``client(shared_pacing=True)``); none: the
        tenant's pacing in this process is the PSA's own (Autotask's hourly budget reads the PSA's count)."""
        return {}

    # -- pushing

    def apply(self, client: Any, unit: Any, *, options: PushOptions, final: bool) -> RowResult:
        return self.push.push_one(client, unit, options)

    def not_sent(self, unit: Any, reason: str) -> RowResult:
        return self.push.not_sent(unit, reason)

    def conclude(self, client: Any, results: Sequence[RowResult], *, options: PushOptions) -> str | None:
        return None

    def after_run(
        self, session: Session, *, tenant: Tenant, results: Sequence[RowResult], options: PushOptions
    ) -> None:
        return None

    def evidence(self, session: Session, *, tenant: Tenant, run: PushRun, company_pk: int) -> Evidence | None:
        """The billable-user report ``run`` attached for the company, rebuilt."""
        company = session.get(Company, company_pk)
        if company is None or company.tenant_id != tenant.id:
            return None
        report = rebuild_report(session, tenant=tenant, run=run, company=company)
        return Evidence(report.filename, report.content, report.sha256)


__all__ = [
    "CheckResult",
    "CheckedRight",
    "Closable",
    "PsaConnection",
    "PsaPush",
    "PsaTarget",
    "connection_check",
]
