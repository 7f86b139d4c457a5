"""The billing-target seam: what every target (ConnectWise, Gradient, Autotask, HaloPSA ...) offers the one push
engine (``seatsync.push.engine``), the scheduler and the mapper, and the types they exchange.

A target is a package under ``seatsync.targets`` with one object satisfying ``BillingTarget``, registered in
``seatsync.targets.registry``. The engine owns everything around the target's own calls: refusing a period that
has not started, starting the run (one live run per tenant and target), the thread pool, recording results in
batches, stopping on a fatal error, finishing and the ``on_run_finished`` hooks. The target owns what is specific
to its API: its connection, its clients, what a push of one item reads and sends, and its evidence.

How one run goes, seen from a target::

    target.check_options(options)                       # UnsupportedOption: said, never dropped
    target.require_connection(session, tenant=t, settings=s)
    client = target.client(session, t, settings=s, engine=e, shared_pacing=False)
    prepared = target.prepare(session, tenant=t, client=client, options=o, scope=scope, pool=pool)
    results = [target.apply(client, unit, options=o, final=last) for unit in prepared.units]  # on the pool
    note = target.conclude(client, results, options=o)
    target.record(session, run=run, results=batch)     # after the engine wrote each batch (target bookkeeping)
    target.after_run(session, tenant=t, results=results, options=o)   # or mark_broken on a fatal error
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.models import PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.planning import Action, CompanyRef
from seatsync.errors import ConnectorError, UnsupportedOption
from seatsync.push.runs import Outcome

#: one item a push sets: (company pk, product); product ``""`` when one item bills all the company's products
ItemKey = tuple[int, str]
#: which items a run pushes (``retry_failed``: only these); None: every item
Scope = Callable[[ItemKey], bool]
#: ``client_factory(session, tenant)``: a target's API client for one tenant
ClientFactory = Callable[[Session, Tenant], Any]


@dataclass(frozen=True, slots=True)
class PushOptions:
    """What a push is asked to do; every target honours every option or refuses it (``UnsupportedOption``)."""

    period: BillingPeriod
    #: record what would be done (outcome ``planned``), send nothing but reads
    dry_run: bool = False
    #: only the items that failed in the period's latest run (or that an interrupted run never reached)
    retry_failed: bool = False
    #: also push rows that are blocked (drift, cancelled contract ...)
    force: bool = False
    #: an operator's email, "schedule" or "cli"
    started_by: str = "cli"
    #: leave out (outcome ``skipped``, with the reason) the items whose period the remote side has already
    #: invoiced (ConnectWise: the agreement's next invoice is after the period's first day); nothing is sent for them
    skip_invoiced: bool = False
    #: the operator confirmed the rows over the tenant's approval threshold: send them too (otherwise a push by
    #: hand holds them for approval, as a scheduled one does; ``seatsync.push.gate``). The engine's, not a target's
    approve_over_threshold: bool = False


def refuse_skip_invoiced(target: str, options: PushOptions, why: str) -> None:
    """``check_options`` of a target that cannot tell which periods its PSA has invoiced: ``skip_invoiced`` is
    refused (``UnsupportedOption``, saying ``why``), never dropped."""
    if options.skip_invoiced:
        raise UnsupportedOption(target, 'skip invoiced (--skip-invoiced, "skip_invoiced")', why)


@dataclass(frozen=True, slots=True)
class ItemRef:
    """The remote item a company (and product) bills to, the target's own ids as text."""

    company_id: str | None = None
    company_name: str | None = None
    contract_id: str | None = None
    contract_name: str | None = None
    item_id: str | None = None
    item_name: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """What a push would do to one company's item: before → after, the action and why (the preview, dry runs)."""

    company: CompanyRef
    product: str
    billable: int
    before: float | None
    after: float | None
    action: Action
    reason: str | None = None
    #: ``seatsync.domain.planning.MappingState`` value: unmapped / partial / complete
    mapping: str = "complete"
    item: ItemRef | None = None

    @property
    def key(self) -> ItemKey:
        return (self.company.pk, self.product)


