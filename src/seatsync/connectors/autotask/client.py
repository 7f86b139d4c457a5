"""A synchronous Autotask PSA REST client (httpx) with one error, retry and pacing policy.

    client = AutotaskClient(username="api@msp.example", secret=..., integration_code=...)
    for company in client.companies([where("companyName", "contains", "Acme")]):
        ...

The zone (``webservicesN.autotask.net``) is looked up through ``{zone_url}/atservicesrest/v1.0/zoneInformation``
on first use, and once more after a 401 (the tenant may have moved zone). Thread-safe: share one client
between worker threads; pacing (``HourlyBudget``, ``EndpointSlots``) may be shared between clients too.
"""

from __future__ import annotations

import base64
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

from seatsync.connectors.autotask.errors import (
    SYSTEM,
    Permission,
    error_for_exception,
    error_for_response,
    remote_message,
)
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
from seatsync.connectors.autotask.pacing import EndpointSlots, HourlyBudget
from seatsync.connectors.autotask.pagination import PAGE_SIZE, QueryPage, query_body
from seatsync.connectors.http import AUTOTASK_HOSTS, RemoteSystem, guarded
from seatsync.connectors.limits import RateLimiter, Unlimited, backoff_delay
from seatsync.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ConnectorError,
    RateLimited,
    RecordNotFound,
    RequestRejected,
    RetriableError,
)

log = logging.getLogger(__name__)

DEFAULT_ZONE_URL = "https://webservices.autotask.net"
M = TypeVar("M", bound=BaseModel)


#: where the client may send requests (``connectors.http``): Autotask's hosts, or what the operator allowed
AUTOTASK = RemoteSystem(
    name="Autotask", public_hosts=AUTOTASK_HOSTS, address="zone URL", example="webservices.autotask.net"
)


def zone_origin(zone_url: str) -> str:
    value = zone_url.strip().rstrip("/")
    if not value:
        raise ConfigurationError("the Autotask zone URL is empty (e.g. https://webservices.autotask.net)")
    if "://" not in value:
        value = "https://" + value
    if value.split("://", 1)[0].lower() not in ("http", "https"):
        raise ConfigurationError(f"the Autotask zone URL {zone_url!r} must be an http(s) URL")
    return value


