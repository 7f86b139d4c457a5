"""Operators (admins only): list, add, change role, remove; the same services as ``seatsync operator …``. Every
form answers with a redirect (post/redirect/get)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from seatsync.db.models import Operator
from seatsync.errors import NotFound, SeatsyncError
from seatsync.services import tenants as tenant_service
from seatsync.web.deps import AdminOperator, DbSession, IdPath, Tenant, local_read
from seatsync.web.flash import flash_redirect
from seatsync.web.pages import page

router = APIRouter(include_in_schema=False)
PAGE = "/operators"


@router.get(PAGE)
@local_read
def operators_view(request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession) -> Response:
    return page(
        request,
        "operators.html",
        {
            "nav": "operators",
            "tenant": tenant,
            "operators": tenant_service.list_operators(db, tenant=tenant),
            "roles": tenant_service.ROLES,
        },
    )


@router.post(PAGE)
def operator_add(
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form(max_length=16)] = "viewer",
) -> Response:
    try:
        added = tenant_service.create_operator(db, tenant=tenant, email=email, password=password, role=role)
    except SeatsyncError as exc:
        db.rollback()
        return flash_redirect(PAGE, f"Not added: {exc}", "error")
    return flash_redirect(PAGE, f"{added.email} added as {added.role}.")


def _email(db: DbSession, tenant: Tenant, operator_id: int) -> str:
    email = db.scalar(select(Operator.email).where(Operator.tenant_id == tenant.id, Operator.id == operator_id))
    if email is None:
        raise NotFound(f"no operator {operator_id} in this tenant")
    return email


@router.post(PAGE + "/{operator_id}/role")
def operator_role(
    operator_id: IdPath,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    email = _email(db, tenant, operator_id)
    try:
        changed = tenant_service.set_operator_role(db, tenant=tenant, email=email, role=role)
    except SeatsyncError as exc:
        db.rollback()
        return flash_redirect(PAGE, f"Not changed: {exc}", "error")
    return flash_redirect(PAGE, f"{changed.email} is now {changed.role}.")


@router.post(PAGE + "/{operator_id}/remove")
def operator_remove(operator_id: IdPath, principal: AdminOperator, tenant: Tenant, db: DbSession) -> Response:
    email = _email(db, tenant, operator_id)
    try:
        removed = tenant_service.remove_operator(db, tenant=tenant, email=email)
    except SeatsyncError as exc:
        db.rollback()
        return flash_redirect(PAGE, f"Not removed: {exc}", "error")
    return flash_redirect(PAGE, f"{removed} removed: their sessions and API tokens have ended.")
