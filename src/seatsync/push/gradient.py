"""The Gradient usage push: per account (= company) and subscribed service, SET the month's billable count.

    items = plan(session, tenant=t, period=p)                              # what would be sent; reads only
    run_id = run_gradient_push(engine, tenant_id=t.id, period=p, started_by="cli")   # from any process

Order of work: first every non-archived company gets its account (``services.gradient.sync_accounts``: one
listing, creations in batches of 100, renames), then one ``POST /service/{id}/count`` per account and service,
with ``no_build=true`` on all but the last one, which is sent alone after the others finished. A few threads
send them under the process-wide limiter (Gradient's limit is per vendor key, so tenants pushing at once share
it); the client backs off on 429 (pausing every thread) and retries 5xx and dropped connections.

Outcomes per account and service: ``succeeded``; ``not_mapped`` (404: the MSP has not mapped the account or the
service in Synthesize; not a failure, the run still succeeds); ``failed`` (retries exhausted, other refusals).
A 401 marks the integration broken (the web page shows it), sends nothing more and fails the run.

Crash safety: counts are SET, so sending one again is harmless; a result is written only after Gradient accepted
it; a run whose process died is marked interrupted at the next start (``seatsync.push.runs``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from seatsync.config import get_settings
from seatsync.connectors.gradient import GradientClient, NotMappedInGradient
from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushResult, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import AuthenticationFailed, ConnectorError, NotFound, RateLimited, RetriableError
from seatsync.push import runs
from seatsync.push.runs import Outcome, Target
from seatsync.services import gradient as gradient_service
from seatsync.services.billing import count_billable

log = logging.getLogger(__name__)

ClientFactory = Callable[[Session, Tenant], GradientClient]
#: ``progress(done, total)`` after each batch of results is recorded
Progress = Callable[[int, int], None]

NOT_MAPPED = "not mapped in Gradient (map the account and the service in Synthesize; it is pushed once mapped)"
SERVICE_NAMES = {spec.product: spec.name for spec in gradient_service.SERVICES}


def default_client_factory(session: Session, tenant: Tenant) -> GradientClient:
    return gradient_service.client_for(session, tenant=tenant)  # the shared, process-wide limiter


@dataclass(frozen=True, slots=True)
class Item:
    """One count to send: an account (the company) and one service it subscribes to."""

    company_pk: int
    company_id: str
    company_name: str
    product: str
    #: None when the service of this product is not registered in Gradient (reconnect to register it)
    service_id: str | None
    count: int

    @property
    def service_name(self) -> str:
        return SERVICE_NAMES.get(self.product, self.product)


@dataclass(slots=True)
class ItemResult:
    item: Item
    outcome: Outcome
    reason: str | None = None


def plan(session: Session, *, tenant: Tenant, period: BillingPeriod) -> list[Item]:
    """Every non-archived company's count for each service it subscribes to (0 without users, never null),
    by company id then service. Reads only the database."""
    integration = gradient_service.connected_integration(session, tenant=tenant)
    services = gradient_service.service_ids(integration)
    archived = set(session.scalars(select(Company.id).where(Company.tenant_id == tenant.id, Company.archived)))
    order = list(SERVICE_NAMES)
    items: list[Item] = []
    for c in count_billable(session, tenant=tenant, period=period):
        if c.company_pk in archived:
            continue
        for product in sorted(c.products, key=lambda p: order.index(p) if p in order else len(order)):
            items.append(
                Item(c.company_pk, c.company_id, c.name, product.value, services.get(product.value), c.billable_users)
            )
    return items


def describe(exc: ConnectorError) -> str:
    """A reason a person can act on, never a bare status code."""
    if isinstance(exc, RateLimited):
        return "Gradient kept refusing requests as too many (429); push again later (counts are set, not added)"
    if isinstance(exc, RetriableError):
        return f"{exc.message}; push again (counts are set, not added, so re-sending is harmless)"
    return exc.message


def _record(session: Session, *, run_id: int, tenant_id: int, results: list[ItemResult], now: datetime) -> None:
    """One statement (executemany) per batch: the main thread keeps up with the senders."""
    if not results:
        return
    session.execute(
        insert(PushResult),
        [
            {
                "run_id": run_id,
                "tenant_id": tenant_id,
                "company_pk": r.item.company_pk,
                "product": r.item.product,
                "service": r.item.service_id,
                "outcome": r.outcome.value,
                "quantity_after": float(r.item.count) if r.outcome is Outcome.SUCCEEDED else None,
                "billable": r.item.count,
                "remote_id": r.item.company_id,
                "attempts": 1 if r.item.service_id is not None else 0,
                "reason": r.reason,
                "updated_at": now,
            }
            for r in results
        ],
    )


class _Pusher:
    """Sends the items of one run and records their results as they come."""

    def __init__(
        self,
        engine: Engine,
        *,
        run_id: int,
        tenant_id: int,
        client: GradientClient,
        total: int,
        progress: Progress | None,
    ) -> None:
        self.run_id = run_id
        self.tenant_id = tenant_id
        self.client = client
        self.recorder = runs.Recorder(engine, run_id=run_id)
        self.total = total
        self.done = 0
        self.progress = progress
        self.fatal: AuthenticationFailed | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        #: the items Gradient accepted, newest last (one is re-sent to trigger the build if the last call fails)
        self.accepted: list[Item] = []

    def stop(self, exc: AuthenticationFailed) -> None:
        with self._lock:
            self.fatal = self.fatal or exc
        self._stop.set()

    def send(self, item: Item, *, no_build: bool) -> ItemResult:
        if item.service_id is None:
            return ItemResult(
                item,
                Outcome.FAILED,
                f"the Gradient service {item.service_name!r} is not registered: connect Gradient again "
                "(`seatsync connect gradient`) to register it",
            )
        if self._stop.is_set():
            return ItemResult(item, Outcome.FAILED, f"not pushed: {self.fatal}")
        try:
            self.client.set_unit_count(item.service_id, item.company_id, item.count, no_build=no_build)
        except NotMappedInGradient:
            return ItemResult(item, Outcome.NOT_MAPPED, NOT_MAPPED)
        except AuthenticationFailed as exc:
            self.stop(exc)
            return ItemResult(item, Outcome.FAILED, str(exc))
        except ConnectorError as exc:
            return ItemResult(item, Outcome.FAILED, describe(exc))
        with self._lock:
            self.accepted.append(item)
        return ItemResult(item, Outcome.SUCCEEDED)

    def record(self, results: list[ItemResult]) -> None:
        stamp = datetime.now(UTC)
        self.recorder.write(
            lambda session: _record(session, run_id=self.run_id, tenant_id=self.tenant_id, results=results, now=stamp)
        )
        self.done += len(results)
        if self.progress is not None and results:
            self.progress(self.done, self.total)

    def push_all(self, items: list[Item], concurrency: int) -> None:
        bulk, last = items[:-1], items[-1:]
        with ThreadPoolExecutor(concurrency, thread_name_prefix="gradient-push") as pool:
            pending: set[Future[ItemResult]] = {pool.submit(self.send, i, no_build=True) for i in bulk}
            while pending:
                # a batch a second: few, short transactions even at Gradient's full rate
                finished, pending = wait(pending, timeout=1.0)
                self.record([f.result() for f in finished])
        for item in last:
            result = self.send(item, no_build=False)
            self.record([result])
            if result.outcome is not Outcome.SUCCEEDED:
                self._build()

    def _build(self) -> None:
        """The last call did not go through, so Gradient was not asked to build: send an accepted count again
        without ``no_build`` (it is set, not added, so nothing changes but the build)."""
        if self.fatal is not None or not self.accepted:
            return
        item = self.accepted[-1]
        assert item.service_id is not None
        try:
            self.client.set_unit_count(item.service_id, item.company_id, item.count, no_build=False)
        except ConnectorError as exc:
            if isinstance(exc, AuthenticationFailed):
                self.stop(exc)
            log.warning("Gradient was not asked to build after the push: %s", exc)


def start(session: Session, *, tenant: Tenant, period: BillingPeriod, started_by: str) -> PushRun:
    """A new ``running`` Gradient run (Gradient must be connected); run it with ``execute``."""
    gradient_service.connected_integration(session, tenant=tenant)
    return runs.start_run(
        session, tenant_id=tenant.id, target=Target.GRADIENT, period=str(period), started_by=started_by
    )


def execute(
    engine: Engine,
    *,
    run_id: int,
    client_factory: ClientFactory | None = None,
    progress: Progress | None = None,
    concurrency: int | None = None,
) -> None:
    """Carry out a started run (``start``) to its end (see ``runs.run_guard`` for one that cannot)."""
    with runs.run_guard(engine, run_id=run_id):
        _execute(
            engine,
            run_id=run_id,
            factory=client_factory or default_client_factory,
            progress=progress,
            concurrency=max(1, concurrency or get_settings().gradient_concurrency),
        )


def run_gradient_push(
    engine: Engine,
    *,
    tenant_id: int,
    period: BillingPeriod,
    started_by: str,
    client_factory: ClientFactory | None = None,
    progress: Progress | None = None,
    concurrency: int | None = None,
) -> int:
    """Push ``period``'s billable counts of one tenant to Gradient; returns the run id.

    Callable from any process with just the engine and ids (the web app's "push now", a job queue worker, the
    CLI, the schedule). Raises ``ConfigurationError`` when Gradient is not connected and ``Conflict`` while
    another Gradient push of the tenant is running; any other outcome is in the run and its results.
    """
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_id}")
        run_id = start(session, tenant=tenant, period=period, started_by=started_by).id
    execute(engine, run_id=run_id, client_factory=client_factory, progress=progress, concurrency=concurrency)
    return run_id


def _execute(
    engine: Engine, *, run_id: int, factory: ClientFactory, progress: Progress | None, concurrency: int
) -> None:
    note: str | None = None
    with transaction(engine) as session:
        run = session.get(PushRun, run_id)
        assert run is not None
        tenant = session.get(Tenant, run.tenant_id)
        assert tenant is not None
        period = BillingPeriod.parse(run.period)
        client = factory(session, tenant)
    try:
        with transaction(engine) as session:
            tenant = session.get(Tenant, tenant.id)
            assert tenant is not None
            fatal: AuthenticationFailed | None = None
            try:
                # new companies become accounts before their counts are sent
                gradient_service.sync_accounts(session, tenant=tenant, client=client)
            except AuthenticationFailed as exc:
                fatal = exc  # marked broken in this session, committed with it
            except ConnectorError as exc:
                note = f"the accounts could not be brought up to date before pushing: {describe(exc)}"
            items = plan(session, tenant=tenant, period=period)
        runs.expect_results(engine, run_id=run_id, count=len(items))
        pusher = _Pusher(engine, run_id=run_id, tenant_id=tenant.id, client=client, total=len(items), progress=progress)
        if fatal is not None:
            pusher.stop(fatal)
        if items:
            pusher.push_all(items, concurrency)
    finally:
        client.close()
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant.id)
        assert tenant is not None
        if pusher.fatal is not None:
            gradient_service.mark_broken(session, tenant=tenant, reason=str(pusher.fatal))
            runs.finish_run(session, run_id=run_id, reason=str(pusher.fatal), failed=True)
            return
        if pusher.accepted:
            gradient_service.mark_working(session, tenant=tenant, active=True)
        runs.finish_run(session, run_id=run_id, reason=note)


__all__ = [
    "NOT_MAPPED",
    "ClientFactory",
    "Item",
    "Progress",
    "default_client_factory",
    "execute",
    "plan",
    "run_gradient_push",
    "start",
]
