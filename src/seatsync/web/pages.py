"""Server-rendered pages (Jinja2). They call the same services as the API; the JavaScript in /static only
enhances them (saving a mapping at once, live push progress)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from seatsync.connectors.gradient.client import DEFAULT_URL as GRADIENT_URL
from seatsync.db.models import Integration, TargetAutomation
from seatsync.db.models import Tenant as TenantRow
from seatsync.domain.approvals import Threshold
from seatsync.domain.monthly import MonthlySchedule
from seatsync.domain.periods import BillingPeriod, local_date, shown_instant, time_zone
from seatsync.domain.rules import Rule, product_name
from seatsync.errors import ImportRejected, InvalidField, SeatsyncError, UserInputError
from seatsync.notify import WebhookFormat
from seatsync.push import engine as push_engine
from seatsync.push import gate, runs
from seatsync.push.runs import PeriodRuns, last_push
from seatsync.services import approvals, automation, notifications, tickets
from seatsync.services import connectwise_connection as cw
from seatsync.services import gradient as gradient_service
from seatsync.services.automation import threshold_of
from seatsync.services.companies import archive_company, search_companies, set_company_rule
from seatsync.services.directory import Directory, Entry
from seatsync.services.imports import ImportKind, import_file
from seatsync.targets.registry import all_targets, get_target, target_keys
from seatsync.tickets import BoardChoice
from seatsync.web import auth
from seatsync.web.api.routes import autotask as at_routes
from seatsync.web.api.routes import connectwise as cw_routes
from seatsync.web.api.routes import gradient as gradient_routes
from seatsync.web.api.routes import halopsa as halo_routes
from seatsync.web.api.routes import pushes as push_routes
from seatsync.web.api.routes.auth import do_login, wants_secure_cookie
from seatsync.web.deps import (
    SESSION_COOKIE,
    AdminOperator,
    CurrentOperator,
    DbSession,
    IdPath,
    Now,
    State,
    Tenant,
    defers_write_lock,
    local_read,
    optional_principal,
)
from seatsync.web.dispatch import dispatch_push, dispatched
from seatsync.web.errors import status_for
from seatsync.web.flash import flash_redirect, forget_flash, read_flash
from seatsync.web.ingest import after_commit
from seatsync.web.mapper import FILTER_LABELS, PAGE_SIZE, Filter, mapper_page, page_shown
from seatsync.web.mappers import MapperLayout, RowCells, fmt_qty, mapper_sources
from seatsync.web.mappers import connectwise as cw_mapper
from seatsync.web.mappers.render import render_rows
from seatsync.web.periods import current_period, recent_periods

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# the templates ship with the package: no file-system check on every render
templates.env.auto_reload = False
LOGIN_CSRF_COOKIE = "seatsync_login_csrf"


def tenant_zone(tenant: TenantRow | None) -> ZoneInfo:
    return time_zone(tenant.time_zone) if tenant is not None else ZoneInfo("UTC")


@pass_context
def _fmt_instant(context: Context, value: datetime | None) -> str:
    """Local time in the tenant's zone, the zone named."""
    return shown_instant(value, tenant_zone(context.get("tenant"))) if value else "—"


@pass_context
def _fmt_date(context: Context, value: datetime | None) -> str:
    return local_date(value, tenant_zone(context.get("tenant"))) if value else "—"


templates.env.filters["instant"] = _fmt_instant
templates.env.filters["date"] = _fmt_date
templates.env.filters["qty"] = fmt_qty
templates.env.filters["target_label"] = lambda key: get_target(key).label if key in target_keys() else key
templates.env.filters["product_name"] = product_name
templates.env.globals["mapper_layouts"] = lambda: [source.layout for source in mapper_sources()]


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    base: dict[str, Any] = {"principal": principal, "csrf": principal.csrf_token if principal else None}
    merged = {**base, **context}
    carried = read_flash(request)  # the outcome of the form that redirected here (post/redirect/get)
    if carried is not None and not merged.get("flash"):
        merged.update(flash=carried.pop("m", ""), flash_kind=carried.pop("k", "ok"), flash_extra=carried)
    response = templates.TemplateResponse(request, name, merged, status_code=status_code)
    forget_flash(request, response)
    return response


