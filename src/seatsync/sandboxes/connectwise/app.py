"""The ConnectWise Manage sandbox as an ASGI app: ``create_app(ConnectWiseSandbox())``.

Order of checks for an API call, as ConnectWise does it: ``clientId`` header, Basic authentication,
rate limit (429 + ``Retry-After``), route (404/405), the member's security role (403, before the request
body is looked at), then the call itself (404 for a missing record, 400 for an invalid one).
Injected faults: ``error`` (500, nothing done), ``slow`` (done, answered after ``slow_seconds``),
``drop`` (done, connection dropped mid-answer).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from seatsync.connectors.connectwise.errors import Right
from seatsync.connectors.connectwise.pagination import PAGE_SIZE, format_link_header
from seatsync.sandboxes.connectwise.conditions import ConditionsError, compile_conditions, lookup, parse_date
from seatsync.sandboxes.connectwise.service_desk import SUMMARY_MAX
from seatsync.sandboxes.connectwise.state import (
    PATCHABLE_ADDITION_FIELDS,
    ConnectWiseSandbox,
    LoggedRequest,
    Member,
    Record,
    now_iso,
)

NEWEST_VERSION = "2026.4"
DEFAULT_PAGE_SIZE = 25
RECORD_TYPES = {"Agreement", "Company"}  # the ones the sandbox can attach to
_API = re.compile(r"^/(?P<codebase>[^/]+)/apis/3\.0(?P<rest>/.*?)/?$")
_VERSION = re.compile(r"version\s*=\s*([0-9.]+)")
_ORDER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_/]*)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)


class DroppedConnection(Exception):
    """Raised after the answer started: the server closes the connection mid-answer (a fault)."""


def _not_a_deliberate_drop(record: logging.LogRecord) -> bool:
    return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors


def error_body(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "errors": errors}


def invalid(message: str, *, field: str, resource: str, code: str = "InvalidField") -> ApiError:
    return ApiError(
        400, "InvalidObject", message, [{"code": code, "message": message, "resource": resource, "field": field}]
    )


def not_found(kind: str, record_id: int | str) -> ApiError:
    return ApiError(404, "NotFound", f"{kind} recID {record_id} not found.")


@dataclass
class Call:
    request: Request
    params: dict[str, str]
    member: Member
    version: str
    sandbox: ConnectWiseSandbox

    def json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(
            json.dumps(data),
            status_code=status,
            headers=headers,
            media_type=f"application/vnd.connectwise.com+json; version={self.version}",
        )

    def int_param(self, name: str) -> int:
        return int(self.params[name])


Handler = Callable[[Call], Awaitable[Response]]


def trim(record: Record, fields: str | None) -> Record:
    """``fields=id,name,status/id``: only those (nested paths keep their parents)."""
    if not fields:
        return record
    out: Record = {}
    for path in (f.strip() for f in fields.split(",")):
        if not path:
            continue
        parts = path.split("/")
        value = lookup(record, path)
        if value is None and parts[0] not in record:
            continue
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _int_query(call: Call, name: str) -> int | None:
    raw = call.request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"{name} must be an integer", field=name, resource="query") from None


def _order(records: list[Record], order_by: str | None) -> list[Record]:
    if not order_by:
        return sorted(records, key=lambda r: r.get("id", 0))
    result = sorted(records, key=lambda r: r.get("id", 0))
    for clause in reversed(order_by.split(",")):
        m = _ORDER.match(clause)
        if not m:
            raise invalid(f"orderBy {clause!r} is not valid", field="orderBy", resource="query")
        field, direction = m.group(1), (m.group(2) or "asc").lower()

        def key(r: Record, f: str = field) -> tuple[bool, Any]:
            v = lookup(r, f)
            return (v is None, v.casefold() if isinstance(v, str) else v)

        result.sort(key=key, reverse=direction == "desc")
    return result


def _filtered(call: Call, records: Iterable[Record], resource: str) -> list[Record]:
    with call.sandbox.lock:  # tests and benchmarks may add records while the server answers
        items = list(records)
    known = {key for r in items for key in r} | {"id"}
    try:
        predicate = compile_conditions(call.request.query_params.get("conditions"), known if items else None)
    except ConditionsError as exc:
        raise invalid(f"conditions: {exc}", field="conditions", resource=resource, code="InvalidConditions") from None
    return [r for r in items if predicate(r)]


def _link(call: Call, **changes: int) -> str:
    query = dict(call.request.query_params)
    query.update({k: str(v) for k, v in changes.items()})
    return f"{call.request.url.replace(query=urlencode(query))}"


def list_response(call: Call, records: Iterable[Record], resource: str) -> Response:
    """Paging (``page``/``pageSize`` or forward-only ``pageId``), conditions, orderBy and fields."""
    items = _filtered(call, records, resource)
    size = _int_query(call, "pageSize") or DEFAULT_PAGE_SIZE
    size = max(1, min(size, PAGE_SIZE))
    fields = call.request.query_params.get("fields")
    order_by = call.request.query_params.get("orderBy")
    links: dict[str, str] = {}
    if call.request.headers.get("pagination-type", "").lower() == "forward-only":
        if order_by:
            raise invalid("orderBy cannot be used with forward-only paging", field="orderBy", resource=resource)
        after = _int_query(call, "pageId") or 0
        rest = sorted((r for r in items if r["id"] > after), key=lambda r: r["id"])
        page = rest[:size]
        if len(rest) > size:
            links["next"] = _link(call, pageId=page[-1]["id"], pageSize=size)
    else:
        number = _int_query(call, "page") or 1
        if number < 1:
            raise invalid("page must be 1 or more", field="page", resource="query")
        ordered = _order(items, order_by)
        last = max(1, math.ceil(len(ordered) / size))
        page = ordered[(number - 1) * size : number * size]
        if number > 1:
            links["first"] = _link(call, page=1, pageSize=size)
            links["prev"] = _link(call, page=number - 1, pageSize=size)
        if number < last:
            links["next"] = _link(call, page=number + 1, pageSize=size)
            links["last"] = _link(call, page=last, pageSize=size)
    headers = {"Link": format_link_header(links)} if links else None
    return call.json([trim(r, fields) for r in page], headers=headers)


def count_response(call: Call, records: Iterable[Record], resource: str) -> Response:
    return call.json({"count": len(_filtered(call, records, resource))})


def one(call: Call, record: Record | None, kind: str, record_id: int) -> Response:
    if record is None:
        raise not_found(kind, record_id)
    return call.json(trim(record, call.request.query_params.get("fields")))


# -- handlers ------------------------------------------------------------------------------------------


async def list_companies(call: Call) -> Response:
    return list_response(call, call.sandbox.companies.values(), "company")


async def count_companies(call: Call) -> Response:
    return count_response(call, call.sandbox.companies.values(), "company")


async def get_company(call: Call) -> Response:
    cid = call.int_param("id")
    return one(call, call.sandbox.companies.get(cid), "Company", cid)


async def list_agreements(call: Call) -> Response:
    return list_response(call, call.sandbox.agreements.values(), "agreement")


async def count_agreements(call: Call) -> Response:
    return count_response(call, call.sandbox.agreements.values(), "agreement")


async def get_agreement(call: Call) -> Response:
    aid = call.int_param("id")
    return one(call, call.sandbox.agreements.get(aid), "Agreement", aid)


def _additions_of(call: Call) -> list[Record]:
    parent = call.int_param("parent")
    if parent not in call.sandbox.agreements:
        raise not_found("Agreement", parent)
    with call.sandbox.lock:
        return [a for a in call.sandbox.additions.values() if a["agreementId"] == parent]


async def list_additions(call: Call) -> Response:
    return list_response(call, _additions_of(call), "addition")


async def count_additions(call: Call) -> Response:
    return count_response(call, _additions_of(call), "addition")


def _addition(call: Call) -> Record:
    parent, aid = call.int_param("parent"), call.int_param("id")
    addition = call.sandbox.additions.get(aid)
    if parent not in call.sandbox.agreements:
        raise not_found("Agreement", parent)
    if addition is None or addition["agreementId"] != parent:
        raise not_found("Addition", aid)
    return addition


async def get_addition(call: Call) -> Response:
    return call.json(trim(_addition(call), call.request.query_params.get("fields")))


def _patch_value(field: str, kind: str, value: Any) -> Any:
    ok = {
        "number": lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool)),
        "string": lambda v: v is None or isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "billCustomer": lambda v: v in ("Billable", "DoNotBill", "NoCharge"),
        "object": lambda v: isinstance(v, dict),
        "date": lambda v: v is None or isinstance(v, str),
    }[kind](value)
    if not ok:
        raise invalid(
            f"The value for {field} is not a valid {kind}.", field=field, resource="addition", code="InvalidValue"
        )
    if kind == "number" and value is not None:
        return float(value)
    if kind == "date" and value is not None:
        try:
            parse_date(value)
        except ValueError:
            raise invalid(f"{field} is not a date.", field=field, resource="addition", code="InvalidValue") from None
    return value


async def patch_addition(call: Call) -> Response:
    addition = _addition(call)
    if "json" not in call.request.headers.get("content-type", ""):
        raise ApiError(415, "UnsupportedMediaType", "A JSON Patch document (application/json) is required.")
    try:
        operations = json.loads(await call.request.body())
    except ValueError:
        raise ApiError(400, "InvalidObject", "The request body is not valid JSON.") from None
    if not isinstance(operations, list) or not operations:
        raise ApiError(400, "InvalidObject", "The patch must be a non-empty list of operations.")
    changes: list[tuple[str, Any]] = []
    for op in operations:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
            raise ApiError(400, "InvalidObject", "Each patch operation needs an op and a path.")
        verb, path = op["op"].lower(), op["path"].lstrip("/")
        if verb not in ("replace", "add", "remove", "test"):
            raise invalid(
                f"The operation '{op['op']}' is not supported.",
                field="op",
                resource="addition",
                code="InvalidOperation",
            )
        kind = PATCHABLE_ADDITION_FIELDS.get(path)
        if kind is None:
            raise invalid(
                f"Cannot patch '{op['path']}': no such field or it is read-only.", field=path, resource="addition"
            )
        if verb == "test":
            if addition.get(path) != op.get("value"):
                raise ApiError(400, "InvalidObject", f"Test of {path} failed.")
            continue
        if verb != "remove" and "value" not in op:
            raise invalid(
                f"The {verb} of {path} needs a value.", field=path, resource="addition", code="MissingRequiredField"
            )
        changes.append((path, None if verb == "remove" else _patch_value(path, kind, op["value"])))
    with call.sandbox.lock:
        for path, value in changes:
            call.sandbox.apply_addition_change(addition, path, value, source="api", by=call.member.public_key)
        return call.json(addition)


async def list_catalog(call: Call) -> Response:
    return list_response(call, call.sandbox.catalog.values(), "catalog")


async def count_catalog(call: Call) -> Response:
    return count_response(call, call.sandbox.catalog.values(), "catalog")


async def get_catalog_item(call: Call) -> Response:
    cid = call.int_param("id")
    return one(call, call.sandbox.catalog.get(cid), "CatalogItem", cid)


async def _json_object(call: Call, resource: str) -> Record:
    if "json" not in call.request.headers.get("content-type", ""):
        raise ApiError(415, "UnsupportedMediaType", f"A JSON {resource} (application/json) is required.")
    try:
        body = json.loads(await call.request.body())
    except ValueError:
        raise ApiError(400, "InvalidObject", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidObject", f"The request body must be a {resource} object.")
    return body


def _text(body: Record, name: str, *, resource: str, limit: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise invalid(f"{name} is required.", field=name, resource=resource, code="MissingRequiredField")
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string.", field=name, resource=resource, code="InvalidValue")
    if len(value) > limit:
        raise invalid(f"{name} is longer than {limit} characters.", field=name, resource=resource, code="InvalidValue")
    return value


def _reference(body: Record, name: str, known: dict[int, str], *, resource: str) -> int:
    """A reference given by ``id`` or ``name`` to one of ``known``; its id."""
    value = body.get(name)
    if not isinstance(value, dict) or (value.get("id") is None and not value.get("name")):
        raise invalid(
            f"{name} is required (an object with an id or a name).",
            field=name,
            resource=resource,
            code="MissingRequiredField",
        )
    if value.get("id") is not None:
        if isinstance(value["id"], int) and not isinstance(value["id"], bool) and value["id"] in known:
            return int(value["id"])
        raise invalid(f"{name} id {value['id']!r} is not valid.", field=name, resource=resource, code="InvalidValue")
    wanted = str(value["name"]).casefold()
    found = next((key for key, label in known.items() if label.casefold() == wanted), None)
    if found is None:
        raise invalid(f"{name} {value['name']!r} is not valid.", field=name, resource=resource, code="InvalidValue")
    return found


async def create_catalog_item(call: Call) -> Response:
    """``POST /procurement/catalog``: a new catalog product (``CatalogItem``'s required fields checked)."""
    body = await _json_object(call, "catalog item")
    resource = "catalogItem"
    identifier = _text(body, "identifier", resource=resource, limit=75)
    description = _text(body, "description", resource=resource, limit=60)
    customer = _text(body, "customerDescription", resource=resource, limit=6000)
    sandbox = call.sandbox
    subcategory = _reference(body, "subcategory", sandbox.subcategories, resource=resource)
    kind = _reference(body, "type", sandbox.product_types, resource=resource)
    assert identifier is not None
    assert description is not None
    with sandbox.lock:
        if sandbox.find_catalog_item(identifier=identifier) is not None:
            raise invalid(
                f"The identifier {identifier!r} is already used by another catalog item.",
                field="identifier",
                resource=resource,
                code="InvalidValue",
            )
        price = body.get("price")
        cost = body.get("cost")
        record = sandbox.add_catalog_item(
            identifier,
            description,
            price=float(price) if isinstance(price, int | float) and not isinstance(price, bool) else 0.0,
            cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else 0.0,
            subcategory_id=subcategory,
            type_id=kind,
            customer_description=customer,
        )
        record["_info"]["updatedBy"] = call.member.public_key
        return call.json(record, status=201)


def _number_field(body: Record, name: str, default: float | None) -> float | None:
    value = body.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(f"{name} must be a number.", field=name, resource="addition", code="InvalidValue")
    return float(value)


async def create_addition(call: Call) -> Response:
    """``POST /finance/agreements/{parentId}/additions``: a new addition (``product`` and ``billCustomer``)."""
    parent = call.int_param("parent")
    sandbox = call.sandbox
    agreement = sandbox.agreements.get(parent)
    if agreement is None:
        raise not_found("Agreement", parent)
    body = await _json_object(call, "addition")
    product = body.get("product")
    if not isinstance(product, dict) or (product.get("id") is None and not product.get("identifier")):
        raise invalid(
            "product is required (an object with an id or an identifier).",
            field="product",
            resource="addition",
            code="MissingRequiredField",
        )
    item = sandbox.find_catalog_item(
        id=product["id"] if isinstance(product.get("id"), int) else None,
        identifier=None if isinstance(product.get("id"), int) else str(product.get("identifier")),
    )
    if item is None:
        raise invalid("product is not a catalog item.", field="product", resource="addition", code="InvalidValue")
    bill = body.get("billCustomer")
    if bill not in ("Billable", "DoNotBill", "NoCharge"):
        raise invalid(
            "billCustomer is required (Billable, DoNotBill or NoCharge).",
            field="billCustomer",
            resource="addition",
            code="MissingRequiredField",
        )
    if agreement.get("cancelledFlag") or agreement.get("agreementStatus") not in (None, "Active"):
        raise invalid(
            f"Agreement recID {parent} is not active.", field="agreementId", resource="addition", code="InvalidValue"
        )
    quantity = _number_field(body, "quantity", 0.0) or 0.0
    less_included = _number_field(body, "lessIncluded", 0.0) or 0.0
    effective = body.get("effectiveDate")
    if effective is not None:
        try:
            parse_date(str(effective))
        except ValueError:
            raise invalid("effectiveDate is not a date.", field="effectiveDate", resource="addition") from None
    with sandbox.lock:
        record = sandbox.add_addition(
            parent,
            product=item["identifier"],
            quantity=quantity,
            unit_price=_number_field(body, "unitPrice", None),
            unit_cost=_number_field(body, "unitCost", None),
            effective_date=str(effective) if effective else now_iso(),
            bill_customer=str(bill),
            less_included=less_included,
        )
        description = _text(body, "description", resource="addition", limit=6000, required=False)
        if description:
            record["description"] = description
        record["_info"]["updatedBy"] = call.member.public_key
        return call.json(record, status=201)


def _documents_of(call: Call) -> list[Record]:
    record_type = call.request.query_params.get("recordType")
    record_id = _int_query(call, "recordId")
    if not record_type or record_id is None:
        raise invalid(
            "recordType and recordId are required.",
            field="recordType",
            resource="document",
            code="MissingRequiredField",
        )
    with call.sandbox.lock:
        documents = list(call.sandbox.documents.values())
    return [d.info for d in documents if d.record_type.lower() == record_type.lower() and d.record_id == record_id]


async def list_documents(call: Call) -> Response:
    return list_response(call, _documents_of(call), "document")


async def count_documents(call: Call) -> Response:
    return count_response(call, _documents_of(call), "document")


async def get_document(call: Call) -> Response:
    did = call.int_param("id")
    document = call.sandbox.documents.get(did)
    return one(call, document.info if document else None, "Document", did)


async def download_document(call: Call) -> Response:
    did = call.int_param("id")
    document = call.sandbox.documents.get(did)
    if document is None:
        raise not_found("Document", did)
    return Response(document.content, media_type=document.content_type)


async def upload_document(call: Call) -> Response:
    kind = call.request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"The request entity's media type '{kind.split(';')[0] or 'none'}' is not supported for this resource; "
            "send multipart/form-data.",
        )
    async with call.request.form() as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid("A file is required.", field="file", resource="document", code="MissingRequiredField")
        record_type = str(form.get("recordType") or "")
        if record_type not in RECORD_TYPES:
            raise invalid(f"recordType '{record_type}' is not valid here.", field="recordType", resource="document")
        try:
            record_id = int(str(form.get("recordId") or ""))
        except ValueError:
            raise invalid("recordId must be an integer.", field="recordId", resource="document") from None
        if not call.sandbox.record_exists(record_type, record_id):
            raise invalid(f"{record_type} recID {record_id} not found.", field="recordId", resource="document")
        content = await upload.read()
        filename = upload.filename or "file"
        title = str(form.get("title") or filename)
        private = str(form.get("privateFlag", "false")).strip().lower() == "true"
        document = call.sandbox.add_document(
            record_type=record_type,
            record_id=record_id,
            title=title,
            filename=filename,
            content=content,
            content_type=upload.content_type or "application/octet-stream",
            private=private,
            owner=call.member.public_key,
        )
    return call.json(document.info, status=201)


