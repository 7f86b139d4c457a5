"""Shared by the ingest routes and the upload page: numbering JSON records, result bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import BackgroundTasks
from sqlalchemy import Engine

from seatsync.db.models import Tenant
from seatsync.services.imports import ImportResult, after_import
from seatsync.web.api.schemas import ImportOut


def numbered(records: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSON records as (position, record); position 1 is the first, as row errors report it."""
    return ((index, record) for index, record in enumerate(records, start=1))


def after_commit(tasks: BackgroundTasks, engine: Engine, tenant: Tenant, result: ImportResult) -> None:
    """Run the post-import hook once the request's transaction committed (the session commits before the answer is
    sent; background tasks run after it), as the CLI does after its own commit."""
    if result.new_company_ids:
        tasks.add_task(after_import, engine, tenant_id=tenant.id, result=result)


def import_out(result: ImportResult) -> ImportOut:
    return ImportOut(
        kind=result.kind.value,
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        new_company_ids=result.new_company_ids,
        nothing_new=result.nothing_new,
        summary=result.summary(),
    )
