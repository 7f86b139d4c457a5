"""Property: the SQL count equals the pure-Python reference on random histories (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from seatsync.db.engine import transaction
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.domain.rules import Activity, ActivityKind, Rule, Status, StatusEvent, reference_count
from seatsync.errors import ImportRejected
from seatsync.services.billing import billable_users, count_billable
from seatsync.services.companies import set_company_rule
from tests.foundation.util import USERS_HEADER, csv_bytes, load, make_tenant

COMPANIES = ["c1", "c2", "c3"]
ORIGIN = datetime(2026, 9, 20, tzinfo=UTC)
# a coarse grid of instants around October 2026 makes ties and month edges likely
INSTANTS = st.integers(min_value=0, max_value=60).map(lambda h: ORIGIN + timedelta(hours=12 * h))
EVENTS = st.lists(
    st.builds(
        StatusEvent,
        user_id=st.sampled_from(["u1", "u2", "u3", "u4"]),
        company_id=st.sampled_from(COMPANIES),
        status=st.sampled_from(list(Status)),
        at=INSTANTS,
    ),
    max_size=14,
)
ACTIVITIES = st.lists(
    st.builds(
        Activity,
        user_id=st.sampled_from(["u1", "u2", "u3", "u4"]),
        kind=st.sampled_from(list(ActivityKind)),
        at=INSTANTS,
    ),
    max_size=6,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    events=EVENTS,
    split=st.integers(min_value=0, max_value=14),
    activities=ACTIVITIES,
    zone=st.sampled_from(["UTC", "America/New_York", "Pacific/Auckland"]),
    own_rules=st.lists(st.sampled_from([None, *Rule]), min_size=len(COMPANIES), max_size=len(COMPANIES)),
)
def test_sql_count_matches_reference(
    engine: Engine,
    events: list[StatusEvent],
    split: int,
    activities: list[Activity],
    zone: str,
    own_rules: list[Rule | None],
) -> None:
    tenant = make_tenant(engine, tz=zone)
    load(engine, tenant, "companies", csv_bytes("company_id,name", [f"{c},{c}" for c in COMPANIES]))
    rows = [f"{e.user_id},{e.company_id},{e.user_id}@x.io,{e.user_id},{e.status},{e.at.isoformat()}" for e in events]
    # two imports, the second half first: order of arrival must not matter
    for part in (rows[split:], rows[:split]):
        if part:
            try:
                load(engine, tenant, "users", csv_bytes(USERS_HEADER, part))
            except ImportRejected as exc:
                # a user active in two companies at one instant is refused by contract: not a history to count
                if not any("at the same instant" in repr(error) for error in exc.errors):
                    raise
                reject()
    known = {e.user_id for e in events}
    acts = [a for a in activities if a.user_id in known]
    if acts:
        load(
            engine,
            tenant,
            "activity",
            csv_bytes("user_id,kind,at", [f"{a.user_id},{a.kind},{a.at.isoformat()}" for a in acts]),
        )
    for period in (BillingPeriod(2026, 9), BillingPeriod(2026, 10), BillingPeriod(2026, 11)):
        start, end = period.bounds(time_zone(zone))
        for rule in Rule:
            expected = reference_count(rule, events, start, end, acts)
            with transaction(engine) as session:
                got = count_billable(session, tenant=tenant, period=period, rule=rule)
                listed = billable_users(session, tenant=tenant, period=period, rule=rule)
            assert {c.company_id: c.billable_users for c in got} == {c: len(expected.get(c, ())) for c in COMPANIES}
            assert {(u.company_id, u.user_id) for u in listed} == {(c, u) for c, us in expected.items() for u in us}
            assert {c.rule for c in got} | {u.rule for u in listed} <= {rule}
        # each company under its own rule (else the tenant's, active): the same as the reference under that rule
        with transaction(engine) as session:
            for company_id, own in zip(COMPANIES, own_rules, strict=True):
                set_company_rule(session, tenant=tenant, company_id=company_id, rule=own)
            got = count_billable(session, tenant=tenant, period=period)
            listed = billable_users(session, tenant=tenant, period=period)
            for company_id in COMPANIES:
                set_company_rule(session, tenant=tenant, company_id=company_id, rule=None)
        used = {c: own or Rule.ACTIVE for c, own in zip(COMPANIES, own_rules, strict=True)}
        expected_by_company = {c: reference_count(used[c], events, start, end, acts).get(c, set()) for c in COMPANIES}
        assert {c.company_id: (c.billable_users, c.rule) for c in got} == {
            c: (len(expected_by_company[c]), used[c]) for c in COMPANIES
        }
        assert {(u.company_id, u.user_id, u.rule) for u in listed} == {
            (c, u, used[c]) for c, us in expected_by_company.items() for u in us
        }
