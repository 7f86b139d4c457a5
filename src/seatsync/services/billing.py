"""The month's billable users, counted in the database with one set-based query per rule.

The definitions are those of ``seatsync.domain.rules`` (whose ``reference_count`` the tests compare with):
status events are stored as intervals ``[at, valid_to)``, so
- ``active``: an active interval overlaps the period (an instant-long one inside it counts);
- ``active-at-end``: an active interval is in force at the period's last instant;
- ``engaged``: an activity in the period, billed to the company of the interval in force at its instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.orm import Session

from seatsync.db.models import Tenant
from seatsync.db.types import UTCDateTime
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.domain.rules import Product, Rule


@dataclass(frozen=True, slots=True)
class CompanyCount:
    company_pk: int
    company_id: str
    name: str
    products: tuple[Product, ...]
    billable_users: int

    def per_product(self) -> dict[Product, int]:
        """The count for each product the company subscribes to (a seat is billed once per product)."""
        return dict.fromkeys(self.products, self.billable_users)


@dataclass(frozen=True, slots=True)
class BillableUser:
    company_id: str
    company_name: str
    user_id: str
    email: str
    name: str
    #: the first instant in the period at which the rule counted the user
    since: datetime
    reason: str


# Per rule: (company_pk, user_id, first qualifying instant in the period) for every billable pair.
_PAIRS: dict[Rule, str] = {
    Rule.ACTIVE: """
        SELECT e.company_pk, e.user_id,
               MIN(CASE WHEN e.at < :start THEN :start ELSE e.at END) AS since
        FROM status_events e
        WHERE e.tenant_id = :tenant AND e.status = 'active' AND e.at < :end
          AND (e.valid_to IS NULL OR e.valid_to > :start OR e.at >= :start)
        GROUP BY e.company_pk, e.user_id
    """,
    Rule.ACTIVE_AT_END: """
        SELECT e.company_pk, e.user_id, MIN(e.at) AS since
        FROM status_events e
        WHERE e.tenant_id = :tenant AND e.status = 'active' AND e.at < :end
          AND (e.valid_to IS NULL OR e.valid_to >= :end)
        GROUP BY e.company_pk, e.user_id
    """,
    Rule.ENGAGED: """
        SELECT e.company_pk, a.user_id, MIN(a.at) AS since
        FROM activity_events a
        JOIN status_events e
          ON e.tenant_id = a.tenant_id AND e.user_id = a.user_id
         AND e.at <= a.at AND (e.valid_to IS NULL OR e.valid_to > a.at)
        WHERE a.tenant_id = :tenant AND a.at >= :start AND a.at < :end
        GROUP BY e.company_pk, a.user_id
    """,
}

_COUNTS: dict[Rule, str] = {
    Rule.ACTIVE: """
        SELECT e.company_pk, COUNT(DISTINCT e.user_id) AS n
        FROM status_events e
        WHERE e.tenant_id = :tenant AND e.status = 'active' AND e.at < :end
          AND (e.valid_to IS NULL OR e.valid_to > :start OR e.at >= :start)
        GROUP BY e.company_pk
    """,
    Rule.ACTIVE_AT_END: """
        SELECT e.company_pk, COUNT(DISTINCT e.user_id) AS n
        FROM status_events e
        WHERE e.tenant_id = :tenant AND e.status = 'active' AND e.at < :end
          AND (e.valid_to IS NULL OR e.valid_to >= :end)
        GROUP BY e.company_pk
    """,
    Rule.ENGAGED: f"SELECT company_pk, COUNT(*) AS n FROM ({_PAIRS[Rule.ENGAGED]}) pairs GROUP BY company_pk",
}


def _query(sql: str) -> TextClause:
    instants = [bindparam(name, type_=UTCDateTime()) for name in ("start", "end") if f":{name}" in sql]
    return text(sql).bindparams(*instants)


def _params(tenant: Tenant, period: BillingPeriod) -> dict[str, object]:
    start, end = period.bounds(time_zone(tenant.time_zone))
    return {"tenant": tenant.id, "start": start, "end": end}


def _rule(tenant: Tenant, rule: Rule | None) -> Rule:
    return rule if rule is not None else Rule(tenant.billing_rule)


def count_billable(
    session: Session, *, tenant: Tenant, period: BillingPeriod, rule: Rule | None = None
) -> list[CompanyCount]:
    """Every company of the tenant with its billable users for ``period``, sorted by ``company_id``.

    Archived companies appear only when somebody was billable in them during the period.
    """
    chosen = _rule(tenant, rule)
    sql = f"""
        SELECT c.id, c.company_id, c.name, c.products, COALESCE(n.n, 0)
        FROM companies c LEFT JOIN ({_COUNTS[chosen]}) n ON n.company_pk = c.id
        WHERE c.tenant_id = :tenant AND (c.archived = false OR COALESCE(n.n, 0) > 0)
        ORDER BY c.company_id
    """
    rows = session.execute(_query(sql), _params(tenant, period))
    return [
        CompanyCount(
            company_pk=pk,
            company_id=company_id,
            name=name,
            products=tuple(Product(p) for p in products.split(";") if p),
            billable_users=int(count),
        )
        for pk, company_id, name, products, count in rows
    ]


def _reason(rule: Rule, since: datetime, start: datetime) -> str:
    if rule is Rule.ACTIVE:
        if since <= start:
            return "active at the start of the period"
        return f"active from {since.isoformat()}"
    if rule is Rule.ACTIVE_AT_END:
        return f"active at the end of the period (since {since.isoformat()})"
    return f"first activity in the period at {since.isoformat()}"


def billable_users(
    session: Session,
    *,
    tenant: Tenant,
    period: BillingPeriod,
    rule: Rule | None = None,
    company_pks: list[int] | None = None,
) -> list[BillableUser]:
    """Who was counted, per company, and why; sorted by company id then user id."""
    chosen = _rule(tenant, rule)
    params = _params(tenant, period)
    only = ""
    if company_pks is not None:
        if not company_pks:
            return []
        only = f"AND c.id IN ({', '.join(str(int(pk)) for pk in company_pks)})"
    sql = f"""
        SELECT c.company_id, c.name, u.user_id, u.email, u.name, p.since
        FROM ({_PAIRS[chosen]}) p
        JOIN companies c ON c.id = p.company_pk
        JOIN users u ON u.tenant_id = :tenant AND u.user_id = p.user_id
        WHERE 1 = 1 {only}
        ORDER BY c.company_id, u.user_id
    """
    query = _query(sql)
    start = params["start"]
    assert isinstance(start, datetime)
    out: list[BillableUser] = []
    for company_id, company_name, user_id, email, name, since_raw in session.execute(query, params):
        since = UTCDateTime().process_result_value(since_raw, session.get_bind().dialect)
        assert since is not None
        out.append(BillableUser(company_id, company_name, user_id, email, name, since, _reason(chosen, since, start)))
    return out
