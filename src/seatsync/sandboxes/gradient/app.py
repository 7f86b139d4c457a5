"""The Gradient sandbox as an ASGI app: the vendor API of the reference, plus the MSP side under ``/_sandbox``.

Conditions of the real service, for ``/api`` paths only: ``latency_ms`` before each answer, 429 (with
``Retry-After``) above ``rate_limit`` requests a second (``seatsync sandbox gradient --rate-limit`` takes requests
a minute, like every sandbox, and passes a sixtieth) — a token bucket holding one second's worth, so a
client pacing itself at the limit is never refused — and, with probability ``fault_rate``, a fault: half are
500s before anything is done, half are dropped connections *after* the request took effect (the answer is lost,
the change is not), which is what makes retries interesting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seatsync.sandboxes.gradient.state import GradientSandbox, SandboxError

API = "/api/vendor-api"


class SimulatedDrop(Exception):
    """Raised after the response has started, so that uvicorn closes the connection mid-answer."""


class _HideSimulatedDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedDrop)


def _quiet_uvicorn() -> None:
    log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideSimulatedDrops) for f in log.filters):
        log.addFilter(_HideSimulatedDrops())


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"statusCode": status, "message": message}, status_code=status, headers=headers)


class _Bucket:
    """Server-side limiter: ``rate`` a second, holding at most one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when the request may go; else the seconds until it could."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


class SandboxApp:
    """The ASGI app: applies latency, rate limit and faults to ``/api`` paths; ``sandbox`` is the state served."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sandbox: GradientSandbox,
        latency_ms: float,
        rate_limit: float | None,
        fault_rate: float,
        rng: random.Random,
        clock: Callable[[], float],
    ) -> None:
        self.app = app
        self.sandbox = sandbox
        self.latency = max(0.0, latency_ms) / 1000
        self.bucket = _Bucket(rate_limit, clock) if rate_limit else None
        self.fault_rate = fault_rate
        self.rng = rng
        self.rate_limited = 0  # 429s answered, for the benchmark's cross-check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.bucket is not None:
            wait = self.bucket.take()
            if wait > 0:
                self.rate_limited += 1
                retry_after = str(max(1, math.ceil(wait)))
                await _error(429, "Too Many Requests", {"Retry-After": retry_after})(scope, receive, send)
                return
        fault = self.rng.random() < self.fault_rate
        if fault and self.rng.random() < 0.5:
            await _error(500, "Internal server error")(scope, receive, send)
            return
        if not fault:
            await self.app(scope, receive, send)
            return

        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)  # the change happens ...
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        raise SimulatedDrop("simulated dropped connection")  # ... and the answer is lost


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise SandboxError(400, "the body is not valid JSON") from None


def create_app(
    sandbox: GradientSandbox | None = None,
    *,
    latency_ms: float = 0.0,
    rate_limit: float | None = 100.0,
    fault_rate: float = 0.0,
    seed: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SandboxApp:
    """The sandbox app over ``sandbox`` (default: the demo seed); ``rate_limit=None`` or 0: no limit."""
    world = sandbox if sandbox is not None else GradientSandbox.seeded("demo")
    _quiet_uvicorn()

    def endpoint(handler: Callable[..., Any], *, status: int = 200, auth: bool = True) -> Callable[..., Any]:
        async def run(request: Request) -> Response:
            try:
                org = world.authenticate(request.headers.get("GRADIENT-TOKEN")) if auth else None
                result = await handler(request, org)
            except SandboxError as exc:
                return _error(exc.status, exc.message)
            if isinstance(result, Response):
                return result
            return JSONResponse(result, status_code=status)

        return run

    async def organization(request: Request, org: Any) -> Any:
        return org.as_json()

    async def set_status(request: Request, org: Any) -> Any:
        data = world.set_status(org, request.path_params["status"])
        return {"data": data, "status": 200, "message": "Success - Updated Integration Status"}

    async def vendor(request: Request, org: Any) -> Any:
        return {"status": 200, "data": world.vendor_json(org), "message": "Success"}

    async def create_service(request: Request, org: Any) -> Any:
        data = world.create_service(org, await _body(request))
        return {"status": 201, "data": data, "message": "Success - Created Service"}

    async def get_service(request: Request, org: Any) -> Any:
        data = world.service_json(org, request.path_params["service_id"])
        return {"status": 200, "data": data, "message": "Success"}

    async def accounts(request: Request, org: Any) -> Any:
        if request.method == "GET":
            return world.list_accounts(org)
        return JSONResponse(world.create_accounts(org, await _body(request)), status_code=201)

    async def rename(request: Request, org: Any) -> Any:
        return world.rename_account(org, request.path_params["account_id"], await _body(request))

    async def count(request: Request, org: Any) -> Any:
        no_build = request.query_params.get("no_build", "").lower() == "true"
        world.set_count(org, request.path_params["service_id"], await _body(request), no_build=no_build)
        return JSONResponse({"status": 201, "message": "Success - Unit count set"}, status_code=201)

    async def state(request: Request, org: Any) -> Any:
        return world.state(request.query_params.get("partner"))

    async def map_(request: Request, org: Any) -> Any:
        body = await _body(request) or {}
        if not isinstance(body, dict):
            raise SandboxError(400, 'send {"accounts": "all" | [ids], "services": "all" | [ids]}')
        for key in ("accounts", "services"):
            value = body.get(key, [])
            if value != "all" and not isinstance(value, list):
                raise SandboxError(400, f'{key} must be "all" or a list of ids')
        return world.map(
            accounts=body.get("accounts", []),
            services=body.get("services", []),
            token=body.get("partner"),
            unmap=request.url.path.endswith("/unmap"),
        )

    async def disconnect(request: Request, org: Any) -> Any:
        body = await _body(request) or {}
        world.partner_disconnects(body.get("partner") if isinstance(body, dict) else None)
        return world.state(body.get("partner") if isinstance(body, dict) else None)

    routes = [
        Route(f"{API}/organization", endpoint(organization), methods=["GET"]),
        Route(f"{API}/organization/status/{{status}}", endpoint(set_status), methods=["PATCH"]),
        Route(API, endpoint(vendor), methods=["GET"]),
        Route(f"{API}/service", endpoint(create_service, status=201), methods=["POST"]),
        Route(f"{API}/service/{{service_id}}", endpoint(get_service), methods=["GET"]),
        Route(f"{API}/service/{{service_id}}/count", endpoint(count), methods=["POST"]),
        Route(f"{API}/organization/accounts", endpoint(accounts), methods=["GET", "POST"]),
        Route(f"{API}/organization/accounts/{{account_id}}", endpoint(rename), methods=["PATCH"]),
        Route("/_sandbox/state", endpoint(state, auth=False), methods=["GET"]),
        Route("/_sandbox/map", endpoint(map_, auth=False), methods=["POST"]),
        Route("/_sandbox/unmap", endpoint(map_, auth=False), methods=["POST"]),
        Route("/_sandbox/disconnect", endpoint(disconnect, auth=False), methods=["POST"]),
    ]
    inner = Starlette(routes=routes)
    return SandboxApp(
        inner,
        sandbox=world,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        fault_rate=fault_rate,
        rng=random.Random(seed),
        clock=clock,
    )