async def system_info(call: Call) -> Response:
    return call.json(
        {
            "version": "v2025.1.98765",
            "isCloud": True,
            "serverTimeZone": "Eastern Standard Time",
            "licenseBits": [{"name": "Sandbox", "activeFlag": True}],
            "cloudRegion": "NA",
            "maxWorkFlowRecordsAllowed": 1000,
        }
    )


# -- service desk: boards, statuses, tickets, notes ------------------------------------------------------------


async def list_boards(call: Call) -> Response:
    return list_response(call, call.sandbox.service.boards.values(), "board")


async def get_board(call: Call) -> Response:
    bid = call.int_param("id")
    return one(call, call.sandbox.service.boards.get(bid), "Board", bid)


async def list_board_statuses(call: Call) -> Response:
    parent = call.int_param("parent")
    if parent not in call.sandbox.service.boards:
        raise not_found("Board", parent)
    return list_response(call, call.sandbox.service.statuses_of(parent), "boardStatus")


async def list_tickets(call: Call) -> Response:
    return list_response(call, call.sandbox.service.tickets.values(), "ticket")


async def count_tickets(call: Call) -> Response:
    return count_response(call, call.sandbox.service.tickets.values(), "ticket")


def _ticket(call: Call, name: str = "id") -> Record:
    tid = call.int_param(name)
    ticket = call.sandbox.service.tickets.get(tid)
    if ticket is None:
        raise not_found("Ticket", tid)
    return ticket


