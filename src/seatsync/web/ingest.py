"""Shared by the ingest routes and the upload page: numbering JSON records, result bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from seatsync.services.imports import ImportResult
from seatsync.web.api.schemas import ImportOut


def numbered(records: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSON records as (position, record); position 1 is the first, as row errors report it."""
    return ((index, record) for index, record in enumerate(records, start=1))


def import_out(result: ImportResult) -> ImportOut:
    return ImportOut(
        kind=result.kind.value,
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        new_company_ids=result.new_company_ids,
        summary=result.summary(),
    )