def render_error(request: Request, status_code: int, message: str) -> HTMLResponse:
    titles = {401: "Please log in", 403: "Not allowed", 404: "Not found", 409: "Cannot do that now", 429: "Slow down"}
    title = titles.get(status_code, "Something went wrong" if status_code >= 500 else "Please check your input")
    tenant = None
    return page(request, "error.html", {"title": title, "message": message, "tenant": tenant}, status_code)


def safe_next(value: str | None) -> str:
    """Only a local path: never send a logged-in user to another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- login / logout -----------------------------------------------------------------------------------------------


@router.get("/login")
def login_page(
    request: Request,
    principal: Annotated[auth.Principal | None, Depends(optional_principal)],
    state: State,
    next: str | None = None,
) -> Response:
    if principal is not None:
        return redirect(safe_next(next))
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", {"login_csrf": token, "next": safe_next(next), "tenant": None})
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=wants_secure_cookie(request, state.secure_cookies),
    )
    return response


@router.post("/login")
def login_submit(
    request: Request,
    db: DbSession,
    state: State,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not auth.csrf_matches(expected, csrf_token):
        raise auth.Forbidden("the login form expired: reload the page and log in again")
    response = redirect(safe_next(next))
    try:
        do_login(request, response, db, state, email=email, password=password)
    except (auth.NotAuthenticated, auth.TooManyAttempts) as exc:
        token = secrets.token_urlsafe(24)
        failed = page(
            request,
            "login.html",
            {"login_csrf": token, "next": safe_next(next), "error": str(exc), "email": email, "tenant": None},
            status_code=429 if isinstance(exc, auth.TooManyAttempts) else 401,
        )
        failed.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
        return failed
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout_submit(request: Request, principal: CurrentOperator, db: DbSession) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        auth.logout(db, cookie=cookie)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def home(principal: CurrentOperator) -> Response:
    return redirect("/connectwise/billing")


# --- companies and CSV upload -------------------------------------------------------------------------------------


@router.get("/companies")
@local_read
def companies_page(
    request: Request,
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    directory = state.directories.get(db, tenant=tenant)
    total, rows = search_companies(directory, q=q, page=page_no, per_page=PAGE_SIZE)
    if page_no > max(1, -(-total // PAGE_SIZE)):  # past the end: the last page
        page_no = max(1, -(-total // PAGE_SIZE))
        total, rows = search_companies(directory, q=q, page=page_no, per_page=PAGE_SIZE)
    # "Since": the company's first status change in the data (months of history), not the day it was imported
    added = state.first_seen.get(db, tenant_id=tenant.id, company_pks=[c.pk for c in rows])
    return page(
        request,
        "companies.html",
        {
            "nav": "companies",
            "tenant": tenant,
            "companies": rows,
            "added": added,
            "q": q or "",
            "pager": Pager(page_no, total, PAGE_SIZE, {"q": q or ""}),
            "kinds": [k.value for k in ImportKind],
            "rules": [r.value for r in Rule],
        },
    )


@router.post("/companies/rule")
def company_rule_submit(
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    company_id: Annotated[str, Form(min_length=1, max_length=200)],
    rule: Annotated[str, Form(max_length=32)] = "",
    q: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The Companies page's rule choice: the company's own rule, or "" for the tenant's."""
    set_company_rule(db, tenant=tenant, company_id=company_id, rule=rule or None)
    return redirect("/companies" + (f"?q={quote(q)}" if q else ""))


