"""Imports of companies, user status changes and activity: CSV and JSON-lines files (the CLI, the web page, the
API's upload) and JSON records (the API's batches) through one validation and one function, ``import_records``.

Every import is atomic and idempotent:
- each path turns its input into rows of the format's fields (``FIELDS``), refusing unknown columns or fields;
  every row is then checked by the same code (``_Checker``), with the same limits on every database: text within
  its column's size (never over 128 KiB), no NUL characters, instants between 1970-01-01 and 2199-12-31 UTC;
- rows stream into a temporary staging table (bounded memory, any size); if any row is bad, the transaction is
  rolled back and ``ImportRejected`` lists every bad row (line, column, reason: the first 100 and a count of the
  rest) — nothing of the file is stored;
- otherwise the staged rows are merged with set-based SQL; a row equal to one already stored is a no-op;
- the content's SHA-256 is kept per tenant and kind (``import_digests``): a users or activity import equal to the
  last one of its kind is found out by hashing alone ("nothing new").

After user events are merged, each touched user's status intervals (``valid_to`` and its length class,
``span_class``) are recomputed in SQL.
"""

from __future__ import annotations

import codecs
import csv
import enum
import functools
import hashlib
import io
import itertools
import json
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any, cast

from sqlalchemy import CursorResult, Engine, select, text
from sqlalchemy.orm import Session

from seatsync.db.models import Company, ImportDigest, Tenant
from seatsync.db.types import utcnow
from seatsync.domain.rules import ALL_PRODUCTS, STATUS_RANK, ActivityKind, Product, Status
from seatsync.errors import ImportRejected, RowError
from seatsync.services.intervals import span_class_sql, span_days_sql

BATCH = 5000
KEEP_ERRORS = 100
#: no field may be longer (a field the csv module would refuse is reported with its line)
FIELD_LIMIT = 128 * 1024
#: the instants an import accepts (PRODUCT.md › Import formats), inclusive
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
# the csv module's own limit sits above ours, so that a long field is reported by name, not as a parse error
csv.field_size_limit(max(csv.field_size_limit(), 2 * FIELD_LIMIT))


class ImportKind(enum.StrEnum):
    COMPANIES = "companies"
    USERS = "users"
    ACTIVITY = "activity"


