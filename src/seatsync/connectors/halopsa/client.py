"""A synchronous HaloPSA REST client (httpx): client-credentials token, list paging, POST-array upserts.

    client = HaloPSAClient(url="https://acme.halopsa.com", client_id=..., client_secret=..., halo_tenant="acme")
    for customer in client.list_customers(search="Acme"):
        ...
    client.upsert_licences([{"id": 812, "client_id": 45, "name": "Acme Phishing", "count": 42}])

The token comes from ``POST {auth_url}/token`` (``?tenant=`` on hosted Halo), is kept until shortly before it
expires, and is fetched again once when the API answers 401 (the shared policy's ``renew`` hook). Requests go
through the shared HTTP policy (``connectors.http``): paced under hosted Halo's limit (300 per rolling 5 minutes);
a 429 holds everyone sharing the limiter off for its Retry-After (seconds or a date) or, without one (HaloPSA
documents none), for a jittered back-off from 5 s to 60 s; 5xx and transport failures back off with jitter; every
answer's five body shapes are read by the shared ``error_for_status`` (``errors.py`` has HaloPSA's words).
Thread-safe: one client may be shared by worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from seatsync.config import Settings, get_settings
from seatsync.connectors.halopsa.errors import HALOPSA, SYSTEM, Permission, ScopeRefused, token_refusal
from seatsync.connectors.halopsa.models import Customer, Item, NewLicence, SoftwareLicence, Token
from seatsync.connectors.halopsa.pagination import MAX_PAGE_SIZE, PageFormatError, Paging
from seatsync.connectors.http import HttpClient, RetryPolicy
from seatsync.connectors.limits import RateLimiter, TokenBucket
from seatsync.errors import AuthenticationFailed, ConfigurationError, RequestRejected

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

#: hosted Halo: 300 requests per rolling 5 minutes
HOSTED_LIMIT = 300
HOSTED_WINDOW = 300.0
#: the share of the limit a client plans to use (the rest is margin for other integrations and clock skew)
DEFAULT_BUDGET = 0.95
#: a token is fetched again this long before it expires
TOKEN_MARGIN = 60.0
#: the shared policy's numbers for HaloPSA: fewer retries than the default, and a 429 (which names no wait)
#: backs off from 5 s to a minute: the rolling window frees up slowly
RETRY = RetryPolicy(max_retries=4, max_rate_limit_waits=8, rate_limit_base=5.0, rate_limit_cap=60.0)


def _origin(value: str, what: str) -> str:
    value = value.strip().rstrip("/")
    if not value:
        raise ConfigurationError(f"the HaloPSA {what} is empty (e.g. https://acme.halopsa.com)")
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"the HaloPSA {what} {value!r} must be a host name or an http(s) URL")
    return value


def base_url(url: str) -> str:
    """``acme.halopsa.com`` or ``https://acme.halopsa.com/api`` -> ``https://acme.halopsa.com``."""
    value = _origin(url, "URL")
    return value[: -len("/api")] if value.lower().endswith("/api") else value


def default_auth_url(url: str) -> str:
    return base_url(url) + "/auth"