@router.post("/companies/archive")
def company_archive_submit(
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    at: Now,
    company_id: Annotated[str, Form(min_length=1, max_length=200)],
    q: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The Companies page's "Archive…": the client left now; its month is still pushed, later months are not."""
    company = archive_company(db, tenant=tenant, company_id=company_id, at=at)
    period = BillingPeriod.containing(at, time_zone(tenant.time_zone))
    return flash_redirect(
        "/companies" + (f"?q={quote(q)}" if q else ""),
        f"{company.name} archived: {period} is still pushed (its count, 0 once nobody is billable), then it is skipped",
    )


@router.post("/companies/upload")
@defers_write_lock
def upload_page(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    tasks: BackgroundTasks,
    kind: Annotated[ImportKind, Form()],
    file: Annotated[UploadFile, File()],
) -> Response:
    source = file.filename or f"{kind.value}.csv"
    try:
        result = import_file(db, tenant=tenant, kind=kind, stream=file.file, source=source)
    except ImportRejected as exc:
        db.rollback()
        return page(
            request,
            "import_result.html",
            {"nav": "companies", "tenant": tenant, "rejected": exc, "source": source},
            status_code=422,
        )
    after_commit(tasks, state.engine, tenant, result)
    return flash_redirect("/companies", f"{source}: {result.summary()}")


# --- API tokens ---------------------------------------------------------------------------------------------------


@router.get("/tokens")
@local_read
def tokens_page(request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession) -> Response:
    tokens = auth.list_tokens(db, tenant_id=tenant.id)
    return page(request, "tokens.html", {"nav": "tokens", "tenant": tenant, "tokens": tokens})


@router.post("/tokens")
def tokens_create(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    at: Now,
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[auth.Role, Form()] = auth.Role.VIEWER,
) -> Response:
    row, token = auth.create_token(db, principal=principal, name=name, role=role, now=at)
    # shown once, on the page the browser is sent to (HttpOnly cookie of a minute, deleted when shown)
    return flash_redirect(
        "/tokens", f"Token “{row.name}” created. Copy it now: it will not be shown again.", secret=token
    )


@router.post("/tokens/{token_id}/revoke")
def tokens_revoke(token_id: IdPath, principal: AdminOperator, tenant: Tenant, db: DbSession, at: Now) -> Response:
    auth.revoke_token(db, tenant_id=tenant.id, token_id=token_id, now=at)
    return redirect("/tokens")


# --- helpers for templates ----------------------------------------------------------------------------------------


class Pager:
    def __init__(self, page_no: int, total: int, size: int, params: dict[str, str]) -> None:
        self.total = total
        self.size = size
        self.pages = max(1, (total + size - 1) // size)
        #: a page past the end (the list shrank, or a typed address) shows as the last one
        self.page = min(page_no, self.pages)
        self.params = {k: v for k, v in params.items() if v}

    @property
    def first_row(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.size + 1

    @property
    def last_row(self) -> int:
        return min(self.total, self.page * self.size)

    def url(self, page_no: int) -> str:
        query = "&".join(f"{k}={quote(v)}" for k, v in {**self.params, "page": str(page_no)}.items())
        return f"?{query}"


# --- ConnectWise › Billing (the mapper) ---------------------------------------------------------------------------


@router.get("/connectwise/billing")
@local_read
def mapper_view(
    request: Request,
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    q: Annotated[str, Query(max_length=200)] = "",
    filter: Filter = Filter.ALL,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    chosen = BillingPeriod.parse(period) if period else current_period(tenant, state.clock())
    shown = mapper_page(db, caches=state, tenant=tenant, period=chosen, q=q, chosen=filter, page=page_no)
    if page_shown(page_no, shown.total) != page_no:  # past the end: the last page, not "51–34 of 34"
        page_no = page_shown(page_no, shown.total)
        shown = mapper_page(db, caches=state, tenant=tenant, period=chosen, q=q, chosen=filter, page=page_no)
    zone = tenant_zone(tenant)
    admin = principal.is_admin
    rows = [cw_mapper.row_cells(row, admin=admin, zone=zone) for row in shown.rows]
    integration, automation = db.execute(_CW_PAGE_SETTINGS, {"tenant_id": tenant.id}).one()
    return mapper_page_response(
        request,
        layout=cw_mapper.LAYOUT,
        tenant=tenant,
        directory=shown.directory,
        rows=rows,
        period=chosen,
        q=q,
        chosen=filter,
        page_no=page_no,
        total=shown.total,
        filter_counts=shown.filter_counts(),
        # the page shows the connection's status and reason only (the API's ConnectionOut also lists its rights)
        connection=PageConnection(integration.status, integration.status_reason)
        if integration is not None
        else PageConnection(cw.IntegrationStatus.DISCONNECTED.value, None),
        can_preview=cw.can_read(integration),
        runs=shown.runs,
        automap=True,
        now=state.clock(),
        admin=admin,
        threshold=threshold_of(automation),
    )


@dataclass(frozen=True, slots=True)
class PageConnection:
    """What a mapper page shows of its target's connection (``status``: connected | broken | disconnected)."""

    status: str
    reason: str | None


# the ConnectWise integration and its automation settings (approval threshold) in one statement (each has at most
# one row per tenant)
_CW_PAGE_SETTINGS = (
    select(Integration, TargetAutomation)
    .select_from(TenantRow)
    .outerjoin(Integration, and_(Integration.tenant_id == TenantRow.id, Integration.kind == cw.KIND))
    .outerjoin(
        TargetAutomation, and_(TargetAutomation.tenant_id == TenantRow.id, TargetAutomation.target == "connectwise")
    )
    .where(TenantRow.id == bindparam("tenant_id"))
)


def mapper_page_response(
    request: Request,
    *,
    layout: MapperLayout,
    tenant: TenantRow,
    directory: Directory,
    rows: list[RowCells],
    period: BillingPeriod,
    q: str,
    chosen: Filter,
    page_no: int,
    total: int,
    filter_counts: dict[Filter, int],
    connection: Any,
    can_preview: bool,
    runs: PeriodRuns,
    automap: bool,
    now: datetime,
    admin: bool,
    threshold: Threshold | None = None,
) -> HTMLResponse:
    """The mapper page of any target (``templates/mapper.html``): a target's page builds its rows and calls this.
    ``directory``: the tenant's (which companies have both products); ``runs``: the target's runs of the period;
    ``threshold``: the tenant's approval threshold for the target (the push dialog asks about the rows over it)."""
    periods = recent_periods(tenant, now)
    current = periods[0]
    # a period that has not started is never offered (nor pushable); an older one asked for by its URL is
    if period < current and period not in periods:
        periods.append(period)
    labels = {**FILTER_LABELS, Filter.DRIFT: f"Changed in {layout.name}"}
    csrf = None
    both: set[int] = set()
    if admin and rows:
        # only an admin's rows offer "Bill products separately": the companies of this page with both products
        entries = directory.by_pk
        both = {r.pk for r in rows if _both_products(entries.get(r.pk))}
        csrf = getattr(getattr(request.state, "principal", None), "csrf_token", None)
    back = layout.path + ("?" + request.url.query if request.url.query else "")
    return page(
        request,
        "mapper.html",
        {
            "nav": f"billing-{layout.target}",
            "layout": layout,
            "tenant": tenant,
            "rows": rows,
            "rows_html": render_rows(layout, rows, admin=admin, csrf=csrf, back=back, both_products=both),
            "period": str(period),
            "periods": [str(p) for p in periods],
            "q": q,
            "filter": chosen.value,
            "filters": list(labels.items()),
            "filter_counts": filter_counts,
            "pager": Pager(page_no, total, PAGE_SIZE, {"period": str(period), "q": q, "filter": chosen.value}),
            "last_push": runs.last_push,
            "running_run": runs.running,
            "connection": connection,
            "can_preview": can_preview,
            "automap": automap,
            "in_progress": period == current,
            "not_started": period > current,
            "approval_threshold": threshold.describe() if threshold is not None and threshold.active else None,
        },
    )


def _both_products(entry: Entry | None) -> bool:
    return entry is not None and "sat" in entry.products and "phishing" in entry.products


# --- Integrations -------------------------------------------------------------------------------------------------


def integrations_page(
    request: Request,
    db: Session,
    tenant: TenantRow,
    at: datetime,
    *,
    cw_result: Any = None,
    at_result: Any = None,
    halo_result: Any = None,
    board_choices: dict[str, list[BoardChoice]] | None = None,
    push_question: dict[str, Any] | None = None,
    flash: str | None = None,
    flash_kind: str = "ok",
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "integrations.html",
        {
            "nav": "integrations",
            "tenant": tenant,
            "cw": cw_routes.connection_out(db, tenant, cw_result),
            "autotask": at_routes.connection_out(db, tenant, at_result),
            "halopsa": halo_routes.connection_out(db, tenant, halo_result),
            "gradient": gradient_routes.gradient_out(db, tenant, at),
            "periods": recent_periods(tenant, at),
            "default_gradient_period": current_period(tenant, at).previous(),
            "last_cw_push": last_push(db, tenant_id=tenant.id, target="connectwise"),
            "last_gradient_push": last_push(db, tenant_id=tenant.id, target="gradient"),
            "channels": notifications.list_channels(db, tenant=tenant),
            "automation": automation.all_automation(db, tenant_id=tenant.id),
            "schedules": automation.overview(db, tenant=tenant, now=at),
            "skip_invoiced_targets": [t for t in automation.TARGETS if automation.skips_invoiced(t)],
            "skipping_invoiced": automation.SKIPPING_INVOICED,
            "board_choices": board_choices or {},
            "push_question": push_question,
            "tickets": tickets.tenant_tickets(db, tenant=tenant, limit=20),
            "deliveries": notifications.recent_deliveries(db, tenant=tenant, limit=20),
            "webhook_formats": [f.value for f in WebhookFormat],
            "flash": flash,
            "flash_kind": flash_kind,
        },
        status_code,
    )


@router.get("/integrations")
@local_read
def integrations_view(request: Request, principal: CurrentOperator, tenant: Tenant, db: DbSession, at: Now) -> Response:
    return integrations_page(request, db, tenant, at)


INTEGRATIONS = "/integrations"


def _failed(request: Request, db: Session, tenant: TenantRow, at: datetime, exc: SeatsyncError) -> HTMLResponse:
    """A refused form: the page again with the reason and the error's status (nothing was done, so a reload that
    sends it again changes nothing); a form that succeeded answers with a redirect (``_done``)."""
    db.commit()  # keep what the service recorded about the failure (status broken, reason)
    return integrations_page(request, db, tenant, at, flash=str(exc), flash_kind="error", status_code=status_for(exc))


def _done(flash: str, kind: str = "ok") -> Response:
    return flash_redirect(INTEGRATIONS, flash, kind)


@router.post("/integrations/connectwise/connect")
def cw_connect_submit(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    at: Now,
    site: Annotated[str, Form(max_length=300)],
    company_id: Annotated[str, Form(max_length=100)],
    public_key: Annotated[str, Form(max_length=200)],
    private_key: Annotated[str, Form(max_length=200)],
    client_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        result = cw.connect(
            db,
            tenant=tenant,
            site=site.strip(),
            company_id=company_id.strip(),
            public_key=public_key,
            private_key=private_key,
            client_id=client_id or None,
            settings=state.settings,
        )
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    ok = result.status is cw.IntegrationStatus.CONNECTED
    return _done(result.summary(), "ok" if ok else "error")


@router.post("/integrations/connectwise/check")
def cw_check_submit(
    request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State, at: Now
) -> Response:
    try:
        result = cw.check_connection(db, tenant=tenant, settings=state.settings)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    ok = result.status is cw.IntegrationStatus.CONNECTED
    flash = "The connection works and every right is granted." if ok else f"The connection is broken: {result.reason}"
    return _done(flash, "ok" if ok else "error")


@router.post("/integrations/{target}/disconnect")
def disconnect_submit(
    target: Annotated[str, PathParam(min_length=1, max_length=40)],
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
) -> Response:
    """Disconnect any registered target (the page asks first): its credentials are forgotten, mappings and
    history kept; the same words as ``seatsync disconnect TARGET``."""
    chosen = get_target(target)  # an unknown key: 404 naming the known ones
    done = chosen.disconnect(db, tenant=tenant)
    return _done(done.summary(chosen.label), "error" if done.note else "ok")


@router.post("/integrations/gradient/connect")
def gradient_connect_submit(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    at: Now,
    token: Annotated[str, Form(max_length=2000)],
    url: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        result = gradient_service.connect(db, tenant=tenant, token=token, url=url.strip() or GRADIENT_URL)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    flash = f"Connected to Gradient ({result.organization_name or 'organization'})."
    if result.sync is not None:
        flash += f" Company accounts: {result.sync.summary()}."
    if result.sync_error:
        return _done(f"{flash} The account sync failed: {result.sync_error}", "error")
    return _done(flash)


@router.post("/integrations/gradient/sync")
def gradient_sync_submit(
    request: Request, principal: AdminOperator, tenant: Tenant, db: DbSession, at: Now
) -> Response:
    try:
        with gradient_service.client_for(db, tenant=tenant) as client:
            report = gradient_service.sync_accounts(db, tenant=tenant, client=client)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    return _done(f"Company accounts synced: {report.summary()}.")


@router.post("/integrations/push")
def push_now_submit(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    at: Now,
    target: Annotated[str, Form(min_length=1, max_length=40)],
    period: Annotated[str, Form(pattern=r"^\d{4}-\d{2}$")],
    asked: Annotated[str, Form(max_length=3)] = "",
    approve_over_threshold: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Push now; with an approval threshold the page first asks about the rows over it (``asked``: answered)."""
    chosen = BillingPeriod.parse(period)
    if not asked:
        try:
            question = over_threshold_question(db, tenant, target=str(target), period=chosen, state=state)
        except SeatsyncError as exc:
            return _failed(request, db, tenant, at, exc)
        if question is not None:  # post/redirect/get: a reload of the question reads again, sends nothing
            return redirect(f"/integrations/push/ask?{urlencode({'target': target, 'period': str(chosen)})}")
    db.commit()  # end this request's transaction (and its SQLite write lock) before the push starts
    try:
        get_target(target)  # an unknown key is refused with the known ones named
        run_id = dispatch_push(
            state,
            tenant_id=tenant.id,
            target=target,
            period=chosen,
            started_by=principal.email,
            approve_over_threshold=bool(approve_over_threshold),
        )
    except SeatsyncError as exc:
        return integrations_page(
            request, db, tenant, at, flash=str(exc), flash_kind="error", status_code=status_for(exc)
        )
    return redirect(f"/history/{run_id}" if run_id else "/history")


@router.get("/integrations/push/ask")
def push_now_question(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    at: Now,
    target: Annotated[str, Query(min_length=1, max_length=40)],
    period: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
) -> Response:
    """What "push now" asks, as a page of its own: the rows over the threshold, read again on each visit."""
    try:
        get_target(target)
        question = over_threshold_question(db, tenant, target=target, period=BillingPeriod.parse(period), state=state)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    if question is None:
        return _done(f"No row of the {period} push goes over the approval threshold now: push it from here.")
    return integrations_page(request, db, tenant, at, push_question=question)


def over_threshold_question(
    db: Session, tenant: TenantRow, *, target: str, period: BillingPeriod, state: Any
) -> dict[str, Any] | None:
    """What "push now" asks before sending rows over the tenant's approval threshold (None: nothing to ask)."""
    if not gate.threshold_for(db, tenant_id=tenant.id, target=target).active:
        return None
    chosen = get_target(target)
    client = chosen.client(db, tenant, settings=state.settings, engine=state.engine, shared_pacing=False)
    try:
        planned = push_engine.preview(db, tenant=tenant, target=target, period=period, client=client)
    finally:
        client.close()
    over = gate.over_threshold(db, tenant_id=tenant.id, target=target, planned=planned)
    if not over:
        return None
    return {"target": target, "label": chosen.label, "period": str(period), "rows": over}


@router.post("/integrations/notifications/add")
def notification_add_submit(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    at: Now,
    kind: Annotated[str, Form(pattern="^(email|webhook)$")],
    address: Annotated[str, Form(max_length=2000)],
    format: Annotated[str, Form(max_length=16)] = "json",
) -> Response:
    try:
        if kind == "email":
            channel = notifications.add_email(db, tenant=tenant, to=address, created_by=principal.email)
        else:
            channel = notifications.add_webhook(
                db,
                tenant=tenant,
                url=address,
                fmt=notifications.parse_format(format),
                settings=state.settings,
                created_by=principal.email,
            )
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    return _done(f"Notifications now go to {notifications.describe(channel)}.")


@router.post("/integrations/notifications/{channel_id}/remove")
def notification_remove_submit(
    request: Request, channel_id: IdPath, principal: AdminOperator, tenant: Tenant, db: DbSession, at: Now
) -> Response:
    try:
        channel = notifications.remove_channel(db, tenant=tenant, channel_id=channel_id)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    return _done(f"Removed {notifications.describe(channel)}.")


@router.post("/integrations/schedule")
def schedule_submit(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    at: Now,
    target: Annotated[str, Form(pattern="^(connectwise|autotask|halopsa|gradient)$")],
    day: Annotated[str, Form(max_length=4)],
    time_of_day: Annotated[str, Form(alias="at", max_length=5)],
    period: Annotated[str, Form(max_length=8)],
    approve_above: Annotated[str, Form(max_length=12)] = "",
    approve_above_seats: Annotated[str, Form(max_length=12)] = "",
    skip_invoiced: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    try:
        chosen = MonthlySchedule.parse(day=day, at=time_of_day, period=period)
        percent = _optional_number(approve_above, "approve_above_percent", float)
        seats = _optional_number(approve_above_seats, "approve_above_seats", int)
        automation.set_schedule(
            db, tenant=tenant, target=target, schedule=chosen, by=principal.email, skip_invoiced=bool(skip_invoiced)
        )
        automation.set_threshold(db, tenant=tenant, target=target, percent=percent, seats=seats, by=principal.email)
    except InvalidField as exc:  # said with the form's labels, not the CLI's flags or the API's names
        return _failed(request, db, tenant, at, UserInputError(exc.named(SCHEDULE_LABELS[exc.field])))
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    threshold = automation.Threshold(percent=percent, seats=seats)
    skipping = f", {automation.SKIPPING_INVOICED}" if skip_invoiced else ""
    return _done(f"{target}: {chosen.describe()}{skipping}; approval: {threshold.describe()}.")


#: the schedule form's fields, as its labels say them
SCHEDULE_LABELS = {
    "day": "“Day”",
    "at": "“At”",
    "period": "“Period”",
    "approve_above_percent": "“Approve above %”",
    "approve_above_seats": "“or seats”",
}


def _optional_number(text: str, field: str, kind: type[float] | type[int]) -> Any:
    if not text.strip():
        return None
    try:
        return kind(text.strip())
    except ValueError:
        whole = " whole" if kind is int else ""
        raise InvalidField(field, f"must be a{whole} number, not {text!r}") from None


@router.post("/integrations/schedule/{target}/off")
def schedule_off_submit(
    request: Request,
    target: Annotated[str, PathParam(pattern="^(connectwise|autotask|halopsa|gradient)$")],
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    at: Now,
) -> Response:
    automation.schedule_off(db, tenant=tenant, target=target, by=principal.email)
    return _done(f"{target}: no scheduled push.")


@router.post("/integrations/tickets/{target}/boards")
def ticket_boards_submit(
    target: Annotated[str, PathParam(pattern="^(connectwise|autotask|halopsa)$")], principal: AdminOperator
) -> Response:
    """ "Choose a board": to the page that lists the PSA's boards (a reload lists them again, nothing is sent)."""
    return redirect(f"/integrations/tickets/{target}/boards#tickets")


@router.get("/integrations/tickets/{target}/boards")
def ticket_boards_view(
    request: Request,
    target: Annotated[str, PathParam(pattern="^(connectwise|autotask|halopsa)$")],
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    at: Now,
) -> Response:
    """The Integrations page with the PSA's active service boards to choose from (asked of the PSA now)."""
    try:
        boards = tickets.list_boards(db, tenant=tenant, target=target, settings=state.settings)
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    return integrations_page(request, db, tenant, at, board_choices={target: boards})


@router.post("/integrations/tickets/{target}/board")
def ticket_board_submit(
    request: Request,
    target: Annotated[str, PathParam(pattern="^(connectwise|autotask|halopsa)$")],
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    at: Now,
    board_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        name = tickets.choose_board(
            db, tenant=tenant, target=target, board_id=board_id or None, settings=state.settings, by=principal.email
        )
    except SeatsyncError as exc:
        return _failed(request, db, tenant, at, exc)
    flash = f"Tickets now go to the service board {name}." if name else "No more service-desk tickets."
    return _done(flash)


# --- Approvals ------------------------------------------------------------------------------------------------


def approvals_page(
    request: Request,
    db: Session,
    tenant: TenantRow,
    *,
    flash: str | None = None,
    flash_kind: str = "ok",
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "approvals.html",
        {
            "nav": "approvals",
            "tenant": tenant,
            "waiting": approvals.waiting_runs(db, tenant=tenant),
            "flash": flash,
            "flash_kind": flash_kind,
        },
        status_code,
    )


@router.get("/approvals")
@local_read
def approvals_view(request: Request, principal: CurrentOperator, tenant: Tenant, db: DbSession) -> Response:
    return approvals_page(request, db, tenant)


@router.post("/approvals/{run_id}")
def approvals_submit(
    request: Request,
    run_id: IdPath,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    state: State,
    action: Annotated[str, Form(pattern="^(approve|approve-all|reject|reject-all)$")],
    company: Annotated[list[str] | None, Form(max_length=200)] = None,
) -> Response:
    chosen = [] if action.endswith("-all") else (company or [])
    if not action.endswith("-all") and not chosen:
        return approvals_page(
            request, db, tenant, flash="Choose the rows first (or use “all”).", flash_kind="error", status_code=422
        )
    try:
        if action.startswith("reject"):
            rows = approvals.reject(db, tenant=tenant, run_id=run_id, company_ids=chosen, by=principal.email)
            flash = f"Rejected {len(rows)} row{'s' if len(rows) != 1 else ''}: not sent."
        else:
            db.commit()  # the approval push starts in its own transactions
            done = approvals.approve(
                state.engine,
                tenant_id=tenant.id,
                run_id=run_id,
                company_ids=chosen,
                by=principal.email,
                send=dispatched(state),
            )
            return redirect(f"/history/{done.run_id}" if done.run_id else "/approvals")
    except SeatsyncError as exc:
        return approvals_page(request, db, tenant, flash=str(exc), flash_kind="error", status_code=status_for(exc))
    return flash_redirect("/approvals", flash)


# --- History --------------------------------------------------------------------------------------------------------


@router.get("/history")
@local_read
def history_view(
    request: Request,
    principal: CurrentOperator,
    tenant: Tenant,
    db: DbSession,
    target: Annotated[str | None, Query(max_length=40)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    if target:
        get_target(target)  # an unknown key: 404 naming the known ones
    found = runs.list_runs(
        db, tenant_id=tenant.id, target=target, limit=PAGE_SIZE + 1, offset=(page_no - 1) * PAGE_SIZE
    )
    return page(
        request,
        "history.html",
        {
            "nav": "history",
            "tenant": tenant,
            "runs": found[:PAGE_SIZE],
            "more": len(found) > PAGE_SIZE,
            "page_no": page_no,
            "target": target or "",
            "targets": [(t.key, t.label) for t in all_targets()],
        },
    )


@router.get("/history/{run_id}")
def run_view(
    request: Request, run_id: IdPath, principal: CurrentOperator, tenant: Tenant, db: DbSession, state: State
) -> Response:
    run = runs.get_run(db, tenant_id=tenant.id, run_id=run_id)
    results = runs.run_results(db, tenant_id=tenant.id, run_id=run_id)
    return page(
        request,
        "run.html",
        {
            "nav": "history",
            "tenant": tenant,
            "run": push_routes.run_out(db, run, state),
            "results": results,
            "retried": sum(1 for r in results if r.result.attempts > 1),
        },
    )