#: required and optional columns of each format (PRODUCT.md › Import formats)
COLUMNS: Mapping[ImportKind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    ImportKind.COMPANIES: (("company_id", "name"), ("products",)),
    ImportKind.USERS: (("user_id", "company_id", "email", "status", "at"), ("name",)),
    ImportKind.ACTIVITY: (("user_id", "kind", "at"), ()),
}
#: every field of a format, in the order rows carry them
FIELDS: Mapping[ImportKind, tuple[str, ...]] = {kind: (*req, *opt) for kind, (req, opt) in COLUMNS.items()}
#: the longest text each field may hold (the columns' sizes, the same on every database)
MAX_LENGTH: Mapping[str, int] = {
    "company_id": 200,
    "user_id": 200,
    "name": 300,
    "email": 320,
    "products": 64,
    "status": 16,
    "kind": 16,
    "at": 64,
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
    #: the content equals the last import of this kind: found out from its hash, nothing read or written
    nothing_new: bool = False

    def summary(self) -> str:
        if self.nothing_new:
            return f"{self.kind.value}: nothing new (the same {self.rows} rows as the last import)"
        return (
            f"{self.kind.value}: {self.rows} rows read, {self.created} new, "
            f"{self.updated} updated, {self.unchanged} already stored"
        )


class _Errors:
    """Keeps the first ``KEEP_ERRORS`` row errors and counts the rest."""

    def __init__(self) -> None:
        self.kept: list[RowError] = []
        self.total = 0
        self.rows = 0
        self._lines: set[int] = set()

    def add(self, line: int, column: str | None, reason: str) -> None:
        self.total += 1
        if line not in self._lines:  # a row's problems are counted as one bad row
            self.rows += 1
            if len(self._lines) < 10 * KEEP_ERRORS:
                self._lines.add(line)
        if len(self.kept) < KEEP_ERRORS:
            self.kept.append(RowError(line, column, reason))

    def raise_if_any(self, source: str) -> None:
        if self.total:
            raise ImportRejected(source, sorted(self.kept, key=lambda e: e.line), self.total, self.rows)


Row = tuple[int, Sequence[str]]


# --- reading: every path yields (line, values in FIELDS order), checked by ``_Checker`` ---------------------


#: a block of lines is *plain* when it has no quote, NUL or carriage return (but in CRLF line ends) and no field
#: with white space at an edge (``str.strip``'s): its lines are then the csv module's records, and its fields, split
#: at commas, the csv module's fields already stripped. In ASCII text the white space is these and the space (and a
#: field's edge is next to a comma or a line's end), found by substring searches; in any other, by ``\s``, which is
#: ``str.strip``'s white space too
_ASCII_SPACE = ("\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", ", ", " ,", "\n ", " \n")
_EDGE_SPACE = (re.compile(r"[,\n][^\S\n]"), re.compile(r"[^\S\n][,\n]"))


def _plain_lines(text: str) -> list[str] | None:
    """A plain block's lines (without their ends), or None when the block is not plain."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if '"' in text or "\0" in text or "\r" in text or text[:1].isspace() or text.rstrip("\n")[-1:].isspace():
        return None
    if text.isascii():
        if any(space in text for space in _ASCII_SPACE):
            return None
    elif any(edge.search(text) for edge in _EDGE_SPACE):
        return None
    lines = text.split("\n")
    if lines[-1] == "":  # the block's last line ended with a newline
        lines.pop()
    if lines and max(map(len, lines)) > 2 * FIELD_LIMIT:  # a field the csv module would refuse: reported by it
        return None
    return lines


def _decoded_blocks(stream: IO[bytes], errors: _Errors) -> Iterator[tuple[int, str | None, Iterator[str]]]:
    """Blocks of UTF-8 lines (a BOM is allowed): (lines before the block, its text, its lines); a line that is not
    UTF-8 is reported (when its line is read) and read with replacements.

    Lines are read and decoded about a MiB at a time (a character never spans a newline); only a block that is not
    UTF-8 is decoded line by line, to find and report its bad lines (its text is then None)."""
    number = 0  # lines before the block
    first = True
    while lines := stream.readlines(1 << 20):
        data = b"".join(lines)
        if first and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
            lines[0] = lines[0][len(codecs.BOM_UTF8) :]
        first = False
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None, _decoded_one_by_one(lines, errors, number)
        else:
            # split at "\n" only, as the binary stream's lines are (not at the other breaks str.splitlines knows)
            yield number, decoded, io.StringIO(decoded, newline="\n")
        number += len(lines)


def _decoded_one_by_one(lines: list[bytes], errors: _Errors, before: int) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    for number, raw in enumerate(lines, start=before + 1):
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            errors.add(number, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start + 1})")
            decoder.reset()
            yield raw.decode("utf-8", errors="replace")


def _empty(source: str, what: str) -> ImportRejected:
    return ImportRejected(source, [RowError(1, None, f"the file is empty: expected {what}")])


def read_csv(stream: IO[bytes], kind: ImportKind, errors: _Errors, *, source: str) -> Iterator[Row]:
    """Rows of a CSV file, checked (``_Checker``); header problems reject the file at once.

    Plain blocks (``_plain_lines``) are split at commas; from the first block that is not plain on, the csv module
    reads the rest of the file (a quoted field may span lines, and blocks)."""
    blocks = _decoded_blocks(stream, errors)
    first = next(blocks, None)
    head: Iterator[str] = iter(()) if first is None else first[2]
    # the csv module's reader: it reads the header, and every block from the first that is not plain
    reader = csv.reader(itertools.chain(head, (line for _before, _text, lines in blocks for line in lines)))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise _empty(source, "a header row") from None
    except csv.Error as exc:
        raise ImportRejected(source, [RowError(1, None, f"the header row cannot be read: {exc}")]) from None
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
    checker = _Checker(kind, errors)
    # each field's position in a row (absent optional ones read as "")
    positions = [header.index(name) if name in header else -1 for name in FIELDS[kind]]
    # each row's fields in FIELDS order, at C speed when every field has a column
    reorder = operator.itemgetter(*positions) if -1 not in positions else None
    limits = checker.limits
    rows = 0
    offset = 0  # lines before the csv module's reader started
    if first is not None and first[1] is not None and reader.line_num == 1:
        # the rest of the first block (after its one header line), then each block, while they are plain
        segments = itertools.chain([(1, cast(io.StringIO, head).read(), head)], blocks)
        for before, text, block_lines in segments:
            lines = None if text is None else _plain_lines(text)
            if lines is None:  # the csv module reads from here on
                offset = before
                rest = block_lines if text is None else io.StringIO(text, newline="\n")
                reader = csv.reader(itertools.chain(rest, (line for _b, _t, more in blocks for line in more)))
                break
            for line, record in enumerate(lines, start=before + 1):
                values = record.split(",")
                if len(values) == 1 and not values[0]:
                    continue  # blank line
                rows += 1
                if len(values) != width:
                    errors.add(line, None, f"expected {width} fields, found {len(values)}")
                    continue
                fields = reorder(values) if reorder else [values[i] if i >= 0 else "" for i in positions]
                # stripped and free of NUL: only their sizes are checked here
                if not any(map(operator.gt, map(len, fields), limits)):
                    yield line, fields
                else:
                    checked = checker.text(line, fields)
                    if checked is not None:
                        yield line, checked
        else:
            reader = csv.reader(iter(()))
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a field over the csv module's limit: the reader goes on at the next line
            rows += 1
            errors.add(offset + reader.line_num, None, f"a field is longer than 128 KiB ({exc})")
            continue
        if not values or (len(values) == 1 and not values[0].strip()):
            continue  # blank line
        rows += 1
        line = offset + reader.line_num
        if len(values) != width:
            errors.add(line, None, f"expected {width} fields, found {len(values)}")
            continue
        checked = checker.text(line, reorder(values) if reorder else [values[i] if i >= 0 else "" for i in positions])
        if checked is not None:
            yield line, checked
    if rows == 0 and not errors.total:
        raise ImportRejected(source, [RowError(1, None, "the file has a header but no rows")])


def _from_mapping(line: int, record: Any, kind: ImportKind, errors: _Errors) -> Sequence[str] | None:
    """A JSON record's fields in ``FIELDS`` order; unknown or missing fields and non-text values are errors."""
    if not isinstance(record, Mapping):
        errors.add(line, None, "each record must be a JSON object")
        return None
    fields = FIELDS[kind]
    required, _optional = COLUMNS[kind]
    ok = True
    for name in record:
        if name not in fields:
            errors.add(line, str(name), f"unknown field {str(name)!r}; the fields are: {', '.join(fields)}")
            ok = False
    values: list[str] = []
    for name in fields:
        value = record.get(name)
        if value is None:
            if name in required:
                errors.add(line, name, "is missing")
                ok = False
            values.append("")
        elif isinstance(value, str):
            values.append(value)
        elif isinstance(value, int) and not isinstance(value, bool) and name != "at":
            values.append(str(value))
        elif name == "products" and isinstance(value, list) and all(isinstance(p, str) for p in value):
            values.append(";".join(value))
        else:
            errors.add(line, name, f"must be text, not a JSON {_json_type(value)}")
            ok = False
            values.append("")
    return values if ok else None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return "number" if isinstance(value, int | float) else type(value).__name__


def read_records(records: Iterable[tuple[int, Any]], kind: ImportKind, errors: _Errors) -> Iterator[Row]:
    """JSON records (line or position, object), checked against the format's fields, then checked (``_Checker``)."""
    checker = _Checker(kind, errors)
    for line, record in records:
        values = _from_mapping(line, record, kind, errors)
        checked = None if values is None else checker.text(line, values)
        if checked is not None:
            yield line, checked


def read_json_lines(stream: IO[bytes], kind: ImportKind, errors: _Errors, *, source: str) -> Iterator[Row]:
    """Rows of a JSON-lines file, checked (``_Checker``)."""
    checker = _Checker(kind, errors)
    rows = 0
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        rows += 1
        if len(raw) > 2 * FIELD_LIMIT + 4096:
            errors.add(number, None, "the line is longer than a record can be (a field over 128 KiB)")
            continue
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            errors.add(number, None, f"not a JSON object: {exc}")
            continue
        values = _from_mapping(number, value, kind, errors)
        checked = None if values is None else checker.text(number, values)
        if checked is not None:
            yield number, checked
    if rows == 0:
        raise _empty(source, "one JSON object per line")


# --- validating one row (the same for every path) -------------------------------------------------------------


def parse_instant(value: str) -> datetime:
    """ISO-8601 with an offset or ``Z``, between 1970-01-01 and 2199-12-31 UTC; a time without an offset is
    refused (we cannot guess its zone)."""
    if not value:
        raise ValueError("is empty: give an ISO-8601 instant such as 2026-10-03T14:05:00-05:00")
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 instant (e.g. 2026-10-03T14:05:00-05:00)") from None
    if instant.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset: add one such as Z or -05:00")
    try:
        utc = instant.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError(f"{value!r} is outside the instants seatsync accepts (1970-01-01 to 2199-12-31 UTC)")
    return utc


#: the usual shape of an instant: UTC (``Z`` or ``+00:00``), whole seconds or microseconds; staged from its text
_UTC_INSTANT = re.compile(r"(\d{4}-\d\d-\d\d)T((?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d)(\.\d{6})?(?:Z|\+00:00)", re.ASCII)


@functools.lru_cache(maxsize=4096)
def _day_accepted(day: str) -> bool:
    """A calendar day (``YYYY-MM-DD``) within the years seatsync accepts."""
    try:
        return EARLIEST.year <= date.fromisoformat(day).year <= LATEST.year
    except ValueError:
        return False


def staged_instant(value: str) -> str:
    """``parse_instant``'s UTC instant as staging holds it: naive text in SQLAlchemy's format (a four-digit year, so
    text order is time order; PostgreSQL reads it as a timestamp). The usual shape is rewritten without building a
    datetime; any other goes through ``parse_instant`` (which raises ``ValueError`` with the reason)."""
    match = _UTC_INSTANT.fullmatch(value)
    if match is not None:
        day, clock, fraction = match.groups()
        if _day_accepted(day):
            return f"{day} {clock}{fraction or '.000000'}"
    return parse_instant(value).replace(tzinfo=None).isoformat(" ", "microseconds")


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


class _Checker:
    """The text checks every field of every row passes: size, NUL characters; values come back stripped."""

    def __init__(self, kind: ImportKind, errors: _Errors) -> None:
        self.fields = FIELDS[kind]
        self.limits = [MAX_LENGTH[name] for name in self.fields]
        self.errors = errors

    def text(self, line: int, values: Sequence[str]) -> list[str] | None:
        out = list(map(str.strip, values))
        # the common case in two C-speed passes; a row that fails them is looked at field by field
        if not any(map(operator.gt, map(len, out), self.limits)) and "\0" not in "".join(out):
            return out
        for name, limit, value in zip(self.fields, self.limits, out, strict=True):
            if len(value) > FIELD_LIMIT:
                self.errors.add(line, name, f"is longer than 128 KiB ({len(value):,} characters)")
            elif "\0" in value:
                self.errors.add(line, name, "contains a NUL character")
            elif len(value) > limit:
                self.errors.add(line, name, f"is longer than {limit} characters ({len(value):,})")
        return None


# --- staging and merging ---------------------------------------------------------------------------------------


def _copy_or_insert(session: Session, table: str, columns: tuple[str, ...], rows: list[Any]) -> None:
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
    # a staging table left by an earlier import in the same transaction is dropped first
    _drop_staging(session, table)
    drop_at_commit = " ON COMMIT DROP" if session.get_bind().dialect.name == "postgresql" else ""
    session.execute(text(f"CREATE TEMP TABLE {table} ({columns_sql}){drop_at_commit}"))


def _drop_staging(session: Session, table: str) -> None:
    schema = "" if session.get_bind().dialect.name == "postgresql" else "temp."
    session.execute(text(f"DROP TABLE IF EXISTS {schema}{table}"))


def _stage_instant(session: Session) -> Callable[[datetime], Any]:
    """How a UTC instant is written into staging: naive, and on SQLite as text in SQLAlchemy's format (a four-digit
    year, so text order is time order)."""
    if session.get_bind().dialect.name == "postgresql":
        return lambda instant: instant.replace(tzinfo=None)
    return lambda instant: instant.replace(tzinfo=None).isoformat(" ", "microseconds")


def _rows_digest(kind: ImportKind, rows: Iterable[bytes]) -> str:
    digest = hashlib.sha256(f"{kind.value}\n".encode())
    for chunk in rows:
        digest.update(chunk)
    return digest.hexdigest()


def _stream_digest(kind: ImportKind, stream: IO[bytes], form: str) -> str | None:
    """The content's SHA-256 (read in 1 MiB blocks, then rewound); None when the stream cannot be read twice."""
    if not stream.seekable():
        return None
    start = stream.tell()
    blocks = iter(lambda: stream.read(1 << 20), b"")
    # chained, not unpacked: the blocks are hashed as they are read, never all held at once
    digest = _rows_digest(kind, itertools.chain([form.encode() + b"\n"], blocks))
    stream.seek(start)
    return digest


def _records_digest(kind: ImportKind, records: Sequence[tuple[int, Any]]) -> str:
    return _rows_digest(
        kind, (json.dumps([line, rec], sort_keys=True, default=str).encode() + b"\n" for line, rec in records)
    )


#: the kinds whose import can only add (events): equal content to the last import adds nothing
_DIGESTED = (ImportKind.USERS, ImportKind.ACTIVITY)


def _unchanged_since_last(session: Session, *, tenant: Tenant, kind: ImportKind, digest: str | None) -> int | None:
    """The row count of the last import of ``kind`` when ``digest`` is its content's, else None."""
    if digest is None or kind not in _DIGESTED:
        return None
    last = session.get(ImportDigest, (tenant.id, kind.value))
    return last.rows if last is not None and last.sha256 == digest else None


def _remember(session: Session, *, tenant: Tenant, kind: ImportKind, digest: str | None, rows: int) -> None:
    if kind not in _DIGESTED:
        return
    last = session.get(ImportDigest, (tenant.id, kind.value))
    if digest is None:  # content we could not hash: the next import cannot be compared with it
        if last is not None:
            session.delete(last)
        return
    if last is None:
        session.add(ImportDigest(tenant_id=tenant.id, kind=kind.value, sha256=digest, rows=rows, imported_at=utcnow()))
    else:
        last.sha256, last.rows, last.imported_at = digest, rows, utcnow()


#: memory (KiB) an import's sorts and page cache may use on each database, whatever the file's size
IMPORT_MEMORY_KIB = 16 * 1024


@contextmanager
def _more_memory(session: Session) -> Iterator[None]:
    """A large import's sorts and index writes in memory rather than in temporary files: SQLite's page cache (the
    database's and the temporary tables', which also sizes its sorter) and PostgreSQL's ``work_mem`` are raised for
    the import and put back after it (a pooled connection keeps its settings)."""
    if session.get_bind().dialect.name == "postgresql":
        # a transaction-local setting: it ends with the transaction in any case; put back here after success so
        # that the caller's later statements run as before (after a failure the caller rolls back)
        before = session.execute(text("SELECT current_setting('work_mem')")).scalar_one()
        session.execute(text("SELECT set_config('work_mem', :kib, true)"), {"kib": f"{IMPORT_MEMORY_KIB}kB"})
        yield
        session.execute(text("SELECT set_config('work_mem', :before, true)"), {"before": before})
        return
    main, temp = (session.execute(text(f"PRAGMA {schema}.cache_size")).scalar_one() for schema in ("main", "temp"))
    for schema in ("main", "temp"):
        session.execute(text(f"PRAGMA {schema}.cache_size = -{IMPORT_MEMORY_KIB}"))
    try:
        yield
    finally:
        session.execute(text(f"PRAGMA main.cache_size = {int(main)}"))
        session.execute(text(f"PRAGMA temp.cache_size = {int(temp)}"))


def _run(
    session: Session, *, tenant: Tenant, kind: ImportKind, rows: Iterable[Row], errors: _Errors, source: str
) -> ImportResult:
    handlers: dict[ImportKind, Callable[..., ImportResult]] = {
        ImportKind.COMPANIES: _import_companies,
        ImportKind.USERS: _import_users,
        ImportKind.ACTIVITY: _import_activity,
    }
    handler = handlers[kind]
    context: dict[str, Any] = {}
    if kind is ImportKind.USERS:
        # read before the savepoint: on SQLite a read inside the transaction would pin a snapshot through the whole
        # (long) staging, and the merge's first write would then fail at once if anyone else wrote meanwhile; this
        # way staging touches only temporary tables, and the write lock is taken (waiting as long as the busy
        # timeout) by the merge's first statement
        query = select(Company.company_id, Company.id).where(Company.tenant_id == tenant.id)
        context["companies"] = {company_id: pk for company_id, pk in session.execute(query)}  # noqa: C416
    with _more_memory(session):
        savepoint = session.begin_nested()
        try:
            result = handler(session, tenant=tenant, rows=rows, errors=errors, source=source, **context)
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
    return result


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
    errors = _Errors()
    digest = None
    if isinstance(records, Sequence):
        if not records:
            raise ImportRejected(source, [RowError(1, None, "no records: send at least one")])
        digest = _records_digest(kind, records)
        same = _unchanged_since_last(session, tenant=tenant, kind=kind, digest=digest)
        if same is not None:
            return ImportResult(kind, rows=same, unchanged=same, nothing_new=True)
    result = _run(
        session, tenant=tenant, kind=kind, rows=read_records(records, kind, errors), errors=errors, source=source
    )
    _remember(session, tenant=tenant, kind=kind, digest=digest, rows=result.rows)
    return result


def import_file(session: Session, *, tenant: Tenant, kind: ImportKind, stream: IO[bytes], source: str) -> ImportResult:
    """A CSV file (``.csv``) or JSON lines (``.jsonl``/``.ndjson``), by the source's name."""
    json_lines = source.endswith((".jsonl", ".ndjson"))
    digest = _stream_digest(kind, stream, "jsonl" if json_lines else "csv") if kind in _DIGESTED else None
    same = _unchanged_since_last(session, tenant=tenant, kind=kind, digest=digest)
    if same is not None:
        return ImportResult(kind, rows=same, unchanged=same, nothing_new=True)
    errors = _Errors()
    rows = (
        read_json_lines(stream, kind, errors, source=source)
        if json_lines
        else read_csv(stream, kind, errors, source=source)
    )
    result = _run(session, tenant=tenant, kind=kind, rows=rows, errors=errors, source=source)
    _remember(session, tenant=tenant, kind=kind, digest=digest, rows=result.rows)
    return result


def _import_companies(
    session: Session, *, tenant: Tenant, rows: Iterable[Row], errors: _Errors, source: str
) -> ImportResult:
    result = ImportResult(ImportKind.COMPANIES)
    seen: dict[str, tuple[int, str, str]] = {}
    for line, values in rows:
        result.rows += 1
        company_id, name, products_text = values
        if not company_id:
            errors.add(line, "company_id", "is empty")
        if not name:
            errors.add(line, "name", "is empty")
        try:
            products = parse_products(products_text)
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

    # only the companies this file names, a chunk of ids at a time (a one-company update stays cheap)
    ids = list(seen)
    existing: dict[str, Company] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        query = select(Company).where(Company.tenant_id == tenant.id, Company.company_id.in_(chunk))
        existing.update((c.company_id, c) for c in session.scalars(query))
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
    "status VARCHAR(16), rank SMALLINT, at TIMESTAMP, next_at TIMESTAMP, kept SMALLINT, last SMALLINT"
)
_USER_COLUMNS = ("line", "user_id", "company_pk", "email", "name", "status", "rank", "at", "next_at", "kept", "last")
_RANKS = {s.value: STATUS_RANK[s] for s in Status}


