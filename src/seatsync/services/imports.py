"""Imports of companies, user status changes and activity: CSV files (the CLI, the web page) and JSON records
(the ingest API) through one function, ``import_records``.

Every import is atomic and idempotent:
- rows are validated one by one while they stream into a temporary staging table (bounded memory, any size);
- if any row is bad, the transaction is rolled back and ``ImportRejected`` lists every bad row (line, column,
  reason: the first 100 and a count of the rest) — nothing of the file is stored;
- otherwise the staged rows are merged with set-based SQL; a row equal to one already stored is a no-op.

After user events are merged, each touched user's status intervals (``valid_to``) are recomputed in SQL.
"""

from __future__ import annotations

import codecs
import csv
import enum
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, cast

from sqlalchemy import CursorResult, select, text
from sqlalchemy.orm import Session

from seatsync.db.models import Company, Tenant
from seatsync.db.types import utcnow
from seatsync.domain.rules import ALL_PRODUCTS, STATUS_RANK, ActivityKind, Product, Status
from seatsync.errors import ImportRejected, RowError

BATCH = 5000
KEEP_ERRORS = 100


class ImportKind(enum.StrEnum):
    COMPANIES = "companies"
    USERS = "users"
    ACTIVITY = "activity"


#: required and optional columns of each format (PRODUCT.md › Import formats)
COLUMNS: Mapping[ImportKind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    ImportKind.COMPANIES: (("company_id", "name"), ("products",)),
    ImportKind.USERS: (("user_id", "company_id", "email", "name", "status", "at"), ()),
    ImportKind.ACTIVITY: (("user_id", "kind", "at"), ()),
}


@dataclass
class ImportResult:
    kind: ImportKind
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: companies created by this import (other parts react to them, e.g. Gradient account sync)
    new_company_ids: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.kind.value}: {self.rows} rows read, {self.created} new, "
            f"{self.updated} updated, {self.unchanged} already stored"
        )


class _Errors:
    """Keeps the first ``KEEP_ERRORS`` row errors and counts the rest."""

    def __init__(self) -> None:
        self.kept: list[RowError] = []
        self.total = 0

    def add(self, line: int, column: str | None, reason: str) -> None:
        self.total += 1
        if len(self.kept) < KEEP_ERRORS:
            self.kept.append(RowError(line, column, reason))

    def raise_if_any(self, source: str) -> None:
        if self.total:
            raise ImportRejected(source, sorted(self.kept, key=lambda e: e.line), self.total)


# --- reading files ---------------------------------------------------------------------------------------------


def _decoded_lines(stream: IO[bytes], errors: _Errors) -> Iterator[str]:
    """UTF-8 lines (a BOM is allowed); a line that is not UTF-8 is reported and read with replacements."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    for number, raw in enumerate(stream, start=1):
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            errors.add(number, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start + 1})")
            decoder.reset()
            yield raw.decode("utf-8", errors="replace")


def read_csv(stream: IO[bytes], kind: ImportKind, *, source: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV file as (line number, {column: value}); header problems reject the file at once."""
    errors = _Errors()
    reader = csv.reader(_decoded_lines(stream, errors))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportRejected(source, [RowError(1, None, "the file is empty: expected a header row")]) from None
    required, optional = COLUMNS[kind]
    problems: list[RowError] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(RowError(1, name, f"column {name!r} appears twice in the header"))
        seen.add(name)
    for name in required:
        if name not in seen:
            problems.append(RowError(1, name, f"required column {name!r} is missing from the header"))
    for name in header:
        if name not in required and name not in optional:
            allowed = ", ".join((*required, *optional))
            problems.append(RowError(1, name or "(blank)", f"unknown column {name!r}; the columns are: {allowed}"))
    if problems or errors.total:
        raise ImportRejected(source, problems + errors.kept)
    width = len(header)
    rows = 0
    for values in reader:
        line = reader.line_num
        if not values or (len(values) == 1 and not values[0].strip()):
            continue  # blank line
        rows += 1
        if len(values) != width:
            yield line, {"__error__": f"expected {width} fields, found {len(values)}"}
            continue
        yield line, dict(zip(header, values, strict=True))
    # decoding errors found while reading are re-raised by the importer through this sentinel
    if errors.total:
        for err in errors.kept:
            yield err.line, {"__error__": err.reason}
    if rows == 0 and not errors.total:
        raise ImportRejected(source, [RowError(1, None, "the file has a header but no rows")])