@dataclass(slots=True)
class RowResult:
    """What happened to one item in a run; the engine writes it as one ``push_results`` row."""

    company: CompanyRef
    #: None for a target whose rows are per company (ConnectWise), else the product (``""`` = every product)
    product: str | None
    outcome: Outcome
    billable: int | None = None
    before: float | None = None
    after: float | None = None
    reason: str | None = None
    #: a request was made for this item (counts as an attempt)
    sent: bool = False
    #: retrying cannot help and nothing else should be sent (401): the engine stops the run, marks it broken
    fatal: ConnectorError | None = None
    #: the target's own ``push_results`` columns (``agreement_id``, ``remote_id``, ``item_id`` ...)
    columns: dict[str, Any] = field(default_factory=dict)
    #: the target's bookkeeping for ``record`` (e.g. the quantity to remember as last pushed)
    memo: Any = None
    prior_attempts: int = 0

    @property
    def key(self) -> ItemKey:
        return (self.company.pk, self.product or "")


@dataclass(slots=True)
class Prepared:
    """A run's work, as the target found it before sending anything."""

    #: one per item to send (the target's own objects), applied on the engine's pool
    units: list[Any]
    #: results known without sending (not mapped, nothing to do)
    local: list[RowResult] = field(default_factory=list)
    #: said on the run when it finishes (e.g. "the accounts could not be brought up to date")
    note: str | None = None
    #: preparing met a refusal that stops the run (401)
    fatal: ConnectorError | None = None


@dataclass(frozen=True, slots=True)
class RightCheck:
    """One right the connection needs, as the check found it (``status``: ok / missing / unchecked)."""

    right: str
    status: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The result of connecting or checking a target: ``status`` connected / broken / disconnected."""

    status: str
    reason: str | None = None
    rights: tuple[RightCheck, ...] = ()

    @property
    def missing(self) -> list[str]:
        return [r.right for r in self.rights if r.status == "missing"]


@dataclass(frozen=True, slots=True)
class Disconnected:
    """What a disconnect did: whether anything was connected, what it forgot (``"the keys are forgotten"``) and
    anything the user should know (Gradient could not be told)."""

    was_connected: bool
    forgot: str
    note: str | None = None

    def summary(self, label: str) -> str:
        """One sentence for every surface: ``ConnectWise disconnected: the keys are forgotten (…)``."""
        if not self.was_connected:
            return f"{label} was not connected: nothing to forget."
        said = f"{label} disconnected: {self.forgot} (mappings and history are kept)."
        return f"{said} {self.note}" if self.note else said


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice the mapper offers (a PSA company, a contract, an item), the target's id as text."""

    id: str
    name: str
    detail: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class Evidence:
    """The file a push attaches for one company (the billable users counted), rebuilt on request."""

    filename: str
    content: bytes
    sha256: str


