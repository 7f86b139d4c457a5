"""Request dependencies: the database session, the caller, their role and tenant (``Annotated`` aliases)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Path, Request
from sqlalchemy import text
from sqlalchemy.orm import Session

from seatsync.db.models import Tenant as TenantRow
from seatsync.errors import ConnectorError, NotFound
from seatsync.web.auth import (
    Forbidden,
    NotAuthenticated,
    Principal,
    csrf_matches,
    principal_from_cookie,
    principal_from_token,
    touch_token,
)
from seatsync.web.state import AppState

SESSION_COOKIE = "seatsync_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def app_state(request: Request) -> AppState:
    state = request.app.state.seatsync
    assert isinstance(state, AppState)
    return state


State = Annotated[AppState, Depends(app_state)]


def get_db(request: Request) -> Iterator[Session]:
    """One session per request: committed when the handler returns, rolled back when it raises.

    On SQLite a request that may write takes the write lock first (BEGIN IMMEDIATE): a transaction that read and
    then tries to write fails at once ("database is locked") when another writer committed in between, whereas
    waiting for the lock up front is what the busy timeout handles.
    """
    session = app_state(request).sessions()
    if request.method not in SAFE_METHODS and session.get_bind().dialect.name == "sqlite":
        session.execute(text("BEGIN IMMEDIATE"))
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def commit_on_connector_error(session: Session) -> Iterator[None]:
    """Services record a remote failure (integration ``broken`` and why) before raising: keep that record."""
    try:
        yield
    except ConnectorError:
        session.commit()
        raise


# scope="function": commit before the response is sent, so the next request sees the change
DbSession = Annotated[Session, Depends(get_db, scope="function")]


def now(request: Request) -> datetime:
    return app_state(request).clock()


Now = Annotated[datetime, Depends(now)]


async def _csrf_given(request: Request) -> str | None:
    """The CSRF token sent with a state-changing request: the header (JS) or the form field (plain forms)."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def optional_principal(request: Request, db: DbSession, at: Now, tasks: BackgroundTasks) -> Principal | None:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        found = principal_from_token(db, token=authorization[7:].strip(), now=at)
        if found is None:
            raise NotAuthenticated("the API token is not valid or was revoked: create a new one under API tokens")
        if found.touch and found.token_id is not None:
            # after the response, when this request's transaction (and any SQLite write lock) is over
            tasks.add_task(touch_token, app_state(request).engine, token_id=found.token_id, now=at)
        return found
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return principal_from_cookie(db, cookie=cookie, now=at)


def current_principal(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    csrf: Annotated[str | None, Depends(_csrf_given)],
) -> Principal:
    if principal is None:
        raise NotAuthenticated("log in first (or send an API token as 'Authorization: Bearer ...')")
    if (
        principal.via == "session"
        and request.method not in SAFE_METHODS
        and not csrf_matches(principal.csrf_token, csrf)
    ):
        raise Forbidden("the form's security token is missing or out of date: reload the page and try again")
    request.state.principal = principal
    return principal


CurrentOperator = Annotated[Principal, Depends(current_principal)]


def admin_principal(principal: CurrentOperator) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs the admin role: a viewer can look but not change anything")
    return principal


AdminOperator = Annotated[Principal, Depends(admin_principal)]


def current_tenant(principal: CurrentOperator, db: DbSession) -> TenantRow:
    tenant = db.get(TenantRow, principal.tenant_id)
    if tenant is None:
        raise NotFound("your tenant no longer exists")
    return tenant


Tenant = Annotated[TenantRow, Depends(current_tenant)]


#: a database id in a path: bounded so that no value reaches the database as an overflowing integer
IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]