def read_json_lines(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield number, {"__error__": f"not a JSON object: {exc}"}
            continue
        yield number, value if isinstance(value, dict) else {"__error__": "each line must be a JSON object"}


# --- validating one row ----------------------------------------------------------------------------------------


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


def parse_instant(value: str) -> datetime:
    """ISO-8601 with an offset or ``Z``; a time without one is refused (we cannot guess its zone)."""
    if not value:
        raise ValueError("is empty: give an ISO-8601 instant such as 2026-10-03T14:05:00-05:00")
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 instant (e.g. 2026-10-03T14:05:00-05:00)") from None
    if instant.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset: add one such as Z or -05:00")
    return instant


def parse_products(value: Any) -> str:
    """``sat;phishing`` (any order, any case) → canonical ``sat;phishing``; empty → both."""
    parts = value if isinstance(value, list) else str(value or "").split(";")
    names = {str(p).strip().lower() for p in parts if str(p).strip()}
    if not names:
        return ";".join(ALL_PRODUCTS)
    unknown = names - {p.value for p in Product}
    if unknown:
        raise ValueError(f"unknown product {sorted(unknown)[0]!r}: use sat, phishing or sat;phishing")
    return ";".join(p.value for p in ALL_PRODUCTS if p.value in names)


# --- staging and merging ---------------------------------------------------------------------------------------


def _copy_or_insert(session: Session, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns)
        raw = session.connection().connection.driver_connection
        raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # type: ignore[union-attr]
    rows.clear()


def _create_staging(session: Session, table: str, columns_sql: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"CREATE TEMP TABLE {table} ({columns_sql}) ON COMMIT DROP"))
    else:
        session.execute(text(f"DROP TABLE IF EXISTS temp.{table}"))
        session.execute(text(f"CREATE TEMP TABLE {table} ({columns_sql})"))


def _drop_staging(session: Session, table: str) -> None:
    if session.get_bind().dialect.name != "postgresql":
        session.execute(text(f"DROP TABLE IF EXISTS temp.{table}"))


def _naive_utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def _stage_instant(session: Session) -> Callable[[datetime], Any]:
    """How an instant is written into staging: naive UTC, as text in SQLAlchemy's SQLite format there."""
    if session.get_bind().dialect.name == "postgresql":
        return _naive_utc
    return lambda instant: _naive_utc(instant).strftime("%Y-%m-%d %H:%M:%S.%f")


def import_records(
    session: Session,
    *,
    tenant: Tenant,
    kind: ImportKind,
    records: Iterable[tuple[int, Mapping[str, Any]]],
    source: str,
) -> ImportResult:
    """Validate and store ``records`` (line number, field → value) of ``kind`` for ``tenant``, all or nothing.

    Runs inside the caller's transaction; on ``ImportRejected`` the caller's rollback undoes the staging too.
    """
    handler: Callable[..., ImportResult] = {
        ImportKind.COMPANIES: _import_companies,
        ImportKind.USERS: _import_users,
        ImportKind.ACTIVITY: _import_activity,
    }[kind]
    savepoint = session.begin_nested()
    try:
        result = handler(session, tenant=tenant, records=records, source=source)
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return result


