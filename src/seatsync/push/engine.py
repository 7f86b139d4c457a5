"""The one push engine: every billing target (``seatsync.targets``) is pushed by this code.

    options = PushOptions(period=BillingPeriod(2026, 10), dry_run=False, started_by="ops@msp.example")
    run_id = push(engine, tenant_id=t.id, target="connectwise", options=options)      # start and run here
    run = start(session, tenant=t, target="gradient", options=options, queued=True)   # in a request; a job then:
    execute(engine, run_id=run.id)                                                     # ... runs it (any process)

The engine owns what is the same for every target:

- **refusing** a period that has not started (``PeriodNotStarted``: CLI exit 2, HTTP 422, nothing sent; the month
  in progress is allowed, ``period_status`` says "in progress"), an option the target cannot honour
  (``UnsupportedOption``), a target that is not connected;
- **starting** the run in the caller's transaction, so the caller has its id at once; the partial unique index
  ``uq_push_runs_live`` keeps one running run per tenant and target, whichever processes race;
- **running** it: the target prepares the work, its items are applied on a thread pool (the target's
  ``concurrency``; the clients pace themselves, cluster-wide with ``shared_pacing``), the last item alone after the
  others (``final``), results written in batches (at most every ``WRITE_EVERY`` seconds, with the heartbeat);
- **stopping** on a fatal error (401): nothing more is sent, the integration is marked broken, the run fails;
- **finishing**: counts and status, then the ``on_run_finished`` hooks.

Hooks: ``on_run_finished(hook)`` registers ``hook(finished: FinishedRun)``, called in the process that ran the
push after the run is committed (notifications, approvals, tickets hang here). A hook's exception is logged and
never changes the run. ``remove_run_finished_hook(hook)`` takes it off. A process that may never push names its
hooks instead (``seatsync.push.hook_names``); they are imported when its first run finishes.

The clock (``clock``) decides which periods have started; inject one in tests, like the web app's.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from seatsync.config import Settings, get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import PushResult, PushRun, ScheduledPush, Tenant
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.errors import Conflict, ConnectorError, NotFound, PeriodNotStarted
from seatsync.push import gate, hook_names, intents, runs
from seatsync.push.runs import Outcome, RunStatus
from seatsync.targets.base import BillingTarget, ClientFactory, ItemKey, PushOptions, RowResult, Scope
from seatsync.targets.registry import get_target

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: ``progress(done, total)`` after each batch of results is recorded
Progress = Callable[[int, int], None]
#: results are written at most this often (seconds), in one transaction
WRITE_EVERY = 0.25

IN_PROGRESS = "in progress"
CLOSED = "closed"


def _utc_now() -> datetime:
    return datetime.now(UTC)


# -- hooks -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """What a run-finished hook is told."""

    run_id: int
    tenant_id: int
    target: str
    period: str
    status: str
    status_reason: str | None
    options: PushOptions
    #: outcome -> how many items ended so
    counts: Mapping[str, int]
    #: the database the run is in (a hook reads the run's results from it)
    engine: Engine


RunFinishedHook = Callable[[FinishedRun], None]
_hooks: list[RunFinishedHook] = []
_hooks_lock = threading.Lock()


def on_run_finished(hook: RunFinishedHook) -> RunFinishedHook:
    """Call ``hook(FinishedRun)`` after every run this process finishes (usable as a decorator)."""
    with _hooks_lock:
        if hook not in _hooks:
            _hooks.append(hook)
    return hook


def remove_run_finished_hook(hook: RunFinishedHook) -> None:
    with _hooks_lock:
        if hook in _hooks:
            _hooks.remove(hook)


def _finished(engine: Engine, run_id: int) -> FinishedRun:
    with transaction(engine) as session:
        run = session.get(PushRun, run_id)
        assert run is not None
        counts = {
            outcome: int(n)
            for outcome, n in session.execute(
                select(PushResult.outcome, func.count()).where(PushResult.run_id == run_id).group_by(PushResult.outcome)
            )
        }
        return FinishedRun(
            run.id,
            run.tenant_id,
            run.target,
            run.period,
            run.status,
            run.status_reason,
            options_of(run),
            counts,
            engine,
        )


#: held while named hooks are imported: a run finishing on another thread meanwhile waits for them, else it would
#: find the names taken and the hooks not registered yet, and skip them
_named_lock = threading.Lock()


def _register_named_hooks() -> None:
    """Import and register the hooks named in ``hook_names`` since the last run finished."""
    with _named_lock:
        for name in hook_names.take_named_hooks():
            _register_named(name)


def _register_named(name: str) -> None:
    module, _, attribute = name.partition(":")
    try:
        hook = getattr(importlib.import_module(module), attribute)
    except Exception:  # like a hook that fails: logged, and the run stands
        log.exception("run-finished hook %r could not be imported", name)
        return
    on_run_finished(hook)


def _call_hooks(engine: Engine, run_id: int) -> None:
    _register_named_hooks()
    with _hooks_lock:
        hooks = list(_hooks)
    if not hooks:
        return
    finished = _finished(engine, run_id)
    for hook in hooks:
        try:
            hook(finished)
        except Exception:  # a notification that fails must not make the push look failed
            log.exception("run-finished hook %r failed for run %s", hook, run_id)


# -- refusing and starting ---------------------------------------------------------------------------------------


def period_status(period: BillingPeriod, *, zone: str, now: datetime) -> str:
    """``closed`` or ``in progress`` (pushed as it stands); a period that has not started raises."""
    tz = time_zone(zone)
    if now < period.start(tz):
        raise PeriodNotStarted(str(period), starts=f"{period.start(tz):%Y-%m-%d %H:%M} {zone}")
    return IN_PROGRESS if now < period.end(tz) else CLOSED


def options_of(run: PushRun) -> PushOptions:
    return PushOptions(
        period=BillingPeriod.parse(run.period),
        dry_run=run.dry_run,
        retry_failed=run.retry_failed,
        force=run.forced,
        started_by=run.started_by,
        skip_invoiced=run.skip_invoiced,
        approve_over_threshold=run.approved_over_threshold,
    )


def default_period(target: str, *, zone: str, now: datetime) -> BillingPeriod:
    """The period a push of ``target`` without one pushes (ConnectWise: the current month, Gradient: the last)."""
    return get_target(target).default_period(BillingPeriod.containing(now, time_zone(zone)))


def start(
    session: Session,
    *,
    tenant: Tenant,
    target: str,
    options: PushOptions,
    queued: bool = False,
    settings: Settings | None = None,
    now: datetime | None = None,
    stored_credentials: bool = True,
) -> PushRun:
    """Check everything that can be checked before sending, and insert the ``running`` run (caller's transaction).

    ``queued``: a worker runs it (``execute``); otherwise this process does. ``stored_credentials``: the run's
    client is built from the tenant's stored connection (so it must be connected). Raises ``PeriodNotStarted``,
    ``UnsupportedOption``, ``ConfigurationError`` (not connected), ``NotFound`` (nothing to retry) or
    ``Conflict`` (a run of the tenant and target is live)."""
    chosen = get_target(target)
    chosen.check_options(options)
    period_status(options.period, zone=tenant.time_zone, now=now or _utc_now())
    if stored_credentials:
        chosen.require_connection(session, tenant=tenant, settings=settings or get_settings())
    runs.reap_stale_runs(session, tenant_id=tenant.id, target=chosen.key)  # a killed run is one to retry
    if (
        options.retry_failed
        and runs.latest_run(session, tenant_id=tenant.id, target=chosen.key, period=str(options.period)) is None
    ):
        raise NotFound(f"there is no {chosen.label} push for {options.period} to retry; push it first")
    return runs.start_run(
        session,
        tenant_id=tenant.id,
        target=chosen.key,
        period=str(options.period),
        started_by=options.started_by,
        dry_run=options.dry_run,
        forced=options.force,
        retry_failed=options.retry_failed,
        queued=queued,
        skip_invoiced=options.skip_invoiced,
        approved_over_threshold=options.approve_over_threshold,
    )


def push(
    engine: Engine,
    *,
    tenant_id: int,
    target: str,
    options: PushOptions,
    client_factory: ClientFactory | None = None,
    progress: Progress | None = None,
    concurrency: int | None = None,
    settings: Settings | None = None,
    shared_pacing: bool = False,
    clock: Clock | None = None,
) -> int:
    """Start and run one push here, to its end; returns the run id (the outcome is in the run and its results)."""
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_id}")
        run_id = start(
            session,
            tenant=tenant,
            target=target,
            options=options,
            settings=settings,
            now=(clock or _utc_now)(),
            stored_credentials=client_factory is None,
        ).id
    return execute(
        engine,
        run_id=run_id,
        client_factory=client_factory,
        progress=progress,
        concurrency=concurrency,
        settings=settings,
        shared_pacing=shared_pacing,
    )


# -- running -------------------------------------------------------------------------------------------------------


def _continue(session: Session, run: PushRun) -> PushRun:
    """A new run with the options of ``run``, whose process died (a job retried after its worker was killed);
    a schedule's claim on the old run moves to the new one."""
    fresh = runs.start_run(
        session,
        tenant_id=run.tenant_id,
        target=run.target,
        period=run.period,
        started_by=run.started_by,
        dry_run=run.dry_run,
        forced=run.forced,
        retry_failed=run.retry_failed,
        skip_invoiced=run.skip_invoiced,
        approved_over_threshold=run.approved_over_threshold,
    )
    claim = session.scalar(select(ScheduledPush).where(ScheduledPush.run_id == run.id))
    if claim is not None:
        claim.run_id = fresh.id
    session.flush()
    return fresh


def claim(engine: Engine, *, run_id: int) -> int | None:
    """Take ``run_id`` for this process: the id of the run to execute (a continuation when its process died),
    or None when it already finished (a job that ran twice). Raises ``Conflict`` while another live process
    runs it."""
    with transaction(engine) as session:
        run = session.get(PushRun, run_id)
        if run is None:
            raise NotFound(f"no push run {run_id}")
        if run.status == RunStatus.RUNNING and run.pid is not None and runs.is_dead(run):
            runs.reap_stale_runs(session, tenant_id=run.tenant_id, target=run.target)
            session.refresh(run)
        if run.status == RunStatus.INTERRUPTED:
            return _continue(session, run).id
        if run.status != RunStatus.RUNNING:
            return None
        if run.pid is not None and not _ours(run):
            raise Conflict(f"push run {run_id} is being run by {run.host} (pid {run.pid})")
        return runs.claim_run(session, run_id=run_id).id


def _ours(run: PushRun) -> bool:
    return run.host == socket.gethostname() and run.pid == os.getpid()


def execute(
    engine: Engine,
    *,
    run_id: int,
    client_factory: ClientFactory | None = None,
    progress: Progress | None = None,
    concurrency: int | None = None,
    settings: Settings | None = None,
    shared_pacing: bool = False,
) -> int:
    """Carry out a started run to its end, in this process; returns the id of the run carried out (another when
    ``run_id``'s process had died and this is its continuation). The one code path of every push."""
    chosen_id = claim(engine, run_id=run_id)
    if chosen_id is None:
        log.info("push run %s already finished: nothing to do", run_id)
        return run_id
    with runs.run_guard(engine, run_id=chosen_id):
        _Run(
            engine,
            run_id=chosen_id,
            settings=settings or get_settings(),
            client_factory=client_factory,
            progress=progress,
            concurrency=concurrency,
            shared_pacing=shared_pacing,
        ).run()
    _call_hooks(engine, chosen_id)
    return chosen_id


def retry_scope(session: Session, *, tenant_id: int, target: str, period: str) -> tuple[Scope, dict[ItemKey, int]]:
    """The items a retry-failed pass re-runs, and their attempts so far: the failed ones of the period's latest
    real run, and, when that run was interrupted, those it never reached."""
    last = runs.latest_run(session, tenant_id=tenant_id, target=target, period=period)
    if last is None:
        raise NotFound(f"there is no {target} push for {period} to retry; push it first")
    recorded: dict[ItemKey, PushResult] = {
        (r.company_pk, r.product or ""): r
        for r in session.scalars(select(PushResult).where(PushResult.run_id == last.id))
    }
    failed = {key for key, r in recorded.items() if r.outcome in (Outcome.FAILED, Outcome.UNCONFIRMED)}
    attempts = {key: recorded[key].attempts for key in failed}
    if last.status == RunStatus.INTERRUPTED:
        done = set(recorded) - failed
        return (lambda key: key not in done), attempts
    return (lambda key: key in failed), attempts


class _Run:
    """One run carried out: prepare, apply on the pool, record in batches, finish."""

    def __init__(
        self,
        engine: Engine,
        *,
        run_id: int,
        settings: Settings,
        client_factory: ClientFactory | None,
        progress: Progress | None,
        concurrency: int | None,
        shared_pacing: bool,
    ) -> None:
        self.engine = engine
        self.run_id = run_id
        self.settings = settings
        self.progress = progress
        self.recorder = runs.Recorder(engine, run_id=run_id)
        self.stop = threading.Event()
        self.fatal: list[ConnectorError] = []
        self.done = 0
        self.total = 0
        with transaction(engine) as session:
            run = session.get(PushRun, run_id)
            assert run is not None
            self.tenant_id = run.tenant_id
            self.run_row = run  # loaded once (sessions keep attributes after commit): the targets' record() reads it
            self.target: BillingTarget = get_target(run.target)
            self.options = options_of(run)
            self.dry_run = run.dry_run
            tenant = session.get(Tenant, run.tenant_id)
            assert tenant is not None
            self.scope: Scope | None = None
            self.attempts: dict[ItemKey, int] = {}
            #: the approval gate: plan first, hold what waits for an admin (``seatsync.push.gate``)
            self.gate = gate.gate_for(session, run)
            if run.retry_failed:
                self.scope, self.attempts = retry_scope(
                    session, tenant_id=run.tenant_id, target=run.target, period=run.period
                )
            if client_factory is None:
                target, shared = self.target, shared_pacing

                def client_factory(s: Session, t: Tenant) -> Any:
                    return target.client(s, t, settings=settings, engine=engine, shared_pacing=shared)

            self.client = client_factory(session, tenant)
        self.concurrency = max(1, concurrency or self.target.concurrency(settings))
        #: each write's intent is committed before it is sent (``seatsync.push.intents``)
        self.intents = None if self.dry_run else intents.IntentLog(engine, run_id=run_id, tenant_id=self.tenant_id)

    def run(self) -> None:
        try:
            # what an earlier run of the tenant and target sent without recording it: read back, recorded there
            intents.reconcile(self.engine, tenant_id=self.tenant_id, target=self.target, client=self.client)
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"push-{self.target.key}") as pool:
                with transaction(self.engine) as session:
                    tenant = session.get(Tenant, self.tenant_id)
                    assert tenant is not None
                    held: list[RowResult] = []
                    if self.gate is not None:
                        planned = self.target.plan(
                            session, tenant=tenant, period=self.options.period, client=self.client
                        )
                        sends, held = self.gate.decide(planned)
                        self.scope = gate.narrowed(self.scope, sends)
                    prepared = self.target.prepare(
                        session,
                        tenant=tenant,
                        client=self.client,
                        options=self.options,
                        scope=self.scope,
                        attempts=self.attempts,
                        pool=pool,
                    )
                if prepared.fatal is not None:
                    self._stop(prepared.fatal)
                prepared.local += held
                self.total = len(prepared.local) + len(prepared.units)
                runs.expect_results(self.engine, run_id=self.run_id, count=self.total)
                self._write(prepared.local)
                results = list(prepared.local)
                results += self._apply_all(pool, prepared.units)
            note = None if self.fatal else self.target.conclude(self.client, results, options=self.options)
        finally:
            self.client.close()
        self._finish(results, note or prepared.note)

    def _stop(self, exc: ConnectorError) -> None:
        self.fatal.append(exc)
        self.stop.set()

    def _one(self, unit: Any, final: bool) -> RowResult:
        if self.stop.is_set():
            return self.target.not_sent(unit, f"not pushed: {self.fatal[0]}")
        with intents.recording(self.intents):
            result = self.target.apply(self.client, unit, options=self.options, final=final)
        if result.fatal is not None:
            self._stop(result.fatal)
        return result

    def _apply_all(self, pool: ThreadPoolExecutor, units: Sequence[Any]) -> list[RowResult]:
        """Every unit but the last on the pool, written in batches as they finish; then the last one alone."""
        bulk, last = list(units[:-1]), list(units[-1:])
        out: list[RowResult] = []
        finished: queue.SimpleQueue[Future[RowResult]] = queue.SimpleQueue()
        for unit in bulk:
            pool.submit(self._one, unit, False).add_done_callback(finished.put)
        outstanding = len(bulk)
        while outstanding:
            try:
                ready = [finished.get(timeout=runs.HEARTBEAT_EVERY.total_seconds())]
            except queue.Empty:
                ready = []  # slow answers (a rate-limit pause): still alive, the heartbeat says so below
            deadline = time.monotonic() + WRITE_EVERY
            while len(ready) < outstanding and (wait_for := deadline - time.monotonic()) > 0:
                try:
                    ready.append(finished.get(timeout=wait_for))
                except queue.Empty:
                    break
            outstanding -= len(ready)
            # a killed run loses at most the last batch's records, never claims an effect that did not happen;
            # the next run reconciles by reading
            batch = [f.result() for f in ready]
            self._write(batch)
            out += batch
        for unit in last:
            result = self._one(unit, True)
            self._write([result])
            out.append(result)
        return out

    def _write(self, results: list[RowResult]) -> None:
        stamp = datetime.now(UTC)

        def add(session: Session) -> None:
            if not results:
                return
            session.execute(insert(PushResult), [self._row(r, stamp) for r in results])
            self.target.record(session, run=self.run_row, results=results)

        self.recorder.write(add)
        self.done += len(results)
        if self.progress is not None and results:
            self.progress(self.done, self.total)

    def _row(self, r: RowResult, stamp: datetime) -> dict[str, Any]:
        prior = self.attempts.get(r.key, r.prior_attempts)
        return intents.result_row(r, run_id=self.run_id, tenant_id=self.tenant_id, stamp=stamp, prior_attempts=prior)

    def _finish(self, results: list[RowResult], note: str | None) -> None:
        with transaction(self.engine) as session:
            tenant = session.get(Tenant, self.tenant_id)
            assert tenant is not None
            if self.fatal:
                reason = f"{self.target.label} refused the credentials: {self.fatal[0].message}"
                self.target.mark_broken(session, tenant=tenant, reason=str(self.fatal[0]))
                runs.finish_run(session, run_id=self.run_id, reason=reason, failed=True)
                return
            if not self.dry_run:
                self.target.after_run(session, tenant=tenant, results=results, options=self.options)
            runs.finish_run(session, run_id=self.run_id, reason=note)


# -- the preview -----------------------------------------------------------------------------------------------------


def preview(session: Session, *, tenant: Tenant, target: str, period: BillingPeriod, client: Any) -> list[Any]:
    """What a push of ``target`` would do for each company and item (before → after, action, reason). Reads only."""
    return list(get_target(target).plan(session, tenant=tenant, period=period, client=client))


__all__ = [
    "CLOSED",
    "IN_PROGRESS",
    "WRITE_EVERY",
    "Clock",
    "FinishedRun",
    "Progress",
    "PushOptions",
    "RunFinishedHook",
    "claim",
    "default_period",
    "execute",
    "on_run_finished",
    "options_of",
    "period_status",
    "preview",
    "push",
    "remove_run_finished_hook",
    "retry_scope",
    "start",
]
