"""The billing rules, counted in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.rules import Rule
from seatsync.errors import NotFound, UserInputError
from seatsync.services.billing import billable_users, count_billable
from seatsync.services.companies import set_company_rule
from tests.foundation.util import USERS_HEADER, companies, csv_bytes, load, make_tenant, status


def counts(engine: Engine, tenant: Tenant, period: str, rule: Rule | None = None) -> dict[str, int]:
    with transaction(engine) as session:
        return {
            c.company_id: c.billable_users
            for c in count_billable(session, tenant=tenant, period=BillingPeriod.parse(period), rule=rule)
        }


def users(engine: Engine, tenant: Tenant, *rows: str) -> None:
    load(engine, tenant, "users", csv_bytes(USERS_HEADER, rows))


def activity(engine: Engine, tenant: Tenant, *rows: str) -> None:
    load(engine, tenant, "activity", csv_bytes("user_id,kind,at", rows))


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
    activity(
        engine,
        t,
        "u1,training,2026-10-20T00:00:00Z",
        "u1,phishing,2026-10-21T00:00:00Z",
        "u2,phishing,2026-09-30T00:00:00Z",
    )
    assert counts(engine, t, "2026-10") == {"a": 0, "b": 1}
    assert counts(engine, t, "2026-09") == {"a": 1, "b": 0}
    assert counts(engine, t, "2026-10", Rule.ACTIVE) == {"a": 2, "b": 1}


def test_engaged_takes_the_one_interval_in_force_at_the_activity(engine: Engine) -> None:
    """The look-up goes back from the activity's instant to the first interval that holds there: one that begins
    at that very instant holds, one that ends there or lasts no time does not, nor one that begins later, however
    long the user's history before and after it; an activity before the user's first event bills nobody."""
    t = make_tenant(engine, rule="engaged")
    companies(engine, t, "a", "b", "c", "d")
    users(
        engine,
        t,
        # moved to b at the activity's instant
        status("u1", "a", "active", "2026-09-01T00:00:00Z"),
        status("u1", "b", "sleeping", "2026-10-10T00:00:00Z"),
        # a long history; deleted in c before the activity, active in b after it
        status("u2", "a", "active", "2026-09-01T00:00:00Z"),
        status("u2", "a", "sleeping", "2026-09-05T00:00:00Z"),
        status("u2", "a", "active", "2026-09-10T00:00:00Z"),
        status("u2", "a", "sleeping", "2026-09-20T00:00:00Z"),
        status("u2", "c", "deleted", "2026-10-05T00:00:00Z"),
        status("u2", "b", "active", "2026-10-25T00:00:00Z"),
        status("u2", "b", "sleeping", "2026-11-02T00:00:00Z"),
        # active in a and sleeping in b at one instant: the active interval lasts no time, the sleeping one holds
        status("u3", "a", "active", "2026-10-15T00:00:00Z"),
        status("u3", "b", "sleeping", "2026-10-15T00:00:00Z"),
        # first seen after its first activity
        status("u4", "d", "active", "2026-10-20T00:00:00Z"),
    )
    # each user's activity, "user,kind,at"
    done = ("u1,training,2026-10-10", "u2,phishing,2026-10-20", "u3,training,2026-10-15", "u4,training,2026-10-10")
    activity(engine, t, *(f"{row}T00:00:00Z" for row in (*done, "u4,phishing,2026-10-25")))
    assert counts(engine, t, "2026-10") == {"a": 0, "b": 2, "c": 1, "d": 1}
    with transaction(engine) as session:
        listed = billable_users(session, tenant=t, period=BillingPeriod(2026, 10))
    assert [(u.company_id, u.user_id, u.since.isoformat()) for u in listed] == [
        ("b", "u1", "2026-10-10T00:00:00+00:00"),
        ("b", "u3", "2026-10-15T00:00:00+00:00"),
        ("c", "u2", "2026-10-20T00:00:00+00:00"),
        ("d", "u4", "2026-10-25T00:00:00+00:00"),
    ]


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


# -- peak --------------------------------------------------------------------------------------------------------


def listed(engine: Engine, tenant: Tenant, period: str, rule: Rule | None = None) -> list[tuple[str, str, str]]:
    with transaction(engine) as session:
        found = billable_users(session, tenant=tenant, period=BillingPeriod.parse(period), rule=rule)
    return [(u.company_id, u.user_id, u.reason) for u in found]


def test_peak_counts_a_replacement_once(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a", "b")
    users(
        engine,
        t,
        # u1 leaves on the 10th, u2 replaces it on the 12th: never both active, one seat
        status("u1", "a", "active", "2026-09-01T00:00:00Z"),
        status("u1", "a", "deleted", "2026-10-10T00:00:00Z"),
        status("u2", "a", "active", "2026-10-12T00:00:00Z"),
        # u3 for the whole month; u4 joins on the 20th, while u3 is there: two seats at once in b
        status("u3", "b", "active", "2026-09-01T00:00:00Z"),
        status("u4", "b", "active", "2026-10-20T00:00:00Z"),
    )
    assert counts(engine, t, "2026-10", Rule.PEAK) == {"a": 1, "b": 2}
    assert counts(engine, t, "2026-10", Rule.ACTIVE) == {"a": 2, "b": 2}
    # the users listed are those of the earliest peak: u1 at the period's start, u3 and u4 on the 20th
    assert listed(engine, t, "2026-10", Rule.PEAK) == [
        ("a", "u1", "active at the period's peak (2026-10-01T00:00:00+00:00)"),
        ("b", "u3", "active at the period's peak (2026-10-20T00:00:00+00:00)"),
        ("b", "u4", "active at the period's peak (2026-10-20T00:00:00+00:00)"),
    ]
    assert counts(engine, t, "2026-11", Rule.PEAK) == {"a": 1, "b": 2}
    assert counts(engine, t, "2026-08", Rule.PEAK) == {"a": 0, "b": 0}


def test_peak_same_instant_swaps(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a", "b", "c")
    users(
        engine,
        t,
        # a: u1 deleted and u2 made active at the same instant: the seat passes over, one seat
        status("u1", "a", "active", "2026-09-01T00:00:00Z"),
        status("u1", "a", "deleted", "2026-10-15T12:00:00Z"),
        status("u2", "a", "active", "2026-10-15T12:00:00Z"),
        # b: u3 made active and deleted at one instant while u4 is active: both hold at that instant
        status("u4", "b", "active", "2026-09-01T00:00:00Z"),
        status("u3", "b", "deleted", "2026-10-05T00:00:00Z"),
        status("u3", "b", "active", "2026-10-05T00:00:00Z"),
        # c: u5 re-activated (active, then active again) counts once; u6 swaps in at the first instant
        status("u5", "c", "active", "2026-09-01T00:00:00Z"),
        status("u5", "c", "active", "2026-10-07T00:00:00Z"),
        status("u6", "c", "deleted", "2026-10-01T00:00:00Z"),
        status("u6", "c", "active", "2026-09-20T00:00:00Z"),
        status("u7", "c", "active", "2026-10-01T00:00:00Z"),
    )
    assert counts(engine, t, "2026-10", Rule.PEAK) == {"a": 1, "b": 2, "c": 2}
    assert [(c, u) for c, u, _ in listed(engine, t, "2026-10", Rule.PEAK)] == [
        ("a", "u1"),
        ("b", "u3"),
        ("b", "u4"),
        ("c", "u5"),
        ("c", "u7"),
    ]
    assert counts(engine, t, "2026-09", Rule.PEAK) == {"a": 1, "b": 1, "c": 2}


def test_peak_in_a_time_zone_and_a_user_that_moved(engine: Engine) -> None:
    t = make_tenant(engine, tz="America/New_York")
    companies(engine, t, "a", "b")
    users(
        engine,
        t,
        # 2026-11-01 03:00Z is still October in New York: u1 and u2 overlap there for an hour
        status("u1", "a", "active", "2026-10-10T00:00:00Z"),
        status("u1", "a", "deleted", "2026-11-01T04:00:00Z"),
        status("u2", "a", "active", "2026-11-01T03:00:00Z"),
        # u3 moves from a to b: each company counts it once
        status("u3", "a", "active", "2026-11-15T00:00:00Z"),
        status("u3", "b", "active", "2026-11-20T00:00:00Z"),
    )
    assert counts(engine, t, "2026-10", Rule.PEAK) == {"a": 2, "b": 0}
    assert counts(engine, t, "2026-11", Rule.PEAK) == {"a": 2, "b": 1}


# -- per-company rules -------------------------------------------------------------------------------------------


def test_a_company_with_its_own_rule(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a", "b")
    users(
        engine,
        t,
        status("u1", "a", "active", "2026-10-03T00:00:00Z"),
        status("u1", "a", "sleeping", "2026-10-04T00:00:00Z"),
        status("u2", "a", "active", "2026-10-05T00:00:00Z"),
        status("u3", "b", "active", "2026-10-03T00:00:00Z"),
        status("u3", "b", "deleted", "2026-10-04T00:00:00Z"),
        status("u4", "b", "active", "2026-10-05T00:00:00Z"),
    )
    with transaction(engine) as session:
        set_company_rule(session, tenant=t, company_id="b", rule="peak")
    with transaction(engine) as session:
        got = count_billable(session, tenant=t, period=BillingPeriod(2026, 10))
        users_of_b = billable_users(session, tenant=t, period=BillingPeriod(2026, 10), company_pks=[got[1].company_pk])
    assert [(c.company_id, c.billable_users, c.rule) for c in got] == [("a", 2, Rule.ACTIVE), ("b", 1, Rule.PEAK)]
    assert [(u.user_id, u.rule) for u in users_of_b] == [("u3", Rule.PEAK)]
    # a rule asked for applies to every company
    assert counts(engine, t, "2026-10", Rule.ACTIVE) == {"a": 2, "b": 2}
    with transaction(engine) as session:
        set_company_rule(session, tenant=t, company_id="b", rule=None)
    assert counts(engine, t, "2026-10") == {"a": 2, "b": 2}
    with transaction(engine) as session, pytest.raises(UserInputError, match="unknown billing rule 'most'"):
        set_company_rule(session, tenant=t, company_id="a", rule="most")
    with transaction(engine) as session, pytest.raises(NotFound, match="no company 'zz'"):
        set_company_rule(session, tenant=t, company_id="zz", rule="peak")


def test_cli_company_set_rule(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--database-url", database_url]
    slug = runner.invoke(cli, ["tenant", "create", "Acme", "--rule", "active-at-end", *db]).output.strip()
    (tmp_path / "c.csv").write_bytes(csv_bytes("company_id,name", ["a,Alpha", "b,Beta"]))
    (tmp_path / "u.csv").write_bytes(
        csv_bytes(
            USERS_HEADER,
            [
                status("u1", "a", "active", "2026-10-03T00:00:00Z"),
                status("u1", "a", "deleted", "2026-10-04T00:00:00Z"),
                status("u2", "a", "active", "2026-10-05T00:00:00Z"),
            ],
        )
    )
    for kind, name in (("companies", "c.csv"), ("users", "u.csv")):
        assert runner.invoke(cli, ["import", kind, str(tmp_path / name), "--tenant", slug, *db]).exit_code == 0
    done = runner.invoke(cli, ["company", "set-rule", "--tenant", slug, "--company", "a", "--rule", "active", *db])
    assert (done.exit_code, done.output) == (0, "company a is counted with rule active\n")
    out = runner.invoke(cli, ["billable", "--tenant", slug, "--period", "2026-10", "--format", "csv", *db])
    assert out.output == "company_id,company_name,billable_users,rule\na,Alpha,2,active\nb,Beta,0,active-at-end\n"
    cleared = runner.invoke(cli, ["company", "set-rule", "--tenant", slug, "--company", "a", "--clear", *db])
    assert cleared.output == "company a is counted with the tenant's rule (active-at-end)\n"
    out = runner.invoke(cli, ["billable", "--tenant", slug, "--period", "2026-10", "--format", "csv", *db])
    assert (
        out.output == "company_id,company_name,billable_users,rule\na,Alpha,1,active-at-end\nb,Beta,0,active-at-end\n"
    )
    both = runner.invoke(cli, ["company", "set-rule", "--tenant", slug, "--company", "a", "--clear", "--rule", "peak"])
    assert both.exit_code == 2 and "give --rule R or --clear" in both.output
    missing = runner.invoke(cli, ["company", "set-rule", "--tenant", slug, "--company", "zz", "--rule", "peak", *db])
    assert missing.exit_code == 1 and "no company 'zz'" in missing.output


def _two_users_of_one_company(engine: Engine) -> Tenant:
    """Company "a": 2 billable users in 2026-10 by the tenant's rule, 1 by peak."""
    t = make_tenant(engine)
    companies(engine, t, "a")
    users(
        engine,
        t,
        status("u1", "a", "active", "2026-10-03T00:00:00Z"),
        status("u1", "a", "deleted", "2026-10-04T00:00:00Z"),
        status("u2", "a", "active", "2026-10-05T00:00:00Z"),
    )
    return t