async def get_ticket(call: Call) -> Response:
    return call.json(trim(_ticket(call), call.request.query_params.get("fields")))


async def _json_body(call: Call, what: str) -> Any:
    if "json" not in call.request.headers.get("content-type", ""):
        raise ApiError(415, "UnsupportedMediaType", f"A JSON {what} (application/json) is required.")
    try:
        return json.loads(await call.request.body())
    except ValueError:
        raise ApiError(400, "InvalidObject", "The request body is not valid JSON.") from None


def _reference_id(body: Record, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), int) or isinstance(value.get("id"), bool):
        raise invalid(f"{name} must be a reference with an id.", field=name, resource="ticket", code="InvalidValue")
    return int(value["id"])


def _board_status(call: Call, board_id: int, status_id: int) -> Record:
    status = call.sandbox.service.statuses.get(status_id)
    if status is None or status["board"]["id"] != board_id:
        raise invalid(
            f"Status recID {status_id} is not a status of board {board_id}.", field="status", resource="ticket"
        )
    return status


async def create_ticket(call: Call) -> Response:
    body = await _json_body(call, "ticket")
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidObject", "The ticket must be a JSON object.")
    summary = body.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise invalid("summary is required.", field="summary", resource="ticket", code="MissingRequiredField")
    if len(summary) > SUMMARY_MAX:
        raise invalid(
            f"summary may have at most {SUMMARY_MAX} characters.",
            field="summary",
            resource="ticket",
            code="InvalidValue",
        )
    board_id = _reference_id(body, "board")
    if board_id is None:
        raise invalid("board is required.", field="board", resource="ticket", code="MissingRequiredField")
    board = call.sandbox.service.boards.get(board_id)
    if board is None or board["inactiveFlag"]:
        raise invalid(f"Board recID {board_id} not found or inactive.", field="board", resource="ticket")
    company_id = _reference_id(body, "company")
    if company_id is None:
        raise invalid("company is required.", field="company", resource="ticket", code="MissingRequiredField")
    company = call.sandbox.companies.get(company_id)
    if company is None or company.get("deletedFlag"):
        raise invalid(f"Company recID {company_id} not found.", field="company", resource="ticket")
    status_id = _reference_id(body, "status")
    if status_id is not None:
        _board_status(call, board_id, status_id)
    description = body.get("initialDescription") or ""
    if not isinstance(description, str):
        raise invalid("initialDescription must be text.", field="initialDescription", resource="ticket")
    ticket = call.sandbox.service.add_ticket(
        summary=summary,
        board_id=board_id,
        company=company,
        status_id=status_id,
        description=description,
        by=call.member.public_key,
    )
    return call.json(ticket, status=201)


