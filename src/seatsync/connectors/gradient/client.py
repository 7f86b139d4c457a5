"""A thin, synchronous client of Gradient MSP's Synthesize vendor API (see shared/reference/gradient-msp.md).

One ``GradientClient`` per partner token. Every call passes the installation-wide rate limiter (Gradient answers
429 above 100 requests a second per vendor key), retries what is worth retrying (429, 5xx, timeouts, dropped
connections) with bounded back-off, and turns everything else into ``seatsync.errors`` through
``raise_for_response``. httpx errors never leak; the token never appears in a repr, message or log line.
The client is thread-safe: several threads may share it (and its counters).
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import httpx
from pydantic import ValidationError

from seatsync.connectors.gradient.errors import AccountsAlreadyExist, NotMappedInGradient
from seatsync.connectors.gradient.models import Account, GradientStatus, NewAccount, Organization, Service, Vendor
from seatsync.connectors.limits import RateLimiter, TokenBucket, backoff_delay
from seatsync.errors import (
    AuthenticationFailed,
    ConfigurationError,
    PermissionDenied,
    RateLimited,
    RecordNotFound,
    RequestRejected,
    RetriableError,
    ServerError,
    TransportError,
    UserInputError,
)

DEFAULT_URL = "https://app.usegradient.com"
SYSTEM = "Gradient"
API = "/api/vendor-api"

_shared_limiters: dict[float, TokenBucket] = {}
_shared_lock = threading.Lock()


def shared_limiter(rate: float) -> TokenBucket:
    """The process-wide limiter for ``rate`` requests a second (Gradient's limit is per vendor key, and one
    installation has one vendor key). The burst is a tenth of a second's worth, so that a steady stream at the
    full rate never looks like more than ``rate`` in any one-second window on Gradient's side."""
    with _shared_lock:
        bucket = _shared_limiters.get(rate)
        if bucket is None:
            bucket = _shared_limiters[rate] = TokenBucket(rate, burst=max(1.0, rate / 10))
        return bucket


def token_header(vendor_key: str, partner_token: str) -> str:
    """The ``GRADIENT-TOKEN`` value: base64 of ``vendorKey:partnerKey``."""
    return base64.b64encode(f"{vendor_key}:{partner_token}".encode()).decode("ascii")