def _import_companies(
    session: Session, *, tenant: Tenant, records: Iterable[tuple[int, Mapping[str, Any]]], source: str
) -> ImportResult:
    errors = _Errors()
    result = ImportResult(ImportKind.COMPANIES)
    seen: dict[str, tuple[int, str, str]] = {}
    for line, record in records:
        result.rows += 1
        if "__error__" in record:
            errors.add(line, None, str(record["__error__"]))
            continue
        company_id, name = _text(record, "company_id"), _text(record, "name")
        if not company_id:
            errors.add(line, "company_id", "is empty")
        if not name:
            errors.add(line, "name", "is empty")
        try:
            products = parse_products(record.get("products"))
        except ValueError as exc:
            errors.add(line, "products", str(exc))
            continue
        if not company_id or not name:
            continue
        earlier = seen.get(company_id)
        if earlier is not None and earlier[1:] != (name, products):
            errors.add(line, "company_id", f"{company_id!r} also appears on line {earlier[0]} with other values")
            continue
        seen[company_id] = (line, name, products)
    errors.raise_if_any(source)

    existing = {
        c.company_id: c for c in session.scalars(select(Company).where(Company.tenant_id == tenant.id))
    }  # companies are few (thousands): an in-memory merge is simplest
    for company_id, (_line, name, products) in seen.items():
        company = existing.get(company_id)
        if company is None:
            session.add(Company(tenant_id=tenant.id, company_id=company_id, name=name, products=products))
            result.created += 1
            result.new_company_ids.append(company_id)
        elif (company.name, company.products, company.archived) != (name, products, False):
            company.name, company.products, company.archived = name, products, False
            result.updated += 1
        else:
            result.unchanged += 1
    session.flush()
    return result


_USER_STAGING = (
    "line INTEGER, user_id VARCHAR(200), company_pk INTEGER, email VARCHAR(320), name VARCHAR(300), "
    "status VARCHAR(16), rank SMALLINT, at TIMESTAMP"
)
_USER_COLUMNS = ("line", "user_id", "company_pk", "email", "name", "status", "rank", "at")


def _import_users(
    session: Session, *, tenant: Tenant, records: Iterable[tuple[int, Mapping[str, Any]]], source: str
) -> ImportResult:
    errors = _Errors()
    result = ImportResult(ImportKind.USERS)
    query = select(Company.company_id, Company.id).where(Company.tenant_id == tenant.id)
    companies: dict[str, int] = {company_id: pk for company_id, pk in session.execute(query)}  # noqa: C416
    _create_staging(session, "staging_users", _USER_STAGING)
    batch: list[tuple[Any, ...]] = []
    statuses = {s.value for s in Status}
    stage_at = _stage_instant(session)
    for line, record in records:
        result.rows += 1
        if "__error__" in record:
            errors.add(line, None, str(record["__error__"]))
            continue
        user_id, company_id = _text(record, "user_id"), _text(record, "company_id")
        email, name, status = _text(record, "email"), _text(record, "name"), _text(record, "status").lower()
        bad = False
        if not user_id:
            errors.add(line, "user_id", "is empty")
            bad = True
        company_pk = companies.get(company_id)
        if company_pk is None:
            reason = "is empty" if not company_id else f"unknown company {company_id!r}: import it in companies first"
            errors.add(line, "company_id", reason)
            bad = True
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            errors.add(line, "email", f"{email!r} is not an email address" if email else "is empty")
            bad = True
        if status not in statuses:
            errors.add(line, "status", f"unknown status {status!r}: use active, sleeping or deleted")
            bad = True
        try:
            at = parse_instant(_text(record, "at"))
        except ValueError as exc:
            errors.add(line, "at", str(exc))
            continue
        if bad or errors.total:
            continue  # once the file is known bad, keep validating but stop staging
        batch.append((line, user_id, company_pk, email, name, status, STATUS_RANK[Status(status)], stage_at(at)))
        if len(batch) >= BATCH:
            _copy_or_insert(session, "staging_users", _USER_COLUMNS, batch)
    errors.raise_if_any(source)
    _copy_or_insert(session, "staging_users", _USER_COLUMNS, batch)
    _merge_users(session, tenant_id=tenant.id, result=result)
    _drop_staging(session, "staging_users")
    return result


