"""Evidence with the month's changes: the attached report lists the rule, the count, and the users added and no
longer counted since the previous period that was pushed."""

from __future__ import annotations

import csv
import io

from seatsync.domain.periods import BillingPeriod
from seatsync.push.connectwise import run_push
from seatsync.push.reports import GONE, Baseline, build_report
from seatsync.services.billing import BillableUser
from tests.foundation.util import USERS_HEADER, csv_bytes, load, status
from tests.push.conftest import World


def _rows(content: bytes) -> tuple[list[str], list[dict[str, str]]]:
    text = content.decode()
    comments = [line for line in text.splitlines() if line.startswith("#")]
    table = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return comments, list(csv.DictReader(io.StringIO(table)))


def _report_of(world: World, company_id: str, period: str) -> bytes:
    agreement = world.mapped[company_id].agreement
    found = [
        d.content
        for d in world.sandbox.documents.values()
        if d.record_id == agreement and f" {period}: " in d.info["title"]
    ]
    assert len(found) == 1, found
    return found[0]


def test_report_diff_against_the_previous_pushed_period(world: World) -> None:
    october, november = BillingPeriod(2026, 10), BillingPeriod(2026, 11)
    run_push(world.engine, tenant_id=world.tenant.id, period=october, client_factory=world.factory())
    first_comments, first = _rows(_report_of(world, "c02", "2026-10"))
    assert first_comments[0] == "# billable users of Company C02 (c02) for 2026-10 under rule active"
    assert "# count: 2" in first_comments
    assert "# change: no earlier period was pushed for this company" in first_comments
    assert [r["change"] for r in first] == ["", ""]

    # u02-0 leaves in October; a new user with a formula-like name arrives in November
    load(
        world.engine,
        world.tenant,
        "users",
        csv_bytes(
            USERS_HEADER,
            [
                status("u02-0", "c02", "deleted", "2026-10-20T00:00:00Z"),
                'u02-new,c02,new@example.com,=HYPERLINK("http://x"),active,2026-11-05T09:00:00Z',
            ],
        ),
    )
    run_push(world.engine, tenant_id=world.tenant.id, period=november, client_factory=world.factory())
    comments, rows = _rows(_report_of(world, "c02", "2026-11"))
    assert "# count: 2" in comments
    assert any("change since 2026-10" in c and "1 added; 1 no longer counted" in c for c in comments), comments
    by_user = {r["user_id"]: r for r in rows}
    assert by_user["u02-new"]["change"] == "added"
    assert by_user["u02-new"]["name"] == '\'=HYPERLINK("http://x")'  # kept as text, never a formula
    assert by_user["u02-1"]["change"] == ""
    assert by_user["u02-0"]["change"] == GONE
    assert by_user["u02-0"]["why_counted"] == "counted in 2026-10, not in 2026-11"
    # a company whose users did not change says so
    c01_comments, c01 = _rows(_report_of(world, "c01", "2026-11"))
    assert any("0 added; 0 no longer counted" in c for c in c01_comments)
    assert [r["change"] for r in c01] == [""]


def test_the_diff_skips_periods_that_were_not_pushed(world: World) -> None:
    # only September is pushed; November's report compares with September, not with the unpushed October
    run_push(world.engine, tenant_id=world.tenant.id, period=BillingPeriod(2026, 9), client_factory=world.factory())
    run_push(
        world.engine,
        tenant_id=world.tenant.id,
        period=BillingPeriod(2026, 10),
        client_factory=world.factory(),
        dry_run=True,
    )
    run_push(world.engine, tenant_id=world.tenant.id, period=BillingPeriod(2026, 11), client_factory=world.factory())
    comments, _ = _rows(_report_of(world, "c03", "2026-11"))
    assert any("change since 2026-09" in c for c in comments), comments


def test_same_inputs_same_bytes() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 10, 1, tzinfo=UTC)
    user = BillableUser("c", "C", "u1", "u1@example.com", "U One", at, "active at the start of the period")
    other = BillableUser("c", "C", "u2", "u2@example.com", "@U Two", at, "active at the start of the period")
    baseline = Baseline("2026-09", (other,))
    one = build_report(
        company_id="c", company_name="C", period="2026-10", users=[user], rule="active", previous=baseline
    )
    two = build_report(
        company_id="c", company_name="C", period="2026-10", users=[user], rule="active", previous=baseline
    )
    assert one.content == two.content
    assert one.change.added == (user,)
    assert one.change.gone == (other,)
    assert "'@U Two" in one.content.decode()