def _remote_message(response: httpx.Response) -> str:
    """Gradient's own words (``{"statusCode":404,"message":"..."}``; validation errors give a list)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300]
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or ""
        if isinstance(message, list):
            message = "; ".join(str(m) for m in message)
        return str(message)[:300]
    return ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own back-off


def raise_for_response(response: httpx.Response) -> None:
    """The one error policy: return for 2xx, else raise the matching ``seatsync.errors`` class."""
    status = response.status_code
    if status < 300:
        return
    method, path = response.request.method, response.request.url.path
    where = f"{method} {path}"
    remote = _remote_message(response)
    said = f": {remote}" if remote else ""
    kw: dict[str, Any] = {"system": SYSTEM, "status_code": status, "method": method, "path": path}
    if status == 401:
        raise AuthenticationFailed(
            "Gradient refused the credentials (401): the partner token was rejected or expired. "
            "Generate a new token in Synthesize (Integrations) and connect again.",
            **kw,
        )
    if status == 403:
        raise PermissionDenied(
            f"Gradient refused {where} (403) and reports an anomaly with this API usage{said}. "
            "Contact Gradient support if it persists.",
            **kw,
        )
    if status == 404:
        raise RecordNotFound(f"Gradient has no such record for {where}{said}", **kw)
    if status == 429:
        raise RateLimited(
            f"Gradient is rate-limiting requests (429) on {where}", retry_after=_retry_after(response), **kw
        )
    if status >= 500:
        raise ServerError(f"Gradient failed on {where} with {status}{said}; it will be retried", **kw)
    raise RequestRejected(f"Gradient rejected {where} ({status}){said}", **kw)


def _data(body: Any) -> Any:
    """Unwrap ``{status, data, message}`` envelopes; plain answers pass through."""
    if isinstance(body, dict) and "data" in body and ("status" in body or "message" in body):
        return body["data"]
    return body


def _segment(value: str) -> str:
    return quote(str(value), safe="")


class GradientClient:
    """``with GradientClient(vendor_key=..., partner_token=...) as gradient: gradient.list_accounts()``"""

    def __init__(
        self,
        *,
        vendor_key: str,
        partner_token: str,
        base_url: str = DEFAULT_URL,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        limiter: RateLimiter | None = None,
        timeout: float = 30.0,
        max_attempts: int = 6,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not vendor_key:
            raise ConfigurationError(
                "the Gradient vendor API key is not set: set SEATSYNC_GRADIENT_VENDOR_KEY for this installation"
            )
        if not partner_token:
            raise UserInputError("the Gradient partner token is empty: paste the token generated in Synthesize")
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserInputError(f"Gradient URL {base_url!r} is not an http(s) URL (e.g. {DEFAULT_URL})")
        self.base_url = base_url.strip().rstrip("/")
        self._headers = {
            "GRADIENT-TOKEN": token_header(vendor_key, partner_token),
            "Accept": "application/json",
        }
        self._owns_http = http is None
        self._http = http or httpx.Client(transport=transport, timeout=httpx.Timeout(timeout))
        self._timeout = timeout
        if limiter is None:
            from seatsync.config import get_settings

            limiter = shared_limiter(get_settings().gradient_rate_limit)
        self._limiter: RateLimiter = limiter
        self.max_attempts = max(1, max_attempts)
        self.max_wait = max_wait
        self._sleep = sleep
        self._rng = rng
        self._lock = threading.Lock()
        #: requests sent (retries included), 429 answers seen, retries made: read by benchmarks and run records
        self.request_count = 0
        self.rate_limited_count = 0
        self.retry_count = 0

    def __repr__(self) -> str:
        return f"GradientClient(base_url={self.base_url!r}, token=<hidden>)"

    # ---- lifecycle
    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GradientClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- transport
    def _count(self, attr: str) -> None:
        with self._lock:
            setattr(self, attr, getattr(self, attr) + 1)

    def _attempt(self, method: str, path: str, json: Any, params: dict[str, str] | None) -> httpx.Response:
        self._limiter.acquire()
        self._count("request_count")
        kw: dict[str, Any] = {"system": SYSTEM, "method": method, "path": path}
        try:
            response = self._http.request(method, self.base_url + path, json=json, params=params, headers=self._headers)
        except httpx.TimeoutException:
            raise TransportError(f"Gradient did not answer {method} {path} within {self._timeout:g} s", **kw) from None
        except httpx.UnsupportedProtocol:
            raise ConfigurationError(f"Gradient URL {self.base_url!r} has an unsupported scheme") from None
        except httpx.TransportError as exc:
            raise TransportError(
                f"the connection to Gradient ({self.base_url}) failed during {method} {path}: "
                f"{type(exc).__name__} {exc}".rstrip(),
                **kw,
            ) from None
        except httpx.InvalidURL:
            raise UserInputError(f"Gradient URL {self.base_url!r} is not valid") from None
        if response.status_code == 429:
            self._count("rate_limited_count")
        raise_for_response(response)
        return response

    def _wait_before_retry(self, error: RetriableError, attempt: int) -> None:
        self._count("retry_count")
        if isinstance(error, RateLimited):
            delay = error.retry_after if error.retry_after is not None else backoff_delay(attempt, rng=self._rng)
            delay = min(delay, self.max_wait)
            pause = getattr(self._limiter, "pause", None)
            if callable(pause):
                pause(delay)  # every thread sharing the limiter holds off, not just this one
                return
            self._sleep(delay)
            return
        self._sleep(min(backoff_delay(attempt, rng=self._rng), self.max_wait))

    def _request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._attempt(method, path, json, params)
            except RetriableError as error:
                if attempt == self.max_attempts:
                    error.message = error.args[0] + f" (gave up after {attempt} attempts)"
                    error.args = (error.message,)
                    raise
                self._wait_before_retry(error, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = self._request(method, path, **kw)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise RequestRejected(
                f"Gradient answered {method} {path} with something that is not JSON: is {self.base_url} "
                "the Gradient API?",
                system=SYSTEM,
                status_code=response.status_code,
                method=method,
                path=path,
            ) from None

    @staticmethod
    def _malformed(what: str, exc: ValidationError) -> NoReturn:
        raise RequestRejected(f"Gradient's answer for {what} has an unexpected shape: {exc.errors()[0]['msg']}")

    # ---- the API
    def get_organization(self) -> Organization:
        """Who the partner token belongs to; the cheap call that validates the credentials."""
        body = _data(self._json("GET", f"{API}/organization"))
        try:
            return Organization.model_validate(body or {})
        except ValidationError as exc:
            self._malformed("the organization", exc)

    def set_status(self, status: GradientStatus | str) -> None:
        try:
            value = GradientStatus(status)  # case-sensitive, as Gradient is
        except ValueError:
            choices = ", ".join(s.value for s in GradientStatus)
            raise UserInputError(f"Gradient status {status!r} is not one of {choices}") from None
        self._request("PATCH", f"{API}/organization/status/{value.value}")

    def get_vendor(self) -> Vendor:
        """The vendor profile with its services (``skus``)."""
        body = _data(self._json("GET", API))
        try:
            return Vendor.model_validate(body or {})
        except ValidationError as exc:
            self._malformed("the vendor profile", exc)

    def get_service(self, service_id: str) -> Service:
        body = _data(self._json("GET", f"{API}/service/{_segment(service_id)}"))
        try:
            return Service.model_validate(body)
        except ValidationError as exc:
            self._malformed(f"service {service_id}", exc)

    def create_service(self, *, name: str, description: str, category: str, subcategory: str) -> Service:
        """Create one service; Gradient answers with the vendor and all its services: ours is the newest of that name."""
        payload = {"name": name, "description": description, "category": category, "subcategory": subcategory}
        body = _data(self._json("POST", f"{API}/service", json=payload))
        try:
            if isinstance(body, dict) and "skus" in body:
                matches = [s for s in Vendor.model_validate(body).skus if s.name == name]
                if matches:
                    return matches[-1]
            elif isinstance(body, dict) and body.get("name") == name and (body.get("id") or body.get("_id")):
                return Service.model_validate(body)
        except ValidationError as exc:
            self._malformed(f"the new service {name!r}", exc)
        # an answer without the service: read the vendor profile to learn its id
        matches = [s for s in self.get_vendor().skus if s.name == name]
        if not matches:
            raise RequestRejected(f"Gradient accepted the service {name!r} but does not list it", system=SYSTEM)
        return matches[-1]

    def list_accounts(self) -> list[Account]:
        body = _data(self._json("GET", f"{API}/organization/accounts"))
        if body is None:
            return []
        if not isinstance(body, list):
            raise RequestRejected("Gradient's answer for the account list is not a list", system=SYSTEM)
        try:
            return [Account.model_validate(item) for item in body]
        except ValidationError as exc:
            self._malformed("the account list", exc)

    def create_accounts(self, accounts: Sequence[NewAccount]) -> None:
        """Create accounts in one call. Raises ``AccountsAlreadyExist`` when Gradient answers 409."""
        if not accounts:
            return
        try:
            self._request("POST", f"{API}/organization/accounts", json=[a.payload() for a in accounts])
        except RequestRejected as exc:
            if exc.status_code == 409:
                raise AccountsAlreadyExist(
                    exc.message, system=SYSTEM, status_code=409, method=exc.method, path=exc.path
                ) from None
            raise

    def rename_account(self, account_id: str, name: str, description: str | None = None) -> None:
        body = {"name": name}
        if description is not None:
            body["description"] = description
        self._request("PATCH", f"{API}/organization/accounts/{_segment(account_id)}", json=body)

    def set_unit_count(self, service_id: str, account_id: str, unit_count: int, *, no_build: bool) -> None:
        """Set (not add) the account's count for the service. ``no_build=True`` on every call of a bulk push
        but the last. Raises ``NotMappedInGradient`` when the MSP has not mapped the pair."""
        if isinstance(unit_count, bool) or not isinstance(unit_count, int) or unit_count < 0:
            # Gradient refuses null/non-numbers ("unitCount must be a number"); never let one out
            raise UserInputError(
                f"the unit count for Gradient account {account_id!r} must be a whole number of 0 or more, "
                f"not {unit_count!r} (send 0 for a company without billable users)"
            )
        path = f"{API}/service/{_segment(service_id)}/count"
        params = {"no_build": "true"} if no_build else None
        try:
            self._request("POST", path, json={"accountId": account_id, "unitCount": unit_count}, params=params)
        except RecordNotFound as exc:
            raise NotMappedInGradient(
                f"account {account_id!r} is not mapped in Gradient for service {service_id!r} "
                f"(map it in Synthesize; Gradient said: {_tail(exc.message)})",
                account_id=account_id,
                service_id=service_id,
                system=SYSTEM,
                status_code=404,
                method=exc.method,
                path=exc.path,
            ) from None


def _tail(message: str) -> str:
    return message.split(": ", 1)[1] if ": " in message else message


__all__ = [
    "DEFAULT_URL",
    "AccountsAlreadyExist",
    "GradientClient",
    "NotMappedInGradient",
    "raise_for_response",
    "shared_limiter",
    "token_header",
]