@runtime_checkable
class BillingTarget(Protocol):
    """One billing system seatsync pushes billable counts to. See the module text for how a run uses it."""

    #: the target key (PRODUCT.md): ``connectwise``, ``gradient``, ``autotask``, ``halopsa``
    key: str
    #: the name people read ("ConnectWise")
    label: str
    #: the job queue its pushes run on (a deployment may give a target its own workers)
    queue: str
    #: the monthly schedule pushes this target (its ``default_period`` on its ``schedule_day``)
    scheduled: bool
    #: day of the month the schedule pushes it, at 00:00 in the tenant's zone
    schedule_day: int

    # -- periods and pacing -----------------------------------------------------------------------------------

    def default_period(self, current: BillingPeriod) -> BillingPeriod:
        """The period a push without one pushes, given the tenant's current month."""
        ...

    def rate_limit_key(self, settings: Settings, tenant_id: int) -> str:
        """The key of the shared rate-limit bucket its requests for this tenant are paced by."""
        ...

    def concurrency(self, settings: Settings) -> int:
        """How many items of one run are sent at once."""
        ...

    def check_options(self, options: PushOptions) -> None:
        """Raise ``UnsupportedOption`` for an option this target cannot honour."""
        ...

    # -- connection -------------------------------------------------------------------------------------------

    def connect(
        self, session: Session, *, tenant: Tenant, credentials: Mapping[str, str], settings: Settings
    ) -> ConnectionCheck: ...

    def check(self, session: Session, *, tenant: Tenant, settings: Settings) -> ConnectionCheck:
        """Check the stored connection again, naming each right that is missing."""
        ...

    def disconnect(self, session: Session, *, tenant: Tenant) -> Disconnected:
        """Forget the credentials (the non-secret settings, mappings and history stay)."""
        ...

    def connected_since(self, session: Session, *, tenant: Tenant) -> datetime | None:
        """When the working connection was made; None when not connected (or broken)."""
        ...

    def require_connection(self, session: Session, *, tenant: Tenant, settings: Settings) -> None:
        """Raise ``ConfigurationError`` (saying how to connect) when a push cannot start."""
        ...

    def mark_broken(self, session: Session, *, tenant: Tenant, reason: str) -> None:
        """The credentials were refused (401): record it, so nothing else is tried until a reconnect."""
        ...

    def client(
        self, session: Session, tenant: Tenant, *, settings: Settings, engine: Engine, shared_pacing: bool
    ) -> Any:
        """The tenant's client from its stored credentials, metered; paced cluster-wide when ``shared_pacing``."""
        ...

    # -- pushing ----------------------------------------------------------------------------------------------

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
        """The run's work: what the database knows, read-ahead of the remote side (may use ``pool``)."""
        ...

    def apply(self, client: Any, unit: Any, *, options: PushOptions, final: bool) -> RowResult:
        """Push one item: read, compare, set (or, in a dry run, say what would be set). Never raises a
        ``ConnectorError``: it is the result's outcome and reason (``fatal`` for a refusal that stops the run).
        ``final``: the run's last item, applied after all the others."""
        ...

    def not_sent(self, unit: Any, reason: str) -> RowResult:
        """The result of an item the run did not send (it stopped on a fatal error)."""
        ...

    def conclude(self, client: Any, results: Sequence[RowResult], *, options: PushOptions) -> str | None:
        """After every item: any last request (Gradient's build); a note for the run, or None."""
        ...

    def record(self, session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
        """Target bookkeeping in the transaction that wrote a batch of results (e.g. the last pushed quantity)."""
        ...

    def after_run(
        self, session: Session, *, tenant: Tenant, results: Sequence[RowResult], options: PushOptions
    ) -> None:
        """The run finished without a fatal error (e.g. mark the connection as working)."""
        ...

    def plan(self, session: Session, *, tenant: Tenant, period: BillingPeriod, client: Any) -> list[PlannedRow]:
        """The preview: every company's item, before → after, action and reason. Reads only."""
        ...

    def evidence(self, session: Session, *, tenant: Tenant, run: PushRun, company_pk: int) -> Evidence | None:
        """The report ``run`` attached for this company, rebuilt (None when the target attaches none)."""
        ...

    # -- the mapper's choices ---------------------------------------------------------------------------------

    def search_companies(self, session: Session, *, tenant: Tenant, query: str, limit: int) -> list[Choice]: ...

    def contracts(self, client: Any, *, company_id: str) -> list[Choice]: ...

    def items(self, client: Any, *, contract_id: str) -> list[Choice]: ...


__all__ = [
    "BillingTarget",
    "Choice",
    "ClientFactory",
    "ConnectionCheck",
    "Disconnected",
    "Evidence",
    "ItemKey",
    "ItemRef",
    "PlannedRow",
    "Prepared",
    "PushOptions",
    "RightCheck",
    "RowResult",
    "Scope",
    "refuse_skip_invoiced",
]
