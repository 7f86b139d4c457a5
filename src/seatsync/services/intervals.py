"""Which stored status intervals a count reads: sargable predicates over ``[at, valid_to)``.

An interval overlaps ``[lo, hi)`` when it starts before ``hi`` and is still open, ends after ``lo``, or is
instant-long at ``lo`` itself. Written as one ``OR`` that is a scan of the tenant's every interval; written as a
union of ranges each is a range scan of the covering index ``ix_status_events_count``, so a month reads what
overlaps it.
"""

from __future__ import annotations

__all__ = ["overlapping_active"]

_COLUMNS = "e.company_pk, e.user_id, e.at, e.valid_to"


def overlapping_active(lo: str, hi: str, *, closed_end: bool = False) -> str:
    """SQL selecting (company_pk, user_id, at, valid_to) of the tenant's (``:tenant``) active intervals that hold
    at some instant of ``[:lo, :hi)``; ``closed_end``: those that reach ``:lo`` (in force at the instant just
    before it: ``valid_to >= lo``)."""
    base = f"SELECT {_COLUMNS} FROM status_events e WHERE e.tenant_id = :tenant AND e.status = 'active'"
    parts = [
        f"{base} AND e.valid_to IS NULL AND e.at < :{hi}",
        f"{base} AND e.valid_to {'>=' if closed_end else '>'} :{lo} AND e.at < :{hi}",
    ]
    if not closed_end:  # instant-long at lo: made active and changed again at the period's first instant
        parts.append(f"{base} AND e.valid_to = :{lo} AND e.at = :{lo}")
    return " UNION ALL ".join(parts)
