"""The month's billable users, counted in the database with set-based queries, one per rule in use.

The definitions are those of ``seatsync.domain.rules`` (whose ``reference_count`` the tests compare with):
status events are stored as intervals ``[at, valid_to)``, so
- ``active``: an active interval overlaps the period (an instant-long one inside it counts);
- ``active-at-end``: an active interval is in force at the period's last instant;
- ``engaged``: an activity in the period, billed to the company of the interval in force at its instant;
- ``peak``: the most active intervals of a company in force at one instant of the period (a sweep over the starts
  and ends of the intervals that overlap it); the users listed are those of the earliest such instant.

Each company is counted under its own rule (``companies.billing_rule``) or else the tenant's; a caller may ask for
one rule for every company (``rule=``). Every count and listed user carries the rule that produced it.

The interval predicates are sargable and bounded on both sides (``seatsync.services.intervals``, by each interval's
length class): a count reads the intervals near the period, not the tenant's history before or after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from seatsync.db.models import Company, Tenant
from seatsync.db.types import UTCDateTime
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.domain.rules import Product, Rule
from seatsync.services.intervals import (
    OPEN_ACTIVE,
    closed_active,
    overlapping_active,
    span_bound_names,
    span_bounds,
)

__all__ = [
    "BillableUser",
    "CompanyCount",
    "billable_users",
    "count_billable",
    "effective_rule",
    "own_rules",
    "rules_in_use",
]


@dataclass(frozen=True, slots=True)
class CompanyCount:
    company_pk: int
    company_id: str
    name: str
    products: tuple[Product, ...]
    billable_users: int
    #: the rule this count was made with (the company's own, the tenant's, or the one asked for)
    rule: Rule = field(default=Rule.ACTIVE)

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
    #: the first instant in the period at which the rule counted the user (``peak``: the peak's instant)
    since: datetime
    reason: str
    rule: Rule = field(default=Rule.ACTIVE)


#: ``engaged``'s rows: each of the period's activities with the company of its user's interval in force at its
#: instant (NULL when none is: that row joins no company). A user's intervals follow one another, so at most one
#: holds at an instant, and it is the latest that began at or before it: one probe per activity of the natural key
#: (user, then instants back from the activity's), stopped at the first that holds. So the cost is that of the
#: period's activity, whatever the length of the tenant's or the user's history; a join there would let PostgreSQL
#: hash every stored interval of the tenant instead (its plan on a long history). The activities are materialized
#: so that SQLite probes once per activity (flattened, it probed again for the grouping).
_ENGAGED_ROWS = """
    WITH engaged AS MATERIALIZED (
        SELECT (
            SELECT e.company_pk FROM status_events e
            WHERE e.tenant_id = a.tenant_id AND e.user_id = a.user_id
              AND e.at <= a.at AND (e.valid_to IS NULL OR e.valid_to > a.at)
            ORDER BY e.at DESC LIMIT 1
        ) AS company_pk, a.user_id, a.at
        FROM activity_events a
        WHERE a.tenant_id = :tenant AND a.at >= :start AND a.at < :end
    )
    SELECT company_pk, user_id, at FROM engaged
