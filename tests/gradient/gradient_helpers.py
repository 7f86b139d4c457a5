"""A tenant with companies and users, connected to a Gradient sandbox served over real sockets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from seatsync.connectors.gradient import GradientClient
from seatsync.connectors.limits import RateLimiter, Unlimited
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, PushResult, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push.gradient import ClientFactory
from seatsync.push.runs import run_results
from seatsync.services import gradient as svc
from tests.foundation.util import USERS_HEADER, csv_bytes, load, make_tenant, status

TOKEN = "demo-partner"
VENDOR = "demo-vendor"
PERIOD = BillingPeriod(2026, 10)


@dataclass
class Connected:
    engine: Engine
    tenant: Tenant
    url: str

    def factory(self, limiter: RateLimiter | None = None) -> ClientFactory:
        def make(session: Session, tenant: Tenant) -> GradientClient:
            return svc.client_for(session, tenant=tenant, limiter=limiter or Unlimited())

        return make

    def integration(self) -> Integration:
        with transaction(self.engine) as session:
            found = svc.get_integration(session, tenant=self.tenant)
            assert found is not None
            return found

    def set_connected_at(self, when: datetime) -> None:
        with transaction(self.engine) as session:
            integration = svc.get_integration(session, tenant=self.tenant)
            assert integration is not None
            integration.connected_at = when

    def run(self, run_id: int) -> PushRun:
        with transaction(self.engine) as session:
            found = session.get(PushRun, run_id)
            assert found is not None
            return found

    def results(self, run_id: int) -> dict[tuple[str, str], PushResult]:
        """``(company_id, product) → result`` of one run."""
        with transaction(self.engine) as session:
            rows = run_results(session, tenant_id=self.tenant.id, run_id=run_id)
        return {(r.company_id, r.result.product or ""): r.result for r in rows}

    def runs(self) -> list[PushRun]:
        with transaction(self.engine) as session:
            return list(session.scalars(select(PushRun).order_by(PushRun.id)))


def seed_tenant(engine: Engine, tz: str = "UTC") -> Tenant:
    """c-1 Initech (2 users, both services), c-2 Globex Industries (1 user, sat only), c-3 Umbrella Health (none).

    The three names are companies of the demo MSP's PSA, so the sandbox maps their accounts on creation."""
    tenant = make_tenant(engine, tz=tz)
    load(
        engine,
        tenant,
        "companies",
        csv_bytes(
            "company_id,name,products",
            ["c-1,Initech,sat;phishing", "c-2,Globex Industries,sat", "c-3,Umbrella Health,sat;phishing"],
        ),
    )
    load(
        engine,
        tenant,
        "users",
        csv_bytes(
            USERS_HEADER,
            [
                status("u1", "c-1", "active", "2026-09-01T00:00:00Z"),
                status("u2", "c-1", "active", "2026-10-10T00:00:00Z"),
                status("u3", "c-2", "active", "2026-10-20T00:00:00Z"),
            ],
        ),
    )
    return tenant


def connect(engine: Engine, tenant: Tenant, url: str) -> Connected:
    with transaction(engine) as session:
        svc.connect(session, tenant=session.get(Tenant, tenant.id) or tenant, token=TOKEN, url=url, limiter=Unlimited())
    return Connected(engine, tenant, url)


def service_ids(sandbox: Any) -> dict[str, str]:
    """``{"sat": id, "phishing": id}`` as the sandbox knows them."""
    by_name = {s["name"]: s["id"] for s in sandbox.state()["services"]}
    return {"sat": by_name["Security Awareness Training"], "phishing": by_name["Phishing Simulation"]}