def test_the_mappers_count_cache_follows_a_company_rule(engine: Engine) -> None:
    from seatsync.web.mapper import CountCache

    t = _two_users_of_one_company(engine)
    cache = CountCache()
    with transaction(engine) as session:
        assert list(cache.counts(session, tenant=session.merge(t), period=BillingPeriod(2026, 10)).values()) == [2]
        set_company_rule(session, tenant=t, company_id="a", rule="peak")
    with transaction(engine) as session:
        assert list(cache.counts(session, tenant=session.merge(t), period=BillingPeriod(2026, 10)).values()) == [1]


def test_the_mappers_count_cache_follows_a_company_rule_through_the_directory(engine: Engine) -> None:
    """The web app's path: the companies' own rules come from the tenant's cached directory, which a rule change
    makes stale (the tenant's directory revision moves with it)."""
    from seatsync.services.directory import DirectoryCache
    from seatsync.web.mapper import CountCache

    t = _two_users_of_one_company(engine)
    cache, directories = CountCache(), DirectoryCache()

    def counted() -> list[int]:
        with transaction(engine) as session:
            tenant = session.get(Tenant, t.id)
            assert tenant is not None
            directory = directories.get(session, tenant=tenant)
            return list(
                cache.counts(session, tenant=tenant, period=BillingPeriod(2026, 10), directory=directory).values()
            )

    assert counted() == [2]
    assert counted() == [2]  # from the cache
    with transaction(engine) as session:
        set_company_rule(session, tenant=t, company_id="a", rule="peak")
    assert counted() == [1]
    with transaction(engine) as session:
        set_company_rule(session, tenant=t, company_id="a", rule=None)
    assert counted() == [2]
