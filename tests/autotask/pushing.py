"""Test helpers: a tenant whose companies are mapped to the Autotask sandbox's, with billable users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from seatsync.connectors.autotask import AutotaskClient
from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.sandboxes.autotask import SECURITY_AWARENESS_SERVICE, AutotaskSandbox
from seatsync.services import autotask_mappings
from tests.foundation.util import csv_bytes, load, make_tenant, status

PERIOD = BillingPeriod(2026, 11)
DAY = date(2026, 11, 1)


@dataclass
class Mapped:
    tenant: Tenant
    #: seatsync company id -> (contract id, contract service id)
    items: dict[str, tuple[int, int]]
    #: seatsync company id -> billable users in PERIOD
    billable: dict[str, int]


def mapped_tenant(engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient, sizes: dict[str, int]) -> Mapped:
    """One seatsync company per entry, each with its own Autotask company, contract and service (starting at 5
    units) and ``sizes[company]`` users active in PERIOD."""
    tenant = make_tenant(engine)
    load(engine, tenant, "companies", csv_bytes("company_id,name", [f"{c},Client {c}" for c in sizes]))
    rows = [status(f"{c}-u{n}", c, "active", "2026-10-15T09:00:00Z") for c, size in sizes.items() for n in range(size)]
    if rows:
        load(engine, tenant, "users", csv_bytes("user_id,company_id,email,name,status,at", rows))
    items: dict[str, tuple[int, int]] = {}
    for company_id in sizes:
        at_company = sandbox.add_company(f"Client {company_id}")
        contract = sandbox.add_contract(at_company["id"], name=f"Managed Services - {company_id}")
        service = sandbox.add_contract_service(contract["id"], SECURITY_AWARENESS_SERVICE, units=5)
        items[company_id] = (contract["id"], service["id"])
        with transaction(engine) as session:
            autotask_mappings.set_mapping(
                session,
                tenant=session.get(Tenant, tenant.id),  # type: ignore[arg-type]
                company_id=company_id,
                at_company=at_company["id"],
                contract=contract["id"],
                service=service["id"],
                by="test",
                client=client,
            )
    return Mapped(tenant, items, dict(sizes))
