"""A synchronous ConnectWise Manage REST client (httpx) on the shared HTTP policy (``connectors.http``).

    client = ConnectWiseClient(site="api-na.myconnectwise.net", company_id="acme",
                               public_key=..., private_key=..., client_id=...)
    for company in client.list_companies(conditions=where("deletedFlag", "=", False)):
        ...

``site`` is a host (``https://`` is implied) or an origin such as ``http://127.0.0.1:8101`` (a sandbox), with no
path. Requests go only to ConnectWise's cloud hosts (``*.myconnectwise.net``) or to an address the operator allowed
(``SEATSYNC_ALLOWED_HOSTS``: an on-premises server, the sandboxes); any other site is refused (``HostNotAllowed``)
before a request is made. Pacing (the tenant's limiter and concurrency slots), retries (429 with Retry-After,
5xx and transport failures with jittered back-off; an upload only when it cannot have landed) and the meaning of
each answer are the shared policy's. Lists follow ``Link: rel="next"`` (``LinkPaging``). The codebase
(``v2025_1/``) is looked up once through ``/login/companyinfo/{companyId}``.
Thread-safe: share one client between worker threads; the rate limiter and the concurrency limit are shared.
"""

from __future__ import annotations

import base64
import mimetypes
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from seatsync.config import Settings, get_settings
from seatsync.connectors.connectwise.conditions import Condition, all_of, where
from seatsync.connectors.connectwise.errors import CONNECTWISE, SYSTEM, Right
from seatsync.connectors.connectwise.models import (
    Addition,
    Agreement,
    Board,
    BoardStatus,
    CatalogItem,
    Company,
    CompanyInfo,
    DocumentInfo,
    SystemInfo,
    Ticket,
    TicketNote,
)
from seatsync.connectors.connectwise.pagination import PAGE_SIZE, connectwise_paging
from seatsync.connectors.http import HttpClient, RetryPolicy, remote_message
from seatsync.connectors.limits import RateLimiter, TokenBucket
from seatsync.errors import (
    AmbiguousAnswer,
    AuthenticationFailed,
    ConfigurationError,
    ConnectorError,
    RequestRejected,
    UserInputError,
)

API_VERSION = "2025.8"
M = TypeVar("M", bound=BaseModel)
Conditions = Condition | str | None
#: a codebase as ConnectWise names it (``v2025_1/``, ``v4_6_release/``)
_CODEBASE = re.compile(r"[A-Za-z0-9_.\-]+/?")


def site_origin(site: str) -> str:
    """``api-na.myconnectwise.net`` -> ``https://api-na.myconnectwise.net``; an origin with a scheme is kept.

    A site is a host (and port) only: a path, query, user name or anything that is not a host is refused."""
    site = site.strip().rstrip("/")
    if not site:
        raise ConfigurationError("the ConnectWise site is empty (e.g. api-na.myconnectwise.net)")
    origin = site if "://" in site else "https://" + site
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise UserInputError(
            f"the ConnectWise site {site!r} is not a host name (e.g. api-na.myconnectwise.net)"
        ) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigurationError(f"the ConnectWise site {site!r} must be a host name or an http(s) URL")
    if not parts.hostname or parts.username is not None or parts.path or parts.query or parts.fragment:
        raise UserInputError(
            f"the ConnectWise site {site!r} must be a host name only (e.g. api-na.myconnectwise.net), "
            "without a path, query or user name"
        )
    return origin


def company_segment(company_id: str) -> str:
    """The company id as one URL path segment: ``.`` and ``..`` (which URLs resolve) are refused."""
    value = company_id.strip()
    if not value or set(value) <= {"."} or any(ch in value for ch in "/\\?#%") or not value.isprintable():
        raise UserInputError(
            f"the ConnectWise company id {company_id!r} is not a company id (the one you log in to ConnectWise with)"
        )
    return quote(value, safe="")


def basic_authorization(company_id: str, public_key: str, private_key: str) -> str:
    token = base64.b64encode(f"{company_id}+{public_key}:{private_key}".encode()).decode()
    return f"Basic {token}"


def _conditions(value: Conditions) -> str | None:
    return str(value) if value is not None and str(value) else None