async def patch_ticket(call: Call) -> Response:
    ticket = _ticket(call)
    operations = await _json_body(call, "Patch document")
    if not isinstance(operations, list) or not operations:
        raise ApiError(400, "InvalidObject", "The patch must be a non-empty list of operations.")
    changes: list[tuple[str, Any]] = []
    for op in operations:
        if not isinstance(op, dict) or op.get("op") not in ("replace", "add") or not isinstance(op.get("path"), str):
            raise ApiError(400, "InvalidObject", "Each patch operation needs op replace (or add), a path and a value.")
        path = op["path"].lstrip("/")
        value = op.get("value")
        if path == "summary":
            if not isinstance(value, str) or not value.strip() or len(value) > SUMMARY_MAX:
                raise invalid(
                    f"summary must be 1 to {SUMMARY_MAX} characters.",
                    field="summary",
                    resource="ticket",
                    code="InvalidValue",
                )
            changes.append((path, value))
        elif path == "status":
            status_id = _reference_id({"status": value}, "status")
            assert status_id is not None
            changes.append((path, _board_status(call, ticket["board"]["id"], status_id)))
        else:
            raise invalid(f"Cannot patch '{op['path']}' in the sandbox.", field=path, resource="ticket")
    with call.sandbox.lock:
        for path, value in changes:
            if path == "status":
                call.sandbox.service.set_status(ticket, value, by=call.member.public_key)
            else:
                ticket[path] = value
        return call.json(ticket)


