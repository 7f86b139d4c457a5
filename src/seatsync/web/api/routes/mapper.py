"""The mapper's choices for every target: the options of one level (company, agreement, item …) under the level
above, in one shape (``id``, ``label``, ``detail``), so one page script serves every PSA's mapper."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from seatsync.web.deps import CurrentOperator, DbSession, State, Tenant, commit_on_connector_error
from seatsync.web.mappers import mapper_source

router = APIRouter(prefix="/mapper", tags=["mappings"])


class ChoiceOut(BaseModel):
    id: str
    label: str
    detail: str = ""


@router.get("/{target}/choices/{level}", responses={404: {"description": "no such target or level"}})
def choices(
    target: Annotated[str, Path(max_length=32)],
    level: Annotated[str, Path(max_length=32)],
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    parent: Annotated[str | None, Query(max_length=64, description="the chosen id of the level above")] = None,
    q: Annotated[str, Query(max_length=200, description="search text (the first level)")] = "",
) -> list[ChoiceOut]:
    """The options of ``level`` (e.g. ``agreement``) under ``parent`` (e.g. the chosen ConnectWise company's id),
    read live from the PSA; the first level (``company``) is searched with ``q`` in the cached copy."""
    source = mapper_source(target)
    with commit_on_connector_error(db):
        found = source.choices(db, tenant=tenant, settings=state.settings, level=level, parent=parent, q=q)
    return [ChoiceOut(id=c.id, label=c.label, detail=c.detail) for c in found]
