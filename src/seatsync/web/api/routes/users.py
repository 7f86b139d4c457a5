"""Ingest for vendor platforms: user status changes and activity in batches, CSV uploads (all or nothing)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Path, UploadFile

from seatsync.services.imports import ImportKind, import_file, import_records
from seatsync.web.api.schemas import Batch, ImportOut, ImportProblem
from seatsync.web.deps import AdminOperator, DbSession, State, Tenant, defers_write_lock
from seatsync.web.ingest import after_commit, import_out, numbered

router = APIRouter(tags=["ingest"])
REJECTED: dict[int | str, dict[str, Any]] = {
    422: {"model": ImportProblem, "description": "every bad record (line = position); nothing stored"}
}


@router.post("/users/events", responses=REJECTED)
@defers_write_lock
def post_user_events(body: Batch, principal: AdminOperator, tenant: Tenant, db: DbSession) -> ImportOut:
    """User status changes (``user_id, company_id, email, name, status, at``); a change already stored is a no-op."""
    result = import_records(
        db, tenant=tenant, kind=ImportKind.USERS, records=list(numbered(body.records)), source="users batch"
    )
    return import_out(result)


@router.post("/activity", responses=REJECTED)
@defers_write_lock
def post_activity(body: Batch, principal: AdminOperator, tenant: Tenant, db: DbSession) -> ImportOut:
    """Training assignments and phishing emails (``user_id, kind, at``) for the ``engaged`` rule."""
    result = import_records(
        db, tenant=tenant, kind=ImportKind.ACTIVITY, records=list(numbered(body.records)), source="activity batch"
    )
    return import_out(result)


@router.post("/imports/{kind}", responses=REJECTED)
@defers_write_lock
def upload(
    kind: Annotated[ImportKind, Path()],
    file: Annotated[UploadFile, File(description="CSV with a header row (or .jsonl)")],
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    tasks: BackgroundTasks,
) -> ImportOut:
    """Upload a ``companies``, ``users`` or ``activity`` file (PRODUCT.md › Import formats)."""
    source = file.filename or f"{kind.value}.csv"
    result = import_file(db, tenant=tenant, kind=kind, stream=file.file, source=source)
    after_commit(tasks, state.engine, tenant, result)
    return import_out(result)
