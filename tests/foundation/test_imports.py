"""Imports: every bad file is refused whole, naming each bad line, and the database is unchanged."""

from __future__ import annotations

import io
import operator
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import Company, StatusEvent, User
from seatsync.errors import ImportRejected
from seatsync.services.imports import ImportKind, import_file, parse_instant, staged_instant
from tests.foundation.util import USERS_HEADER, companies, csv_bytes, load, make_tenant, status


def stored(engine: Engine) -> tuple[int, int, int]:
    with transaction(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Company)) or 0,
            session.scalar(select(func.count()).select_from(User)) or 0,
            session.scalar(select(func.count()).select_from(StatusEvent)) or 0,
        )


GOOD = status("u1", "a", "active", "2026-10-01T00:00:00Z")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (csv_bytes(USERS_HEADER, [GOOD, status("u2", "a", "active", "2026-10-32T00:00:00Z")]), ["line 3, column at"]),
        (
            csv_bytes(USERS_HEADER, [GOOD, status("u2", "a", "active", "2026-10-03T10:00:00")]),
            ["line 3, column at: '2026-10-03T10:00:00' has no UTC offset"],
        ),
        (
            csv_bytes(USERS_HEADER, [status("u2", "a", "paused", "2026-10-03T10:00:00Z"), GOOD]),
            ["line 2, column status: unknown status 'paused'"],
        ),
        (
            csv_bytes(USERS_HEADER, [GOOD, status("u2", "zzz", "active", "2026-10-03T10:00:00Z")]),
            ["line 3, column company_id: unknown company 'zzz'"],
        ),
        (
            csv_bytes("user_id,company_id,name,status,at", ["u1,a,U1,active,2026-10-01T00:00:00Z"]),
            ["line 1, column email: required column 'email' is missing"],
        ),
        (csv_bytes(USERS_HEADER + ",extra", [GOOD + ",1"]), ["line 1, column extra: unknown column 'extra'"]),
        (
            csv_bytes("user_id,company_id,email,name,status,at,at", [GOOD + ",x"]),
            ["line 1, column at: column 'at' appears twice"],
        ),
        (b"", ["line 1: the file is empty"]),
        (
            csv_bytes(USERS_HEADER, [GOOD]) + b"u9,a,caf\xe9@x.io,Bad,active,2026-10-01T00:00:00Z\n",
            ["line 3: not UTF-8 text"],
        ),
        (
            csv_bytes(USERS_HEADER, [GOOD, "u2,a,u2@x.io,active,2026-10-01T00:00:00Z"]),
            ["line 3: expected 6 fields, found 5"],
        ),
        (
            csv_bytes(
                USERS_HEADER,
                [GOOD, status("u2", "a", "active", "2026-10-01T00:00:00Z").replace("u2@example.com", "nobody")],
            ),
            ["line 3, column email: 'nobody' is not an email address"],
        ),
    ],
    ids=[
        "bad-timestamp",
        "naive-timestamp",
        "unknown-status",
        "unknown-company",
        "missing-column",
        "extra-column",
        "duplicate-header",
        "empty-file",
        "non-utf8",
        "short-row",
        "bad-email",
    ],
)
def test_bad_users_file_is_rejected_whole(engine: Engine, data: bytes, expected: list[str]) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    before = stored(engine)
    with pytest.raises(ImportRejected) as caught:
        load(engine, t, "users", data, source="users.csv")
    message = str(caught.value)
    assert message.startswith("users.csv rejected")
    assert "nothing was stored" in message
    for needle in expected:
        assert needle in message
    assert stored(engine) == before