def _import_users(
    session: Session,
    *,
    tenant: Tenant,
    rows: Iterable[Row],
    errors: _Errors,
    source: str,
    companies: Mapping[str, int],
) -> ImportResult:
    result = ImportResult(ImportKind.USERS)
    _create_staging(session, "staging_users", _USER_STAGING)
    batch: list[list[Any]] = []
    ranks = _RANKS
    # While the file is in the merge's order (users ascending, each user's events by instant, then rank; no two
    # events of a user at one instant and rank), each staged row carries what the merge's window would compute:
    # the next event's instant (``next_at``), whether it is the last copy of an event repeated on adjacent lines
    # (``kept``), and whether it is its user's last row (``last``: the latest details). A row one behind the one
    # read waits in ``pending`` for those. The first row out of that order ends it: the merge then orders in SQL.
    in_order = True
    pending: list[Any] | None = None
    pending_key: tuple[str, int | None, str] = ("", 0, "")
    for line, values in rows:
        result.rows += 1
        user_id, company_id, email, status, at_text, name = values
        status = status.lower()
        bad = False
        if not user_id:
            errors.add(line, "user_id", "is empty")
            bad = True
        company_pk = companies.get(company_id)
        if company_pk is None:
            reason = "is empty" if not company_id else f"unknown company {company_id!r}: import it in companies first"
            errors.add(line, "company_id", reason)
            bad = True
        if "@" not in email or email[0] == "@" or email[-1] == "@":
            errors.add(line, "email", f"{email!r} is not an email address" if email else "is empty")
            bad = True
        rank = ranks.get(status)
        if rank is None:
            errors.add(line, "status", f"unknown status {status!r}: use active, sleeping or deleted")
            bad = True
        try:
            at = staged_instant(at_text)
        except ValueError as exc:
            errors.add(line, "at", str(exc))
            continue
        if bad or errors.total:
            continue  # once the file is known bad, keep validating but stop staging
        row = [line, user_id, company_pk, email, name, status, rank, at, None, 1, 1]
        if not in_order:
            batch.append(row)
        else:
            key = (at, rank, company_id)
            if pending is not None:
                if user_id == pending[1]:
                    if key == pending_key:
                        pending[9] = 0  # the same event again: this copy stands for it
                    elif key[:2] > pending_key[:2]:
                        pending[8] = at
                    else:  # earlier, or a tie the database would break by company id (its collation may differ)
                        in_order = False
                    pending[10] = 0
                elif user_id < pending[1]:
                    in_order = False
                batch.append(pending)
            pending, pending_key = row, key
        if len(batch) >= BATCH:
            _copy_or_insert(session, "staging_users", _USER_COLUMNS, batch)
    errors.raise_if_any(source)
    if pending is not None:
        batch.append(pending)
    _copy_or_insert(session, "staging_users", _USER_COLUMNS, batch)
    _merge_users(session, tenant_id=tenant.id, result=result, source=source, in_order=in_order)
    _drop_staging(session, "staging_users")
    return result