"""

#: the rows each interval rule counts, (company_pk, user_id, at), and the instant a pair is billable from
_ROWS: dict[Rule, tuple[str, str]] = {
    Rule.ACTIVE: (overlapping_active("start", "end"), "MIN(CASE WHEN i.at < :start THEN :start ELSE i.at END)"),
    # in force at the period's last instant: an interval that reaches the end (the instant range [end, end])
    Rule.ACTIVE_AT_END: (overlapping_active("end", "end", closed_end=True), "MIN(i.at)"),
    # an activity in the period, with the company of the interval in force at its instant (``_ENGAGED_ROWS``)
    Rule.ENGAGED: (_ENGAGED_ROWS, "MIN(i.at)"),
}


def _running(starts: str) -> str:
    """Per company, a running level over marks: +1 at each start (``starts``: rows (company_pk, x)), -1 at each
    end of a closed interval of the period (``ivc``) before the period's end. Marks at one instant are taken in the
    order: ends of intervals that had length (they no longer hold), starts, then ends of instant-long intervals
    (they held at their instant); at a start, the running sum over the peers of (instant, order) counts the marked
    intervals in force."""
    return f"""
        SELECT company_pk, x, kind, SUM(delta) OVER (PARTITION BY company_pk ORDER BY x, kind) AS level
        FROM (
            SELECT company_pk, x, 1 AS kind, 1 AS delta FROM ({starts}) s
            UNION ALL
            SELECT company_pk, valid_to AS x, CASE WHEN valid_to = at THEN 2 ELSE 0 END AS kind, -1 AS delta
            FROM ivc WHERE valid_to < :end
        ) marks
    """


def _peak_levels() -> str:
    """Per company and candidate instant (the period's start, or an interval's start in it): how many active
    intervals hold there (every interval marked, its start taken at the period's start at the latest)."""
    starts = "SELECT company_pk, CASE WHEN at < :start THEN :start ELSE at END AS x FROM iv"
    return f"SELECT company_pk, x, level FROM ({_running(starts)}) running WHERE kind = 1"


def _peak_with() -> str:
    return f"WITH iv AS ({overlapping_active('start', 'end')}), ivc AS ({closed_active('start', 'end')})"


def _open_counts(hi: str) -> str:
    """(company_pk, n): per company, its open active intervals begun before ``:hi``, read in the open index's
    company order (no sort)."""
    return f"SELECT e.company_pk, COUNT(*) AS n FROM status_events e WHERE {OPEN_ACTIVE} AND e.at < :{hi} GROUP BY e.company_pk"


def _peak_counts() -> str:
    """Per company, the peak: the intervals in force at the period's start (``at`` before it) plus the highest
    level the period's own marks reach over them. Those intervals hold at the start and their starts all fall
    on it, so they are counted, not swept (the open ones in the open index's company order): the window sorts
    only the starts in the period and the ends before its end (``_peak_levels``' level at a start is this base
    plus this window's level, and the start itself, with no start on it, is a candidate at the base alone: the
    0 of the base's rows)."""
    starts = f"""
        SELECT company_pk, at AS x FROM ivc WHERE at >= :start
        UNION ALL
        SELECT e.company_pk, e.at AS x FROM status_events e WHERE {OPEN_ACTIVE} AND e.at >= :start AND e.at < :end
    """
    return f"""
        SELECT company_pk, SUM(b) + MAX(m) AS n FROM (
            SELECT company_pk, n AS b, 0 AS m FROM ({_open_counts("start")}) o
            UNION ALL
            SELECT company_pk, 1 AS b, 0 AS m FROM ivc WHERE at < :start
            UNION ALL
            SELECT company_pk, 0 AS b, level AS m FROM ({_running(starts)}) running WHERE kind = 1
        ) parts GROUP BY company_pk
    """


def _active_counts() -> str:
    """(company_pk, n) under ``active``: the open intervals (one per user) counted in the open index's order,
    plus the users of the period's closed intervals (de-duplicated: a user may have several in one company) who
    have no open one in the same company (a seek in the open index by company and user)."""
    return f"""
        SELECT company_pk, SUM(n) AS n FROM (
            {_open_counts("end")}
            UNION ALL
            SELECT d.company_pk, COUNT(*) AS n
            FROM (SELECT DISTINCT i.company_pk, i.user_id FROM ({closed_active("start", "end")}) i) d
            WHERE NOT EXISTS (
                SELECT 1 FROM status_events e
                WHERE {OPEN_ACTIVE} AND e.company_pk = d.company_pk AND e.user_id = d.user_id AND e.at < :end)
            GROUP BY d.company_pk
        ) parts GROUP BY company_pk
    """


def _at_end_counts() -> str:
    """(company_pk, n) under ``active-at-end``: a user's intervals follow one another (each ends where the user's
    next begins, the importer's window), so at most one of them holds at the period's last instant: rows are
    counted, not distinct users; the open ones in the open index's order."""
    return f"""
        SELECT company_pk, SUM(n) AS n FROM (
            {_open_counts("end")}
            UNION ALL
            SELECT i.company_pk, COUNT(*) AS n FROM ({closed_active("end", "end", closed_end=True)}) i
            GROUP BY i.company_pk
        ) parts GROUP BY company_pk
    """


def _peak_pairs() -> str:
    # the users in force at the earliest instant where the level is highest
    return f"""
        SELECT iv.company_pk, iv.user_id, top.x AS since
        FROM (
            SELECT l.company_pk, MIN(l.x) AS x FROM ({_peak_levels()}) l
            JOIN ({_peak_counts()}) m ON m.company_pk = l.company_pk AND l.level = m.n
            GROUP BY l.company_pk
        ) top
        JOIN iv ON iv.company_pk = top.company_pk AND iv.at <= top.x
         AND (iv.valid_to IS NULL OR iv.valid_to > top.x OR (iv.valid_to = iv.at AND iv.at = top.x))
    """


def _pairs(rule: Rule) -> str:
    """(company_pk, user_id, since) for every billable pair under ``rule``."""
    if rule is Rule.PEAK:
        return _peak_pairs()
    rows, since = _ROWS[rule]
    return f"SELECT i.company_pk, i.user_id, {since} AS since FROM ({rows}) i GROUP BY i.company_pk, i.user_id"


def _counts(rule: Rule) -> str:
    """(company_pk, n) for every company with a billable user under ``rule``."""
    if rule is Rule.PEAK:
        return _peak_counts()
    if rule is Rule.ACTIVE:
        return _active_counts()
    if rule is Rule.ACTIVE_AT_END:
        return _at_end_counts()
    rows, _since = _ROWS[rule]
    # distinct users per company: one grouping, no pair's instant
    return f"SELECT i.company_pk, COUNT(DISTINCT i.user_id) AS n FROM ({rows}) i GROUP BY i.company_pk"


def _labelled(rules: Iterable[Rule], *, pairs: bool) -> str:
    """One union of each rule's rows, labelled with the rule (a literal: the rules are our own enum values)."""
    selects = []
    for rule in sorted(set(rules)):
        body = _pairs(rule) if pairs else _counts(rule)
        columns = "company_pk, user_id, since" if pairs else "company_pk, n"
        selects.append(f"SELECT '{rule.value}' AS rule, {columns} FROM ({body}) r_{rule.name.lower()}")
    return " UNION ALL ".join(selects)


#: the instants a count's SQL may name: the period's bounds and each length class's earliest start before them
_INSTANTS = ("start", "end", *span_bound_names("start"), *span_bound_names("end"))


def _query(sql: str) -> TextClause:
    instants = [bindparam(name, type_=UTCDateTime()) for name in _INSTANTS if re.search(rf":{name}\b", sql)]
    return text(sql).bindparams(*instants)


def _execute(session: Session, rules: set[Rule], query: TextClause, params: dict[str, object]) -> Sequence[Any]:
    """The count's rows. On PostgreSQL ``engaged`` runs without JIT compilation: its plan is one index probe per
    activity, whose estimated cost passes ``jit_above_cost`` with a few thousand activities, and compiling the
    plan then took about as long as running it (60 ms, for 14,000 activities). The setting is the
    transaction's own, put back after the query so that the caller's later statements run as before."""
    if Rule.ENGAGED not in rules or session.get_bind().dialect.name != "postgresql":
        return session.execute(query, params).all()
    before = session.execute(text("SELECT current_setting('jit')")).scalar_one()
    session.execute(text("SELECT set_config('jit', 'off', true)"))
    rows = session.execute(query, params).all()
    session.execute(text("SELECT set_config('jit', :before, true)"), {"before": before})
    return rows


def _params(tenant: Tenant, period: BillingPeriod, forced: Rule | None) -> dict[str, object]:
    start, end = period.bounds(time_zone(tenant.time_zone))
    return {
        "tenant": tenant.id,
        "start": start,
        "end": end,
        **span_bounds("start", start),
        **span_bounds("end", end),
        "tenant_rule": (forced or Rule(tenant.billing_rule)).value,
    }


#: each rule by its stored value
_RULES = {rule.value: rule for rule in Rule}


def own_rules(session: Session, *, tenant: Tenant) -> tuple[tuple[int, str], ...]:
    """(company pk, rule) of every company of the tenant with its own rule (a partial index holds just those)."""
    query = (
        select(Company.id, Company.billing_rule)
        .where(Company.tenant_id == tenant.id, Company.billing_rule.is_not(None))
        .order_by(Company.id)
    )
    return tuple((pk, str(rule)) for pk, rule in session.execute(query))


def rules_in_use(session: Session, *, tenant: Tenant) -> set[Rule]:
    """The tenant's rule and every company's own."""
    return {Rule(tenant.billing_rule), *(Rule(rule) for _pk, rule in own_rules(session, tenant=tenant))}


def effective_rule(tenant: Tenant, company: Company) -> Rule:
    """The rule a company is counted with: its own, else the tenant's."""
    return Rule(company.billing_rule or tenant.billing_rule)


def _rule_of_company(forced: Rule | None) -> str:
    return ":tenant_rule" if forced is not None else "COALESCE(c.billing_rule, :tenant_rule)"


def _with(rules: set[Rule]) -> str:
    return _peak_with() if Rule.PEAK in rules else ""


def count_billable(
    session: Session, *, tenant: Tenant, period: BillingPeriod, rule: Rule | None = None
) -> list[CompanyCount]:
    """Every company of the tenant with its billable users for ``period``, sorted by ``company_id``: each under its
    own rule (else the tenant's), or every one under ``rule`` when given.

    An archived company appears for the period it was archived in (and earlier ones), 0 included; not after.
    (One archived before its date was kept appears only when somebody was billable in it during the period.)
    """
    rules = {rule} if rule is not None else rules_in_use(session, tenant=tenant)
    chosen = _rule_of_company(rule)
    sql = f"""
        {_with(rules)}
        SELECT c.id, c.company_id, c.name, c.products, {chosen} AS rule, COALESCE(n.n, 0)
        FROM companies c LEFT JOIN ({_labelled(rules, pairs=False)}) n ON n.company_pk = c.id AND n.rule = {chosen}
        WHERE c.tenant_id = :tenant
          AND (c.archived = false OR c.archived_at >= :start OR (c.archived_at IS NULL AND COALESCE(n.n, 0) > 0))
        ORDER BY c.company_id
    """
    rows = _execute(session, rules, _query(sql), _params(tenant, period, rule))
    # a tenant's companies share a few product lists and rules: each parsed once, not once per company
    products_of: dict[str, tuple[Product, ...]] = {}
    for products in {row[3] for row in rows}:
        products_of[products] = tuple(Product(p) for p in products.split(";") if p)
    return [
        CompanyCount(
            company_pk=pk,
            company_id=company_id,
            name=name,
            products=products_of[products],
            billable_users=int(count),
            rule=_RULES[rule_used],
        )
        for pk, company_id, name, products, rule_used, count in rows
    ]


def _reason(rule: Rule, since: datetime, start: datetime) -> str:
    if rule is Rule.ACTIVE:
        if since <= start:
            return "active at the start of the period"
        return f"active from {since.isoformat()}"
    if rule is Rule.ACTIVE_AT_END:
        return f"active at the end of the period (since {since.isoformat()})"
    if rule is Rule.PEAK:
        return f"active at the period's peak ({since.isoformat()})"
    return f"first activity in the period at {since.isoformat()}"


def billable_users(
    session: Session,
    *,
    tenant: Tenant,
    period: BillingPeriod,
    rule: Rule | None = None,
    company_pks: list[int] | None = None,
) -> list[BillableUser]:
    """Who was counted, per company, and why (each company under its rule, as ``count_billable``); sorted by
    company id then user id."""
    params = _params(tenant, period, rule)
    only = ""
    if company_pks is not None:
        if not company_pks:
            return []
        only = f"AND c.id IN ({', '.join(str(int(pk)) for pk in company_pks)})"
    rules = {rule} if rule is not None else rules_in_use(session, tenant=tenant)
    chosen = _rule_of_company(rule)
    sql = f"""
        {_with(rules)}
        SELECT c.company_id, c.name, u.user_id, u.email, u.name, p.since, p.rule
        FROM ({_labelled(rules, pairs=True)}) p
        JOIN companies c ON c.id = p.company_pk AND p.rule = {chosen}
        JOIN users u ON u.tenant_id = :tenant AND u.user_id = p.user_id
        WHERE c.tenant_id = :tenant {only}
        ORDER BY c.company_id, u.user_id
    """
    query = _query(sql)
    start = params["start"]
    assert isinstance(start, datetime)
    out: list[BillableUser] = []
    dialect = session.get_bind().dialect
    for company_id, company_name, user_id, email, name, since_raw, rule_used in _execute(session, rules, query, params):
        since = UTCDateTime().process_result_value(since_raw, dialect)
        assert since is not None
        used = Rule(rule_used)
        out.append(
            BillableUser(company_id, company_name, user_id, email, name, since, _reason(used, since, start), used)
        )
    return out
