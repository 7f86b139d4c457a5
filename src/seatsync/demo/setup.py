"""Put the demo tenant in place (once) and connect it to the sandboxes (at every start).

The sandboxes keep their state in memory, so every start re-seeds them; their demo seeds are deterministic, so the
ConnectWise ids the stored mappings name are the same again. What seatsync pushed before the restart is replayed
into the fresh ConnectWise sandbox (as if it had kept it), so that the mapper does not report drift.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.connectors.connectwise.api import ConnectWiseApi
from seatsync.db.engine import transaction
from seatsync.db.models import Company, CWMapping, Operator, Tenant, User
from seatsync.demo.data import (
    ADMIN_EMAIL,
    TENANT_NAME,
    TENANT_SLUG,
    TENANT_TIME_ZONE,
    DemoMapping,
    demo_companies,
    generate,
)
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.errors import Conflict, UserInputError
from seatsync.sandboxes.connectwise import SECURITY_AWARENESS_PRODUCT, ConnectWiseSandbox
from seatsync.sandboxes.gradient import DEMO_PARTNER_TOKEN, DEMO_VENDOR_KEY, GradientSandbox
from seatsync.security.passwords import hash_password
from seatsync.services import connectwise_connection as cw
from seatsync.services import gradient as gradient_service
from seatsync.services import mappings
from seatsync.services.imports import ImportKind, import_records
from seatsync.services.tenants import create_operator, create_tenant

CW_COMPANY_ID = "demo"
CW_PUBLIC_KEY = "demo-public"
CW_PRIVATE_KEY = "demo-private"  # the sandbox's public demo value
#: any non-empty clientId is accepted by the sandbox
CW_CLIENT_ID = "5eadc0de-0000-4000-8000-00000000de70"
MIN_PASSWORD = 8


@dataclass(frozen=True, slots=True)
class TenantSummary:
    tenant_id: int
    created: bool
    companies: int
    users: int


def new_password() -> str:
    return secrets.token_urlsafe(12)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserInputError(f"the demo password needs at least {MIN_PASSWORD} characters")


def _demo_tenant(session: Session) -> Tenant | None:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == TENANT_SLUG))
    if tenant is not None and tenant.name != TENANT_NAME:
        raise Conflict(
            f"this database already has a tenant {TENANT_SLUG!r} ({tenant.name}) that the demo did not create: "
            "run the demo on its own database (--database-url sqlite:///seatsync-demo.db)"
        )
    return tenant


def ensure_tenant(engine: Engine, *, now: datetime, password: str) -> TenantSummary:
    """The demo tenant with its companies, users and activity (created on first use), and its admin's password."""
    check_password(password)
    with transaction(engine) as session:
        tenant = _demo_tenant(session)
        created = tenant is None
        if tenant is None:
            tenant = create_tenant(session, name=TENANT_NAME, time_zone_name=TENANT_TIME_ZONE)
            tenant.slug = TENANT_SLUG  # the name alone would give "demo-msp"; the docs say "demo"
            data = generate(now)
            for kind, records in (
                (ImportKind.COMPANIES, data.company_records()),
                (ImportKind.USERS, data.user_records()),
                (ImportKind.ACTIVITY, data.activity_records()),
            ):
                import_records(session, tenant=tenant, kind=kind, records=records, source=f"demo {kind.value}")
        operator = session.scalar(select(Operator).where(Operator.email == ADMIN_EMAIL))
        if operator is None:
            create_operator(session, tenant=tenant, email=ADMIN_EMAIL, password=password, role="admin")
        elif operator.tenant_id != tenant.id:
            raise Conflict(f"operator {ADMIN_EMAIL} belongs to another tenant: run the demo on its own database")
        else:
            operator.password_hash = hash_password(password)
            operator.disabled = False
        companies = session.scalar(select(func.count()).where(Company.tenant_id == tenant.id)) or 0
        users = session.scalar(select(func.count()).where(User.tenant_id == tenant.id)) or 0
        return TenantSummary(tenant.id, created, companies, users)


