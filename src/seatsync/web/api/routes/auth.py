"""Log in (a browser session cookie), log out, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from seatsync.db.models import Tenant as TenantRow
from seatsync.web import auth
from seatsync.web.api.schemas import LoginIn, Me
from seatsync.web.deps import SESSION_COOKIE, CurrentOperator, DbSession, Now, State, Tenant, reads_only

router = APIRouter(prefix="/auth", tags=["auth"])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def wants_secure_cookie(request: Request, configured: bool | None) -> bool:
    if configured is not None:
        return configured
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session_cookie(response: Response, request: Request, state_secure: bool | None, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=wants_secure_cookie(request, state_secure),
        path="/",
    )


def do_login(request: Request, response: Response, db: DbSession, state: State, *, email: str, password: str) -> Me:
    """Shared by the API and the login page: a failure is committed (for throttling) before it is raised."""
    try:
        operator, cookie, csrf = auth.login(
            db, email=email, password=password, client=client_address(request), now=state.clock()
        )
    except auth.NotAuthenticated:
        db.commit()
        raise
    tenant = db.get(TenantRow, operator.tenant_id)
    assert tenant is not None
    set_session_cookie(response, request, state.secure_cookies, cookie)
    return Me(
        email=operator.email,
        role=operator.role,
        tenant=tenant.slug,
        tenant_name=tenant.name,
        via="session",
        csrf_token=csrf,
    )


@router.post(
    "/login",
    responses={401: {"description": "wrong email or password"}, 429: {"description": "too many failed logins"}},
)
def login(body: LoginIn, request: Request, response: Response, db: DbSession, state: State) -> Me:
    """Open a browser session (an HttpOnly cookie). Send the returned ``csrf_token`` as ``X-CSRF-Token`` with every
    state-changing request made with the cookie."""
    return do_login(request, response, db, state, email=body.email, password=body.password)


@router.post("/logout", status_code=204)
def logout(request: Request, principal: CurrentOperator, db: DbSession) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        auth.logout(db, cookie=cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me")
@reads_only
async def me(principal: CurrentOperator, tenant: Tenant, at: Now) -> Me:
    return Me(
        email=principal.email,
        role=principal.role.value,
        tenant=tenant.slug,
        tenant_name=tenant.name,
        via=principal.via,
        csrf_token=principal.csrf_token,
    )