def test_every_bad_line_listed_first_hundred_and_a_count(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    rows = [status(f"u{i}", "a", "bogus", "2026-10-01T00:00:00Z") for i in range(150)]
    with pytest.raises(ImportRejected) as caught:
        load(engine, t, "users", csv_bytes(USERS_HEADER, rows))
    err = caught.value
    assert err.total == 150
    assert len(err.errors) == 100
    assert [e.line for e in err.errors[:3]] == [2, 3, 4]
    assert "... and 50 more" in str(err)
    assert stored(engine) == (1, 0, 0)


def test_companies_products_default_and_update(engine: Engine) -> None:
    t = make_tenant(engine)
    first = load(
        engine,
        t,
        "companies",
        csv_bytes("company_id,name,products", ["a,Alpha,", "b,Beta,phishing", "c,Gamma,Phishing;SAT"]),
    )
    assert (first.created, first.new_company_ids) == (3, ["a", "b", "c"])
    again = load(engine, t, "companies", csv_bytes("company_id,name,products", ["a,Alpha,", "b,Beta Renamed,phishing"]))
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    with transaction(engine) as session:
        got = {c.company_id: (c.name, c.products) for c in session.scalars(select(Company))}
    assert got == {"a": ("Alpha", "sat;phishing"), "b": ("Beta Renamed", "phishing"), "c": ("Gamma", "sat;phishing")}


def test_bad_company_rows(engine: Engine) -> None:
    t = make_tenant(engine)
    with pytest.raises(ImportRejected) as caught:
        load(
            engine,
            t,
            "companies",
            csv_bytes("company_id,name,products", ["a,Alpha,", ",NoId,", "b,Beta,voip", "a,Other,"]),
        )
    text = str(caught.value)
    assert "line 3, column company_id: is empty" in text
    assert "line 4, column products: unknown product 'voip'" in text
    assert "line 5, column company_id: 'a' also appears on line 2" in text
    assert stored(engine) == (0, 0, 0)


def test_activity_unknown_user_rejected(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    load(engine, t, "users", csv_bytes(USERS_HEADER, [GOOD]))
    with pytest.raises(ImportRejected) as caught:
        load(
            engine,
            t,
            "activity",
            csv_bytes(
                "user_id,kind,at",
                [
                    "u1,training,2026-10-02T00:00:00Z",
                    "ghost,phishing,2026-10-02T00:00:00Z",
                    "u1,email,2026-10-02T00:00:00Z",
                ],
            ),
        )
    text = str(caught.value)
    assert "line 4, column kind: unknown kind 'email'" in text
    # an unknown user is found after the rows are read: reported when nothing else is wrong
    with pytest.raises(ImportRejected, match="line 3, column user_id: unknown user 'ghost'"):
        load(
            engine,
            t,
            "activity",
            csv_bytes("user_id,kind,at", ["u1,training,2026-10-02T00:00:00Z", "ghost,phishing,2026-10-02T00:00:00Z"]),
        )


def test_user_details_latest_row_wins_in_any_order(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    load(engine, t, "users", csv_bytes(USERS_HEADER, ["u1,a,new@x.io,New Name,active,2026-10-05T00:00:00Z"]))
    load(engine, t, "users", csv_bytes(USERS_HEADER, ["u1,a,old@x.io,Old Name,active,2026-09-05T00:00:00Z"]))
    with transaction(engine) as session:
        user = session.scalars(select(User)).one()
    assert (user.email, user.name) == ("new@x.io", "New Name")


def test_json_lines_are_accepted(engine: Engine) -> None:
    t = make_tenant(engine)
    data = b'{"company_id": "a", "name": "Alpha", "products": ["sat"]}\n\n{"company_id": "b", "name": "Beta"}\n'
    result = load(engine, t, "companies", data, source="companies.jsonl")
    assert result.created == 2


def test_cli_import_and_billable_csv(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    db = ["--database-url", database_url]
    slug = runner.invoke(cli, ["tenant", "create", "Acme", *db]).output.strip()
    (tmp_path / "companies.csv").write_bytes(csv_bytes("company_id,name", ["b,Beta", "a,Alpha & Sons"]))
    (tmp_path / "users.csv").write_bytes(
        csv_bytes(USERS_HEADER, [GOOD, status("u2", "a", "active", "2026-10-09T00:00:00-05:00")])
    )
    for kind in ("companies", "users"):
        result = runner.invoke(cli, ["import", kind, str(tmp_path / f"{kind}.csv"), "--tenant", slug, *db])
        assert result.exit_code == 0, result.output
    out = runner.invoke(cli, ["billable", "--tenant", slug, "--period", "2026-10", "--format", "csv", *db])
    assert out.output == "company_id,company_name,billable_users,rule\na,Alpha & Sons,2,active\nb,Beta,0,active\n"
    # a second import of the same files changes no count
    runner.invoke(cli, ["import", "users", str(tmp_path / "users.csv"), "--tenant", slug, *db])
    again = runner.invoke(cli, ["billable", "--tenant", slug, "--period", "2026-10", "--format", "csv", *db])
    assert again.output == out.output
    listed = runner.invoke(
        cli, ["billable", "--tenant", slug, "--period", "2026-10", "--users", "--format", "json", *db]
    )
    assert '"user_id": "u2"' in listed.output and '"reason": "active from 2026-10-09T05:00:00+00:00"' in listed.output


def test_cli_bad_file_exit_1_lists_lines(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    db = ["--database-url", database_url]
    slug = runner.invoke(cli, ["tenant", "create", "Acme", *db]).output.strip()
    (tmp_path / "c.csv").write_bytes(csv_bytes("company_id,name", ["a,A"]))
    runner.invoke(cli, ["import", "companies", str(tmp_path / "c.csv"), "--tenant", slug, *db])
    (tmp_path / "u.csv").write_bytes(csv_bytes(USERS_HEADER, [GOOD, status("u2", "a", "zombie", "x")]))
    result = runner.invoke(cli, ["import", "users", str(tmp_path / "u.csv"), "--tenant", slug, *db])
    assert result.exit_code == 1
    assert "line 3, column status: unknown status 'zombie'" in result.output
    assert "line 3, column at: 'x' is not an ISO-8601 instant" in result.output
    assert "Traceback" not in result.output
    bad_period = runner.invoke(cli, ["billable", "--tenant", slug, "--period", "2026-13", *db])
    assert bad_period.exit_code == 1 and "month 13 is not between 01 and 12" in bad_period.output
    usage = runner.invoke(cli, ["billable", "--tenant", slug, *db])
    assert usage.exit_code == 2


def test_rows_and_problems_are_counted_apart(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    data = csv_bytes(
        USERS_HEADER, [GOOD, status("u2", "a", "zombie", "x"), status("u3", "zzz", "active", "2026-10-01T00:00:00Z")]
    )
    with pytest.raises(ImportRejected, match=r"rejected: 2 bad rows \(3 problems\); nothing was stored") as caught:
        load(engine, t, "users", data)
    assert (caught.value.rows, caught.value.total) == (2, 3)


def test_two_imports_of_users_in_one_transaction(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    with transaction(engine) as session:
        for row in (GOOD, status("u2", "a", "active", "2026-10-02T00:00:00Z")):
            import_file(
                session,
                tenant=t,
                kind=ImportKind.USERS,
                stream=io.BytesIO(csv_bytes(USERS_HEADER, [row])),
                source="u.csv",
            )
    assert stored(engine) == (1, 2, 2)


@pytest.mark.parametrize(
    "value",
    [
        "2026-10-01T00:00:00Z",
        "2026-10-01T23:59:59+00:00",
        "2026-10-01T12:30:05.123456Z",
        "2026-10-01T12:30:05.123Z",
        "2026-10-01T09:00:00-05:00",
        "2026-10-01T09:00:00+14:00",
        "1970-01-01T00:00:00Z",
        "2199-12-31T23:59:59.999999Z",
        "2024-02-29T10:00:00Z",
    ],
)
def test_staged_instant_is_the_parsed_instant(value: str) -> None:
    """The usual shape is staged from its text: the same value as parsing it would give."""
    assert staged_instant(value) == parse_instant(value).replace(tzinfo=None).isoformat(" ", "microseconds")


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-10-01T24:00:00Z",
        "2026-10-01T23:60:00Z",
        "2026-10-01T23:59:60Z",
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "1970-01-01T00:00:00+01:00",
        "2026-10-01T10:00:00",
        "٢٠٢٦-10-01T00:00:00Z",
        "",
    ],
)
def test_staged_instant_refuses_what_parsing_refuses(value: str) -> None:
    reasons = r"is empty|is not an ISO-8601 instant|has no UTC offset|is outside the instants"
    with pytest.raises(ValueError, match=reasons) as parsed:
        parse_instant(value)
    with pytest.raises(ValueError, match=reasons) as staged:
        staged_instant(value)
    assert str(staged.value) == str(parsed.value)


def test_a_bad_line_far_into_a_large_file_is_named(engine: Engine) -> None:
    """Files are decoded a block of lines at a time: a line that is not UTF-8 in a later block keeps its number."""
    t = make_tenant(engine)
    companies(engine, t, "a")
    good = [status(f"u{i}", "a", "active", "2026-10-01T00:00:00Z") for i in range(30_000)]  # over 1 MiB
    data = csv_bytes(USERS_HEADER, good).replace(b"u25000@example.com", b"u25000@exampl\xe9.com")
    assert len(data) > 1 << 20 and data.find(b"\xe9") > 1 << 20
    with pytest.raises(ImportRejected) as caught:
        load(engine, t, "users", data)
    assert [(e.line, e.column) for e in caught.value.errors] == [(25_002, None)]
    assert "not UTF-8 text (byte 0xe9 at position 23)" in str(caught.value)
    assert stored(engine) == (1, 0, 0)


def test_crlf_and_a_last_line_without_newline(engine: Engine) -> None:
    t = make_tenant(engine)
    companies(engine, t, "a")
    data = b"\xef\xbb\xbf" + csv_bytes(USERS_HEADER, [GOOD, status("u2", "a", "active", "2026-10-02T00:00:00Z")])
    result = load(engine, t, "users", data.replace(b"\n", b"\r\n").rstrip(b"\r\n"))
    assert (result.rows, result.created) == (2, 2)


def _stored_rows(engine: Engine, tenant_id: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """(events with their intervals and classes, users' details) of a tenant, sorted."""
    with transaction(engine) as session:
        events = session.execute(
            select(
                StatusEvent.user_id,
                Company.company_id,
                StatusEvent.status,
                StatusEvent.at,
                StatusEvent.valid_to,
                StatusEvent.span_class,
            )
            .join(Company, Company.id == StatusEvent.company_pk)
            .where(StatusEvent.tenant_id == tenant_id)
        )
        users = session.execute(
            select(User.user_id, User.email, User.name, User.details_at).where(User.tenant_id == tenant_id)
        )
        return sorted(tuple(r) for r in events), sorted(tuple(r) for r in users)


def _outcome(engine: Engine, rows: list[str]) -> tuple[str, list[tuple[object, ...]], list[tuple[object, ...]]]:
    """A fresh tenant's import of ``rows``: (summary or rejection, stored events, stored users)."""
    tenant = make_tenant(engine)
    companies(engine, tenant, "c1", "c2", "c3")
    try:
        said = load(engine, tenant, "users", csv_bytes(USERS_HEADER, rows)).summary()
    except ImportRejected as exc:
        said = str(exc)
    return (said, *_stored_rows(engine, tenant.id))


def _latest_details(rows: list[str]) -> list[tuple[object, ...]]:
    """Each user's details from the row with the latest instant, the later line among equal ones."""
    latest: dict[str, tuple[datetime, int, str, str]] = {}
    for line, row in enumerate(rows):
        user, _company, email, name, _status, at = row.split(",")
        instant = datetime.fromisoformat(at)
        if user not in latest or (instant, line) >= latest[user][:2]:
            latest[user] = (instant, line, email, name)
    return sorted((user, email, name, at) for user, (at, _line, email, name) in latest.items())


_EVENT = st.tuples(
    st.sampled_from(["u1", "u2", "u3"]),
    st.sampled_from(["c1", "c2", "c3"]),
    st.sampled_from(["active", "sleeping", "deleted"]),
    st.integers(min_value=0, max_value=5).map(lambda d: f"2026-10-0{d + 1}T00:00:00Z"),
    st.sampled_from(["a", "b"]),  # the email's host: copies of one event may carry other details
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(events=st.lists(_EVENT, min_size=1, max_size=12), order=st.randoms(use_true_random=False))
def test_a_file_in_order_stores_what_the_same_rows_in_any_order_store(
    engine: Engine, events: list[tuple[str, str, str, str, str]], order: random.Random
) -> None:
    """A file read in the merge's order is merged as it is staged (no sort in SQL): the same events, intervals,
    length classes and counts as the same rows shuffled, which the database orders; the details of the row with
    the latest instant (the later line among equal ones) in each."""
    rank = {"active": 0, "sleeping": 1, "deleted": 2}
    keyed = [(f"{u},{c},{u}@{host}.io,{u},{s},{at}", (u, at, rank[s], c)) for u, c, s, at, host in events]
    in_order = [line for line, _key in sorted(keyed, key=operator.itemgetter(1))]  # stable: copies keep their order
    shuffled = [line for line, _key in keyed]
    order.shuffle(shuffled)
    first, second = _outcome(engine, in_order), _outcome(engine, shuffled)
    if "rejected" in first[0] or "rejected" in second[0]:  # two companies at one instant: refused either way
        assert "at the same instant" in first[0] and "at the same instant" in second[0]
        assert first[1:] == second[1:] == ([], [])
        return
    assert first[0] == second[0]
    assert first[1] == second[1]
    assert first[2] == _latest_details(in_order)
    assert second[2] == _latest_details(shuffled)


def test_a_file_in_order_takes_the_in_order_merge(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adjacent copies, ties of instant in ranks, a user's latest details: merged without a sort in SQL; a file out
    of that order is merged by the database."""
    from seatsync.services import imports

    seen: list[bool] = []
    merge = imports._merge_users

    def spy(*args: Any, in_order: bool, **kwargs: Any) -> None:
        seen.append(in_order)
        merge(*args, in_order=in_order, **kwargs)

    monkeypatch.setattr(imports, "_merge_users", spy)
    t = make_tenant(engine)
    companies(engine, t, "a", "b")
    rows = [
        "u1,a,old@x.io,U1,active,2026-10-01T00:00:00Z",
        "u1,a,old@x.io,U1,active,2026-10-01T00:00:00Z",
        "u1,a,mid@x.io,U1,sleeping,2026-10-01T00:00:00Z",
        "u1,b,new@x.io,New,active,2026-10-03T00:00:00Z",
        "u1,b,last@x.io,Last,active,2026-10-03T00:00:00Z",
        "u2,a,u2@x.io,U2,deleted,2026-10-02T00:00:00Z",
    ]
    result = load(engine, t, "users", csv_bytes(USERS_HEADER, rows))
    assert seen == [True]
    assert (result.rows, result.created, result.unchanged) == (6, 4, 2)
    day = [datetime(2026, 10, d, tzinfo=UTC) for d in range(1, 4)]
    assert _stored_rows(engine, t.id) == (
        [
            ("u1", "a", "active", day[0], day[0], 0),
            ("u1", "a", "sleeping", day[0], day[2], 1),
            ("u1", "b", "active", day[2], None, None),
            ("u2", "a", "deleted", day[1], None, None),
        ],
        [("u1", "last@x.io", "Last", day[2]), ("u2", "u2@x.io", "U2", day[1])],
    )
    # a user again after another, an earlier instant, a tie of instant and rank (broken by company id)
    for moved in ([rows[5], *rows[:5]], [rows[2], rows[0]], [rows[3], rows[2].replace(",a,", ",b,")]):
        tenant = make_tenant(engine)
        companies(engine, tenant, "a", "b")
        seen.clear()
        load(engine, tenant, "users", csv_bytes(USERS_HEADER, moved))
        assert seen == [False], moved


@pytest.mark.parametrize("end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_plain_blocks_and_blocks_the_csv_module_reads_number_lines_alike(engine: Engine, end: str) -> None:
    """Blocks without quotes or spaces at fields' edges are split at commas; from a block with a quoted field on,
    the csv module reads the rest: values and line numbers are the same either way."""
    t = make_tenant(engine)
    companies(engine, t, "a")
    good = [status(f"u{i:05d}", "a", "active", "2026-10-01T00:00:00Z") for i in range(40_000)]  # over 2 MiB
    good[3] = good[3].replace("User u00003", "Ünïcode u00003")
    good[30_000] = good[30_000].replace("User u30000", '"Doe, Jane"')  # a quoted field in a later block
    good[35_000] = good[35_000].replace("u35000,", " u35000 ,", 1)  # stripped, as every field is
    bad = list(good)
    bad[10] = bad[10].replace("active", "bogus")  # in a plain block
    bad[32_000] = bad[32_000].replace("active", "bogus")  # read by the csv module
    data = (end.join([USERS_HEADER, *bad]) + end).encode()
    assert data.find(b'"Doe') > 1 << 20
    with pytest.raises(ImportRejected) as caught:
        load(engine, t, "users", data)
    assert [(e.line, e.column) for e in caught.value.errors] == [(12, "status"), (32_002, "status")]
    result = load(engine, t, "users", (end.join([USERS_HEADER, *good]) + end).encode())
    assert (result.rows, result.created) == (40_000, 40_000)
    with transaction(engine) as session:
        found = session.execute(select(User.user_id, User.name).where(User.user_id.in_(["u00003", "u30000"])))
        names = {user_id: name for user_id, name in found}  # noqa: C416
        assert session.scalar(select(func.count()).select_from(User).where(User.user_id == "u35000")) == 1
    assert names == {"u00003": "Ünïcode u00003", "u30000": "Doe, Jane"}


def test_the_content_digest_is_taken_a_block_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file's SHA-256 is updated as each block is read (memory bounded by a block, not by the file)."""
    import hashlib

    from seatsync.services import imports

    stream = io.BytesIO(b"x" * (5 << 20))
    read_when_hashed: list[int] = []
    sha256 = hashlib.sha256

    class Spy:
        def __init__(self, data: bytes) -> None:
            self.inner = sha256(data)

        def update(self, chunk: bytes) -> None:
            read_when_hashed.append(stream.tell())
            self.inner.update(chunk)

        def hexdigest(self) -> str:
            return self.inner.hexdigest()

    monkeypatch.setattr(imports.hashlib, "sha256", Spy)
    digest = imports._stream_digest(ImportKind.USERS, stream, "csv")
    assert digest == sha256(b"users\ncsv\n" + b"x" * (5 << 20)).hexdigest()
    assert stream.tell() == 0  # rewound for the reading
    assert read_when_hashed[1:] == [n << 20 for n in range(1, 6)]  # each block hashed right after it was read
