"""The contract suite's per-target fixtures: a sandbox served over real sockets, one tenant with mapped companies,
and the few handles the contract needs on the remote side. A target joins the suite by registering itself and
one world builder here (``@world("key")``), in its own module imported at the bottom."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from seatsync.connectors.http import RetryPolicy
from seatsync.db.models import Company, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.targets.base import ClientFactory, ItemKey

PERIOD = BillingPeriod(2026, 10)


class ContractWorld(Protocol):
    engine: Engine
    tenant_id: int
    #: a re-push of unchanged counts sends no write (False: counts are set again, harmlessly)
    compares: bool

    def factory(self) -> ClientFactory: ...

    def expected(self) -> dict[ItemKey, float]:
        """What the remote must hold for each mapped item after a push of ``PERIOD``."""
        ...

    def remote(self) -> dict[ItemKey, float]:
        """What the remote holds now, for the same items."""
        ...

    def writes(self) -> int:
        """Write requests the remote has received so far."""
        ...

    def fail(self, key: ItemKey | None) -> None:
        """From now on the remote refuses writes of this item (None: refuses nothing)."""
        ...

    def drift(self, key: ItemKey) -> bool:
        """Change the item by hand on the remote side; False when the target has nothing that can block."""
        ...

    def refuse_credentials(self) -> None:
        """The remote refuses the stored credentials (401) from now on."""
        ...


Builder = Callable[[Engine], AbstractContextManager[ContractWorld]]
BUILDERS: dict[str, Builder] = {}


def world(key: str) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        BUILDERS[key] = builder
        return builder

    return add


class Refusing(httpx.BaseTransport):
    """A transport in front of the real one that answers 400 to the requests ``refuse`` picks."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.refuse: Callable[[httpx.Request], bool] = lambda _request: False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.refuse(request):
            return httpx.Response(400, json={"code": "InvalidObject", "message": "refused by the test"})
        return self.inner.handle_request(request)

    def close(self) -> None:
        return None  # shared by the clients of several pushes; the connection pool ends with the test


def company_pks(engine: Engine, tenant_id: int) -> dict[str, int]:
    with Session(engine) as session:
        return dict(session.execute(select(Company.company_id, Company.id).where(Company.tenant_id == tenant_id)).all())


# -- ConnectWise -------------------------------------------------------------------------------------------------


@dataclass
class ConnectWiseWorld:
    engine: Engine
    tenant_id: int
    sandbox: Any
    #: item key -> (addition id, billable count)
    items: dict[ItemKey, tuple[int, int]]
    transport: Refusing = field(default_factory=Refusing)
    compares: bool = True

    def factory(self) -> ClientFactory:
        from seatsync.services import connectwise_connection as cw

        def make(session: Session, tenant: Tenant) -> Any:
            return cw.client_for(session, tenant=tenant, transport=self.transport, retry=RetryPolicy(backoff_base=0.01))

        return make

    def expected(self) -> dict[ItemKey, float]:
        return {key: float(count) for key, (_, count) in self.items.items()}

    def remote(self) -> dict[ItemKey, float]:
        return {key: float(self.sandbox.additions[a]["quantity"]) for key, (a, _) in self.items.items()}

    def writes(self) -> int:
        with self.sandbox.lock:
            return sum(1 for r in self.sandbox.requests if r.method in ("PATCH", "POST"))

    def fail(self, key: ItemKey | None) -> None:
        addition = self.items[key][0] if key is not None else None
        self.transport.refuse = lambda r: r.method == "PATCH" and f"/additions/{addition}" in r.url.path

    def drift(self, key: ItemKey) -> bool:
        self.sandbox.set_quantity_by_hand(self.items[key][0], 99.0)
        return True

    def refuse_credentials(self) -> None:
        with self.sandbox.lock:
            self.sandbox.members.clear()