@contextmanager
def _answered(budget: HourlyBudget | None) -> Iterator[None]:
    try:
        yield
    finally:
        if budget is not None:
            budget.after_request()


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
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        budget: HourlyBudget | None = None,
        slots: EndpointSlots | None = None,
        rate_limiter: RateLimiter | None = None,
        max_retries: int = 5,
        max_rate_limit_waits: int = 20,
        max_retry_after: float = 300.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
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
        self._owns_http = http is None
        # every request, the zone-discovered base URL's and next-page links included, passes the host check
        self._http = http or httpx.Client(transport=guarded(AUTOTASK, transport), timeout=timeout)
        self.budget = budget
        self.slots = slots or EndpointSlots()
        self._limiter: RateLimiter = rate_limiter or Unlimited()
        self.max_retries = max_retries
        self.max_rate_limit_waits = max_rate_limit_waits
        self.max_retry_after = max_retry_after
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._lock = threading.Lock()
        self._api_base = api_base.rstrip("/") if api_base else None
        self._zone: ZoneInformation | None = None
        #: every HTTP request actually sent (retries, zone and threshold look-ups included)
        self.requests_sent = 0

    # -- plumbing -------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"AutotaskClient(username={self.username!r}, zone_url={self.zone_url!r})"

    def close(self) -> None:
        if self._owns_http:
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

    def _count(self) -> None:
        with self._lock:
            self.requests_sent += 1

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
        budgeted: bool = True,
    ) -> httpx.Response:
        """Send one logical request (``path`` under the API base, or a full ``url``), retrying what may be
        retried: 429s after their Retry-After, 5xx and transport failures of idempotent calls (and of any call
        that never reached Autotask), a 401 once after looking the zone up again. Raises ``seatsync.errors``."""
        failures = rate_limited = 0
        rediscovered = False
        while True:
            target = url or self.api_base + path
            endpoint_path = urlsplit(target).path
            budget = self.budget if budgeted else None
            if budget is not None:
                budget.before_request(self.threshold_information)
            self._limiter.acquire()
            maybe_processed = True
            with self.slots.for_path(endpoint_path), _answered(budget):
                self._count()
                started = time.monotonic()
                try:
                    response = self._http.request(
                        method, target, json=json, headers=self._headers(write=method != "GET" and not idempotent)
                    )
                except httpx.HTTPError as exc:
                    maybe_processed = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                    error: ConnectorError = error_for_exception(exc, method=method, path=endpoint_path)
                else:
                    log.debug(
                        "%s %s -> %s in %.0f ms",
                        method,
                        endpoint_path,
                        response.status_code,
                        (time.monotonic() - started) * 1e3,
                    )
                    if response.is_success:
                        return response
                    error = error_for_response(response, record=record, permission=permission)
            if isinstance(error, AuthenticationFailed) and not rediscovered and url is None:
                rediscovered = True
                previous = self._api_base
                self.zone_information()
                if self._api_base != previous:
                    log.info("Autotask zone moved to %s; retrying", self._api_base)
                    continue
                raise error
            if isinstance(error, RateLimited):
                rate_limited += 1
                wait = error.retry_after if error.retry_after is not None else 60.0
                if rate_limited > self.max_rate_limit_waits or wait > self.max_retry_after:
                    raise error
                log.info("Autotask rate limit: waiting %.1f s", wait)
                self._sleep(wait)
                continue
            if isinstance(error, RetriableError) and (idempotent or not maybe_processed):
                failures += 1
                if failures <= self.max_retries:
                    self._sleep(backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap))
                    continue
            raise error

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise RequestRejected(
                f"Autotask answered {response.request.method} {response.request.url.path} with something that is "
                f"not JSON: {remote_message(response)}",
                system=SYSTEM,
                status_code=response.status_code,
            ) from None

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
        url = f"{self.zone_url}/atservicesrest/v1.0/zoneInformation"
        failures = 0
        while True:
            self._count()
            try:
                response = self._http.get(url, params={"user": self.username}, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                error: ConnectorError = error_for_exception(exc, method="GET", path=urlsplit(url).path)
            else:
                if response.is_success:
                    break
                if response.status_code == 500:
                    # Autotask's answer to an unknown or blank user
                    raise AuthenticationFailed(
                        f"Autotask at {self.zone_url} does not know the API user {self.username!r}; use the API "
                        f"user's user name (an e-mail address). Autotask said: {remote_message(response)}",
                        system=SYSTEM,
                        status_code=500,
                        method="GET",
                        path=urlsplit(url).path,
                    )
                error = error_for_response(response, record=f"the zone of API user {self.username!r}")
            failures += 1
            if not isinstance(error, RetriableError) or failures > self.max_retries:
                raise error
            self._sleep(backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap))
        zone = self._parse(ZoneInformation, self._json(response), "zone information")
        with self._lock:
            self._zone = zone
            self._api_base = zone.api_base
        return zone

    @property
    def api_base(self) -> str:
        """``{zone url}V1.0``, looked up on first use."""
        with self._lock:
            base = self._api_base
        return base if base is not None else self.zone_information().api_base

    def threshold_information(self) -> ThresholdInformation:
        """The MSP's hourly request count across every integration (this read is outside the budget)."""
        response = self._send("GET", "/ThresholdInformation", record="the request threshold", budgeted=False)
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
        failures = 0
        while True:
            try:
                return self.create(
                    "/ContractServiceAdjustments", body, record=record, permission=Permission.CONTRACT_SERVICES_ADJUST
                )
            except RetriableError:
                failures += 1
                if failures > self.max_retries:
                    raise
                row = self.units_on(contract_service_id=contract_service_id, day=effective_date)
                if row is not None and row.units == expect_units:
                    return None
                self._sleep(backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap))

    def contract_notes(self, contract_id: int, *, title: str | None = None) -> list[ContractNote]:
        filters = [eq("contractID", int(contract_id))]
        if title is not None:
            filters.append(eq("title", title))
        return self._models(
            ContractNote, "ContractNotes", filters, f"notes of contract {contract_id}", Permission.CONTRACTS_READ
        )

    def create_contract_note(self, contract_id: int, *, title: str, description: str) -> int:
        """A note on the contract; after a lost answer a note with the same title is taken as this one."""
        failures = 0
        while True:
            try:
                return self.create(
                    f"/Contracts/{int(contract_id)}/Notes",
                    {"contractID": int(contract_id), "title": title, "description": description},
                    record=f"a note on contract {contract_id}",
                    permission=Permission.CONTRACT_NOTES_ADD,
                )
            except RetriableError:
                failures += 1
                if failures > self.max_retries:
                    raise
                found = self.contract_notes(contract_id, title=title)
                if found:
                    return found[0].id
                self._sleep(backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap))

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
        failures = 0
        while True:
            try:
                return self.create(
                    f"/ContractNotes/{int(note_id)}/Attachments",
                    body,
                    record=f"the attachment {filename!r} of contract note {note_id}",
                    permission=Permission.CONTRACT_NOTES_ADD,
                )
            except RetriableError:
                failures += 1
                if failures > self.max_retries:
                    raise
                for attachment in self.note_attachments(note_id):
                    if attachment.title == title:
                        return attachment.id
                self._sleep(backoff_delay(failures, base=self.backoff_base, cap=self.backoff_cap))

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
