"""Billable users per company for a billing period (the same counts the pushes send)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seatsync.domain.periods import BillingPeriod
from seatsync.domain.rules import Rule
from seatsync.services import billing
from seatsync.web.api.schemas import BillableCompany, BillableOut, BillableUserOut
from seatsync.web.deps import CurrentOperator, DbSession, Tenant

router = APIRouter(prefix="/billable", tags=["billable"])
PERIOD = r"^\d{4}-\d{2}$"


@router.get("")
def get_billable(
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    period: Annotated[str, Query(pattern=PERIOD, description="YYYY-MM in the tenant's time zone")],
    rule: Annotated[Rule | None, Query(description="one rule for every company (default: each company's own)")] = None,
    users: Annotated[bool, Query(description="also list the users counted, and why")] = False,
) -> BillableOut:
    billing_period = BillingPeriod.parse(period)
    chosen = rule or Rule(tenant.billing_rule)
    counts = billing.count_billable(db, tenant=tenant, period=billing_period, rule=rule)
    out = BillableOut(
        period=str(billing_period),
        rule=chosen.value,
        companies=[
            BillableCompany(
                company_id=c.company_id,
                name=c.name,
                products=[p.value for p in c.products],
                billable_users=c.billable_users,
                rule=c.rule.value,
            )
            for c in counts
        ],
    )
    if users:
        out.users = [
            BillableUserOut(
                company_id=u.company_id,
                user_id=u.user_id,
                email=u.email,
                name=u.name,
                since=u.since,
                reason=u.reason,
                rule=u.rule.value,
            )
            for u in billing.billable_users(db, tenant=tenant, period=billing_period, rule=rule)
        ]
    return out