def rolling_window_limiter(
    limit: int = HOSTED_LIMIT,
    window: float = HOSTED_WINDOW,
    *,
    budget: float = DEFAULT_BUDGET,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> TokenBucket:
    """A token bucket that never sends more than ``limit`` requests in any ``window`` seconds.

    A bucket of rate ``r`` and burst ``b`` admits at most ``b + r·T`` requests in ``T`` seconds, so a rate of
    ``budget × limit`` per window with the rest (less two for jitter in arrival times) as the burst stays under
    a rolling window's limit; a steady push runs at ``budget`` of it.
    """
    if limit < 1 or window <= 0 or not 0 < budget <= 1:
        raise ValueError("limit and window must be positive and budget in (0, 1]")
    rate = budget * limit
    burst = max(1.0, limit - rate - 2)
    return TokenBucket(rate, window, burst=burst, sleep=sleep, clock=clock)


class HaloPSAClient:
    def __init__(
        self,
        *,
        url: str,
        client_id: str,
        client_secret: str,
        auth_url: str | None = None,
        halo_tenant: str | None = None,
        scope: str = "all",
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy = RETRY,
        token_margin: float = TOKEN_MARGIN,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        settings: Settings | None = None,
    ) -> None:
        for name, value in (("client id", client_id), ("client secret", client_secret)):
            if not value or not value.strip():
                raise ConfigurationError(f"the HaloPSA application's {name} is empty")
        self.base_url = base_url(url)
        self.api_url = self.base_url + "/api"
        self.auth_url = _origin(auth_url, "authorisation server URL") if auth_url else default_auth_url(url)
        self.halo_tenant = (halo_tenant or "").strip() or None
        self.client_id = client_id.strip()
        self.__secret = client_secret.strip()
        self.scope = scope.strip()
        settings = settings or get_settings()
        if limiter is None:
            limiter = rolling_window_limiter(settings.halopsa_rate_limit, settings.halopsa_rate_window, sleep=sleep)
        # every request (token, API, next pages) passes the outbound-host check
        self._http = HttpClient(
            HALOPSA,
            transport=transport,
            timeout=timeout,
            limiter=limiter,
            retry=retry,
            allowed_hosts=settings.allowed_hosts,
            sleep=sleep,
            monotonic=clock,
        )
        self.token_margin = token_margin
        self._clock = clock
        self._token_lock = threading.Lock()  # one token fetch at a time: a new token may void the older one
        self._token: Token | None = None
        self._token_expires = 0.0
        self._sent = threading.local()  # the token this thread's last request carried (forgotten after a 401)

    def __repr__(self) -> str:
        return f"HaloPSAClient(url={self.base_url!r}, client_id={self.client_id!r})"

    @property
    def requests_sent(self) -> int:
        """What was sent (retries and token requests included), for benchmarks, run records and tests."""
        return self._http.requests_sent

    @property
    def rate_limited(self) -> int:
        """429 answers seen."""
        return self._http.rate_limited

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HaloPSAClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the token ------------------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return self.auth_url + "/token"

    @property
    def granted_scopes(self) -> frozenset[str]:
        """The scopes of the current token (fetching one if needed)."""
        return self.token().scopes

    def token(self) -> Token:
        """The current token, fetched when there is none or it expires within ``token_margin`` seconds."""
        with self._token_lock:
            if self._token is None or self._clock() >= self._token_expires - self.token_margin:
                self._token = self._fetch_token()
                self._token_expires = self._clock() + self._token.expires_in
            return self._token

    def _forget_token(self, used: Token) -> None:
        with self._token_lock:
            if self._token is used:  # another thread may have fetched a new one already
                self._token = None

    def _fetch_token(self) -> Token:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.__secret}
        if self.scope:
            form["scope"] = self.scope
        try:
            response = self._token_request(form)
        except ScopeRefused:
            if "scope" not in form:
                raise
            # an application not granted every scope asked for: take what it has, and say so per call
            log.info("HaloPSA refused scope %r; asking for the application's own scopes", self.scope)
            form.pop("scope")
            response = self._token_request(form)
        try:
            return Token.model_validate(response.json())
        except (ValueError, ValidationError):
            raise RequestRejected(
                "HaloPSA's token endpoint answered without an access token; check the authorisation server URL "
                f"({self.auth_url})",
                system=SYSTEM,
                status_code=response.status_code,
                method="POST",
                path=urlsplit(self.token_url).path,
            ) from None

    def _token_request(self, form: Mapping[str, str]) -> httpx.Response:
        return self._http.send(
            "POST",
            self.token_url,
            data=form,
            params={"tenant": self.halo_tenant} if self.halo_tenant else None,
            headers={"Accept": "application/json"},
            record="a token",
            translate=token_refusal,
        )

    # -- sending: the shared policy, with a bearer token renewed once after a 401 ------------------------

    def _renew(self, _refused: AuthenticationFailed) -> bool:
        """After a 401 (the shared policy's ``renew`` hook): an expired or voided token; fetch a new one."""
        used: Token | None = getattr(self._sent, "token", None)
        if used is None:
            return False
        self._forget_token(used)
        return True

    def _api(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        record: str,
        permission: Permission,
        idempotent: bool = True,
    ) -> Any:
        """One API call under the shared policy; the answer's JSON (``None`` when empty)."""
        for attempt in self._http.attempts(idempotent=idempotent, renew=self._renew):
            token = self._sent.token = self.token()  # a token request's own failure is raised as it is
            with attempt:
                response = self._http.send_once(
                    method,
                    self.api_url + path,
                    params=params,
                    json=json,
                    headers={"Accept": "application/json", "Authorization": f"Bearer {token.access_token}"},
                    record=record,
                    right=permission,
                )
                return self._http.json(response)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity returns or raises

    @staticmethod
    def _parse(model: type[M], data: Any, what: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise RequestRejected(f"HaloPSA answered {what} in an unexpected shape: {exc}", system=SYSTEM) from None

    def iter_pages(
        self,
        entity: str,
        *,
        params: Mapping[str, str] | None = None,
        permission: Permission,
        record: str,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of ``GET /api/{entity}`` with ``params``, as raw records."""
        paging = Paging(entity, page_size)
        page_no: int | None = 1
        while page_no is not None:
            body = self._api(
                "GET",
                f"/{entity}",
                params={**(params or {}), **paging.params(page_no)},
                record=record,
                permission=permission,
            )
            try:
                page = paging.parse(body, page_no)
            except PageFormatError as exc:
                raise RequestRejected(
                    f"HaloPSA answered {record} in an unexpected shape: {exc}", system=SYSTEM
                ) from None
            yield page.records
            page_no = paging.next_page(page)

    def _list(
        self, entity: str, model: type[M], *, params: Mapping[str, str], permission: Permission, record: str
    ) -> list[M]:
        return [
            self._parse(model, row, record)
            for page in self.iter_pages(entity, params=params, permission=permission, record=record)
            for row in page
        ]

    def count(self, entity: str, *, permission: Permission, params: Mapping[str, str] | None = None) -> int:
        """``record_count`` of a list, from one page of one record."""
        paging = Paging(entity, 1)
        body = self._api(
            "GET", f"/{entity}", params={**(params or {}), **paging.params(1)}, record=entity, permission=permission
        )
        try:
            return paging.parse(body, 1).record_count
        except PageFormatError as exc:
            raise RequestRejected(f"HaloPSA answered {entity} in an unexpected shape: {exc}", system=SYSTEM) from None

    # -- entities -----------------------------------------------------------------------------------------

    def list_customers(self, *, search: str | None = None, include_inactive: bool = False) -> list[Customer]:
        params = {"includeinactive": "true"} if include_inactive else {}
        if search:
            params["search"] = search
        return self._list("Client", Customer, params=params, permission=Permission.READ_CUSTOMERS, record="clients")

    def get_customer(self, client_id: int) -> Customer:
        body = self._api(
            "GET", f"/Client/{int(client_id)}", record=f"client {client_id}", permission=Permission.READ_CUSTOMERS
        )
        return self._parse(Customer, body, f"client {client_id}")

    def list_items(self, *, search: str | None = None) -> list[Item]:
        params = {"search": search} if search else {}
        return self._list("Item", Item, params=params, permission=Permission.READ_ITEMS, record="items")

    def get_item(self, item_id: int) -> Item:
        body = self._api("GET", f"/Item/{int(item_id)}", record=f"item {item_id}", permission=Permission.READ_ITEMS)
        return self._parse(Item, body, f"item {item_id}")

    def list_licences(self, *, client_id: int | None = None, include_inactive: bool = False) -> list[SoftwareLicence]:
        params = {"client_id": str(int(client_id))} if client_id is not None else {}
        if include_inactive:
            params["includeinactive"] = "true"
        what = f"subscriptions of client {client_id}" if client_id is not None else "subscriptions"
        return self._list(
            "SoftwareLicence", SoftwareLicence, params=params, permission=Permission.READ_LICENCES, record=what
        )

    def get_licence(self, licence_id: int) -> SoftwareLicence:
        what = f"subscription {licence_id}"
        body = self._api("GET", f"/SoftwareLicence/{int(licence_id)}", record=what, permission=Permission.READ_LICENCES)
        return self._parse(SoftwareLicence, body, what)

    def upsert_licences(self, records: Sequence[Mapping[str, Any]]) -> list[SoftwareLicence]:
        """``POST /api/SoftwareLicence`` with an array: an element with ``id`` updates that record, without creates.

        Updates carry absolute values (``count``), so repeating one after a lost answer cannot count twice; an
        array with a creation in it is sent once (``create_licence`` handles a lost answer).
        """
        if not records:
            return []
        idempotent = all(r.get("id") for r in records)
        body = self._api(
            "POST",
            "/SoftwareLicence",
            json=[dict(r) for r in records],
            record="subscriptions" if len(records) > 1 else f"subscription {records[0].get('id', '(new)')}",
            permission=Permission.EDIT_LICENCES,
            idempotent=idempotent,
        )
        # HaloPSA answers the saved record(s): an array, or one object for a one-element array
        rows = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
        return [self._parse(SoftwareLicence, row, "the saved subscription") for row in rows]

    def set_licence_count(self, licence: SoftwareLicence, count: int | float) -> SoftwareLicence | None:
        """Set one subscription's absolute count (id, client and name sent along, as Halo's own tools do)."""
        saved = self.upsert_licences([licence_update(licence, count=count)])
        return saved[0] if saved else None

    def create_licence(self, new: NewLicence) -> SoftwareLicence:
        """Create a subscription under a client. Not idempotent: after an answer that may have been lost the
        client's subscriptions are read, and one with the same name and item is taken as this one."""

        def found() -> SoftwareLicence | None:
            for licence in self.list_licences(client_id=new.client_id, include_inactive=True):
                if licence.name == new.name and (new.item_id is None or licence.item_id == new.item_id):
                    return licence
            return None

        saved = self._http.once_or_found(lambda: self.upsert_licences([new.body()]), found)
        if isinstance(saved, SoftwareLicence):
            return saved
        if saved:
            return saved[0]
        named = [
            licence
            for licence in self.list_licences(client_id=new.client_id, include_inactive=True)
            if licence.name == new.name
        ]
        if not named:
            raise RequestRejected(
                f"HaloPSA accepted the new subscription {new.name!r} but it cannot be found under client "
                f"{new.client_id}",
                system=SYSTEM,
            )
        return max(named, key=lambda licence: licence.id)

    def probe_licence_edit(self) -> None:
        """An empty save (``POST /api/SoftwareLicence`` with ``[]``): nothing to change, but the permission is
        checked first (raises ``PermissionDenied`` when refused)."""
        self._api("POST", "/SoftwareLicence", json=[], record="an empty save", permission=Permission.EDIT_LICENCES)

    def check_token(self) -> Token:
        """Fetch a fresh token now (the connection check): raises ``AuthenticationFailed`` when refused."""
        with self._token_lock:
            self._token = None
        token = self.token()
        if not token.access_token:
            raise AuthenticationFailed("HaloPSA answered an empty access token", system=SYSTEM)
        return token


def licence_update(licence: SoftwareLicence, **changes: Any) -> dict[str, Any]:
    """The update element for one subscription: its id, client and name, and the changed fields."""
    body: dict[str, Any] = {"id": licence.id, "name": licence.name}
    if licence.client_id is not None:
        body["client_id"] = licence.client_id
    body.update(changes)
    return body
