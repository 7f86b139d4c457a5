"""A tenant with companies mapped to HaloPSA subscriptions in a sandbox served over real sockets (the contract
suite's world, the push tests and the browser test share it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.db.engine import transaction
from seatsync.domain.periods import BillingPeriod
from seatsync.sandboxes.halopsa import HaloPSASandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import halopsa_connection, psa_mappings
from seatsync.services.imports import ImportKind, import_records
from seatsync.services.psa_mappings import MappingValues
from seatsync.services.tenants import create_tenant
from tests.targets.worlds import company_pks

ItemKey = tuple[int, str]


def seed_tenant(engine: Engine, *, companies: int, period: BillingPeriod, name: str = "Halo MSP") -> int:
    """Companies ``h-001`` ... with 1, 2, 3 ... users active in ``period``; returns the tenant id."""
    at = (period.start(UTC) + timedelta(hours=1)).isoformat()
    with transaction(engine) as session:
        tenant = create_tenant(session, name=name)
        rows = [
            (n, {"company_id": f"h-{n:03d}", "name": f"Halo Client {n:03d}", "products": ""})
            for n in range(1, companies + 1)
        ]
        import_records(session, tenant=tenant, kind=ImportKind.COMPANIES, records=rows, source="seed")
        users = [
            (i, {"user_id": f"h{n}-{k}", "company_id": f"h-{n:03d}", "email": f"h{n}-{k}@example.com", "name": f"User {k}", "status": "active", "at": at})
            for i, (n, k) in enumerate(((n, k) for n in range(1, companies + 1) for k in range(n)), start=1)
        ]  # fmt: skip
        import_records(session, tenant=tenant, kind=ImportKind.USERS, records=users, source="seed")
        return tenant.id


def map_all(
    engine: Engine, sandbox: HaloPSASandbox, url: str, tenant_id: int, companies: int
) -> dict[ItemKey, tuple[int, int]]:
    """Clients and subscriptions in the sandbox (count 0), the tenant connected and mapped: key -> (licence, count)."""
    items: dict[ItemKey, tuple[int, int]] = {}
    with transaction(engine) as session:
        from seatsync.db.models import Tenant

        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        result = halopsa_connection.connect(
            session, tenant=tenant, url=url, client_id="demo-client", client_secret="demo-secret"
        )
        assert result.status is halopsa_connection.IntegrationStatus.CONNECTED, result.reason
        for n in range(1, companies + 1):
            client = sandbox.add_client(f"Halo Client {n:03d}")
            licence = sandbox.add_licence(client["id"], name=f"Halo Client {n:03d} - Seats", count=0)
            psa_mappings.save_mapping(
                session,
                tenant=tenant,
                target="halopsa",
                company_id=f"h-{n:03d}",
                values=MappingValues(
                    str(client["id"]), client["name"], item_id=str(licence["id"]), item_name=licence["name"]
                ),
                by="test",
            )
    pks = company_pks(engine, tenant_id)
    with Session(engine) as session:
        for n in range(1, companies + 1):
            licence_id = next(r["id"] for r in sandbox.licences.values() if r["name"] == f"Halo Client {n:03d} - Seats")
            items[(pks[f"h-{n:03d}"], "")] = (licence_id, n)
    return items


@contextmanager
def mapped_world(
    engine: Engine, *, companies: int, period: BillingPeriod, sandbox: HaloPSASandbox | None = None
) -> Iterator[tuple[HaloPSASandbox, int, dict[ItemKey, tuple[int, int]]]]:
    halo = sandbox or HaloPSASandbox(seed=None, rate_limit=None)
    with BackgroundServer(create_app(halo)) as server:
        tenant_id = seed_tenant(engine, companies=companies, period=period)
        items = map_all(engine, halo, server.url, tenant_id, companies)
        halo.clear_log()
        yield halo, tenant_id, items