def _merge_users(session: Session, *, tenant_id: int, result: ImportResult) -> None:
    """Merge staged rows: user details, then new events with their intervals computed before they are written.

    The touched users' whole histories (stored + new events) are ordered once; stored events whose ``valid_to``
    changed are updated and new ones are inserted with theirs, so a first load writes each row exactly once.
    """
    params = {"tenant": tenant_id, "now": _stage_instant(session)(utcnow())}
    pg = session.get_bind().dialect.name == "postgresql"
    # user details: the row with the latest instant wins, whatever order files arrive in
    session.execute(
        text(
            """
            INSERT INTO users (tenant_id, user_id, email, name, details_at)
            SELECT :tenant, user_id, email, name, at FROM (
                SELECT user_id, email, name, at, ROW_NUMBER() OVER (
                    PARTITION BY user_id ORDER BY at DESC, email DESC, name DESC) AS n
                FROM staging_users) latest
            WHERE n = 1
            ON CONFLICT (tenant_id, user_id) DO UPDATE
                SET email = excluded.email, name = excluded.name, details_at = excluded.details_at
                WHERE excluded.details_at > users.details_at
                   OR (excluded.details_at = users.details_at
                       AND (excluded.email, excluded.name) > (users.email, users.name))
            """
        ),
        params,
    )
    # the events not stored yet (the natural key is the unique constraint)
    _create_staging(
        session,
        "staging_new",
        "user_id VARCHAR(200), company_pk INTEGER, status VARCHAR(16), rank SMALLINT, at TIMESTAMP",
    )
    session.execute(
        text(
            """
            INSERT INTO staging_new (user_id, company_pk, status, rank, at)
            SELECT DISTINCT s.user_id, s.company_pk, s.status, s.rank, s.at FROM staging_users s
            WHERE NOT EXISTS (
                SELECT 1 FROM status_events e
                WHERE e.tenant_id = :tenant AND e.user_id = s.user_id AND e.at = s.at
                  AND e.status = s.status AND e.company_pk = s.company_pk)
            """
        ),
        params,
    )
    new = session.execute(text("SELECT COUNT(*) FROM staging_new")).scalar_one()
    result.created = new
    # rows repeating an event (stored before, or earlier in the same file) change nothing
    result.unchanged = result.rows - new
    if new == 0:
        _drop_staging(session, "staging_new")
        return
    session.execute(text("CREATE INDEX IF NOT EXISTS ix_staging_new_user ON staging_new (user_id)"))
    # every event of the touched users in order (ties at one instant by rank, then company id)
    _create_staging(
        session,
        "staging_merged",
        "id BIGINT, user_id VARCHAR(200), company_pk INTEGER, status VARCHAR(16), rank SMALLINT, "
        "at TIMESTAMP, old_valid_to TIMESTAMP, next_at TIMESTAMP",
    )
    session.execute(
        text(
            """
            INSERT INTO staging_merged (id, user_id, company_pk, status, rank, at, old_valid_to, next_at)
            SELECT h.id, h.user_id, h.company_pk, h.status, h.rank, h.at, h.valid_to,
                   LEAD(h.at) OVER (PARTITION BY h.user_id ORDER BY h.at, h.rank, c.company_id)
            FROM (
                SELECT e.id, e.user_id, e.company_pk, e.status, e.rank, e.at, e.valid_to FROM status_events e
                WHERE e.tenant_id = :tenant AND e.user_id IN (SELECT DISTINCT user_id FROM staging_new)
                UNION ALL
                SELECT NULL, user_id, company_pk, status, rank, at, NULL FROM staging_new
            ) h JOIN companies c ON c.id = h.company_pk
            """
        ),
        params,
    )
    differs = "IS DISTINCT FROM" if pg else "IS NOT"
    session.execute(
        text(
            f"""
            UPDATE status_events SET valid_to = m.next_at
            FROM staging_merged m
            WHERE m.id IS NOT NULL AND status_events.id = m.id AND m.old_valid_to {differs} m.next_at
            """
        )
    )
    session.execute(
        text(
            """
            INSERT INTO status_events (tenant_id, user_id, company_pk, status, rank, at, valid_to, imported_at)
            SELECT :tenant, user_id, company_pk, status, rank, at, next_at, :now
            FROM staging_merged WHERE id IS NULL
            ORDER BY user_id, at
            """
        ),
        params,
    )
    _drop_staging(session, "staging_new")
    _drop_staging(session, "staging_merged")


