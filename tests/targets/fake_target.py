"""A third billing target that exists only in this module: an in-memory remote, its ``BillingTarget`` and its
contract world. Registering it (``registry.register``) is all it takes for the engine, the dispatcher and the
contract suite to push it: nothing outside this module and the registry is edited."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.models import PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.planning import Action, CompanyRef
from seatsync.errors import AuthenticationFailed, ConfigurationError, ConnectorError, RequestRejected
from seatsync.push import intents
from seatsync.push.runs import Outcome
from seatsync.services.billing import count_billable
from seatsync.targets.base import (
    Choice,
    ConnectionCheck,
    Disconnected,
    Evidence,
    ItemKey,
    PlannedRow,
    Prepared,
    PushOptions,
    RowResult,
    Scope,
)
from tests.targets.worlds import ContractWorld, company_pks, world

KEY = "fakepsa"


@dataclass
class FakeRemote:
    """The remote billing system: one quantity per (company id, "") item; what seatsync last set, for drift."""

    quantities: dict[str, float] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    credentials_ok: bool = True
    writes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, company_id: str) -> float:
        if not self.credentials_ok:
            raise AuthenticationFailed("the fake PSA refused the API key", system="FakePSA", status_code=401)
        with self.lock:
            return self.quantities.get(company_id, 0.0)

    def write(self, company_id: str, quantity: float) -> None:
        if not self.credentials_ok:
            raise AuthenticationFailed("the fake PSA refused the API key", system="FakePSA", status_code=401)
        if company_id in self.refused:
            raise RequestRejected(f"the fake PSA refused item {company_id}", system="FakePSA", status_code=400)
        with self.lock:
            self.quantities[company_id] = quantity
            self.writes += 1

    def close(self) -> None:
        return None


#: tenant id -> its remote and connection state
REMOTES: dict[int, FakeRemote] = {}
CONNECTED: dict[int, str | None] = {}  # None: broken, with no reason kept


@dataclass(frozen=True, slots=True)
class FakeUnit:
    company: CompanyRef
    billable: int
    last: float | None


class FakeTarget:
    key = KEY
    label = "FakePSA"
    queue = "default"
    scheduled = False
    schedule_day = 1

    def __init__(self) -> None:
        #: company pk -> the quantity seatsync last set (its drift check)
        self.last_set: dict[int, float] = {}

    def default_period(self, current: BillingPeriod) -> BillingPeriod:
        return current

    def rate_limit_key(self, settings: Settings, tenant_id: int) -> str:
        return f"{KEY}:tenant:{tenant_id}"

    def concurrency(self, settings: Settings) -> int:
        return 2

    def check_options(self, options: PushOptions) -> None:
        return None

    def connect(
        self, session: Session, *, tenant: Tenant, credentials: Mapping[str, str], settings: Settings
    ) -> ConnectionCheck:
        CONNECTED[tenant.id] = "ok"
        return ConnectionCheck("connected")

    def check(self, session: Session, *, tenant: Tenant, settings: Settings) -> ConnectionCheck:
        return ConnectionCheck("connected" if CONNECTED.get(tenant.id) else "broken")

    def disconnect(self, session: Session, *, tenant: Tenant) -> Disconnected:
        return Disconnected(CONNECTED.pop(tenant.id, None) is not None, "the fake credentials are forgotten")

    def connected_since(self, session: Session, *, tenant: Tenant) -> datetime | None:
        return datetime(2026, 1, 1, tzinfo=UTC) if CONNECTED.get(tenant.id) else None

    def require_connection(self, session: Session, *, tenant: Tenant, settings: Settings) -> None:
        if not CONNECTED.get(tenant.id):
            raise ConfigurationError(f"tenant {tenant.slug!r} is not connected to FakePSA")

    def mark_broken(self, session: Session, *, tenant: Tenant, reason: str) -> None:
        CONNECTED[tenant.id] = None

    def client(
        self, session: Session, tenant: Tenant, *, settings: Settings, engine: Engine, shared_pacing: bool
    ) -> Any:
        return REMOTES[tenant.id]

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
        units = [
            FakeUnit(CompanyRef(c.company_pk, c.company_id, c.name), c.billable_users, self.last_set.get(c.company_pk))
            for c in count_billable(session, tenant=tenant, period=options.period)
            if scope is None or scope((c.company_pk, ""))
        ]
        return Prepared(units=units)

    def _result(
        self,
        unit: FakeUnit,
        outcome: Outcome,
        *,
        before: float | None,
        after: float | None,
        reason: str | None = None,
        fatal: ConnectorError | None = None,
    ) -> RowResult:
        return RowResult(
            company=unit.company,
            product="",
            outcome=outcome,
            billable=unit.billable,
            before=before,
            after=after,
            reason=reason,
            sent=True,
            fatal=fatal,
            columns={"psa_company_id": unit.company.company_id, "item_id": f"item-{unit.company.company_id}"},
            memo=after if outcome in (Outcome.SUCCEEDED, Outcome.UNCHANGED) else None,
        )

    def apply(self, client: Any, unit: Any, *, options: PushOptions, final: bool) -> RowResult:
        try:
            before = client.read(unit.company.company_id)
        except ConnectorError as exc:
            return self._result(
                unit,
                Outcome.FAILED,
                before=None,
                after=None,
                reason=str(exc),
                fatal=exc if isinstance(exc, AuthenticationFailed) else None,
            )
        if before == float(unit.billable):
            return self._result(unit, Outcome.UNCHANGED, before=before, after=before)
        if unit.last is not None and before != unit.last and not options.force:
            return self._result(unit, Outcome.BLOCKED, before=before, after=None, reason="changed by hand (drift)")
        if options.dry_run:
            return self._result(unit, Outcome.PLANNED, before=before, after=float(unit.billable))
        ids = {"psa_company_id": unit.company.company_id, "item_id": f"item-{unit.company.company_id}"}
        intents.declare(intents.Intent(unit.company.pk, "", before, float(unit.billable), unit.billable, item=ids))
        try:
            client.write(unit.company.company_id, float(unit.billable))
        except ConnectorError as exc:
            fatal = exc if isinstance(exc, AuthenticationFailed) else None
            return self._result(unit, Outcome.FAILED, before=before, after=before, reason=str(exc), fatal=fatal)
        return self._result(unit, Outcome.SUCCEEDED, before=before, after=float(unit.billable))

    def not_sent(self, unit: Any, reason: str) -> RowResult:
        return self._result(unit, Outcome.FAILED, before=None, after=None, reason=reason)

    def conclude(self, client: Any, results: Sequence[RowResult], *, options: PushOptions) -> str | None:
        return None

    def record(self, session: Session, *, run: PushRun, results: Sequence[RowResult]) -> None:
        if not run.dry_run:
            self.last_set.update({r.company.pk: r.memo for r in results if r.memo is not None})

    def after_run(
        self, session: Session, *, tenant: Tenant, results: Sequence[RowResult], options: PushOptions
    ) -> None:
        return None

    def plan(self, session: Session, *, tenant: Tenant, period: BillingPeriod, client: Any) -> list[PlannedRow]:
        rows = []
        for c in count_billable(session, tenant=tenant, period=period):
            before = client.read(c.company_id)
            action = Action.UNCHANGED if before == float(c.billable_users) else Action.UPDATE
            rows.append(
                PlannedRow(
                    CompanyRef(c.company_pk, c.company_id, c.name),
                    "",
                    c.billable_users,
                    before,
                    float(c.billable_users),
                    action,
                )
            )
        return rows

    def evidence(self, session: Session, *, tenant: Tenant, run: PushRun, company_pk: int) -> Evidence | None:
        return None

    def search_companies(self, session: Session, *, tenant: Tenant, query: str, limit: int) -> list[Choice]:
        return [Choice(cid, cid) for cid in sorted(REMOTES.get(tenant.id, FakeRemote()).quantities) if query in cid][
            :limit
        ]

    def contracts(self, client: Any, *, company_id: str) -> list[Choice]:
        return [Choice(f"contract-{company_id}", "the only contract")]

    def items(self, client: Any, *, contract_id: str) -> list[Choice]:
        return [Choice(f"item-{contract_id}", "seats")]


TARGET = FakeTarget()


@dataclass
class FakeWorld:
    engine: Engine
    tenant_id: int
    remote: FakeRemote
    counts: dict[ItemKey, int]
    compares: bool = True

    def factory(self) -> Any:
        return lambda _session, _tenant: self.remote

    def expected(self) -> dict[ItemKey, float]:
        return {key: float(n) for key, n in self.counts.items()}

    def remote_state(self) -> dict[ItemKey, float]:
        ids = {pk: cid for cid, pk in company_pks(self.engine, self.tenant_id).items()}
        return {key: self.remote.quantities.get(ids[key[0]], 0.0) for key in self.counts}

    def writes(self) -> int:
        return self.remote.writes

    def fail(self, key: ItemKey | None) -> None:
        ids = {pk: cid for cid, pk in company_pks(self.engine, self.tenant_id).items()}
        self.remote.refused = {ids[key[0]]} if key is not None else set()

    def drift(self, key: ItemKey) -> bool:
        ids = {pk: cid for cid, pk in company_pks(self.engine, self.tenant_id).items()}
        self.remote.quantities[ids[key[0]]] = 99.0
        return True

    def refuse_credentials(self) -> None:
        self.remote.credentials_ok = False


@world(KEY)
@contextmanager
def fake_world(engine: Engine) -> Iterator[ContractWorld]:
    from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
    from seatsync.sandboxes.server import BackgroundServer
    from tests.jobs.world import build

    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(sandbox)) as server:
        (tenant,) = build(engine, sandbox, server.url, tenants_count=1, companies=3)
    pks = company_pks(engine, tenant.id)
    REMOTES[tenant.id] = FakeRemote()
    CONNECTED[tenant.id] = "ok"
    TARGET.last_set.clear()
    try:
        yield _Adapter(
            FakeWorld(engine, tenant.id, REMOTES[tenant.id], {(pks[c], ""): n for c, n in tenant.counts.items()})
        )
    finally:
        REMOTES.pop(tenant.id, None)
        CONNECTED.pop(tenant.id, None)


class _Adapter:
    def __init__(self, inner: FakeWorld) -> None:
        self.inner = inner
        self.engine = inner.engine
        self.tenant_id = inner.tenant_id
        self.compares = inner.compares

    def factory(self) -> Any:
        return self.inner.factory()

    def expected(self) -> dict[ItemKey, float]:
        return self.inner.expected()

    def remote(self) -> dict[ItemKey, float]:
        return self.inner.remote_state()

    def writes(self) -> int:
        return self.inner.writes()

    def fail(self, key: ItemKey | None) -> None:
        self.inner.fail(key)

    def drift(self, key: ItemKey) -> bool:
        return self.inner.drift(key)

    def refuse_credentials(self) -> None:
        self.inner.refuse_credentials()


__all__ = ["KEY", "TARGET", "FakeTarget"]
