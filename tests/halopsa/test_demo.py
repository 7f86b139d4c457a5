"""The demo's HaloPSA side: connected, the demo companies mapped as the demo data says, restarts replayed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from seatsync.config import get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.demo import halopsa as demo_halopsa
from seatsync.demo import setup
from seatsync.demo.data import DemoMapping, demo_companies
from seatsync.sandboxes.halopsa import HaloPSASandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import halopsa_connection, halopsa_mappings, psa_mappings

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)


def test_demo_connects_maps_and_replays_after_a_restart(engine: Engine) -> None:
    summary = setup.ensure_tenant(engine, now=NOW, password="demo-password")
    sandbox = HaloPSASandbox(seed="demo", rate_limit=None)
    with BackgroundServer(create_app(sandbox)) as server:
        result = demo_halopsa.connect_halopsa(
            engine, tenant_id=summary.tenant_id, url=server.url, sandbox=sandbox, settings=get_settings()
        )
        assert result.status is halopsa_connection.IntegrationStatus.CONNECTED, result.reason
        with transaction(engine) as session:
            tenant = session.get(Tenant, summary.tenant_id)
            assert tenant is not None
            mapped = psa_mappings.tenant_mappings(session, tenant_id=tenant.id, target="halopsa")
            with halopsa_connection.client_for(session, tenant=tenant) as client:
                smith = next(c["id"] for c in sandbox.clients.values() if c["ref"] == "SmithSons")
                created = halopsa_mappings.create_subscription(
                    session, tenant=tenant, company_id=next(c.company_id for c in demo_companies() if c.cw_identifier == "SmithSons"), client_id=smith, name="Smith SAT",
                    item_id=11, start_date=None, by="ops", client=client,
                )  # fmt: skip
            complete = [m for rows in mapped.values() for m in rows.values() if m.item_id]
            complete[0].last_pushed_quantity = 77
            first_licence = int(complete[0].item_id or 0)
    expected_complete = [c for c in demo_companies() if c.mapping is DemoMapping.COMPLETE and c.cw_identifier]
    assert len(mapped) == sum(1 for c in demo_companies() if c.mapping is not DemoMapping.NONE and c.cw_identifier)
    assert len(complete) == len(expected_complete) - 1  # Northwind's client has two subscriptions: left to choose
    fresh = HaloPSASandbox(seed="demo", rate_limit=None)
    with transaction(engine) as session:
        tenant = session.get(Tenant, summary.tenant_id)
        assert tenant is not None
        demo_halopsa.replay(session, tenant=tenant, sandbox=fresh)
    assert fresh.licences[first_licence]["count"] == 77
    assert fresh.licences[int(created.item_id or 0)]["name"] == "Smith SAT"
