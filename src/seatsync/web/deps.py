"""Request dependencies: the database session, the caller, their role and tenant (``Annotated`` aliases)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio
from fastapi import BackgroundTasks, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from seatsync.db.models import Tenant as TenantRow
from seatsync.errors import ConnectorError, DatabaseBusy, NotFound
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
P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def app_state(request: Request) -> AppState:
    state = request.app.state.seatsync
    assert isinstance(state, AppState)
    return state


# Where work runs. FastAPI runs every plain ``def`` endpoint and dependency on a worker thread. Dependencies that
# do no I/O are ``async def`` instead: the hand-over would cost more than the work. Reads of the database run on
# the event loop's thread as well (``run_db``, ``local_read``): they are indexed and short, and they never wait
# for a writer (SQLite's WAL, PostgreSQL's MVCC), whereas threads reading at once hand the GIL back and forth at
# every row (sqlite3) or round trip (psycopg) and spent twice the CPU on that (docs/benchmarks.md). A worker process
# then serves one read at a time, as a synchronous server would; run one per core (``seatsync serve --workers``).
# Writes (which may wait for a lock) and anything that calls ConnectWise or Gradient stay on worker threads.


async def _app_state(request: Request) -> AppState:
    return app_state(request)


State = Annotated[AppState, Depends(_app_state)]


async def run_db(request: Request, work: Callable[..., T], /, *args: Any) -> T:
    """Database work of a dependency: inline when the request only reads, else on a worker thread."""
    if request.method in SAFE_METHODS:
        return work(*args)
    return await run_in_threadpool(work, *args)


def local_read(endpoint: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """For a GET endpoint that only reads the database (no remote calls, no long computation: a bounded page or
    one record): it runs on the event loop's thread."""

    @functools.wraps(endpoint)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return endpoint(*args, **kwargs)

    return reads_only(run)


def reads_only(endpoint: F) -> F:
    """Mark an endpoint that never writes: ``get_db`` gives it a read session (``AppState.read_sessions``)."""
    endpoint.reads_only = True  # type: ignore[attr-defined]
    return endpoint


def defers_write_lock(endpoint: F) -> F:
    """Mark an endpoint that may run long before it writes (an import: parsing and staging a file): on SQLite it
    does not take the write lock up front, so others' short writes (logins) go on meanwhile. It must not read in a
    transaction and write later (the importer reads first outside it, stages in temporary tables, then writes)."""
    endpoint.defer_write_lock = True  # type: ignore[attr-defined]
    return endpoint


def _defers_write_lock(request: Request) -> bool:
    return getattr(request.scope.get("endpoint"), "defer_write_lock", False) is True


#: how long a request waits for SQLite's write lock before answering 503 (the busy timeout, in milliseconds)
SQLITE_WRITE_WAIT_MS = 10_000


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def _reads_only(request: Request) -> bool:
    """The request's endpoint only reads (``reads_only``, ``local_read``)."""
    return getattr(request.scope.get("endpoint"), "reads_only", False) is True


def _sqlite_write_lock(session: Session, *, now: bool) -> None:
    """How long this request's writes wait for the lock; with ``now``, take it before the handler runs."""
    session.execute(text(f"PRAGMA busy_timeout = {int(SQLITE_WRITE_WAIT_MS)}"))
    if not now:
        return
    try:
        session.execute(text("BEGIN IMMEDIATE"))
    except OperationalError as exc:
        if _is_busy(exc):
            raise DatabaseBusy() from exc
        raise


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    except OperationalError as exc:
        if _is_busy(exc):
            raise DatabaseBusy() from exc
        raise
    finally:
        session.close()


def _rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One session per request: committed when the handler returns, rolled back when it raises.

    On SQLite a request that may write takes the write lock first (BEGIN IMMEDIATE): a transaction that read and
    then tries to write fails at once ("database is locked") when another writer committed in between, whereas
    waiting for the lock up front is what the busy timeout handles. Making the session does no I/O; the lock and
    the end of a writing request's transaction run on a worker thread, a reading request's on the event loop
    (``run_db``), shielded so that a cancelled request still ends its transaction. (So a GET endpoint must not
    leave a write to this commit: the few that record a broken connection commit it themselves, on their thread.)
    """
    state = app_state(request)
    session = state.read_sessions() if _reads_only(request) else state.sessions()
    try:
        if request.method not in SAFE_METHODS and session.get_bind().dialect.name == "sqlite":
            await run_in_threadpool(functools.partial(_sqlite_write_lock, session, now=not _defers_write_lock(request)))
        yield session
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await run_db(request, _rollback_and_close, session)
        if _is_busy(exc):  # the lock waited for in the handler (an import's merge) was not free in time
            raise DatabaseBusy() from exc
        raise
    with anyio.CancelScope(shield=True):
        await run_db(request, _commit_and_close, session)


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


async def now(request: Request) -> datetime:
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


async def optional_principal(request: Request, db: DbSession, at: Now, tasks: BackgroundTasks) -> Principal | None:
    """The caller (or None), with their tenant kept for ``current_tenant``: one query for both."""
    return await run_db(request, _caller, request, db, at, tasks)


def _caller(request: Request, db: Session, at: datetime, tasks: BackgroundTasks) -> Principal | None:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        found = principal_from_token(db, token=authorization[7:].strip(), now=at)
        if found is None:
            raise NotAuthenticated("the API token is not valid or was revoked: create a new one under API tokens")
        principal, request.state.tenant = found
        if principal.touch and principal.token_id is not None:
            # after the response, when this request's transaction (and any SQLite write lock) is over
            tasks.add_task(touch_token, app_state(request).engine, token_id=principal.token_id, now=at)
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = principal_from_cookie(db, cookie=cookie, now=at)
    if found is None:
        return None
    principal, request.state.tenant = found
    return principal


async def current_principal(
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


async def admin_principal(principal: CurrentOperator) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs the admin role: a viewer can look but not change anything")
    return principal


AdminOperator = Annotated[Principal, Depends(admin_principal)]


async def current_tenant(request: Request, principal: CurrentOperator) -> TenantRow:
    """The caller's tenant, read with the caller (``optional_principal``), in this request's session."""
    tenant = getattr(request.state, "tenant", None)
    if not isinstance(tenant, TenantRow) or tenant.id != principal.tenant_id:
        raise NotFound("your tenant no longer exists")
    return tenant


Tenant = Annotated[TenantRow, Depends(current_tenant)]


#: a database id in a path: bounded so that no value reaches the database as an overflowing integer
IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]
