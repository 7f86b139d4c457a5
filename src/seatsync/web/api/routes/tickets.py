"""Service-desk tickets: the board each PSA's tickets go to, and the tickets seatsync opened."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from seatsync.services import automation, tickets
from seatsync.web.deps import (
    AdminOperator,
    CurrentOperator,
    DbSession,
    State,
    Tenant,
    commit_on_connector_error,
    local_read,
)

router = APIRouter(prefix="/tickets", tags=["tickets"])
Psa = Literal["connectwise", "autotask", "halopsa"]


class BoardOut(BaseModel):
    id: str
    name: str


class BoardSettingOut(BaseModel):
    target: str
    board_id: str | None
    board_name: str | None


class BoardIn(BaseModel):
    board_id: str | None = Field(None, max_length=64, description="the PSA's service board id; null: no tickets")


class TicketOut(BaseModel):
    id: int
    target: str
    company_id: str
    company_name: str
    ticket_id: str
    board_id: str
    summary: str
    opened_at: datetime
    updated_at: datetime
    updates: int
    closed_at: datetime | None
    last_error: str | None


def board_setting(db: DbSession, tenant: Tenant, target: str) -> BoardSettingOut:
    row = automation.automation_for(db, tenant_id=tenant.id, target=target)
    return BoardSettingOut(
        target=target, board_id=row.ticket_board_id if row else None, board_name=row.ticket_board_name if row else None
    )


@router.get("")
@local_read
def list_tickets(principal: CurrentOperator, tenant: Tenant, db: DbSession) -> list[TicketOut]:
    """The latest 50 tickets seatsync opened, open ones first."""
    return [
        TicketOut(
            id=t.id,
            target=t.target,
            company_id=cid,
            company_name=name,
            ticket_id=t.ticket_id,
            board_id=t.board_id,
            summary=t.summary,
            opened_at=t.opened_at,
            updated_at=t.updated_at,
            updates=t.updates,
            closed_at=t.closed_at,
            last_error=t.last_error,
        )
        for t, cid, name in tickets.tenant_tickets(db, tenant=tenant)
    ]


@router.get("/{target}/boards")
def list_boards(target: Psa, principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State) -> list[BoardOut]:
    """The PSA's active service boards (asked of the PSA now)."""
    with commit_on_connector_error(db):
        boards = tickets.list_boards(db, tenant=tenant, target=target, settings=state.settings)
    return [BoardOut(id=b.id, name=b.name) for b in boards]


@router.get("/{target}/board")
@local_read
def get_board(target: Psa, principal: CurrentOperator, tenant: Tenant, db: DbSession) -> BoardSettingOut:
    return board_setting(db, tenant, target)


@router.put("/{target}/board")
def set_board(
    target: Psa, body: BoardIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State
) -> BoardSettingOut:
    """Choose the board tickets go to (checked against the PSA's boards), or stop tickets with null."""
    tickets.choose_board(
        db, tenant=tenant, target=target, board_id=body.board_id, settings=state.settings, by=principal.email
    )
    return board_setting(db, tenant, target)