def _merge_users(session: Session, *, tenant_id: int, result: ImportResult, source: str, in_order: bool) -> None:
    """Merge staged rows: user details, then new events with their intervals computed before they are written.

    The touched users' whole histories (stored + new events) are ordered once; stored events whose ``valid_to``
    changed are updated and new ones are inserted with theirs, so a first load writes each row exactly once. A file
    read in the merge's order (``in_order``) was ordered while staged: its rows carry their users' latest details and,
    for a first import of its users, their intervals, so nothing is sorted here.
    """
    params = {"tenant": tenant_id, "now": _stage_instant(session)(utcnow())}
    dialect = session.get_bind().dialect.name
    pg = dialect == "postgresql"
    # user details: the row with the latest instant wins, whatever order files arrive in
    latest = (
        "SELECT user_id, email, name, at FROM staging_users WHERE last = 1"
        if in_order
        else """
            SELECT user_id, email, name, at FROM (
                SELECT user_id, email, name, at, ROW_NUMBER() OVER (
                    PARTITION BY user_id ORDER BY at DESC, line DESC) AS n
                FROM staging_users) ranked
            WHERE n = 1
        """
    )
    session.execute(
        text(
            f"""
            INSERT INTO users (tenant_id, user_id, email, name, details_at)
            SELECT :tenant, user_id, email, name, at FROM ({latest}) latest WHERE true
            ON CONFLICT (tenant_id, user_id) DO UPDATE
                SET email = excluded.email, name = excluded.name, details_at = excluded.details_at
                WHERE excluded.details_at >= users.details_at
                  AND (excluded.email, excluded.name) <> (users.email, users.name)
            """
        ),
        params,
    )
    stored = session.execute(
        text(
            """
            SELECT 1 FROM staging_users s
            WHERE EXISTS (SELECT 1 FROM status_events e WHERE e.tenant_id = :tenant AND e.user_id = s.user_id)
            LIMIT 1
            """
        ),
        params,
    ).first()
    if stored is None and in_order:
        # a first import of these users, in order: each event once (its last copy), with the next one's instant
        # (no two active events of a user at one instant: in order, that would be a tie of instant and rank)
        insert = _INSERT_IN_ORDER.format(
            span_days=span_days_sql(dialect, "at", "next_at"), no_fold="OFFSET 0" if pg else "LIMIT -1 OFFSET 0"
        )
        result.created = cast(CursorResult[Any], session.execute(text(insert), params)).rowcount
        result.unchanged = result.rows - result.created
        return
    _create_staging(session, "staging_merged", _MERGED_STAGING)
    # each interval's length, computed once per row (the length class reads it once per class)
    span_days = span_days_sql(dialect, "h.at", "LEAD(h.at) OVER w")
    if stored is None:
        # a first import of these users (none has a stored event): their histories are the file's events alone,
        # each once (a row repeating another of the file changes nothing)
        history = """
            SELECT CAST(NULL AS BIGINT) AS id, MIN(line) AS line, user_id, company_pk, status, rank, at,
                   CAST(NULL AS TIMESTAMP) AS valid_to
            FROM staging_users GROUP BY user_id, company_pk, status, rank, at
        """
        merged = session.execute(text(_MERGE.format(history=history, span_days=span_days)), params)
        result.created = cast(CursorResult[Any], merged).rowcount
    else:
        result.created = _stage_new_events(session, params)
        if result.created:
            # every event of the touched users: the stored ones and the new ones
            history = """
                SELECT e.id, NULL AS line, e.user_id, e.company_pk, e.status, e.rank, e.at, e.valid_to
                FROM status_events e
                WHERE e.tenant_id = :tenant AND e.user_id IN (SELECT DISTINCT user_id FROM staging_new)
                UNION ALL
                SELECT NULL, line, user_id, company_pk, status, rank, at, NULL FROM staging_new
            """
            session.execute(text(_MERGE.format(history=history, span_days=span_days)), params)
        _drop_staging(session, "staging_new")
    # rows repeating an event (stored before, or earlier in the same file) change nothing
    result.unchanged = result.rows - result.created
    if result.created:
        _refuse_two_companies_at_once(session, source=source)
        if stored is not None:
            differs = "IS DISTINCT FROM" if pg else "IS NOT"
            session.execute(
                text(
                    f"""
                    UPDATE status_events SET valid_to = m.next_at, span_class = {span_class_sql("m.span_days")}
                    FROM staging_merged m
                    WHERE m.id IS NOT NULL AND status_events.id = m.id AND m.old_valid_to {differs} m.next_at
                    """
                )
            )
        # staging_merged was written in the window's order (by user, then time): read back in that order, the
        # rows reach the unique index in its order (no ORDER BY: it would sort again what is sorted)
        session.execute(
            text(
                f"""
                INSERT INTO status_events (tenant_id, user_id, company_pk, status, rank, at, valid_to, span_class,
                                           imported_at)
                SELECT :tenant, user_id, company_pk, status, rank, at, next_at,
                       {span_class_sql("span_days")}, :now
                FROM staging_merged WHERE id IS NULL
                """
            ),
            params,
        )
    _drop_staging(session, "staging_merged")


