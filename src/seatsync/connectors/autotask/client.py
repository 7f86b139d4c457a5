"""A synchronous Autotask PSA REST client (httpx) on the shared HTTP policy (``connectors.http``).

    client = AutotaskClient(username="api@msp.example", secret=..., integration_code=...)
    for company in client.companies([where("companyName", "contains", "Acme")]):
        ...

The zone (``webservicesN.autotask.net``) is looked up through ``{zone_url}/atservicesrest/v1.0/zoneInformation``
on first use, and once more after a 401 (the tenant may have moved zone: the shared policy's ``renew`` hook).
Retries (429 honouring Retry-After in seconds or as a date, a minute without one; 5xx and transport failures with
jittered back-off; a creation only when it cannot have landed, else it is looked for first) and the meaning of
each answer (``errors.AUTOTASK``: Autotask's refusals sent as HTTP 500 read by their words) are the shared
policy's. Pacing is Autotask's own, as the policy's ``pacing`` hook: a share of the MSP's hourly budget and 3
requests at a time per endpoint (``HourlyBudget``, ``EndpointSlots``, which may be shared between clients).
Thread-safe: share one client between worker threads.
"""

from __future__ import annotations

import base64
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from seatsync.connectors.autotask.errors import AUTOTASK, SYSTEM, Permission
from seatsync.connectors.autotask.filters import EVERYTHING, Filter, eq, where
from seatsync.connectors.autotask.models import (
    Company,
    Contract,
    ContractNote,
    ContractService,
    ContractServiceUnit,
    NoteAttachment,
    Service,
    ThresholdInformation,
    ZoneInformation,
)
from seatsync.connectors.autotask.pacing import EndpointSlots, HourlyBudget, endpoint_of
from seatsync.connectors.autotask.pagination import PAGE_SIZE, QueryPage, query_body
from seatsync.connectors.http import HttpClient, RetryPolicy, remote_message, restate
from seatsync.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ConnectorError,
    RecordNotFound,
    RequestRejected,
)

log = logging.getLogger(__name__)

DEFAULT_ZONE_URL = "https://webservices.autotask.net"
M = TypeVar("M", bound=BaseModel)
#: the look-ups that tell where the tenant lives and how much of the hour is used: outside the hourly budget
_OUTSIDE_BUDGET = frozenset({"zoneinformation", "thresholdinformation"})


class _Found(enum.Enum):
    APPLIED = "applied"  # a lost adjustment's answer: the units already equal what it set


def zone_origin(zone_url: str) -> str:
    value = zone_url.strip().rstrip("/")
    if not value:
        raise ConfigurationError("the Autotask zone URL is empty (e.g. https://webservices.autotask.net)")
    if "://" not in value:
        value = "https://" + value
    if value.split("://", 1)[0].lower() not in ("http", "https"):
        raise ConfigurationError(f"the Autotask zone URL {zone_url!r} must be an http(s) URL")
    return value


