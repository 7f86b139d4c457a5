"""The three billing rules, counted in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine

from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.rules import Rule
from seatsync.services.billing import billable_users, count_billable
from tests.foundation.util import USERS_HEADER, companies, csv_bytes, load, make_tenant, status


def counts(engine: Engine, tenant: Tenant, period: str, rule: Rule | None = None) -> dict[str, int]:
    with transaction(engine) as session:
        return {
            c.company_id: c.billable_users
            for c in count_billable(session, tenant=tenant, period=BillingPeriod.parse(period), rule=rule)
        }


def users(engine: Engine, tenant: Tenant, *rows: str) -> None:
    load(engine, tenant, "users", csv_bytes(USERS_HEADER, rows))


def test_active_any_instant_and_sleeping_later_still_billed(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a", "b")
    users(
        engine,
        t,
        status("u1", "a", "active", "2026-10-03T09:00:00Z"),
        status("u1", "a", "sleeping", "2026-10-04T00:00:00Z"),
        # made active and deleted in the same minute: billable
        status("u2", "a", "active", "2026-10-10T10:00:00Z"),
        status("u2", "a", "deleted", "2026-10-10T10:00:30Z"),
        # deleted before the period: not billable
        status("u3", "a", "active", "2026-08-01T00:00:00Z"),
        status("u3", "a", "deleted", "2026-09-30T23:59:59Z"),
    )
    assert counts(engine, t, "2026-10") == {"a": 2, "b": 0}
    assert counts(engine, t, "2026-10", Rule.ACTIVE_AT_END) == {"a": 0, "b": 0}
    assert counts(engine, t, "2026-09") == {"a": 1, "b": 0}
    assert counts(engine, t, "2026-11") == {"a": 0, "b": 0}


def test_first_and_last_instant_of_the_month(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    users(
        engine,
        t,
        # active only up to the first instant of October: its interval ends exactly at the start
        status("early", "a", "active", "2026-09-15T00:00:00Z"),
        status("early", "a", "sleeping", "2026-10-01T00:00:00Z"),
        # active from the first instant of November: not October's
        status("late", "a", "active", "2026-11-01T00:00:00Z"),
        # active at the very last microsecond of October
        status("edge", "a", "active", "2026-10-31T23:59:59.999999Z"),
    )
    assert counts(engine, t, "2026-10") == {"a": 1}
    assert counts(engine, t, "2026-10", Rule.ACTIVE_AT_END) == {"a": 1}
    assert counts(engine, t, "2026-09") == {"a": 1}
    assert counts(engine, t, "2026-11") == {"a": 2}


def test_tenant_time_zone_and_dst(engine: Engine) -> None:
    t = make_tenant(engine, tz="America/New_York")
    companies(engine, t, "a")
    users(
        engine,
        t,
        # 2026-11-01 03:30Z is still Oct 31 in New York (EDT, -4): billable in October only
        status("u1", "a", "active", "2026-11-01T03:30:00Z"),
        status("u1", "a", "deleted", "2026-11-01T03:45:00Z"),
        # 2026-03-01 04:59Z is Feb 28 in New York (EST, -5)
        status("u2", "a", "active", "2026-03-01T04:59:00Z"),
        status("u2", "a", "deleted", "2026-03-01T04:59:30Z"),
    )
    assert counts(engine, t, "2026-10") == {"a": 1}
    assert counts(engine, t, "2026-11") == {"a": 0}
    assert counts(engine, t, "2026-02") == {"a": 1}
    assert counts(engine, t, "2026-03") == {"a": 0}


def test_out_of_order_import_and_reactivation(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    # the later half first, in a separate import: intervals must be rebuilt
    users(engine, t, status("u1", "a", "active", "2026-10-20T00:00:00Z"))
    users(
        engine,
        t,
        status("u1", "a", "deleted", "2026-10-05T00:00:00Z"),
        status("u1", "a", "active", "2026-09-01T00:00:00Z"),
    )
    assert counts(engine, t, "2026-10") == {"a": 1}
    assert counts(engine, t, "2026-10", Rule.ACTIVE_AT_END) == {"a": 1}
    with transaction(engine) as session:
        listed = billable_users(session, tenant=t, period=BillingPeriod(2026, 10))
    assert [u.user_id for u in listed] == ["u1"]
    assert listed[0].reason == "active at the start of the period"


def test_user_moved_between_companies_counts_for_both(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a", "b", "c")
    users(
        engine,
        t,
        status("u1", "a", "active", "2026-09-01T00:00:00Z"),
        status("u1", "b", "active", "2026-10-15T12:00:00Z"),
    )
    assert counts(engine, t, "2026-10") == {"a": 1, "b": 1, "c": 0}
    assert counts(engine, t, "2026-10", Rule.ACTIVE_AT_END) == {"a": 0, "b": 1, "c": 0}
    with transaction(engine) as session:
        listed = billable_users(session, tenant=t, period=BillingPeriod(2026, 10))
    assert [(u.company_id, u.reason) for u in listed] == [
        ("a", "active at the start of the period"),
        ("b", "active from 2026-10-15T12:00:00+00:00"),
    ]


def test_two_events_at_the_same_instant(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    # active and deleted at one instant: passes through active (billable), ends deleted
    users(
        engine,
        t,
        status("u1", "a", "deleted", "2026-10-10T10:00:00Z"),
        status("u1", "a", "active", "2026-10-10T10:00:00Z"),
    )
    assert counts(engine, t, "2026-10") == {"a": 1}
    assert counts(engine, t, "2026-10", Rule.ACTIVE_AT_END) == {"a": 0}
    assert counts(engine, t, "2026-11") == {"a": 0}


def test_engaged_bills_the_company_at_the_activity(engine: Engine) -> None:
    t = make_tenant(engine, rule="engaged")
    companies(engine, t, "a", "b")
    users(
        engine,
        t,
        status("u1", "a", "active", "2026-09-01T00:00:00Z"),
        status("u1", "b", "active", "2026-10-15T00:00:00Z"),
        status("u2", "a", "active", "2026-09-01T00:00:00Z"),
    )
    load(
        engine,
        t,
        "activity",
        csv_bytes(
            "user_id,kind,at",
            [
                "u1,training,2026-10-20T00:00:00Z",
                "u1,phishing,2026-10-21T00:00:00Z",
                "u2,phishing,2026-09-30T00:00:00Z",
            ],
        ),
    )
    assert counts(engine, t, "2026-10") == {"a": 0, "b": 1}
    assert counts(engine, t, "2026-09") == {"a": 1, "b": 0}
    assert counts(engine, t, "2026-10", Rule.ACTIVE) == {"a": 2, "b": 1}


def test_same_file_twice_changes_nothing(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    data = csv_bytes(
        USERS_HEADER,
        [status("u1", "a", "active", "2026-10-01T00:00:00Z"), status("u2", "a", "active", "2026-10-02T00:00:00Z")],
    )
    first = load(engine, t, "users", data)
    before = counts(engine, t, "2026-10")
    second = load(engine, t, "users", data)
    assert (first.created, second.created, second.unchanged) == (2, 0, 2)
    assert counts(engine, t, "2026-10") == before == {"a": 2}


def test_tenants_do_not_see_each_other(engine: Engine) -> None:
    t1, t2 = make_tenant(engine, "One"), make_tenant(engine, "Two")
    companies(engine, t1, "a")
    companies(engine, t2, "a")
    users(engine, t1, status("u1", "a", "active", "2026-10-01T00:00:00Z"))
    assert counts(engine, t1, "2026-10") == {"a": 1}
    assert counts(engine, t2, "2026-10") == {"a": 0}


def test_instant_long_activity_at_the_first_instant_counts(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    users(
        engine,
        t,
        status("u1", "a", "active", "2026-10-01T00:00:00Z"),
        status("u1", "a", "deleted", "2026-10-01T00:00:00Z"),
    )
    assert counts(engine, t, "2026-10") == {"a": 1}
    assert counts(engine, t, "2026-09") == {"a": 0}