#: a first import's events from a file staged in order (the span's length computed once per row: the class reads it
#: once per class; an OFFSET keeps either database from folding the subquery into the outer query)
_INSERT_IN_ORDER = f"""
    INSERT INTO status_events (tenant_id, user_id, company_pk, status, rank, at, valid_to, span_class, imported_at)
    SELECT :tenant, user_id, company_pk, status, rank, at, next_at, {span_class_sql("span_days")}, :now
    FROM (SELECT user_id, company_pk, status, rank, at, next_at, {{span_days}} AS span_days
          FROM staging_users WHERE kept = 1 {{no_fold}}) s
"""
_MERGED_STAGING = (
    "id BIGINT, line INTEGER, user_id VARCHAR(200), company_pk INTEGER, status VARCHAR(16), rank SMALLINT, "
    "at TIMESTAMP, old_valid_to TIMESTAMP, next_at TIMESTAMP, next_line INTEGER, next_status VARCHAR(16), "
    "next_company_pk INTEGER, span_days DOUBLE PRECISION"
)
#: the touched users' histories in order (ties at one instant by rank, then company id), each event with the next
_MERGE = """
    INSERT INTO staging_merged (id, line, user_id, company_pk, status, rank, at, old_valid_to, next_at,
                                next_line, next_status, next_company_pk, span_days)
    SELECT h.id, h.line, h.user_id, h.company_pk, h.status, h.rank, h.at, h.valid_to,
           LEAD(h.at) OVER w, LEAD(h.line) OVER w, LEAD(h.status) OVER w, LEAD(h.company_pk) OVER w,
           {span_days}
    FROM ({history}) h JOIN companies c ON c.id = h.company_pk
    WINDOW w AS (PARTITION BY h.user_id ORDER BY h.at, h.rank, c.company_id)
"""


