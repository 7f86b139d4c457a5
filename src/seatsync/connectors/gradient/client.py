"""A thin, synchronous client of Gradient MSP's Synthesize vendor API (see docs/gradient.md).

One ``GradientClient`` per partner token, on the shared HTTP policy (``connectors.http``): every call passes the
installation-wide rate limiter (Gradient answers 429 above 100 requests a second per vendor key), retries what is
worth retrying (429 honouring Retry-After, 5xx, timeouts, dropped connections) with jittered back-off, and turns
everything else into ``seatsync.errors`` through ``error_for_status``. Requests go only to Gradient's public API
(``https://app.usegradient.com``) or to an address the operator allowed (``SEATSYNC_ALLOWED_HOSTS``); httpx errors
never leak; the token never appears in a repr, message or log line. The client is thread-safe: several threads
may share it (and its counters).
"""

from __future__ import annotations

import base64
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
from seatsync.connectors.http import GRADIENT_HOSTS, HttpClient, RemoteSystem, RetryPolicy, error_for_status
from seatsync.connectors.limits import RateLimiter, TokenBucket
from seatsync.errors import (
    ConfigurationError,
    RecordNotFound,
    RequestRejected,
    UserInputError,
)

DEFAULT_URL = "https://app.usegradient.com"
SYSTEM = "Gradient"
API = "/api/vendor-api"

GRADIENT = RemoteSystem(
    name=SYSTEM,
    public_hosts=GRADIENT_HOSTS,
    address="URL",
    example="app.usegradient.com",
    unauthorized="the partner token was rejected or expired; generate a new token in Synthesize (Integrations) "
    "and connect again",
    forbidden="Gradient reports an anomaly with this API usage; contact Gradient support if it persists",
)

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


def raise_for_response(response: httpx.Response) -> None:
    """Return for 2xx, else raise the matching ``seatsync.errors`` class (the shared ``error_for_status``)."""
    error = error_for_status(response, system=GRADIENT)
    if error is not None:
        raise error


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
        limiter: RateLimiter | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        allowed_hosts: Sequence[str] | None = None,
    ) -> None:
        if not vendor_key:
            raise ConfigurationError(
                "the Gradient vendor API key is not set: set SEATSYNC_GRADIENT_VENDOR_KEY for this installation"
            )
        if not partner_token:
            raise UserInputError("the Gradient partner token is empty: paste the token generated in Synthesize")
        try:
            parts = urlsplit(base_url.strip())
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise UserInputError(f"Gradient URL {base_url!r} is not valid (e.g. {DEFAULT_URL})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserInputError(f"Gradient URL {base_url!r} is not an http(s) URL (e.g. {DEFAULT_URL})")
        if parts.username is not None or parts.path.strip("/") or parts.query or parts.fragment:
            raise UserInputError(
                f"Gradient URL {base_url!r} must be an origin only, without a path (e.g. {DEFAULT_URL})"
            )
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self._headers = {
            "GRADIENT-TOKEN": token_header(vendor_key, partner_token),
            "Accept": "application/json",
        }
        if limiter is None:
            from seatsync.config import get_settings

            limiter = shared_limiter(get_settings().gradient_rate_limit)
        self._http = HttpClient(
            GRADIENT,
            transport=transport,
            timeout=timeout,
            limiter=limiter,
            retry=retry,
            allowed_hosts=allowed_hosts,
            sleep=sleep,
        )
        self._http.check(self.base_url)  # a URL nobody allowed is refused before any request

    def __repr__(self) -> str:
        return f"GradientClient(base_url={self.base_url!r}, token=<hidden>)"

    # ---- counters: requests sent (retries included), 429 answers seen, retries made (benchmarks, run records)
    @property
    def request_count(self) -> int:
        return self._http.requests_sent

    @property
    def rate_limited_count(self) -> int:
        return self._http.rate_limited

    @property
    def retry_count(self) -> int:
        return self._http.retries

    # ---- lifecycle
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GradientClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- transport
    def _request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        return self._http.send(method, self.base_url + path, json=json, params=params, headers=self._headers)

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return self._http.json(self._request(method, path, **kw))

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
