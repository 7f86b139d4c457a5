"""The Autotask sandbox as an ASGI app: ``create_app(AutotaskSandbox())``.

Paths are case-insensitive (``/ATServicesRest/V1.0/...`` or ``/atservicesrest/v1.0/...``). Order of checks for
an API call: the integration code and user (401), the MSP's hourly threshold and the per-minute limit (429 with
Retry-After), the thread limit (3 in flight per endpoint and integration code, 429), added latency (more past
half the threshold), injected faults, the route (404/405), the user's permissions (500 "adequate permissions"
for reads and adjustments, 403 for notes), then the call (400 for a bad one, 500 for Autotask's business-rule
refusals such as a posted period). Faults: ``error`` (500, nothing done), ``lost`` (done, then a 500).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from seatsync.connectors.autotask.errors import Permission
from seatsync.connectors.autotask.pacing import endpoint_of
from seatsync.connectors.autotask.pagination import PAGE_SIZE
from seatsync.sandboxes.autotask.query import QueryError, compile_filter, field_names, include, top_level_eq
from seatsync.sandboxes.autotask.state import (
    QUERYABLE,
    READ_PERMISSION,
    ApiUser,
    AutotaskSandbox,
    LoggedRequest,
    Record,
    Refusal,
    day_of,
)

_ENTITIES = {name.casefold(): name for name in (*QUERYABLE, "ContractServiceAdjustments")}
_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
_NO_PERMISSION = "The logged in Resource does not have the adequate permissions to {what} this entity type."
_FAULT = (
    "Timeout expired. The timeout period elapsed prior to completion of the operation or the server is not responding."
)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status_code=status, headers=headers, media_type="application/json")


def _errors(status: int, message: str, retry_after: float | None = None) -> Response:
    headers = {"Retry-After": str(math.ceil(retry_after))} if retry_after is not None else None
    return _json({"errors": [message]}, status, headers)


@dataclass
class Call:
    request: Request
    user: ApiUser
    segments: list[str]  # after V1.0, as sent
    api_root: str  # scheme://host/ATServicesRest/V1.0 as the client spelled it

    async def body(self) -> Record:
        try:
            value = await self.request.json()
        except ValueError:
            raise Refusal(400, "The request body is not valid JSON.") from None
        if not isinstance(value, dict):
            raise Refusal(400, "The request body must be a JSON object.")
        return value


def _entity(name: str) -> str:
    found = _ENTITIES.get(name.casefold())
    if found is None:
        raise Refusal(404, f"The entity {name} does not exist.")
    return found


def _record_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Refusal(404, f"{text} is not a record id.") from None


class AutotaskApp:
    def __init__(self, sandbox: AutotaskSandbox) -> None:
        self.sandbox = sandbox
        self._app = Starlette(routes=[Route("/{path:path}", self.dispatch, methods=_METHODS)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        path = request.url.path
        lowered = path.casefold().rstrip("/")
        if lowered.startswith("/_sandbox/"):
            return await self.inspect(request, lowered.removeprefix("/_sandbox/"))
        if lowered == "/atservicesrest/v1.0/zoneinformation" and request.method == "GET":
            return self.zone(request)
        marker = "/atservicesrest/v1.0/"
        if not lowered.startswith(marker):
            return _errors(404, f"No such resource {path}")
        start = len(marker)
        api_root = f"{request.url.scheme}://{request.url.netloc}{path[: start - 1]}"
        entry = LoggedRequest(at=self.sandbox.clock(), method=request.method, path=path, user=None)
        try:
            response = await self.api_call(request, [s for s in path[start:].split("/") if s], api_root, entry)
        except Refusal as refusal:
            response = _errors(refusal.status, refusal.message, refusal.retry_after)
        entry.status = response.status_code
        self.sandbox.log(entry)
        return response

    def zone(self, request: Request) -> Response:
        user = (request.query_params.get("user") or "").strip()
        if not user or user.casefold() not in self.sandbox.users:
            return _errors(500, f"Zone information could not be determined for user '{user}'.")
        url = self.sandbox.zone_url or f"{request.url.scheme}://{request.url.netloc}/ATServicesRest/"
        return _json(
            {"zoneName": "Sandbox", "url": url, "webUrl": f"{request.url.scheme}://{request.url.netloc}/", "ci": 1}
        )

    def _authenticate(self, request: Request) -> tuple[ApiUser, str]:
        code = request.headers.get("apiintegrationcode", "").strip()
        if not code:
            raise Refusal(401, "The ApiIntegrationCode header (the integration's tracking identifier) is required.")
        user = self.sandbox.users.get(request.headers.get("username", "").strip().casefold())
        if user is None or request.headers.get("secret", "") != user.secret:
            raise Refusal(401, "Unauthorized: the user name or secret is wrong.")
        return user, code

    async def api_call(self, request: Request, segments: list[str], api_root: str, entry: LoggedRequest) -> Response:
        sandbox = self.sandbox
        user, code = self._authenticate(request)
        entry.user = user.username
        refused_for, slow = sandbox.admit(code)
        if refused_for is not None:
            raise Refusal(429, "The request threshold has been exceeded; try again later.", retry_after=refused_for)
        slot = (code, endpoint_of(request.url.path))
        with sandbox.lock:
            if sandbox.inflight[slot] >= sandbox.thread_limit:
                raise Refusal(429, "Thread limit exceeded: at most 3 concurrent requests per endpoint.", retry_after=1)
            sandbox.inflight[slot] += 1
        try:
            while sandbox.hold_answers.is_set():
                await asyncio.sleep(0.005)
            delay = sandbox.latency_ms / 1000 + slow
            if delay > 0:
                await asyncio.sleep(delay)
            fault = sandbox.draw_fault()
            entry.fault = fault
            if fault == "error":
                return _errors(500, _FAULT)
            response = await self.route(Call(request, user, segments, api_root))
            return _errors(500, _FAULT) if fault == "lost" else response
        finally:
            with sandbox.lock:
                sandbox.inflight[slot] -= 1

    async def route(self, call: Call) -> Response:
        method, parts = call.request.method, call.segments
        lowered = [p.casefold() for p in parts]
        if lowered == ["thresholdinformation"] and method == "GET":
            return _json(self.sandbox.threshold_information())
        if not parts:
            raise Refusal(404, "No entity given.")
        entity = _entity(parts[0])
        rest = lowered[1:]
        if entity == "ContractServiceAdjustments":
            if rest or method != "POST":
                raise Refusal(405, "ContractServiceAdjustments can only be created; they cannot be queried or updated.")
            self._require(call.user, Permission.CONTRACT_SERVICES_ADJUST, _NO_PERMISSION.format(what="create"), 500)
            return _json({"itemId": self.sandbox.adjust(await call.body(), call.user)})
        if rest[:1] == ["query"]:
            return await self.query(call, entity, rest[1:])
        if rest == ["entityinformation"] and method == "GET":
            return _json(
                {"info": {"name": entity, "canCreate": True, "canQuery": entity != "ContractServiceAdjustments"}}
            )
        if len(rest) == 1 and method == "GET":
            self._require(call.user, READ_PERMISSION[entity], _NO_PERMISSION.format(what="query"), 500)
            return _json({"item": self.sandbox.item(entity, _record_id(parts[1]))})
        if entity == "Contracts" and len(rest) == 2 and rest[1] == "notes" and method == "POST":
            self._require(call.user, Permission.CONTRACT_NOTES_ADD, "The user cannot add contract notes.", 403)
            return _json({"itemId": self.sandbox.create_note(_record_id(parts[1]), await call.body(), call.user)})
        if entity == "ContractNotes" and len(rest) >= 2 and rest[1] == "attachments":
            return await self.attachments(call, _record_id(parts[1]), rest[2:])
        raise Refusal(405 if len(rest) <= 1 else 404, f"{method} {call.request.url.path} is not supported.")

    @staticmethod
    def _require(user: ApiUser, permission: Permission, message: str, status: int) -> None:
        if permission not in user.permissions:
            raise Refusal(status, message)

    async def attachments(self, call: Call, note_id: int, rest: list[str]) -> Response:
        method = call.request.method
        if method == "POST" and not rest:
            self._require(
                call.user, Permission.CONTRACT_NOTES_ADD, "The user cannot add contract note attachments.", 403
            )
            return _json({"itemId": self.sandbox.attach(note_id, await call.body())})
        if method != "GET" or len(rest) > 1:
            raise Refusal(405, "Contract note attachments can be listed, read and created.")
        self._require(call.user, Permission.CONTRACTS_READ, _NO_PERMISSION.format(what="query"), 500)
        with self.sandbox.lock:
            if not rest:
                items = [a for a in self.sandbox.attachments.values() if a["contractNoteID"] == note_id]
                return _json(
                    {
                        "items": items,
                        "pageDetails": {
                            "count": len(items),
                            "requestCount": PAGE_SIZE,
                            "prevPageUrl": None,
                            "nextPageUrl": None,
                        },
                    }
                )
            found = self.sandbox.attachments.get(_record_id(rest[0]))
            if found is None or found["contractNoteID"] != note_id:
                raise Refusal(404, f"Attachment {rest[0]} of contract note {note_id} was not found.")
            data = self.sandbox.attachment_data[found["id"]]
        return _json({"item": {**found, "data": base64.b64encode(data).decode()}})

    async def query(self, call: Call, entity: str, rest: list[str]) -> Response:
        method = call.request.method
        search = call.request.query_params.get("search")
        if rest not in ([], ["count"], ["next"]):
            raise Refusal(404, f"{call.request.url.path} is not a query path.")
        if method == "GET":
            if search is None:
                if rest == ["next"]:
                    raise Refusal(405, "The next page of a POSTed query must be POSTed with the same body.")
                raise Refusal(400, "A GET query needs the search parameter.")
            try:
                body = json.loads(search)
            except ValueError:
                raise Refusal(400, "search is not valid JSON.") from None
        elif method == "POST":
            body = await call.body()
        else:
            raise Refusal(405, f"{method} is not allowed on a query.")
        self._require(call.user, READ_PERMISSION[entity], _NO_PERMISSION.format(what="query"), 500)
        if not isinstance(body, dict):
            raise Refusal(400, "The query must be a JSON object.")
        conditions = next((v for k, v in body.items() if k.casefold() == "filter"), None)
        records = self.sandbox.records(
            entity,
            contract_service_id=top_level_eq(conditions, "contractServiceID"),
            contract_id=top_level_eq(conditions, "contractID"),
        )
        names = field_names(records, set())
        known = names if records else {n.casefold(): n for n in _field_words(conditions)}
        try:
            predicate = compile_filter(conditions, known, entity)
        except QueryError as exc:
            raise Refusal(400, str(exc)) from None
        matched = [r for r in records if predicate(r)]
        if rest == ["count"]:
            return _json({"queryCount": len(matched)})
        size = next((v for k, v in body.items() if k.casefold() == "maxrecords"), PAGE_SIZE)
        if not isinstance(size, int) or not 1 <= size <= PAGE_SIZE:
            raise Refusal(400, f"MaxRecords must be between 1 and {PAGE_SIZE}.")
        fields = next((v for k, v in body.items() if k.casefold() == "includefields"), None)
        if fields is not None and not isinstance(fields, list):
            raise Refusal(400, "IncludeFields must be a list.")
        if fields and len(matched) > PAGE_SIZE and "id" not in {str(f).casefold() for f in fields}:
            raise Refusal(400, "IncludeFields must contain id when a query returns more than 500 records.")
        previous: list[int] = [-1]
        after = -1
        if rest == ["next"]:
            try:
                paging = json.loads(call.request.query_params.get("paging") or "{}")
                after = int(paging["nextIds"][-1])
                previous = [int(i) for i in paging.get("previousIds", [-1])]
            except (ValueError, KeyError, IndexError, TypeError):
                raise Refusal(400, "paging is not a valid cursor.") from None
        ordered = sorted((r for r in matched if r["id"] > after), key=lambda r: r["id"])
        page = ordered[:size]
        next_url = None
        if len(ordered) > size:
            cursor = {"pageSize": size, "previousIds": [*previous, after][-5:], "nextIds": [page[-1]["id"]]}
            query = {"paging": json.dumps(cursor, separators=(",", ":"))}
            if method == "GET":
                query["search"] = search or ""
            next_url = f"{call.api_root}/{call.segments[0]}/query/next?{urlencode(query)}"
        return _json(
            {
                "items": [include(r, [str(f) for f in fields] if fields else None, names) for r in page],
                "pageDetails": {"count": len(page), "requestCount": size, "prevPageUrl": None, "nextPageUrl": next_url},
            }
        )

    async def inspect(self, request: Request, what: str) -> Response:
        """Helpers under ``/_sandbox/`` (a path the real API does not have)."""
        sandbox = self.sandbox
        if request.method == "GET" and what == "state":
            return _json(sandbox.state())
        try:
            body: Record = await request.json() if request.method == "POST" else {}
        except ValueError:
            return _json({"error": "the body must be JSON"}, 400)
        try:
            if request.method == "POST" and what == "approve-and-post":
                sandbox.approve_and_post(int(body["contractID"]), day_of(body["through"]))
                return _json({"ok": True})
            if request.method == "POST" and what == "spend":
                sandbox.spend_by_others(int(body["requests"]))
                return _json(sandbox.threshold_information())
            if request.method == "POST" and what == "threshold":
                with sandbox.lock:
                    if "limit" in body:
                        sandbox.threshold.limit = int(body["limit"])
                    if "window_seconds" in body:
                        sandbox.threshold.window = float(body["window_seconds"])
                    if body.get("reset_peak"):
                        sandbox.threshold.peak = sandbox.threshold.count()
                return _json({**sandbox.threshold_information(), "peak": sandbox.threshold.peak})
            if request.method == "POST" and what == "units":
                sandbox.set_units_by_hand(int(body["contractServiceID"]), day_of(body["date"]), int(body["units"]))
                return _json({"ok": True})
            if request.method == "POST" and what == "reset":
                sandbox.reset(body.get("seed", "demo"))
                return _json({"ok": True})
        except (KeyError, ValueError, TypeError) as exc:
            return _json({"error": f"bad sandbox request: {exc}"}, 400)
        return _json({"error": f"no sandbox helper {request.method} /_sandbox/{what}"}, 404)


def _field_words(conditions: Any) -> list[str]:
    """Every field a filter names (to validate a query against an empty table)."""
    found: list[str] = []
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict):
            if isinstance(condition.get("field"), str):
                found.append(condition["field"])
            found.extend(_field_words(condition.get("items")))
    return found


def create_app(sandbox: AutotaskSandbox | None = None) -> AutotaskApp:
    return AutotaskApp(sandbox or AutotaskSandbox())


__all__ = ["AutotaskApp", "create_app"]
