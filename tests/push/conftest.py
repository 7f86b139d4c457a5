"""A seatsync tenant with companies and users, mapped onto a ConnectWise sandbox served over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.connectors.connectwise import ConnectWiseClient
from seatsync.connectors.http import RetryPolicy
from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push.connectwise import ClientFactory
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import mappings
from tests.foundation.util import USERS_HEADER, companies, csv_bytes, load, make_tenant, status

PERIOD = BillingPeriod(2026, 10)
CLIENT_ID = "3f1c2a4e-0000-4000-8000-000000000001"


@pytest.fixture
def sandbox() -> ConnectWiseSandbox:
    return ConnectWiseSandbox(seed=None)


@pytest.fixture
def server(sandbox: ConnectWiseSandbox) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(sandbox)) as running:
        yield running


def make_client(
    url: str, public: str = "demo-public", private: str = "demo-private", **options: Any
) -> ConnectWiseClient:
    options.setdefault("timeout", 10.0)
    options.setdefault("retry", RetryPolicy(backoff_base=0.01))
    return ConnectWiseClient(
        site=url, company_id="demo", public_key=public, private_key=private, client_id=CLIENT_ID, **options
    )


@dataclass
class Mapped:
    company_id: str
    billable: int
    cw_company: int
    agreement: int
    addition: int


@dataclass
class World:
    engine: Engine
    tenant: Tenant
    sandbox: ConnectWiseSandbox
    url: str
    mapped: dict[str, Mapped] = field(default_factory=dict)

    def factory(self, public: str = "demo-public", private: str = "demo-private", **options: Any) -> ClientFactory:
        def make(_session: Session, _tenant: Tenant) -> ConnectWiseClient:
            return make_client(self.url, public, private, **options)

        return make

    def quantity(self, company_id: str) -> float:
        return float(self.sandbox.additions[self.mapped[company_id].addition]["quantity"])

    def documents(self, company_id: str) -> list[dict[str, Any]]:
        agreement = self.mapped[company_id].agreement
        return [d.info for d in self.sandbox.documents.values() if d.record_id == agreement]

    def requests(self, method: str, route_part: str) -> int:
        return sum(1 for r in self.sandbox.requests if r.method == method and route_part in r.path)


def build_world(engine: Engine, sandbox: ConnectWiseSandbox, url: str, *, mapped: int = 3, unmapped: int = 1) -> World:
    """``mapped`` companies with 1, 2, 3 ... active users, each with its own ConnectWise chain (quantity 0)."""
    tenant = make_tenant(engine)
    ids = [f"c{i:02d}" for i in range(1, mapped + unmapped + 1)]
    companies(engine, tenant, *ids)
    rows = [
        status(f"u{i:02d}-{n}", cid, "active", "2026-09-20T00:00:00Z")
        for i, cid in enumerate(ids, start=1)
        for n in range(i)
    ]
    load(engine, tenant, "users", csv_bytes(USERS_HEADER, rows))
    world = World(engine, tenant, sandbox, url)
    with make_client(url) as client, transaction(engine) as session:
        for i, cid in enumerate(ids[:mapped], start=1):
            company = sandbox.add_company(f"CW Company {cid.upper()}")
            agreement = sandbox.add_agreement(company["id"])
            addition = sandbox.add_addition(agreement["id"], quantity=0)
            mappings.set_mapping(
                session,
                tenant=tenant,
                company_id=cid,
                cw_company=company["id"],
                agreement=agreement["id"],
                addition=addition["id"],
                by="test@msp.example",
                client=client,
            )
            world.mapped[cid] = Mapped(cid, i, company["id"], agreement["id"], addition["id"])
    with sandbox.lock:
        sandbox.requests.clear()
        sandbox.request_counts.clear()
    return world


@pytest.fixture
def world(engine: Engine, sandbox: ConnectWiseSandbox, server: BackgroundServer) -> World:
    return build_world(engine, sandbox, server.url)
