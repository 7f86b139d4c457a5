"""API tokens for scripts (admin only): created and shown once, stored hashed, revocable."""

from __future__ import annotations

from fastapi import APIRouter

from seatsync.web import auth
from seatsync.web.api.schemas import TokenCreated, TokenIn, TokenOut
from seatsync.web.deps import AdminOperator, DbSession, IdPath, Now, local_read

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("")
@local_read
def list_tokens(principal: AdminOperator, db: DbSession) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in auth.list_tokens(db, tenant_id=principal.tenant_id)]


@router.post("", status_code=201)
def create_token(body: TokenIn, principal: AdminOperator, db: DbSession, at: Now) -> TokenCreated:
    row, token = auth.create_token(db, principal=principal, name=body.name, role=auth.Role(body.role), now=at)
    return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=token)


@router.delete("/{token_id}", responses={404: {"description": "no such token for your tenant"}})
def revoke_token(token_id: IdPath, principal: AdminOperator, db: DbSession, at: Now) -> TokenOut:
    return TokenOut.model_validate(auth.revoke_token(db, tenant_id=principal.tenant_id, token_id=token_id, now=at))
