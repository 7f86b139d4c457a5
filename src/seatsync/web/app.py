"""The web app: ``create_app(...)`` builds the FastAPI application (pages, JSON API under /api/v1, static files)."""

from __future__ import annotations

import gc
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seatsync import __version__
from seatsync.config import Settings, get_settings
from seatsync.db.engine import make_engine, session_factory
from seatsync.db.types import utcnow
from seatsync.errors import DatabaseBusy, SeatsyncError
from seatsync.web.auth import Clock, NotAuthenticated, TooManyAttempts
from seatsync.web.errors import error_body, status_for
from seatsync.web.state import AppState

HERE = Path(__file__).parent

#: no inline script or style, nothing from elsewhere
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _seatsync_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SeatsyncError)
    code = status_for(exc)
    if is_api(request):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts | DatabaseBusy) else None
        if isinstance(exc, NotAuthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(error_body(exc), status_code=code, headers=headers)
    if isinstance(exc, NotAuthenticated) and request.method == "GET":
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    from seatsync.web.pages import render_error

    answer = render_error(request, code, str(exc))
    if isinstance(exc, DatabaseBusy):
        answer.headers["Retry-After"] = str(exc.retry_after)
    return answer


class SecurityHeaders:
    """Security headers on every answer, and the server's own time for the request (``Server-Timing``: the
    benchmark reads it; browsers show it in their dev tools). Plain ASGI: no extra task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.append("Server-Timing", f"app;dur={(time.perf_counter() - started) * 1000:.1f}")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                if not path.startswith(("/docs", "/redoc")):
                    headers.setdefault("Content-Security-Policy", CSP)
                if not path.startswith("/static/"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``seatsync serve --workers N``: settings from ``SEATSYNC_*`` (the serving
    command migrated the database before starting the workers)."""
    from seatsync.jobs.observe import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format)
    app = create_app(settings=settings, migrate=False)
    tune_garbage_collector()
    return app


def tune_garbage_collector() -> None:
    """For a serving process. What it has built so far (modules, the app, its routes: some 180,000 objects) is
    left out of the garbage collector's full collections, which otherwise stop every request of the process for
    ~100 ms each time; they live as long as the process (reference counting still frees any that is dropped).
    And the youngest generation is collected after 10,000 new objects instead of 700: a request makes thousands,
    and collecting after every few hundred cost ~8 % of the CPU."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def create_app(
    *,
    settings: Settings | None = None,
    engine: Engine | None = None,
    clock: Clock | None = None,
    migrate: bool = True,
    secure_cookies: bool | None = None,
) -> FastAPI:
    """The whole web app. Without ``engine`` one is made from ``settings.database_url``; the schema is brought up
    to date first (an empty database gets every table). ``clock`` is injectable for tests (login throttling)."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    from seatsync.automation import install as install_automation

    install_automation()  # notifications and tickets after every push run this process finishes
    if migrate:
        from seatsync.db.migrate import upgrade

        upgrade(engine)

    app = FastAPI(
        title="seatsync",
        version=__version__,
        summary="Billable users per company, pushed to ConnectWise Manage and Gradient MSP.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.seatsync = AppState(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        read_sessions=session_factory(
            engine.execution_options(isolation_level="AUTOCOMMIT") if engine.dialect.name == "postgresql" else engine
        ),
        clock=clock or utcnow,
        secure_cookies=settings.secure_cookies if secure_cookies is None else secure_cookies,
    )
    from seatsync.web.dispatch import ThreadDispatcher

    app.state.seatsync.dispatcher = ThreadDispatcher(app.state.seatsync)
    app.add_exception_handler(SeatsyncError, _seatsync_error)
    app.add_middleware(SecurityHeaders)

    from seatsync.web import autotask_pages, catalog_pages, halopsa_pages, operator_pages, pages, product_items_pages
    from seatsync.web.api import router as api_router
    from seatsync.web.api.routes import metrics as metrics_routes

    app.include_router(api_router)
    app.include_router(pages.router)
    app.include_router(catalog_pages.router)  # ConnectWise › Catalog settings
    app.include_router(operator_pages.router)  # Operators
    app.include_router(autotask_pages.router)  # Integrations › Autotask
    app.include_router(halopsa_pages.router)  # Integrations › HaloPSA
    app.include_router(product_items_pages.router)  # a mapper row's "Bill products separately"
    app.include_router(metrics_routes.router)  # /metrics (Prometheus)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