def _stage_new_events(session: Session, params: Mapping[str, Any]) -> int:
    """The file's events not stored yet (the natural key is the unique constraint) into ``staging_new``; how many."""
    _create_staging(
        session,
        "staging_new",
        "line INTEGER, user_id VARCHAR(200), company_pk INTEGER, status VARCHAR(16), rank SMALLINT, at TIMESTAMP",
    )
    session.execute(
        text(
            """
            INSERT INTO staging_new (line, user_id, company_pk, status, rank, at)
            SELECT MIN(s.line), s.user_id, s.company_pk, s.status, s.rank, s.at FROM staging_users s
            WHERE NOT EXISTS (
                SELECT 1 FROM status_events e
                WHERE e.tenant_id = :tenant AND e.user_id = s.user_id AND e.at = s.at
                  AND e.status = s.status AND e.company_pk = s.company_pk)
            GROUP BY s.user_id, s.company_pk, s.status, s.rank, s.at
            """
        ),
        params,
    )
    new = int(session.execute(text("SELECT COUNT(*) FROM staging_new")).scalar_one())
    if new:
        session.execute(text("CREATE INDEX IF NOT EXISTS ix_staging_new_user ON staging_new (user_id)"))
    return new


def _refuse_two_companies_at_once(session: Session, *, source: str) -> None:
    """A user is in one company at a time: two ``active`` events of one user at one instant in two companies (in
    the file, or one in the file and one stored) would bill the user twice. Events at one instant sit side by side
    in the merged order (active first, then by company), so each such pair is a row and the next."""
    clashes = session.execute(
        text(
            """
            SELECT COALESCE(m.next_line, m.line) AS line, m.user_id, a.company_id, b.company_id,
                   CASE WHEN m.next_line IS NULL OR m.line IS NULL THEN 1 ELSE 0 END AS stored
            FROM staging_merged m
            JOIN companies a ON a.id = m.company_pk JOIN companies b ON b.id = m.next_company_pk
            WHERE m.status = 'active' AND m.next_status = 'active' AND m.next_at = m.at
              AND m.next_company_pk <> m.company_pk AND (m.line IS NOT NULL OR m.next_line IS NOT NULL)
            ORDER BY 1
            LIMIT 1000
            """
        )
    ).all()
    if not clashes:
        return
    errors = _Errors()
    for line, user_id, first, second, stored in clashes:
        where = "an event already stored" if stored else "another row of this file"
        errors.add(
            line,
            "company_id",
            f"user {user_id!r} would be active in {first!r} and {second!r} at the same instant ({where}): "
            "a user is in one company at a time",
        )
    errors.raise_if_any(source)