_ACTIVITY_STAGING = "line INTEGER, user_id VARCHAR(200), kind VARCHAR(16), at TIMESTAMP"
_ACTIVITY_COLUMNS = ("line", "user_id", "kind", "at")


def _import_activity(
    session: Session, *, tenant: Tenant, records: Iterable[tuple[int, Mapping[str, Any]]], source: str
) -> ImportResult:
    errors = _Errors()
    result = ImportResult(ImportKind.ACTIVITY)
    kinds = {k.value for k in ActivityKind}
    stage_at = _stage_instant(session)
    _create_staging(session, "staging_activity", _ACTIVITY_STAGING)
    batch: list[tuple[Any, ...]] = []
    for line, record in records:
        result.rows += 1
        if "__error__" in record:
            errors.add(line, None, str(record["__error__"]))
            continue
        user_id, kind = _text(record, "user_id"), _text(record, "kind").lower()
        bad = False
        if not user_id:
            errors.add(line, "user_id", "is empty")
            bad = True
        if kind not in kinds:
            errors.add(line, "kind", f"unknown kind {kind!r}: use training or phishing")
            bad = True
        try:
            at = parse_instant(_text(record, "at"))
        except ValueError as exc:
            errors.add(line, "at", str(exc))
            continue
        if bad or errors.total:
            continue
        batch.append((line, user_id, kind, stage_at(at)))
        if len(batch) >= BATCH:
            _copy_or_insert(session, "staging_activity", _ACTIVITY_COLUMNS, batch)
    if not errors.total:
        _copy_or_insert(session, "staging_activity", _ACTIVITY_COLUMNS, batch)
        unknown = session.execute(
            text(
                """
                SELECT s.line, s.user_id FROM staging_activity s
                WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = :tenant AND u.user_id = s.user_id)
                ORDER BY s.line
                """
            ),
            {"tenant": tenant.id},
        )
        for line, user_id in unknown:
            errors.add(line, "user_id", f"unknown user {user_id!r}: import the user's status first")
    errors.raise_if_any(source)
    inserted = session.execute(
        text(
            """
            INSERT INTO activity_events (tenant_id, user_id, kind, at)
            SELECT DISTINCT :tenant, user_id, kind, at FROM staging_activity s
            WHERE NOT EXISTS (
                SELECT 1 FROM activity_events a
                WHERE a.tenant_id = :tenant AND a.user_id = s.user_id AND a.kind = s.kind AND a.at = s.at)
            """
        ),
        {"tenant": tenant.id},
    )
    result.created = cast(CursorResult[Any], inserted).rowcount
    result.unchanged = result.rows - result.created
    _drop_staging(session, "staging_activity")
    return result


def import_file(session: Session, *, tenant: Tenant, kind: ImportKind, stream: IO[bytes], source: str) -> ImportResult:
    """A CSV file (``.csv``) or JSON lines (``.jsonl``/``.ndjson``), by the source's name."""
    if source.endswith((".jsonl", ".ndjson")):
        records: Iterable[tuple[int, Mapping[str, Any]]] = read_json_lines(stream)
    else:
        records = read_csv(stream, kind, source=source)
    return import_records(session, tenant=tenant, kind=kind, records=records, source=source)
