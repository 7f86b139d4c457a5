"""The demo's HaloPSA side: connect to the HaloPSA sandbox, map the demo's companies the first time, and give a
fresh sandbox back what seatsync set before a restart (counts pushed, subscriptions created from the mapper).

The HaloPSA sandbox's clients carry the ConnectWise demo's identifiers as their ``ref``, so the demo data's
``DemoMapping`` says for each company how far it is mapped: complete (client and its only subscription), the
client only, or nothing (left for the operator or auto-map).
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.halopsa import HaloPSAClient
from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.demo.data import ADMIN_EMAIL, DemoMapping, demo_companies
from seatsync.sandboxes.halopsa import HaloPSASandbox
from seatsync.services import halopsa_connection, halopsa_mappings, psa_mappings

CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"  # noqa: S105 (the sandbox's public demo value)
HALO_TENANT = "demo"

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "HALO_TENANT", "connect_halopsa", "map_demo_companies", "replay"]


def connect_halopsa(
    engine: Engine, *, tenant_id: int, url: str, sandbox: HaloPSASandbox, settings: Settings
) -> halopsa_connection.ConnectionResult:
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        replay(session, tenant=tenant, sandbox=sandbox)
        result = halopsa_connection.connect(
            session,
            tenant=tenant,
            url=url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            halo_tenant=HALO_TENANT,
            settings=settings,
        )
        if result.status is not halopsa_connection.IntegrationStatus.CONNECTED:
            return result
        with halopsa_connection.client_for(session, tenant=tenant, settings=settings) as client:
            halopsa_mappings.refresh_clients(session, tenant=tenant, client=client)
            if not psa_mappings.tenant_mappings(session, tenant_id=tenant.id, target=halopsa_mappings.TARGET):
                map_demo_companies(session, tenant=tenant, sandbox=sandbox, client=client)
    return result


def map_demo_companies(session: Session, *, tenant: Tenant, sandbox: HaloPSASandbox, client: HaloPSAClient) -> int:
    """Map the companies the demo data marks as mapped (through the mapping service); returns how many."""
    by_ref = {c["ref"]: c["id"] for c in sandbox.clients.values() if not c["inactive"]}
    saved = 0
    for company in demo_companies():
        client_id = by_ref.get(company.cw_identifier or "")
        if company.mapping is DemoMapping.NONE or client_id is None:
            continue
        found = halopsa_mappings.subscriptions(client, client_id=client_id)
        licence = found[0].id if company.mapping is DemoMapping.COMPLETE and len(found) == 1 else None
        halopsa_mappings.set_mapping(
            session,
            tenant=tenant,
            company_id=company.company_id,
            client_id=client_id,
            licence_id=licence,
            by=ADMIN_EMAIL,
            client=client,
        )
        saved += 1
    return saved


def replay(session: Session, *, tenant: Tenant, sandbox: HaloPSASandbox) -> int:
    """Put back into the fresh sandbox each mapped subscription as seatsync left it: the count it last pushed,
    and the subscriptions created from the mapper (same id, name and client)."""
    replayed = 0
    for rows in psa_mappings.tenant_mappings(session, tenant_id=tenant.id, target=halopsa_mappings.TARGET).values():
        for mapping in rows.values():
            if not mapping.item_id or not mapping.psa_company_id:
                continue
            licence_id, client_id = int(mapping.item_id), int(mapping.psa_company_id)
            count = mapping.last_pushed_quantity
            with sandbox.lock:
                if licence_id not in sandbox.licences and client_id in sandbox.clients:
                    sandbox.add_licence(
                        client_id, name=mapping.item_name or f"Subscription {licence_id}", id=licence_id
                    )
                if count is not None and licence_id in sandbox.licences:
                    sandbox.licences[licence_id]["count"] = int(count) if float(count).is_integer() else count
            replayed += 1
    return replayed