_ACTIVITY_STAGING = "line INTEGER, user_id VARCHAR(200), kind VARCHAR(16), at TIMESTAMP"
_ACTIVITY_COLUMNS = ("line", "user_id", "kind", "at")


def _import_activity(
    session: Session, *, tenant: Tenant, rows: Iterable[Row], errors: _Errors, source: str
) -> ImportResult:
    result = ImportResult(ImportKind.ACTIVITY)
    kinds = {k.value for k in ActivityKind}
    _create_staging(session, "staging_activity", _ACTIVITY_STAGING)
    batch: list[tuple[Any, ...]] = []
    for line, values in rows:
        result.rows += 1
        user_id, kind, at_text = values
        kind = kind.lower()
        bad = False
        if not user_id:
            errors.add(line, "user_id", "is empty")
            bad = True
        if kind not in kinds:
            errors.add(line, "kind", f"unknown kind {kind!r}: use training or phishing")
            bad = True
        try:
            at = staged_instant(at_text)
        except ValueError as exc:
            errors.add(line, "at", str(exc))
            continue
        if bad or errors.total:
            continue
        batch.append((line, user_id, kind, at))
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


def after_import(engine: Engine, *, tenant_id: int, result: ImportResult) -> str | None:
    """What every import surface (CLI, web page, API) calls once its transaction committed: new companies become
    Gradient accounts. Never fails the import; returns a line for the person who imported (None: nothing to say)."""
    if not result.new_company_ids:
        return None
    from seatsync.services.gradient import after_company_import

    return after_company_import(engine, tenant_id=tenant_id, company_ids=result.new_company_ids)
