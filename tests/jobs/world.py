"""Many tenants, each with mapped companies, on a ConnectWise sandbox (and Gradient, when asked): for the
cluster tests and ``bench/fanout.py``. Data is written in bulk; each tenant's credentials go through the real
``connect`` so the workers build their clients exactly as in production."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select

from seatsync.config import get_settings
from seatsync.connectors.limits import Unlimited
from seatsync.db.engine import transaction
from seatsync.db.models import Company, CWMapping, Integration, Tenant
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.gradient import GradientSandbox
from seatsync.security.secrets import SecretBox
from seatsync.services import connectwise_connection, gradient, tenants
from seatsync.services.imports import ImportKind, import_file

CLIENT_ID = "3f1c2a4e-0000-4000-8000-000000000001"
ACTIVE_SINCE = "2026-09-01T00:00:00Z"


@dataclass
class TenantWorld:
    id: int
    slug: str
    #: addition id -> the billable count it must end at
    expected: dict[int, int] = field(default_factory=dict)
    #: company id -> its billable count (what Gradient must end with, for both services)
    counts: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    #: the tenant's Gradient partner token (``connect_gradient``)
    token: str = ""


def build(
    engine: Engine,
    sandbox: ConnectWiseSandbox,
    url: str,
    *,
    tenants_count: int,
    companies: int,
    member_per_tenant: bool = False,
) -> list[TenantWorld]:
    """``tenants_count`` tenants, each with ``companies`` mapped companies (company n has 1 + n % 4 active users;
    every addition starts at quantity 0, so every quantity changes). ``member_per_tenant``: each tenant its own
    ConnectWise API member, so the sandbox's per-member rate limit applies per tenant (as in ConnectWise)."""
    out: list[TenantWorld] = []
    template: Integration | None = None
    for t in range(1, tenants_count + 1):
        public, private = ("demo-public", "demo-private")
        if member_per_tenant:
            public, private = f"t{t:04d}-public", f"t{t:04d}-private"
            sandbox.add_member(public, private)
        with transaction(engine) as session:
            tenant = tenants.create_tenant(session, name=f"MSP {t:04d}")
            world = TenantWorld(tenant.id, tenant.slug)
            ids = [f"c{n:04d}" for n in range(1, companies + 1)]
            rows = "company_id,name\n" + "".join(f"{cid},Client {t:04d}-{cid}\n" for cid in ids)
            import_file(session, tenant=tenant, kind=ImportKind.COMPANIES, stream=io.BytesIO(rows.encode()), source="c")
            users = ["user_id,company_id,email,name,status,at"]
            for n, cid in enumerate(ids, start=1):
                users += [
                    f"u{n}-{k},{cid},u{n}-{k}@example.com,User {n}-{k},active,{ACTIVE_SINCE}" for k in range(1 + n % 4)
                ]
            data = ("\n".join(users) + "\n").encode()
            import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=io.BytesIO(data), source="u")
            pks = dict(
                session.execute(select(Company.company_id, Company.id).where(Company.tenant_id == tenant.id)).all()
            )
            for n, cid in enumerate(ids, start=1):
                company = sandbox.add_company(f"Client {t:04d}-{cid}")
                agreement = sandbox.add_agreement(company["id"])
                addition = sandbox.add_addition(agreement["id"], quantity=0)
                # stored directly: validating every chain would cost three requests a company before the test
                session.add(
                    CWMapping(
                        tenant_id=tenant.id,
                        company_pk=pks[cid],
                        cw_company_id=company["id"],
                        cw_company_name=company["name"],
                        agreement_id=agreement["id"],
                        agreement_name=agreement["name"],
                        addition_id=addition["id"],
                        addition_name="addition",
                        saved_by="test",
                    )
                )
                world.expected[addition["id"]] = 1 + n % 4
                world.counts[cid] = 1 + n % 4
                world.names[cid] = company["name"]
            if template is None:
                connectwise_connection.connect(
                    session,
                    tenant=tenant,
                    site=url,
                    company_id="demo",
                    public_key=public,
                    private_key=private,
                    client_id=CLIENT_ID,
                )
                session.flush()
                template = session.scalar(select(Integration).where(Integration.tenant_id == tenant.id))
                assert template is not None and template.status == "connected", template and template.status_reason
            else:
                # the same checked connection, with this tenant's keys: checking each would cost ~8 requests a tenant
                # (the key the first connect made seals them)
                box = SecretBox.from_settings(get_settings(), database_url=engine.url)
                session.add(
                    Integration(
                        tenant_id=tenant.id,
                        kind=template.kind,
                        settings=dict(template.settings),
                        secret=box.seal({"public_key": public, "private_key": private}),
                        status=template.status,
                        checked_at=template.checked_at,
                    )
                )
        out.append(world)
    with sandbox.lock:
        sandbox.requests.clear()
        sandbox.request_counts.clear()
        sandbox.changes.clear()
    return out


GRADIENT_VENDOR = "demo-vendor"
GRADIENT_SERVICES = ("Security Awareness Training", "Phishing Simulation")


def connect_gradient(
    engine: Engine, sandbox: GradientSandbox, url: str, worlds: list[TenantWorld], *, since: datetime
) -> None:
    """Each tenant becomes a partner of the sandbox (its own token; every company and service mapped on the MSP's
    side) and is connected through the real ``connect``; ``since`` is when the schedule began for it."""
    for world in worlds:
        world.token = f"partner-{world.id}"
        sandbox.add_partner(
            GRADIENT_VENDOR,
            world.token,
            name=world.slug,
            psa_companies=world.names.values(),
            psa_products=GRADIENT_SERVICES,
        )
        with transaction(engine) as session:
            tenant = session.get(Tenant, world.id)
            assert tenant is not None
            gradient.connect(
                session, tenant=tenant, token=world.token, url=url, vendor_key=GRADIENT_VENDOR, limiter=Unlimited()
            )
            integration = gradient.get_integration(session, tenant=tenant)
            assert integration is not None
            integration.connected_at = since