class AutotaskClient:
    def __init__(
        self,
        *,
        username: str,
        secret: str,
        integration_code: str,
        zone_url: str = DEFAULT_ZONE_URL,
        api_base: str | None = None,
        impersonation_resource_id: int | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        budget: HourlyBudget | None = None,
        slots: EndpointSlots | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for name, value in (("user name", username), ("secret", secret), ("integration code", integration_code)):
            if not value or not value.strip():
                raise ConfigurationError(f"the Autotask API user's {name} is empty")
        self.username = username.strip()
        self.integration_code = integration_code.strip()
        self.zone_url = zone_origin(zone_url)
        self.impersonation_resource_id = impersonation_resource_id
        self.__secret = secret.strip()
        self.budget = budget
        self.slots = slots or EndpointSlots()
        # every request, the zone-discovered base URL's and next-page links included, passes the host check
        self._http = HttpClient(
            AUTOTASK, transport=transport, timeout=timeout, pacing=self._pace, retry=retry, sleep=sleep
        )
        self._lock = threading.Lock()
        self._api_base = api_base.rstrip("/") if api_base else None
        self._zone: ZoneInformation | None = None

    # -- plumbing -------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"AutotaskClient(username={self.username!r}, zone_url={self.zone_url!r})"

    @property
    def requests_sent(self) -> int:
        """Every HTTP request actually sent (retries, zone and threshold look-ups included)."""
        return self._http.requests_sent

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AutotaskClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _headers(self, *, write: bool) -> dict[str, str]:
        headers = {
            "ApiIntegrationCode": self.integration_code,
            "UserName": self.username,
            "Secret": self.__secret,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if write and self.impersonation_resource_id is not None:
            headers["ImpersonationResourceId"] = str(self.impersonation_resource_id)
        return headers

    @contextmanager
    def _pace(self, method: str, url: str) -> Iterator[None]:
        """What one attempt holds while it is sent (the shared policy's ``pacing`` hook): a request of the
        hourly budget (the zone and threshold look-ups excepted) and a slot of its endpoint's thread limit."""
        path = urlsplit(url).path
        budget = self.budget if endpoint_of(path) not in _OUTSIDE_BUDGET else None
        if budget is not None:
            budget.before_request(self._threshold_once)
        try:
            with self.slots.for_path(path):
                yield
        finally:
            if budget is not None:
                budget.after_request()

    def _zone_moved(self, _refused: AuthenticationFailed) -> bool:
        """After a 401 (the shared policy's ``renew`` hook): look the zone up again; send again if it moved."""
        previous = self._api_base
        self.zone_information()
        if self._api_base == previous:
            return False
        log.info("Autotask zone moved to %s; retrying", self._api_base)
        return True

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        url: str | None = None,
        record: str | None = None,
        permission: Permission | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one logical request (``path`` under the API base, or a full ``url``) under the shared policy; a
        401 on the API base looks the zone up again. Raises ``seatsync.errors``."""
        headers = self._headers(write=method != "GET" and not idempotent)
        renew = self._zone_moved if url is None else None
        for attempt in self._http.attempts(idempotent=idempotent, renew=renew):
            target = url or self.api_base + path  # the zone's base, looked up again after a 401
            with attempt:
                return self._http.send_once(method, target, json=json, headers=headers, record=record, right=permission)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity returns or raises

    def _json(self, response: httpx.Response) -> Any:
        return self._http.json(response)

    def _parse(self, model: type[M], value: Any, what: str) -> M:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            raise RequestRejected(
                f"Autotask answered with {what} seatsync cannot read: {exc.errors()[0]['msg']}", system=SYSTEM
            ) from None

    # -- zone and threshold ---------------------------------------------------------------------------

    def zone_information(self) -> ZoneInformation:
        """``GET {zone_url}/atservicesrest/v1.0/zoneInformation?user=U`` (no secret): where the tenant lives."""
        response = self._http.send(
            "GET",
            f"{self.zone_url}/atservicesrest/v1.0/zoneInformation",
            params={"user": self.username},
            headers={"Accept": "application/json"},
            record=f"the zone of API user {self.username!r}",
            translate=self._unknown_user,
        )
        zone = self._parse(ZoneInformation, self._json(response), "zone information")
        with self._lock:
            self._zone = zone
            self._api_base = zone.api_base
        return zone

    def _unknown_user(self, response: httpx.Response, error: ConnectorError) -> ConnectorError:
        if response.status_code != 500:
            return error
        # Autotask's answer to an unknown or blank user: not worth retrying
        said = remote_message(response)
        return restate(
            error,
            AuthenticationFailed,
            f"Autotask at {self.zone_url} does not know the API user {self.username!r}; use the API user's user "
            f"name (an e-mail address).{f' Autotask said: {said}' if said else ''}",
        )

    @property
    def api_base(self) -> str:
        """``{zone url}V1.0``, looked up on first use."""
        with self._lock:
            base = self._api_base
        return base if base is not None else self.zone_information().api_base

    def threshold_information(self) -> ThresholdInformation:
        """The MSP's hourly request count across every integration (this read is outside the budget)."""
        response = self._send("GET", "/ThresholdInformation", record="the request threshold")
        return self._parse(ThresholdInformation, self._json(response), "threshold information")

    def _threshold_once(self) -> ThresholdInformation:
        """The budget's read: one attempt, never retried by the policy (each attempt counts at Autotask and the
        budget keeps room for exactly one request a read; it takes a failed read as the hour still used)."""
        response = self._http.send_once(
            "GET",
            self.api_base + "/ThresholdInformation",
            headers=self._headers(write=False),
            record="the request threshold",
        )
        return self._parse(ThresholdInformation, self._json(response), "threshold information")

    # -- generic calls --------------------------------------------------------------------------------

    def query_pages(
        self,
        entity: str,
        filters: list[Filter] | None = None,
        *,
        include_fields: list[str] | None = None,
        page_size: int = PAGE_SIZE,
        record: str | None = None,
        permission: Permission | None = None,
    ) -> Iterator[QueryPage]:
        """``POST /{entity}/query`` and each ``nextPageUrl`` after it (re-POSTing the same body)."""
        what = record or entity
        body = query_body(filters or EVERYTHING, include_fields=include_fields, max_records=page_size)
        url: str | None = None
        while True:
            response = self._send("POST", f"/{entity}/query", url=url, json=body, record=what, permission=permission)
            page = QueryPage.parse(self._json(response), what=what)
            yield page
            if page.next_page_url is None:
                return
            url = page.next_page_url

    def query(self, entity: str, filters: list[Filter] | None = None, **options: Any) -> Iterator[dict[str, Any]]:
        for page in self.query_pages(entity, filters, **options):
            yield from page.items

    def query_count(
        self, entity: str, filters: list[Filter] | None = None, *, permission: Permission | None = None
    ) -> int:
        body = {"filter": filters or EVERYTHING}
        response = self._send(
            "POST", f"/{entity}/query/count", json=body, record=f"{entity} count", permission=permission
        )
        value = self._json(response)
        if not isinstance(value, dict) or not isinstance(value.get("queryCount"), int):
            raise RequestRejected(f"Autotask answered the count of {entity} without queryCount", system=SYSTEM)
        return int(value["queryCount"])

    def get_item(self, path: str, *, record: str, permission: Permission | None = None) -> dict[str, Any]:
        """``GET /{Entity}/{id}`` -> its ``item``; a missing record (404 or ``{"item": null}``) is RecordNotFound."""
        response = self._send("GET", path, record=record, permission=permission)
        body = self._json(response)
        item = body.get("item") if isinstance(body, dict) else None
        if not isinstance(item, dict):
            raise RecordNotFound(f"Autotask has no {record}", system=SYSTEM, status_code=response.status_code)
        return item

    def create(self, path: str, body: dict[str, Any], *, record: str, permission: Permission | None = None) -> int:
        """``POST`` a new record; returns its ``itemId``. Not retried once it may have reached Autotask."""
        response = self._send("POST", path, json=body, record=record, permission=permission, idempotent=False)
        value = self._json(response)
        if not isinstance(value, dict) or not isinstance(value.get("itemId"), int):
            raise RequestRejected(f"Autotask created {record} but answered without an itemId", system=SYSTEM)
        return int(value["itemId"])

    def _models(self, model: type[M], entity: str, filters: list[Filter], what: str, permission: Permission) -> list[M]:
        return [
            self._parse(model, row, what) for row in self.query(entity, filters, record=what, permission=permission)
        ]

    # -- the calls billing makes ----------------------------------------------------------------------

    def companies(self, filters: list[Filter] | None = None) -> list[Company]:
        return self._models(Company, "Companies", filters or EVERYTHING, "companies", Permission.COMPANIES_READ)

    def company(self, company_id: int) -> Company:
        item = self.get_item(
            f"/Companies/{int(company_id)}", record=f"company {company_id}", permission=Permission.COMPANIES_READ
        )
        return self._parse(Company, item, f"company {company_id}")

    def contracts(self, filters: list[Filter]) -> list[Contract]:
        return self._models(Contract, "Contracts", filters, "contracts", Permission.CONTRACTS_READ)

    def company_contracts(self, company_id: int, *, recurring_service_only: bool = True) -> list[Contract]:
        filters = [eq("companyID", int(company_id))]
        if recurring_service_only:
            filters.append(eq("contractType", 7))
        return self.contracts(filters)

    def contract(self, contract_id: int) -> Contract:
        item = self.get_item(
            f"/Contracts/{int(contract_id)}", record=f"contract {contract_id}", permission=Permission.CONTRACTS_READ
        )
        return self._parse(Contract, item, f"contract {contract_id}")

    def contract_services(self, contract_id: int) -> list[ContractService]:
        return self._models(
            ContractService,
            "ContractServices",
            [eq("contractID", int(contract_id))],
            f"services of contract {contract_id}",
            Permission.CONTRACTS_READ,
        )

    def services(self, service_ids: list[int]) -> list[Service]:
        if not service_ids:
            return []
        return self._models(
            Service, "Services", [where("id", "in", sorted(set(service_ids)))], "services", Permission.CONTRACTS_READ
        )

    def units_on(self, *, contract_service_id: int, day: date) -> ContractServiceUnit | None:
        """The ContractServiceUnits row in force on ``day`` (None: the service has no row covering it)."""
        rows = self._models(
            ContractServiceUnit,
            "ContractServiceUnits",
            [
                eq("contractServiceID", int(contract_service_id)),
                where("startDate", "lte", day.isoformat()),
                where("endDate", "gte", day.isoformat()),
            ],
            f"units of contract service {contract_service_id}",
            Permission.CONTRACTS_READ,
        )
        # rows end at midnight of their end day; the latest start is the one in force
        return max(rows, key=lambda row: (row.start_date, row.id)) if rows else None

    def adjust_units(
        self,
        *,
        contract_id: int,
        contract_service_id: int,
        service_id: int,
        effective_date: date,
        unit_change: int,
        expect_units: int,
    ) -> int | None:
        """POST one ContractServiceAdjustment (create-only; a delta). Returns its id, or None when a lost answer
        was found to have been applied (the units in force on ``effective_date`` already equal ``expect_units``).

        A delta posted twice counts twice, so after an answer that may have been lost the units are read
        back before anything is posted again.
        """
        record = f"the unit adjustment of contract service {contract_service_id}"
        body = {
            "contractID": int(contract_id),
            "contractServiceID": int(contract_service_id),
            "serviceID": int(service_id),
            "effectiveDate": effective_date.isoformat(),
            "unitChange": int(unit_change),
        }

        def applied() -> _Found | None:
            row = self.units_on(contract_service_id=contract_service_id, day=effective_date)
            return _Found.APPLIED if row is not None and row.units == expect_units else None

        created = self._http.once_or_found(
            lambda: self.create(
                "/ContractServiceAdjustments", body, record=record, permission=Permission.CONTRACT_SERVICES_ADJUST
            ),
            applied,
        )
        return None if isinstance(created, _Found) else created

    def contract_notes(self, contract_id: int, *, title: str | None = None) -> list[ContractNote]:
        filters = [eq("contractID", int(contract_id))]
        if title is not None:
            filters.append(eq("title", title))
        return self._models(
            ContractNote, "ContractNotes", filters, f"notes of contract {contract_id}", Permission.CONTRACTS_READ
        )

    def create_contract_note(self, contract_id: int, *, title: str, description: str) -> int:
        """A note on the contract; after a lost answer a note with the same title is taken as this one."""

        def found() -> int | None:
            notes = self.contract_notes(contract_id, title=title)
            return notes[0].id if notes else None

        return self._http.once_or_found(
            lambda: self.create(
                f"/Contracts/{int(contract_id)}/Notes",
                {"contractID": int(contract_id), "title": title, "description": description},
                record=f"a note on contract {contract_id}",
                permission=Permission.CONTRACT_NOTES_ADD,
            ),
            found,
        )

    def note_attachments(self, note_id: int) -> list[NoteAttachment]:
        """The note's attachments (without their data)."""
        response = self._send(
            "GET",
            f"/ContractNotes/{int(note_id)}/Attachments",
            record=f"attachments of contract note {note_id}",
            permission=Permission.CONTRACTS_READ,
        )
        body = self._json(response)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise RequestRejected("Autotask listed note attachments without an items list", system=SYSTEM)
        return [self._parse(NoteAttachment, item, "a note attachment") for item in items]

    def attach_to_note(self, note_id: int, *, title: str, filename: str, content: bytes) -> int:
        """Attach a file to a contract note; after a lost answer an attachment with the same title counts."""
        body = {
            "id": 0,
            "attachmentType": "FILE_ATTACHMENT",
            "fullPath": filename,
            "title": title,
            "publish": 1,
            "contractNoteID": int(note_id),
            "data": base64.b64encode(content).decode(),
        }

        def found() -> int | None:
            return next((a.id for a in self.note_attachments(note_id) if a.title == title), None)

        return self._http.once_or_found(
            lambda: self.create(
                f"/ContractNotes/{int(note_id)}/Attachments",
                body,
                record=f"the attachment {filename!r} of contract note {note_id}",
                permission=Permission.CONTRACT_NOTES_ADD,
            ),
            found,
        )

    def attachment_data(self, note_id: int, attachment_id: int) -> bytes:
        """The file itself (only the child GET by id returns ``data``)."""
        item = self.get_item(
            f"/ContractNotes/{int(note_id)}/Attachments/{int(attachment_id)}",
            record=f"attachment {attachment_id} of contract note {note_id}",
            permission=Permission.CONTRACTS_READ,
        )
        try:
            return base64.b64decode(str(item.get("data") or ""), validate=True)
        except ValueError:
            raise RequestRejected("Autotask answered an attachment whose data is not base64", system=SYSTEM) from None


__all__ = ["DEFAULT_ZONE_URL", "AutotaskClient", "zone_origin"]
