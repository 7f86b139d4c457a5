"""Which stored status intervals a count reads: sargable predicates over ``[at, valid_to)``, bounded on both sides.

An interval overlaps ``[lo, hi)`` when it starts before ``hi`` and is still open, ends after ``lo``, or is
instant-long at ``lo`` itself. "Ends after ``lo``" alone is a range that runs to the end of the history (every later
interval ends after ``lo`` too), so a month deep inside a long history would read everything after it. Each closed
interval therefore carries its *length class* (``status_events.span_class``): class ``k`` means it lasted less than
``SPAN_DAYS[k]`` days. Among the intervals of class ``k``, those that reach ``lo`` started after
``lo - SPAN_DAYS[k]``; so each class is one range of ``at``, ``[lo - SPAN_DAYS[k], hi)``, of the covering index
``ix_status_events_span``, and a month reads what overlaps it plus, per class, the intervals that started in the
class's width before it (at most about four times what overlaps, the classes growing by four), whatever the length
of the history. Open intervals (class NULL) are another index, ``ix_status_events_open``, holding only the open
active ones in company order: every one begun before ``hi`` overlaps, and a count per company reads them in its
order, with no sort (at most one per user, so nothing to de-duplicate among them either).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = [
    "OPEN_ACTIVE",
    "SPAN_DAYS",
    "closed_active",
    "open_active",
    "overlapping_active",
    "span_bound_names",
    "span_bounds",
    "span_class_sql",
    "span_days_sql",
]

#: the length classes' widths in days (each four times the last; the last class has no bound: any length)
SPAN_DAYS = (1, 4, 16, 64, 256, 1024, 4096, 16384)
#: a class is taken this much below its width, so that the database's rounding of a length (SQLite's julianday
#: keeps milliseconds) can never put an interval in a class too narrow for it
_MARGIN_DAYS = 1 / 86400
#: no stored instant is earlier (the importer accepts 1970-01-01 onwards), so no class bound needs to be
_FLOOR = datetime(1970, 1, 1, tzinfo=UTC)

_COLUMNS = "e.company_pk, e.user_id, e.at, e.valid_to"


def span_days_sql(dialect: str, at: str, valid_to: str) -> str:
    """SQL computing the length in days of the interval ``[at, valid_to)`` (NULL while it is open)."""
    if dialect == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({valid_to} - {at})) / 86400.0)"
    return f"(julianday({valid_to}) - julianday({at}))"


def span_class_sql(days: str) -> str:
    """SQL computing the length class from the length in days ``days`` (a column: it is read once per class)."""
    steps = " ".join(f"WHEN {days} < {width - _MARGIN_DAYS!r} THEN {k}" for k, width in enumerate(SPAN_DAYS))
    return f"CASE WHEN {days} IS NULL THEN NULL {steps} ELSE {len(SPAN_DAYS)} END"


def _bound(name: str, k: int) -> str:
    return f"{name}_span{k}"


def span_bound_names(name: str) -> tuple[str, ...]:
    """The names of the parameters ``span_bounds(name, ...)`` gives."""
    return tuple(_bound(name, k) for k in range(len(SPAN_DAYS)))


def span_bounds(name: str, instant: datetime) -> dict[str, datetime]:
    """The parameters ``overlapping_active`` needs for its ``lo`` named ``name``: each class's earliest start."""
    out = {}
    for k, width in enumerate(SPAN_DAYS):
        try:
            out[_bound(name, k)] = max(instant - timedelta(days=width), _FLOOR)
        except OverflowError:  # a period in year 1: nothing is stored before it
            out[_bound(name, k)] = _FLOOR
    return out


#: the tenant's open active intervals: exactly the rows of the partial index ``ix_status_events_open`` (its
#: predicate, word for word, so that both databases use it), in company then user order
OPEN_ACTIVE = "e.tenant_id = :tenant AND e.status = 'active' AND e.valid_to IS NULL"


def open_active(hi: str) -> str:
    """SQL selecting (company_pk, user_id, at, valid_to) of the tenant's open active intervals begun before
    ``:hi``: each holds at every instant from its start on, so these are all the open ones that reach a period
    ending at ``hi``; one per user at most (a user's last interval is the only open one)."""
    return f"SELECT {_COLUMNS} FROM status_events e WHERE {OPEN_ACTIVE} AND e.at < :{hi}"


def closed_active(lo: str, hi: str, *, closed_end: bool = False) -> str:
    """SQL selecting (company_pk, user_id, at, valid_to) of the tenant's closed active intervals that hold at some
    instant of ``[:lo, :hi)`` (``closed_end``: that reach ``:lo``, as ``overlapping_active``): one range of start
    instants per length class of ``ix_status_events_span``. The query needs ``span_bounds(lo, ...)``."""
    base = f"SELECT {_COLUMNS} FROM status_events e WHERE e.tenant_id = :tenant AND e.status = 'active'"
    reaches = f"e.valid_to {'>=' if closed_end else '>'} :{lo}"
    parts = [
        f"{base} AND e.span_class = {k} AND e.at >= :{_bound(lo, k)} AND e.at < :{hi} AND {reaches}"
        for k in range(len(SPAN_DAYS))
    ]
    parts.append(f"{base} AND e.span_class = {len(SPAN_DAYS)} AND e.at < :{hi} AND {reaches}")
    if not closed_end:  # instant-long at lo: made active and changed again at the period's first instant
        parts.append(f"{base} AND e.span_class = 0 AND e.at = :{lo} AND e.valid_to = :{lo}")
    return " UNION ALL ".join(parts)


def overlapping_active(lo: str, hi: str, *, closed_end: bool = False) -> str:
    """SQL selecting (company_pk, user_id, at, valid_to) of the tenant's (``:tenant``) active intervals that hold
    at some instant of ``[:lo, :hi)``; ``closed_end``: those that reach ``:lo`` (in force at the instant just
    before it: ``valid_to >= lo``). The query needs ``span_bounds(lo, ...)`` among its parameters."""
    return f"{open_active(hi)} UNION ALL {closed_active(lo, hi, closed_end=closed_end)}"
