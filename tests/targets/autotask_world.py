"""The contract suite's Autotask world: the Autotask sandbox over a real socket, three mapped companies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.connectors.http import RetryPolicy
from seatsync.db.models import Tenant
from seatsync.targets.base import ClientFactory, ItemKey
from tests.targets.worlds import PERIOD, ContractWorld, Refusing, company_pks, world

DAY = date(PERIOD.year, PERIOD.month, 1)


@dataclass
class AutotaskWorld:
    engine: Engine
    tenant_id: int
    sandbox: Any
    #: item key -> (contract service id, billable count)
    items: dict[ItemKey, tuple[int, int]]
    transport: Refusing = field(default_factory=Refusing)
    compares: bool = True

    def factory(self) -> ClientFactory:
        from seatsync.services import autotask_connection as at

        def make(session: Session, tenant: Tenant) -> Any:
            return at.client_for(session, tenant=tenant, transport=self.transport, retry=RetryPolicy(backoff_base=0.01))

        return make

    def expected(self) -> dict[ItemKey, float]:
        return {key: float(count) for key, (_, count) in self.items.items()}

    def remote(self) -> dict[ItemKey, float]:
        return {key: float(self.sandbox.units_on(service, DAY)) for key, (service, _) in self.items.items()}

    def writes(self) -> int:
        with self.sandbox.lock:
            return sum(1 for r in self.sandbox.requests if r.method == "POST" and "/query" not in r.path.casefold())

    def fail(self, key: ItemKey | None) -> None:
        service = self.items[key][0] if key is not None else None

        def refuse(request: httpx.Request) -> bool:
            if service is None or not request.url.path.endswith("/ContractServiceAdjustments"):
                return False
            return bool(json.loads(request.content).get("contractServiceID") == service)

        self.transport.refuse = refuse

    def drift(self, key: ItemKey) -> bool:
        self.sandbox.set_units_by_hand(self.items[key][0], DAY, 99)
        return True

    def refuse_credentials(self) -> None:
        with self.sandbox.lock:
            self.sandbox.users.clear()


@world("autotask")
@contextmanager
def autotask_world(engine: Engine) -> Iterator[ContractWorld]:
    from seatsync.db.engine import transaction
    from seatsync.sandboxes.autotask import (
        DEMO_INTEGRATION_CODE,
        SECURITY_AWARENESS_SERVICE,
        AutotaskSandbox,
        create_app,
    )
    from seatsync.sandboxes.server import BackgroundServer
    from seatsync.services import autotask_connection, autotask_mappings
    from tests.foundation.util import csv_bytes, load, make_tenant, status

    sandbox = AutotaskSandbox(seed=None, slowdown_ms=0)
    counts = {"acme": 3, "globex": 7, "initech": 9}  # every one differs from the 5 units the services start with
    with BackgroundServer(create_app(sandbox)) as server:
        tenant = make_tenant(engine, name="Contract MSP")
        load(engine, tenant, "companies", csv_bytes("company_id,name", [f"{c},Client {c}" for c in counts]))
        users = [
            status(f"{c}-u{n}", c, "active", "2026-09-15T09:00:00Z") for c, size in counts.items() for n in range(size)
        ]
        load(engine, tenant, "users", csv_bytes("user_id,company_id,email,name,status,at", users))
        services: dict[str, int] = {}
        with transaction(engine) as session:
            row = session.get(Tenant, tenant.id)
            assert row is not None
            autotask_connection.connect(
                session, tenant=row, username="demo-api@example.com", secret="demo-secret",
                integration_code=DEMO_INTEGRATION_CODE, zone_url=server.url,
            )  # fmt: skip
            with autotask_connection.client_for(session, tenant=row) as client:
                for company_id in counts:
                    at_company = sandbox.add_company(f"Client {company_id}")
                    contract = sandbox.add_contract(at_company["id"])
                    service = sandbox.add_contract_service(contract["id"], SECURITY_AWARENESS_SERVICE, units=5)
                    services[company_id] = service["id"]
                    autotask_mappings.set_mapping(
                        session, tenant=row, company_id=company_id, at_company=at_company["id"],
                        contract=contract["id"], service=service["id"], by="contract", client=client,
                    )  # fmt: skip
        pks = company_pks(engine, tenant.id)
        items = {(pks[c], ""): (services[c], count) for c, count in counts.items()}
        built = AutotaskWorld(engine, tenant.id, sandbox, items)
        try:
            yield built  # type: ignore[misc]
        finally:
            built.transport.inner.close()