class ConnectWiseClient:
    def __init__(
        self,
        *,
        site: str,
        company_id: str,
        public_key: str,
        private_key: str,
        client_id: str,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        rate_limiter: RateLimiter | None = None,
        concurrency: int | threading.Semaphore | None = None,
        retry: RetryPolicy | None = None,
        codebase: str | None = None,
        api_version: str = API_VERSION,
        sleep: Callable[[float], None] = time.sleep,
        settings: Settings | None = None,
    ) -> None:
        for name, value in (
            ("company id", company_id),
            ("public key", public_key),
            ("private key", private_key),
            ("client id", client_id),
        ):
            if not value or not value.strip():
                raise ConfigurationError(f"the ConnectWise {name} is empty")
        settings = settings or get_settings()
        self.origin = site_origin(site)
        self.company_id = company_id.strip()
        self._company_segment = company_segment(company_id)
        self.client_id = client_id.strip()
        self.api_version = api_version
        self.__authorization = basic_authorization(self.company_id, public_key.strip(), private_key.strip())
        if concurrency is None:
            concurrency = settings.connectwise_concurrency
        self._http = HttpClient(
            CONNECTWISE,
            transport=transport,
            timeout=timeout,
            limiter=rate_limiter or TokenBucket(settings.connectwise_rate_limit, 60.0),
            concurrency=concurrency,
            retry=retry,
            allowed_hosts=settings.allowed_hosts,
            sleep=sleep,
        )
        self._http.check(self.origin)  # a site nobody allowed is refused before any request
        self._codebase = _checked_codebase(codebase) if codebase is not None else None
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"ConnectWiseClient(site={self.origin!r}, company_id={self.company_id!r})"

    @property
    def rate_limiter(self) -> RateLimiter:
        """The limiter pacing this client (shared by every client of the tenant)."""
        return self._http.limiter

    @property
    def requests_sent(self) -> int:
        """Every HTTP request actually sent (retries included), for benchmarks and tests."""
        return self._http.requests_sent

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConnectWiseClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def accept(self) -> str:
        return f"application/vnd.connectwise.com+json; version={self.api_version}"

    def _headers(self, *, authenticated: bool = True) -> dict[str, str]:
        headers = {"Accept": self.accept, "clientId": self.client_id}
        if authenticated:
            headers["Authorization"] = self.__authorization
        return headers

    def _send(
        self,
        method: str,
        url: str,
        *,
        content_type: str | None = None,
        record: str | None = None,
        right: Right | None = None,
        idempotent: bool = True,
        authenticated: bool = True,
        **request: Any,
    ) -> httpx.Response:
        """Send one logical request under the shared policy. Raises ``seatsync.errors`` only."""
        headers = self._headers(authenticated=authenticated)
        if content_type:
            headers["Content-Type"] = content_type
        return self._http.send(
            method, url, record=record, right=right, idempotent=idempotent, headers=headers, **request
        )

    def _json(self, response: httpx.Response) -> Any:
        return self._http.json(response)

    def _parse(self, model: type[M], value: Any, what: str, response: httpx.Response | None = None) -> M:
        """``value`` as ``model``; an answer that lacks its fields raises ``RequestRejected`` (a read) or, given
        the ``response`` of a write, ``AmbiguousAnswer`` (the change may have been made: read back)."""
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            why = exc.errors()[0]["msg"]
            if response is not None:
                raise self._http.unreadable(response, what, why) from None
            raise RequestRejected(
                f"ConnectWise answered with a {what} seatsync cannot read: {why}", system=SYSTEM
            ) from None

    # -- codebase -------------------------------------------------------------------------------------

    def company_info(self) -> CompanyInfo:
        """``GET /login/companyinfo/{companyId}``: the company's codebase and version (no keys needed).

        The codebase found is used from then on.
        """
        response = self._send(
            "GET",
            f"{self.origin}/login/companyinfo/{self._company_segment}",
            record=f"company id {self.company_id!r}",
            authenticated=False,
        )
        # an unknown company id is answered with an empty body or ``null``
        body = self._json(response)
        if isinstance(body, dict) and body.get("code") == "Security":
            raise RequestRejected(
                f"ConnectWise site {self.origin} refused the lookup: {remote_message(response)} "
                "(cloud sites need the api- prefix, e.g. api-na.myconnectwise.net)",
                system=SYSTEM,
            )
        if not isinstance(body, dict) or not body.get("Codebase"):
            raise AuthenticationFailed(
                f"ConnectWise site {self.origin} does not know the company id {self.company_id!r}; "
                "use the company id you log in to ConnectWise with",
                system=SYSTEM,
            )
        info = self._parse(CompanyInfo, body, "company info")
        _checked_codebase(info.codebase)
        with self._lock:
            self._codebase = info.codebase
        return info

    @property
    def base_url(self) -> str:
        """``{origin}/{codebase}apis/3.0`` (the codebase is looked up on first use)."""
        with self._lock:
            codebase = self._codebase
        if codebase is None:
            codebase = self.company_info().codebase
        return f"{self.origin}/{codebase.strip('/')}/apis/3.0"

    # -- generic reads --------------------------------------------------------------------------------

    def _get(self, path: str, model: type[M], *, record: str, right: Right | None, fields: str | None = None) -> M:
        params = {"fields": fields} if fields else None
        response = self._send("GET", self.base_url + path, params=params, record=record, right=right)
        return self._parse(model, self._json(response), record)

    def iter_pages(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        record: str,
        right: Right | None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[list[Any]]:
        """Each page of a list (``pageSize`` up to 1,000), following the ``Link`` header's ``next``."""
        for _response, page in self._http.pages(
            "GET",
            self.base_url + path,
            connectwise_paging(page_size),
            params=params,
            record=record,
            right=right,
            headers=self._headers(),
        ):
            yield page

    def _list(
        self,
        path: str,
        model: type[M],
        *,
        record: str,
        right: Right | None,
        conditions: Conditions = None,
        fields: list[str] | str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> list[M]:
        params: dict[str, Any] = dict(extra or {})
        params["conditions"] = _conditions(conditions)
        params["fields"] = ",".join(fields) if isinstance(fields, list) else fields
        return [
            self._parse(model, item, record)
            for page in self.iter_pages(path, params=params, record=record, right=right)
            for item in page
        ]

    # -- the calls the billing integration makes ------------------------------------------------------

    def system_info(self) -> SystemInfo:
        return self._get("/system/info", SystemInfo, record="system info", right=None)

    def list_companies(self, conditions: Conditions = None, fields: list[str] | str | None = None) -> list[Company]:
        return self._list(
            "/company/companies",
            Company,
            record="companies",
            right=Right.COMPANY_INQUIRE,
            conditions=conditions,
            fields=fields,
        )

    def get_company(self, company_id: int) -> Company:
        return self._get(
            f"/company/companies/{int(company_id)}",
            Company,
            record=f"company {company_id}",
            right=Right.COMPANY_INQUIRE,
        )

    def list_agreements(
        self,
        company_id: int | None = None,
        conditions: Conditions = None,
        fields: list[str] | str | None = None,
    ) -> list[Agreement]:
        by_company = where("company/id", "=", int(company_id)) if company_id is not None else None
        given = Condition(f"({conditions})") if conditions is not None and str(conditions) else None
        return self._list(
            "/finance/agreements",
            Agreement,
            record="agreements" + (f" of company {company_id}" if company_id is not None else ""),
            right=Right.AGREEMENTS_INQUIRE,
            conditions=all_of(by_company, given),
            fields=fields,
        )

    def get_agreement(self, agreement_id: int) -> Agreement:
        return self._get(
            f"/finance/agreements/{int(agreement_id)}",
            Agreement,
            record=f"agreement {agreement_id}",
            right=Right.AGREEMENTS_INQUIRE,
        )

    def list_additions(self, agreement_id: int, conditions: Conditions = None) -> list[Addition]:
        return self._list(
            f"/finance/agreements/{int(agreement_id)}/additions",
            Addition,
            record=f"additions of agreement {agreement_id}",
            right=Right.AGREEMENTS_INQUIRE,
            conditions=conditions,
        )

    def get_addition(self, agreement_id: int, addition_id: int) -> Addition:
        return self._get(
            f"/finance/agreements/{int(agreement_id)}/additions/{int(addition_id)}",
            Addition,
            record=f"addition {addition_id} of agreement {agreement_id}",
            right=Right.AGREEMENTS_INQUIRE,
        )

    def patch_addition(self, agreement_id: int, addition_id: int, operations: list[dict[str, Any]]) -> Addition:
        """Send a JSON Patch (paths without a leading slash) to one addition; returns the updated addition."""
        record = f"addition {addition_id} of agreement {agreement_id}"
        response = self._send(
            "PATCH",
            f"{self.base_url}/finance/agreements/{int(agreement_id)}/additions/{int(addition_id)}",
            json=operations,
            record=record,
            right=Right.AGREEMENTS_EDIT,
        )
        return self._parse(Addition, self._json(response), record, response)

    def set_addition_quantity(self, agreement_id: int, addition_id: int, quantity: float) -> Addition:
        """One JSON-Patch ``replace`` of ``quantity`` (never PUT: PUT resets every field left out).

        Replacing a value is idempotent, so a retry after a lost answer cannot count twice.
        """
        return self.patch_addition(
            agreement_id, addition_id, [{"op": "replace", "path": "quantity", "value": quantity}]
        )

    def list_catalog(self, conditions: Conditions = None) -> list[CatalogItem]:
        return self._list(
            "/procurement/catalog",
            CatalogItem,
            record="catalog items",
            right=Right.CATALOG_INQUIRE,
            conditions=conditions,
        )

    def create_catalog_item(
        self,
        *,
        identifier: str,
        description: str,
        subcategory: Mapping[str, Any],
        product_type: Mapping[str, Any],
        customer_description: str | None = None,
    ) -> CatalogItem:
        """``POST /procurement/catalog``: a new catalog product. ``subcategory``/``product_type`` are references
        (``{"id": 3}`` or ``{"name": "Security"}``).

        Not idempotent: after an answer that may have been lost, the catalog is searched for the identifier
        (unique in a catalog) before asking again.
        """
        body = {
            "identifier": identifier,
            "description": description,
            "subcategory": dict(subcategory),
            "type": dict(product_type),
            "customerDescription": customer_description or description,
            "productClass": "Service",
            "recurringFlag": True,
        }
        record = f"catalog product {identifier!r}"

        def created() -> CatalogItem | None:
            found = self.list_catalog(where("identifier", "=", identifier))
            return found[0] if found else None

        response = self._create("/procurement/catalog", body, record=record, right=Right.CATALOG_ADD, lookup=created)
        return response if isinstance(response, CatalogItem) else self._parse(CatalogItem, response, record)

    def create_addition(
        self,
        agreement_id: int,
        *,
        product_id: int,
        quantity: float = 0.0,
        description: str | None = None,
        effective_date: str | None = None,
    ) -> Addition:
        """``POST /finance/agreements/{id}/additions``: a billable addition of a catalog product.

        Not idempotent: after an answer that may have been lost, the agreement's additions are searched for
        one of the product created since this call began before asking again.
        """
        body: dict[str, Any] = {"product": {"id": int(product_id)}, "billCustomer": "Billable", "quantity": quantity}
        if description:
            body["description"] = description
        if effective_date:
            body["effectiveDate"] = effective_date
        record = f"a new addition on agreement {agreement_id}"
        before = {a.id for a in self.list_additions(agreement_id)}

        def created() -> Addition | None:
            fresh = [
                a
                for a in self.list_additions(agreement_id)
                if a.id not in before and a.product is not None and a.product.id == int(product_id)
            ]
            return fresh[0] if fresh else None

        response = self._create(
            f"/finance/agreements/{int(agreement_id)}/additions",
            body,
            record=record,
            right=Right.AGREEMENTS_EDIT,
            lookup=created,
        )
        return response if isinstance(response, Addition) else self._parse(Addition, response, record)

    def _create(
        self, path: str, body: dict[str, Any], *, record: str, right: Right, lookup: Callable[[], M | None]
    ) -> Any:
        """POST once; after a maybe-processed failure, ``lookup`` finds what the lost answer created."""
        found = self._http.once_or_found(
            lambda: self._send("POST", self.base_url + path, json=body, record=record, right=right, idempotent=False),
            lookup,
        )
        return found if not isinstance(found, httpx.Response) else self._json(found)

    def probe_create(self, path: str, right: Right) -> int:
        """POST an empty object to a create endpoint: ConnectWise checks the security role before the body,
        so the answer is 403 without ``right`` and 400 (required fields missing) with it; nothing is created.
        Returns the status code of a non-403 answer; raises ``PermissionDenied`` on 403.
        """
        try:
            response = self._send(
                "POST",
                self.base_url + path,
                json={},
                record=f"{path} (right check, empty record)",
                right=right,
                idempotent=False,
            )
        except RequestRejected as exc:
            return exc.status_code or 400
        return response.status_code

    def list_documents(self, record_type: str, record_id: int) -> list[DocumentInfo]:
        return self._list(
            "/system/documents",
            DocumentInfo,
            record=f"documents of {record_type} {record_id}",
            right=Right.ATTACHMENTS_INQUIRE,
            extra={"recordType": record_type, "recordId": int(record_id)},
        )

    def _create_once(
        self, post: Callable[[], httpx.Response], find: Callable[[], M | None], model: type[M], what: str
    ) -> M:
        """A creation that is not idempotent: after an answer that may have been lost (a timeout, a dropped
        connection, a 5xx), ``find`` looks for the record first, and one found is taken as this creation."""
        found = self._http.once_or_found(post, lambda: self._look(find))
        return found if not isinstance(found, httpx.Response) else self._parse(model, self._json(found), what, found)

    @staticmethod
    def _look(find: Callable[[], M | None]) -> M | None:
        """``find()`` after an attempt whose answer was lost; when the look itself fails, whether the creation
        happened is unknown: ``AmbiguousAnswer`` (never a blind second creation)."""
        try:
            return find()
        except AuthenticationFailed:
            raise
        except ConnectorError as exc:
            raise AmbiguousAnswer(
                f"the answer to a creation was lost and looking for what it created failed: {exc.message}; "
                "it may have been created",
                system=SYSTEM,
                method=exc.method,
                path=exc.path,
            ) from None

    def upload_document(
        self,
        record_type: str,
        record_id: int,
        title: str,
        filename: str,
        content: bytes,
        *,
        private: bool = True,
        content_type: str | None = None,
    ) -> DocumentInfo:
        """Attach a file to a record (``POST /system/documents``, multipart).

        Uploading is not idempotent: after an answer that may have been lost (a timeout, a dropped
        connection, a 5xx) the record's documents are listed first, and a document with the same title,
        file name and size is taken as this upload rather than attaching the file twice.
        """
        record = f"{record_type} {record_id} (attaching {filename!r})"
        kind = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        form = {
            "recordType": record_type,
            "recordId": str(int(record_id)),
            "title": title,
            "privateFlag": "true" if private else "false",
        }

        def find() -> DocumentInfo | None:
            for document in self.list_documents(record_type, record_id):
                if document.title == title and document.file_name == filename and document.size == len(content):
                    return document
            return None

        return self._create_once(
            lambda: self._send(
                "POST",
                self.base_url + "/system/documents",
                data=form,
                files={"file": (filename, content, kind)},
                record=record,
                right=Right.ATTACHMENTS_ADD,
                idempotent=False,
            ),
            find,
            DocumentInfo,
            "document",
        )

    def probe_document_upload(self, record_type: str, record_id: int) -> int:
        """Ask to attach *nothing*: a multipart ``POST /system/documents`` with the record but no file.

        ConnectWise checks the member's security role before it looks at the form, so the answer is
        403 without Manage Attachments › Add and 400 (file missing) with it; nothing is created.
        Returns the status code of a non-403 answer; raises ``PermissionDenied`` on 403.
        """
        boundary = "seatsync-probe-" + uuid.uuid4().hex
        fields = {"recordType": record_type, "recordId": str(int(record_id)), "title": "seatsync right check"}
        body = (
            "".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                for name, value in fields.items()
            )
            + f"--{boundary}--\r\n"
        )
        try:
            response = self._send(
                "POST",
                self.base_url + "/system/documents",
                content=body.encode(),
                content_type=f"multipart/form-data; boundary={boundary}",
                record=f"{record_type} {record_id} (right check, no file)",
                right=Right.ATTACHMENTS_ADD,
                idempotent=False,
            )
        except RequestRejected as exc:
            return exc.status_code or 400
        return response.status_code

    # -- service desk (tickets on a chosen board) -------------------------------------------------------

    def list_boards(self) -> list[Board]:
        return self._list("/service/boards", Board, record="service boards", right=Right.TICKETS_INQUIRE)

    def list_board_statuses(self, board_id: int) -> list[BoardStatus]:
        return self._list(
            f"/service/boards/{int(board_id)}/statuses",
            BoardStatus,
            record=f"statuses of service board {board_id}",
            right=Right.TICKETS_INQUIRE,
        )

    def get_ticket(self, ticket_id: int) -> Ticket:
        return self._get(
            f"/service/tickets/{int(ticket_id)}",
            Ticket,
            record=f"service ticket {ticket_id}",
            right=Right.TICKETS_INQUIRE,
        )

    def list_tickets(self, conditions: Conditions = None) -> list[Ticket]:
        return self._list(
            "/service/tickets", Ticket, record="service tickets", right=Right.TICKETS_INQUIRE, conditions=conditions
        )

    def create_ticket(self, *, board_id: int, company_id: int, summary: str, description: str) -> Ticket:
        """Open a ticket on the board for the company (its default status), the description as its first note.

        Creating is not idempotent: after an answer that may have been lost, the board's open tickets of the
        company with this summary are looked for first, and one found is taken as this creation.
        """
        record = f"a service ticket on board {board_id} for company {company_id}"
        body = {
            "summary": summary,
            "board": {"id": int(board_id)},
            "company": {"id": int(company_id)},
            "initialDescription": description,
        }

        def find() -> Ticket | None:
            found = self.list_tickets(
                all_of(
                    where("board/id", "=", int(board_id)),
                    where("company/id", "=", int(company_id)),
                    where("summary", "=", summary),
                    where("closedFlag", "=", False),
                )
            )
            return found[-1] if found else None

        return self._create_once(
            lambda: self._send(
                "POST",
                self.base_url + "/service/tickets",
                json=body,
                record=record,
                right=Right.TICKETS_ADD,
                idempotent=False,
            ),
            find,
            Ticket,
            "service ticket",
        )

    def patch_ticket(self, ticket_id: int, operations: list[dict[str, Any]]) -> Ticket:
        record = f"service ticket {ticket_id}"
        response = self._send(
            "PATCH",
            f"{self.base_url}/service/tickets/{int(ticket_id)}",
            json=operations,
            record=record,
            right=Right.TICKETS_EDIT,
        )
        return self._parse(Ticket, self._json(response), record)

    def set_ticket_status(self, ticket_id: int, status_id: int) -> Ticket:
        return self.patch_ticket(ticket_id, [{"op": "replace", "path": "status", "value": {"id": int(status_id)}}])

    def add_ticket_note(self, ticket_id: int, text: str) -> TicketNote:
        """A note on the ticket's discussion (``detailDescriptionFlag``). Not idempotent; not retried after an
        answer that may have been lost (a second note would say the same thing twice)."""
        record = f"a note on service ticket {ticket_id}"
        response = self._send(
            "POST",
            f"{self.base_url}/service/tickets/{int(ticket_id)}/notes",
            json={"text": text, "detailDescriptionFlag": True},
            record=record,
            right=Right.TICKETS_EDIT,
            idempotent=False,
        )
        return self._parse(TicketNote, self._json(response), record)


def _checked_codebase(codebase: str) -> str:
    """A codebase goes into every URL path: one plain segment (``v2025_1/``), never ``..``."""
    if not _CODEBASE.fullmatch(codebase) or set(codebase.strip("/")) <= {"."}:
        raise RequestRejected(
            f"ConnectWise answered with a codebase seatsync cannot use: {codebase[:40]!r}", system=SYSTEM
        )
    return codebase
