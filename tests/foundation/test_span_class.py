"""Each stored interval's length class (``span_class``) bounds its length, as the month's count relies on (a class
too narrow would drop an interval from the count), on both databases; the migration that added it fills it the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text

from seatsync.db.migrate import alembic_config
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.rules import Rule
from seatsync.services.intervals import SPAN_DAYS
from tests.foundation.util import USERS_HEADER, companies, csv_bytes, load, make_tenant, status

START = datetime(2020, 1, 1, tzinfo=UTC)


def _lengths() -> list[timedelta]:
    """Lengths on and around every class's width (two seconds and a millisecond under it, on it, a second over it;
    not exactly the margin under it, where the two databases' arithmetic may round either way: both are safe)."""
    out = [timedelta(0), timedelta(microseconds=1)]
    for days in SPAN_DAYS:
        width = timedelta(days=days)
        out += [width - timedelta(seconds=2), width - timedelta(milliseconds=1), width, width + timedelta(seconds=1)]
    return out


def _stamp(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _stored(engine: Engine) -> dict[str, tuple[int | None, timedelta | None]]:
    """user id → (class, length) of the user's first (active) interval, lengths computed in Python."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT user_id, at, valid_to, span_class FROM status_events WHERE status = 'active'"))
        out = {}
        for user_id, at, valid_to, span in rows:
            at_, to_ = (datetime.fromisoformat(str(v)) if v is not None else None for v in (at, valid_to))
            out[user_id] = (span, None if to_ is None or at_ is None else to_ - at_)
        return out


@pytest.mark.parametrize("user_id", ["u{}", "u{:03d}"], ids=["merged-by-the-database", "file-in-order"])
def test_each_class_bounds_its_intervals_length(engine: Engine, user_id: str) -> None:
    """Both merges: a file out of order (u10 sorts before u2) is ordered in SQL, one in order as it is staged."""
    tenant = make_tenant(engine)
    companies(engine, tenant, "c1")
    rows = []
    for n, length in enumerate(_lengths()):
        rows.append(status(user_id.format(n), "c1", "active", _stamp(START)))
        rows.append(status(user_id.format(n), "c1", "deleted", _stamp(START + length)))
    rows.insert(0, status("open", "c1", "active", _stamp(START)))  # "open" sorts first
    load(engine, tenant, "users", csv_bytes(USERS_HEADER, rows))
    stored = _stored(engine)
    assert stored.pop("open") == (None, None)
    seen = set()
    for span, length in stored.values():
        assert span is not None and length is not None
        seen.add(span)
        if span < len(SPAN_DAYS):
            assert length < timedelta(days=SPAN_DAYS[span]), (span, length)
        if span > 0:  # not in a class wider than it needs by more than the margin
            assert length >= timedelta(days=SPAN_DAYS[span - 1]) - timedelta(seconds=2), (span, length)
    assert seen == set(range(len(SPAN_DAYS) + 1))


def test_a_closed_interval_gets_its_class_when_a_later_import_ends_it(engine: Engine) -> None:
    from seatsync.db.engine import transaction
    from seatsync.services.billing import count_billable

    tenant = make_tenant(engine)
    companies(engine, tenant, "c1")
    load(engine, tenant, "users", csv_bytes(USERS_HEADER, [status("u1", "c1", "active", "2020-01-01T00:00:00Z")]))
    load(engine, tenant, "users", csv_bytes(USERS_HEADER, [status("u1", "c1", "deleted", "2020-03-01T00:00:00Z")]))
    assert _stored(engine)["u1"] == (3, timedelta(days=60))
    with transaction(engine) as session:
        feb = count_billable(session, tenant=tenant, period=BillingPeriod(2020, 2), rule=Rule.ACTIVE)
        april = count_billable(session, tenant=tenant, period=BillingPeriod(2020, 4), rule=Rule.ACTIVE)
    assert [c.billable_users for c in feb] == [1]
    assert [c.billable_users for c in april] == [0]


def test_the_migration_fills_the_classes_of_stored_intervals(engine: Engine) -> None:
    tenant = make_tenant(engine)
    companies(engine, tenant, "c1")
    rows = []
    for n, length in enumerate(_lengths()):
        rows += [
            status(f"u{n}", "c1", "active", _stamp(START)),
            status(f"u{n}", "c1", "sleeping", _stamp(START + length)),
        ]
    load(engine, tenant, "users", csv_bytes(USERS_HEADER, rows))
    imported = _stored(engine)
    config = alembic_config(engine)
    command.downgrade(config, "0022_events_without_tenant_key")
    command.upgrade(config, "head")
    assert _stored(engine) == imported