def connect_connectwise(
    engine: Engine, *, tenant_id: int, site: str, sandbox: ConnectWiseSandbox, settings: Settings
) -> cw.ConnectionResult:
    """Connect to the sandbox at ``site``, refresh the company list, map the demo's companies the first time, and
    give the fresh sandbox back the quantities seatsync set before."""
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        result = cw.connect(
            session,
            tenant=tenant,
            site=site,
            company_id=CW_COMPANY_ID,
            public_key=CW_PUBLIC_KEY,
            private_key=CW_PRIVATE_KEY,
            client_id=CW_CLIENT_ID,
            settings=settings,
        )
        if result.status is not cw.IntegrationStatus.CONNECTED:
            return result
        with cw.client_for(session, tenant=tenant, settings=settings) as client:
            mappings.refresh_cw_companies(session, tenant=tenant, client=client)
            if session.scalar(select(func.count()).where(CWMapping.tenant_id == tenant.id)) == 0:
                map_demo_companies(session, tenant=tenant, client=client)
        replay_pushed_quantities(session, tenant=tenant, sandbox=sandbox)
    return result


def map_demo_companies(session: Session, *, tenant: Tenant, client: ConnectWiseApi) -> int:
    """Map the companies the demo data marks as mapped (through the mapping service, validated against the
    sandbox); returns how many mappings were saved."""
    cached = {c.identifier: c for c in mappings.search_cw_companies(session, tenant=tenant, limit=10_000)}
    saved = 0
    for company in demo_companies():
        if company.mapping is DemoMapping.NONE or company.cw_identifier is None:
            continue
        cw_company = cached[company.cw_identifier]
        agreement = addition = None
        if company.mapping is DemoMapping.COMPLETE:
            agreement = mappings.cw_agreements(client, cw_company=cw_company.cw_id)[0].id
            addition = next(
                a.id
                for a in mappings.cw_additions(client, agreement=agreement)
                if a.product is not None and a.product.identifier == SECURITY_AWARENESS_PRODUCT
            )
        mappings.set_mapping(
            session,
            tenant=tenant,
            company_id=company.company_id,
            cw_company=cw_company.cw_id,
            agreement=agreement,
            addition=addition,
            by=ADMIN_EMAIL,
            client=client,
        )
        saved += 1
    return saved


def replay_pushed_quantities(session: Session, *, tenant: Tenant, sandbox: ConnectWiseSandbox) -> int:
    """Set each mapped addition in the (fresh) sandbox to what seatsync last pushed to it."""
    replayed = 0
    pushed = session.execute(
        select(CWMapping.addition_id, CWMapping.last_pushed_quantity).where(
            CWMapping.tenant_id == tenant.id,
            CWMapping.addition_id.is_not(None),
            CWMapping.last_pushed_quantity.is_not(None),
        )
    )
    with sandbox.lock:
        for addition_id, quantity in pushed:
            addition = sandbox.additions.get(addition_id) if addition_id is not None else None
            if addition is not None and quantity is not None and addition.get("quantity") != float(quantity):
                sandbox.apply_addition_change(addition, "quantity", float(quantity), source="api", by="seatsync")
                replayed += 1
    return replayed


def _last_month(engine: Engine, *, tenant_id: int, now: datetime) -> BillingPeriod:
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        return BillingPeriod.containing(now, time_zone(tenant.time_zone)).previous()


def first_push(engine: Engine, *, tenant_id: int, now: datetime) -> int:
    """Push last month to ConnectWise, as seatsync would have done then: History has a run to show, and this
    month's preview has real before → after differences."""
    from seatsync.push.connectwise import run_push

    period = _last_month(engine, tenant_id=tenant_id, now=now)
    return run_push(engine, tenant_id=tenant_id, period=period, started_by=ADMIN_EMAIL)


def first_gradient_push(engine: Engine, *, tenant_id: int, now: datetime) -> int:
    """Last month's counts to Gradient, as the schedule would have sent them on the 1st."""
    from seatsync.push.gradient import run_gradient_push

    period = _last_month(engine, tenant_id=tenant_id, now=now)
    return run_gradient_push(engine, tenant_id=tenant_id, period=period, started_by="schedule")


def connect_gradient(engine: Engine, *, tenant_id: int, url: str, sandbox: GradientSandbox) -> str:
    """Connect with the demo partner token (services and accounts are created in the fresh sandbox), then map every
    account and service there, as the MSP would in Synthesize. Returns the account sync's summary."""
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        result = gradient_service.connect(
            session, tenant=tenant, token=DEMO_PARTNER_TOKEN, url=url, vendor_key=DEMO_VENDOR_KEY
        )
    sandbox.map(accounts="all", services="all", token=DEMO_PARTNER_TOKEN)
    if result.sync_error:
        return f"account sync failed: {result.sync_error}"
    return result.sync.summary() if result.sync is not None else "no accounts synced"