@world("connectwise")
@contextmanager
def connectwise_world(engine: Engine) -> Iterator[ContractWorld]:
    from seatsync.db.models import CWMapping
    from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
    from seatsync.sandboxes.server import BackgroundServer
    from tests.jobs.world import build

    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(sandbox)) as server:
        (tenant,) = build(engine, sandbox, server.url, tenants_count=1, companies=3)
        with Session(engine) as session:
            mapped = {
                m.company_pk: m.addition_id
                for m in session.scalars(select(CWMapping).where(CWMapping.tenant_id == tenant.id))
            }
        pks = company_pks(engine, tenant.id)
        items = {(pks[cid], ""): (mapped[pks[cid]], count) for cid, count in tenant.counts.items()}
        built = ConnectWiseWorld(engine, tenant.id, sandbox, items)
        try:
            yield built  # type: ignore[misc]
        finally:
            built.transport.inner.close()


# -- Gradient ------------------------------------------------------------------------------------------------------


@dataclass
class GradientWorld:
    engine: Engine
    tenant_id: int
    sandbox: Any
    token: str
    #: item key -> (account id, service id, count)
    items: dict[ItemKey, tuple[str, str, int]]
    transport: Refusing = field(default_factory=Refusing)
    compares: bool = False

    def factory(self) -> ClientFactory:
        from seatsync.connectors.limits import Unlimited
        from seatsync.services import gradient as svc

        def make(session: Session, tenant: Tenant) -> Any:
            return svc.client_for(session, tenant=tenant, transport=self.transport, limiter=Unlimited())

        return make

    def expected(self) -> dict[ItemKey, float]:
        return {key: float(count) for key, (_, _, count) in self.items.items()}

    def remote(self) -> dict[ItemKey, float]:
        counts = self.sandbox.latest_counts(self.token)
        return {key: float(counts[(a, s)]) for key, (a, s, _) in self.items.items() if (a, s) in counts}

    def writes(self) -> int:
        return len(self.sandbox.state(self.token)["counts"])

    def fail(self, key: ItemKey | None) -> None:
        target = self.items[key] if key is not None else None

        def refuse(request: httpx.Request) -> bool:
            if target is None or not request.url.path.endswith(f"/service/{target[1]}/count"):
                return False
            return f'"accountId":"{target[0]}"' in request.content.decode().replace(" ", "")

        self.transport.refuse = refuse

    def drift(self, key: ItemKey) -> bool:
        return False  # counts are set, never compared: nothing blocks

    def refuse_credentials(self) -> None:
        self.sandbox.revoke(self.token)


@world("gradient")
@contextmanager
def gradient_world(engine: Engine) -> Iterator[ContractWorld]:
    from datetime import UTC, datetime

    from seatsync.sandboxes import gradient as gradient_sandbox
    from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
    from seatsync.sandboxes.gradient import GradientSandbox
    from seatsync.sandboxes.server import BackgroundServer
    from tests.jobs.world import build, connect_gradient

    sandbox = GradientSandbox.seeded("empty")
    cw_sandbox = ConnectWiseSandbox(seed=None)  # the shared builder makes ConnectWise mappings too
    with (
        BackgroundServer(gradient_sandbox.create_app(sandbox, rate_limit=None)) as server,
        BackgroundServer(create_app(cw_sandbox)) as cw_server,
    ):
        (tenant,) = build(engine, cw_sandbox, cw_server.url, tenants_count=1, companies=3)
        connect_gradient(engine, sandbox, server.url, [tenant], since=datetime(2026, 9, 1, tzinfo=UTC))
        pks = company_pks(engine, tenant.id)
        services = {s["name"]: s["id"] for s in sandbox.state(tenant.token)["services"]}
        product = {"Security Awareness Training": "sat", "Phishing Simulation": "phishing"}
        items = {
            (pks[cid], product[name]): (cid, services[name], count)
            for cid, count in tenant.counts.items()
            for name in product
        }
        built = GradientWorld(engine, tenant.id, sandbox, tenant.token, items)
        try:
            yield built  # type: ignore[misc]
        finally:
            built.transport.inner.close()


from tests.targets import autotask_world, fake_target, halopsa_world  # noqa: E402,F401  (register their worlds)
