"""The HaloPSA sandbox as an ASGI app: ``create_app(HaloPSASandbox())``.

``POST /auth/token`` (client credentials, ``?tenant=``), ``GET /api/authinfo``, and under ``/api``: ``Client``,
``Item`` and ``SoftwareLicence`` lists (``record_count`` + per-entity key; ``pageinate``/``page_size``/``page_no``,
at most 100 a page; unpaged ``count`` caps rows), single records, and ``POST /api/SoftwareLicence`` upserts.
No PUT or PATCH. Order of checks for an API call: rolling rate limit (429 with Halo's message, no Retry-After),
the Bearer token (401 when missing or expired), faults, the route (404/405), the permission (scope AND agent,
403, before the body is read), then the call.
Faults (``fault_rate``): ``error`` (500, nothing done) and ``drop`` (done, connection dropped mid-answer).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from seatsync.connectors.halopsa.errors import Permission
from seatsync.sandboxes.halopsa.state import HaloError, HaloPSASandbox, IssuedToken, Record, class_error

MAX_PAGE_SIZE = 100
Handler = Callable[["Call"], Awaitable[Response]]


class DroppedConnection(Exception):
    """Raised after the answer started: the server closes the connection mid-answer (a fault)."""


def _not_a_deliberate_drop(record: logging.LogRecord) -> bool:
    return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json; charset=utf-8")


class Call:
    def __init__(self, request: Request, sandbox: HaloPSASandbox, token: IssuedToken, ids: dict[str, str]) -> None:
        self.request, self.sandbox, self.token, self.ids = request, sandbox, token, ids

    def flag(self, name: str) -> bool:
        return self.request.query_params.get(name, "").lower() in ("true", "1")

    def int_param(self, name: str) -> int | None:
        raw = self.request.query_params.get(name)
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except ValueError:
            raise HaloError(400, f"The value '{raw}' is not valid for {name}.") from None


def list_answer(call: Call, records: list[Record], key: str) -> Response:
    """``{"record_count": N, key: [...]}``, paged when ``pageinate=true``, else capped by ``count``."""
    search = (call.request.query_params.get("search") or "").casefold()
    if search:
        records = [r for r in records if search in str(r.get("name", "")).casefold()]
    records = sorted(records, key=lambda r: (str(r.get("name", "")).casefold(), r["id"]))
    total = len(records)
    if call.flag("pageinate"):
        size = max(1, min(call.int_param("page_size") or 50, MAX_PAGE_SIZE))
        number = call.int_param("page_no") or 1
        if number < 1:
            raise HaloError(400, "page_no must be 1 or more")
        page = records[(number - 1) * size : number * size]
    else:
        cap = call.int_param("count")
        page = records[:cap] if cap is not None else records
    return _json({"record_count": total, key: page})


async def list_clients(call: Call) -> Response:
    with call.sandbox.lock:
        rows = [dict(c) for c in call.sandbox.clients.values() if call.flag("includeinactive") or not c["inactive"]]
    return list_answer(call, rows, "clients")


async def get_client(call: Call) -> Response:
    return _json(call.sandbox.client(int(call.ids["id"])))


async def list_items(call: Call) -> Response:
    with call.sandbox.lock:
        rows = [dict(i) for i in call.sandbox.items.values() if call.flag("includeinactive") or not i["inactive"]]
    return list_answer(call, rows, "items")


async def get_item(call: Call) -> Response:
    return _json(call.sandbox.item(int(call.ids["id"])))


async def list_licences(call: Call) -> Response:
    client_id = call.int_param("client_id")
    with call.sandbox.lock:
        rows = [
            dict(r)
            for r in call.sandbox.licences.values()
            if not r["deleted"]
            and (client_id is None or r["client_id"] == client_id)
            and (call.flag("includeinactive") or r["is_active"])
        ]
    return list_answer(call, rows, "licences")


async def get_licence(call: Call) -> Response:
    return _json(call.sandbox.licence(int(call.ids["id"])))


async def post_licences(call: Call) -> Response:
    try:
        body = json.loads(await call.request.body() or b"null")
    except ValueError:
        raise class_error(400, "The request body is not valid JSON", "Newtonsoft.Json.JsonReaderException") from None
    saved, created = call.sandbox.upsert_licences(body)
    # one element: the saved object; several: the array (the reference leaves the exact shape open)
    answer: Any = saved[0] if len(saved) == 1 else saved
    return _json(answer, 201 if created else 200)


_ID = r"(?P<id>\d+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler, Permission]] = [
    (method, re.compile(f"^{pattern}/?$", re.IGNORECASE), handler, permission)
    for method, pattern, handler, permission in [
        ("GET", "/Client", list_clients, Permission.READ_CUSTOMERS),
        ("GET", f"/Client/{_ID}", get_client, Permission.READ_CUSTOMERS),
        ("GET", "/Item", list_items, Permission.READ_ITEMS),
        ("GET", f"/Item/{_ID}", get_item, Permission.READ_ITEMS),
        ("GET", "/SoftwareLicence", list_licences, Permission.READ_LICENCES),
        ("GET", f"/SoftwareLicence/{_ID}", get_licence, Permission.READ_LICENCES),
        ("POST", "/SoftwareLicence", post_licences, Permission.EDIT_LICENCES),
    ]
]


def route_name(method: str, path: str) -> str:
    return f"{method} " + re.sub(r"/\d+(?=/|$)", "/{id}", path)


def _error(err: HaloError) -> Response:
    return _json(err.body, err.status)


class HaloPSAApp:
    """The ASGI callable. ``sandbox`` is the live state (tests may change it while the server runs)."""

    def __init__(self, sandbox: HaloPSASandbox) -> None:
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    logging.getLogger("uvicorn.error").addFilter(_not_a_deliberate_drop)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        if path.startswith("/_sandbox/"):
            response = await self.inspect(request, path[len("/_sandbox/") :].strip("/"))
        elif path.rstrip("/") == "/auth/token":
            response = await self.token(request)
        elif path.rstrip("/").lower() == "/api/authinfo":
            base = str(request.base_url).rstrip("/")
            response = _json({"auth_url": base + "/auth", "tenant_id": self.sandbox.halo_tenant})
        elif path.startswith("/api/"):
            response, fault = await self.api_call(request, path[len("/api") :])
            self.sandbox.log(route_name(request.method, path), response.status_code)
            if fault == "drop":
                await send({"type": "http.response.start", "status": 200, "headers": response.raw_headers})
                raise DroppedConnection("sandbox fault: connection dropped mid-answer")
        else:
            response = _json({"Message": f"No HTTP resource was found that matches the request URI '{path}'."}, 404)
        await response(scope, receive, send)

    async def token(self, request: Request) -> Response:
        if request.method != "POST":
            return _json({"error": "invalid_request", "error_description": "POST the token request"}, 400)
        if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            return _json({"error": "invalid_request", "error_description": "the body must be form-encoded"}, 400)
        form = dict(parse_qsl((await request.body()).decode()))
        try:
            return _json(self.sandbox.issue_token(form, request.query_params.get("tenant")))
        except HaloError as err:
            return _error(err)

    async def api_call(self, request: Request, rest: str) -> tuple[Response, str | None]:
        sandbox = self.sandbox
        if sandbox.latency_ms > 0:
            await asyncio.sleep(sandbox.latency_ms / 1000)
        if not sandbox.admit():
            return _json(sandbox.rate_limit_message, 429), None
        try:
            token = sandbox.authenticate(request.headers.get("authorization"))
            fault = sandbox.draw_fault()
            if fault == "error":
                return _error(
                    class_error(500, "An error occurred (sandbox fault).", "System.Data.SqlClient.SqlException")
                ), None
            found = [(m, pattern.match(rest), h, p) for m, pattern, h, p in ROUTES]
            found = [(m, match, h, p) for m, match, h, p in found if match]
            if not found:
                raise HaloError(
                    404, {"Message": f"No HTTP resource was found that matches the request URI '/api{rest}'."}
                )
            chosen = next(((match, h, p) for m, match, h, p in found if m == request.method), None)
            if chosen is None:
                raise HaloError(
                    405, {"Message": f"The requested resource does not support http method '{request.method}'."}
                )
            match, handler, permission = chosen
            assert match is not None
            sandbox.require(token, permission)
            return await handler(Call(request, sandbox, token, match.groupdict())), fault
        except HaloError as err:
            return _error(err), None

    async def inspect(self, request: Request, what: str) -> Response:
        """Test and demo helpers under ``/_sandbox/`` (a path the real API does not have)."""
        sandbox = self.sandbox
        try:
            body: dict[str, Any] = await request.json() if request.method == "POST" else {}
        except ValueError:
            return _json({"error": "the body must be JSON"}, 400)
        if request.method == "GET" and what == "state":
            return _json(sandbox.state())
        if request.method == "GET" and what == "requests":
            return _json(sandbox.stats())
        if request.method == "POST" and what == "config":
            try:
                sandbox.configure(
                    latency_ms=body.get("latency_ms"),
                    fault_rate=body.get("fault_rate"),
                    rate_limit=body.get("rate_limit"),
                    rate_window_seconds=body.get("rate_window_seconds"),
                    token_lifetime=body.get("token_lifetime"),
                    unlimited="rate_limit" in body and body["rate_limit"] is None,
                )
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
            return _json(sandbox.state()["settings"])
        if request.method == "POST" and what == "clear-log":
            sandbox.clear_log()
            return _json(sandbox.stats())
        if request.method == "POST" and what == "expire-tokens":
            return _json({"expired": sandbox.expire_tokens()})
        if request.method == "POST" and what == "reset":
            try:
                sandbox.reset(body.get("seed", "demo"))
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"ok": True})
        if request.method == "POST" and (m := re.fullmatch(r"licences/(\d+)/count", what)):
            count = body.get("count")
            if not isinstance(count, int | float) or isinstance(count, bool):
                return _json({"error": "count must be a number"}, 400)
            try:
                return _json(sandbox.set_count_by_hand(int(m.group(1)), count))
            except HaloError as err:
                return _error(err)
        return _json({"error": f"no sandbox helper {request.method} /_sandbox/{what}"}, 404)


def create_app(sandbox: HaloPSASandbox | None = None) -> HaloPSAApp:
    return HaloPSAApp(sandbox or HaloPSASandbox())


def rate_limit_per_window(per_minute: float, window_seconds: float) -> int:
    """``--rate-limit`` is requests a minute for every sandbox; Halo counts per rolling window."""
    return max(1, math.floor(per_minute * window_seconds / 60))