async def list_ticket_notes(call: Call) -> Response:
    ticket = _ticket(call, "parent")
    return list_response(call, call.sandbox.service.notes_of(ticket["id"]), "note")


async def add_ticket_note(call: Call) -> Response:
    ticket = _ticket(call, "parent")
    body = await _json_body(call, "note")
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise invalid("text is required.", field="text", resource="note", code="MissingRequiredField")
    internal = bool(body.get("internalAnalysisFlag"))
    flags = [body.get(f) for f in ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")]
    if not any(flags):
        raise invalid(
            "One of detailDescriptionFlag, internalAnalysisFlag or resolutionFlag must be true.",
            field="detailDescriptionFlag",
            resource="note",
        )
    note = call.sandbox.service.add_note(ticket["id"], text=text, by=call.member.public_key, internal=internal)
    return call.json(note, status=201)


_ID = r"(?P<id>\d+)"
_PARENT = r"/finance/agreements/(?P<parent>\d+)/additions"
_TICKET_NOTES = r"/service/tickets/(?P<parent>\d+)/notes"
SERVICE_ROUTES: list[tuple[str, str, Handler, Right | None]] = [
    ("GET", "/service/boards", list_boards, Right.TICKETS_INQUIRE),
    ("GET", f"/service/boards/{_ID}", get_board, Right.TICKETS_INQUIRE),
    ("GET", r"/service/boards/(?P<parent>\d+)/statuses", list_board_statuses, Right.TICKETS_INQUIRE),
    ("GET", "/service/tickets", list_tickets, Right.TICKETS_INQUIRE),
    ("GET", "/service/tickets/count", count_tickets, Right.TICKETS_INQUIRE),
    ("POST", "/service/tickets", create_ticket, Right.TICKETS_ADD),
    ("GET", f"/service/tickets/{_ID}", get_ticket, Right.TICKETS_INQUIRE),
    ("PATCH", f"/service/tickets/{_ID}", patch_ticket, Right.TICKETS_EDIT),
    ("GET", _TICKET_NOTES, list_ticket_notes, Right.TICKETS_INQUIRE),
    ("POST", _TICKET_NOTES, add_ticket_note, Right.TICKETS_EDIT),
]
ROUTES: list[tuple[str, re.Pattern[str], Handler, Right | None]] = [
    (m, re.compile(f"^{p}$"), h, r)
    for m, p, h, r in [
        ("GET", "/company/companies", list_companies, Right.COMPANY_INQUIRE),
        ("GET", "/company/companies/count", count_companies, Right.COMPANY_INQUIRE),
        ("GET", f"/company/companies/{_ID}", get_company, Right.COMPANY_INQUIRE),
        ("GET", "/finance/agreements", list_agreements, Right.AGREEMENTS_INQUIRE),
        ("GET", "/finance/agreements/count", count_agreements, Right.AGREEMENTS_INQUIRE),
        ("GET", f"/finance/agreements/{_ID}", get_agreement, Right.AGREEMENTS_INQUIRE),
        ("GET", _PARENT, list_additions, Right.AGREEMENTS_INQUIRE),
        ("GET", f"{_PARENT}/count", count_additions, Right.AGREEMENTS_INQUIRE),
        ("GET", f"{_PARENT}/{_ID}", get_addition, Right.AGREEMENTS_INQUIRE),
        ("PATCH", f"{_PARENT}/{_ID}", patch_addition, Right.AGREEMENTS_EDIT),
        ("POST", _PARENT, create_addition, Right.AGREEMENTS_EDIT),
        ("GET", "/procurement/catalog", list_catalog, Right.CATALOG_INQUIRE),
        ("GET", "/procurement/catalog/count", count_catalog, Right.CATALOG_INQUIRE),
        ("GET", f"/procurement/catalog/{_ID}", get_catalog_item, Right.CATALOG_INQUIRE),
        ("POST", "/procurement/catalog", create_catalog_item, Right.CATALOG_ADD),
        ("GET", "/system/documents", list_documents, Right.ATTACHMENTS_INQUIRE),
        ("GET", "/system/documents/count", count_documents, Right.ATTACHMENTS_INQUIRE),
        ("POST", "/system/documents", upload_document, Right.ATTACHMENTS_ADD),
        ("GET", f"/system/documents/{_ID}", get_document, Right.ATTACHMENTS_INQUIRE),
        ("GET", f"/system/documents/{_ID}/download", download_document, Right.ATTACHMENTS_INQUIRE),
        ("GET", "/system/info", system_info, None),
        *SERVICE_ROUTES,
    ]
]


def route_name(method: str, path: str) -> str:
    return f"{method} " + re.sub(r"/\d+(?=/|$)", "/{id}", path)


def _cw_error(err: ApiError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(error_body(err.code, err.message, err.errors)),
        status_code=err.status,
        headers=headers,
        media_type="application/json; charset=utf-8",
    )


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json; charset=utf-8")


class ConnectWiseApp:
    """The ASGI callable. ``sandbox`` is the live state (tests may change it while the server runs)."""

    def __init__(self, sandbox: ConnectWiseSandbox) -> None:
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    # the server logs an app exception with a traceback; a deliberate drop is not one
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
            await response(scope, receive, send)
            return
        if m := re.match(r"^/login/companyinfo/([^/]+)/?$", path):
            await self.company_info(m.group(1))(scope, receive, send)
            return
        api = _API.match(path)
        if api is None:
            await _cw_error(ApiError(404, "NotFound", f"The resource {path} was not found."))(scope, receive, send)
            return
        entry = LoggedRequest(time.monotonic(), request.method, path, None)
        fault: str | None = None
        try:
            response, fault = await self.api_call(request, api.group("rest"), entry)
        finally:
            self.sandbox.log(entry, route_name(request.method, api.group("rest")))
        entry.status, entry.fault = response.status_code, fault
        if fault == "slow":
            await asyncio.sleep(self.sandbox.slow_seconds)
        if fault == "drop":
            await self._drop(response, send)
        await response(scope, receive, send)

    @staticmethod
    async def _drop(response: Response, send: Send) -> None:
        start: Message = {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
        await send(start)
        # the server closes the connection once the answer has started and the app fails
        raise DroppedConnection("sandbox fault: connection dropped mid-answer")

    def company_info(self, company: str) -> Response:
        if company.lower() != self.sandbox.company_id.lower():
            return _json(None)
        codebase = self.sandbox.codebase
        return _json(
            {
                "CompanyName": "Demo MSP (sandbox)",
                "Codebase": codebase,
                "VersionCode": "v2025.1",
                "VersionNumber": "v4.6.98765",
                "CompanyID": self.sandbox.company_id,
                "IsCloud": "True",
            }
        )

    def _authenticate(self, request: Request) -> Member:
        header = request.headers.get("authorization", "")
        unauthenticated = ApiError(401, "UserNotAuthenticated", "The user is not authenticated.")
        if not header.lower().startswith("basic "):
            raise unauthenticated
        try:
            user, _, private = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthenticated from None
        company, _, public = user.partition("+")
        member = self.sandbox.members.get(public)
        if company.lower() != self.sandbox.company_id.lower() or member is None or member.private_key != private:
            raise unauthenticated
        return member

    async def api_call(self, request: Request, rest: str, entry: LoggedRequest) -> tuple[Response, str | None]:
        sandbox = self.sandbox
        if sandbox.latency_ms > 0:
            await asyncio.sleep(sandbox.latency_ms / 1000)
        try:
            if not request.headers.get("clientid", "").strip():
                raise ApiError(
                    400,
                    "InvalidObject",
                    "A clientId header is required; register your integration at https://developer.connectwise.com/ClientID.",
                    [
                        {
                            "code": "MissingRequiredField",
                            "message": "clientId is required",
                            "resource": "request",
                            "field": "clientId",
                        }
                    ],
                )
            member = self._authenticate(request)
            entry.member = member.public_key
            retry_after = sandbox.admit(member.public_key)
            if retry_after is not None:
                return self._too_many(retry_after, entry), None
            fault = sandbox.draw_fault()
            if fault == "error":
                return _cw_error(
                    ApiError(500, "ConnectWiseApi", "An unexpected error occurred (sandbox fault).")
                ), fault
            matched = [(m, pattern.match(rest), handler, right) for m, pattern, handler, right in ROUTES]
            found = [(m, match, handler, right) for m, match, handler, right in matched if match]
            if not found:
                raise ApiError(404, "NotFound", f"The resource {rest} was not found.")
            chosen = next(((match, h, r) for m, match, h, r in found if m == request.method), None)
            if chosen is None:
                raise ApiError(405, "MethodNotAllowed", f"The method {request.method} is not allowed for {rest}.")
            match, handler, right = chosen
            if right is not None and right not in member.rights:
                raise ApiError(403, "Unauthorized", f"The security role of this member lacks {right}.")
            version_match = _VERSION.search(request.headers.get("accept", ""))
            call = Call(
                request, match.groupdict(), member, version_match.group(1) if version_match else NEWEST_VERSION, sandbox
            )
            return await handler(call), fault
        except ApiError as err:
            return _cw_error(err), None

    def _too_many(self, seconds: float, entry: LoggedRequest) -> Response:
        # whole seconds at ConnectWise's scale; tenths when a test shrinks the window
        value = math.ceil(seconds) if self.sandbox.rate_window_seconds >= 60 else math.ceil(seconds * 10) / 10
        entry.retry_after = float(value)
        shown = f"{value:g}"
        return Response(
            json.dumps(
                {"error": "ConnectWiseAPI", "message": f"Too many requests. Please try again in {shown} seconds."}
            ),
            status_code=429,
            headers={"Retry-After": shown},
            media_type="application/json; charset=utf-8",
        )

    async def inspect(self, request: Request, what: str) -> Response:
        """Test-only helpers under ``/_sandbox/`` (a path the real API does not have)."""
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
                    slow_seconds=body.get("slow_seconds"),
                    unlimited="rate_limit" in body and body["rate_limit"] is None,
                )
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
            return _json(sandbox.state()["settings"])
        if request.method == "POST" and what == "reset":
            try:
                sandbox.reset(body.get("seed", "demo"))
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"ok": True})
        if request.method == "POST" and (m := re.fullmatch(r"additions/(\d+)/quantity", what)):
            quantity = body.get("quantity")
            if not isinstance(quantity, int | float) or isinstance(quantity, bool):
                return _json({"error": "quantity must be a number"}, 400)
            try:
                return _json(sandbox.set_quantity_by_hand(int(m.group(1)), quantity))
            except KeyError:
                return _json({"error": f"no addition {m.group(1)}"}, 404)
        return _json({"error": f"no sandbox helper {request.method} /_sandbox/{what}"}, 404)


def create_app(sandbox: ConnectWiseSandbox | None = None) -> ConnectWiseApp:
    return ConnectWiseApp(sandbox or ConnectWiseSandbox())
