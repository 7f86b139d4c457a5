"""One HTTP policy for every connector: where requests may go, pacing, retries and what answers mean.

    http = HttpClient(CONNECTWISE, limiter=TokenBucket(1000, 60), transport=None)
    response = http.send("GET", url, record="companies", right=Right.COMPANY_INQUIRE)

Every connector (ConnectWise, Gradient, Autotask, HaloPSA) sends through an ``HttpClient``:

- **Outbound hosts** (``OutboundHosts``): a request goes only to the remote system's own public API hosts
  (``RemoteSystem.public_hosts``, HTTPS on the default port) or to an address the operator of the installation
  allowed in ``SEATSYNC_ALLOWED_HOSTS`` (``host``, ``host:port``, or a CIDR such as ``10.0.0.0/8``). The check
  runs in the transport, so it covers every request the client sends (next-page links, discovered zone URLs),
  and redirects are never followed. A refused address raises ``HostNotAllowed`` before anything is sent.
- **Pacing**: each attempt takes a token from the connector's limiter (``connectors.limits`` in one process,
  ``jobs.limiter`` across workers) and a slot of its concurrency limit. A 429 pauses the limiter for the
  Retry-After (every thread sharing it holds off) and holds this client's own threads too.
- **Retries** (``RetryPolicy``, run by ``tenacity``): 429 honouring ``Retry-After`` given in seconds or as an
  HTTP date; 5xx and transport failures with jittered exponential back-off. A request that is not idempotent is
  retried only when it cannot have been processed (the connection was never made).
- **Answers** (``error_for_status``): any non-2xx answer becomes a ``seatsync.errors`` class carrying the system,
  method, URL path and status. Only the remote system's structured JSON message is quoted (short, one line);
  a body that is not JSON is never echoed. Transport failures all read "could not reach ...", whatever the cause
  (refused, reset, timed out), so the words do not tell an open port from a closed one. A system whose answers
  mean more than their status (Autotask's refusals sent as HTTP 500) refines the error in one small hook
  (``RemoteSystem.refine``); a call with its own refusals (a token endpoint, a zone look-up) passes ``translate``.
- **Hooks** a connector may add, nothing else: ``pacing`` (what an attempt holds while it is sent: Autotask's
  hourly budget and endpoint slots), ``renew`` (after a 401, renew the credentials or the address once and send
  again: HaloPSA's token, Autotask's zone) and ``once_or_found`` (a creation that may have landed is looked for
  before it is sent again).
- **Paging**: small pure classes (``Paging``); ``LinkPaging`` follows ``Response.links["next"]``.
"""

from __future__ import annotations

import ipaddress
import json as jsonlib
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from fnmatch import fnmatchcase
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlsplit

import httpx
import tenacity

from seatsync.connectors.limits import RateLimiter, Unlimited
from seatsync.errors import (
    AmbiguousAnswer,
    AuthenticationFailed,
    ConfigurationError,
    ConnectorError,
    HostNotAllowed,
    PermissionDenied,
    RateLimited,
    RecordNotFound,
    RequestRejected,
    RetriableError,
    ServerError,
    TransportError,
)

log = logging.getLogger(__name__)

#: how much of a remote system's own (JSON) message is quoted in an error
MESSAGE_LIMIT = 200
ALLOWED_HOSTS_VARIABLE = "SEATSYNC_ALLOWED_HOSTS"
#: the JSON keys a remote system's message is read from, in this order (ConnectWise and Gradient ``message``,
#: HaloPSA's .NET ``Message`` and business-rule ``errorMessage``, OAuth ``error_description`` and ``error``)
MESSAGE_KEYS = ("message", "Message", "errorMessage", "error_description", "error", "code")

T = TypeVar("T")
F = TypeVar("F")
E = TypeVar("E", bound=ConnectorError)

#: a system's refinement of the shared reading of an answer: ``(answer, error, what was asked, right)`` -> error
Refine = Callable[[httpx.Response, ConnectorError, str, str | None], ConnectorError]
#: one call's own reading of its refusals (a token endpoint's): ``(answer, error)`` -> error
Translate = Callable[[httpx.Response, ConnectorError], ConnectorError]
#: what one attempt holds while it is sent, from its method and URL (a budget's share, an endpoint's slot)
Pacing = Callable[[str, str], AbstractContextManager[object]]
#: after a 401: renew what was refused (a token, a zone) and say whether sending again can help
Renew = Callable[[AuthenticationFailed], bool]


@dataclass(frozen=True, slots=True)
class RemoteSystem:
    """What the policy needs to know about one remote system."""

    #: "ConnectWise": in messages and in every error's ``system``
    name: str
    #: host patterns of its public API (``*.myconnectwise.net``): reachable over HTTPS without the operator's word
    public_hosts: tuple[str, ...]
    #: what a tenant admin calls the address they gave ("site", "URL")
    address: str = "URL"
    #: advice after a 401
    unauthorized: str = "check the credentials"
    #: advice after a 403 when the call does not name the right it needs
    forbidden: str = "the credentials lack a right this call needs"
    #: advice after a 403 when it does (``{right}`` is replaced)
    lacks_right: str = "the API user lacks {right}"
    #: an example of a public address, for the refusal message
    example: str = ""
    #: advice after a 403 naming the right, when a template is not enough (where the right is granted)
    right_advice: Callable[[str], str] | None = None
    #: the system's own reading of an answer, applied after the shared one (``Refine``)
    refine: Refine | None = None


# The public API hosts of each target (shared/reference: connectwise-manage.md, gradient-msp.md, autotask-psa.md,
# halopsa.md). Connectors build their ``RemoteSystem`` from these.
CONNECTWISE_HOSTS = ("*.myconnectwise.net", "*.connectwisedev.com")
GRADIENT_HOSTS = ("app.usegradient.com",)
AUTOTASK_HOSTS = ("*.autotask.net",)
HALOPSA_HOSTS = ("*.halopsa.com",)


# -- outbound hosts -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _HostEntry:
    host: str
    port: int | None


class OutboundHosts:
    """The addresses one remote system's requests may go to: its public hosts, and what the operator allowed."""

    def __init__(self, system: RemoteSystem, allowed: Iterable[str] = ()) -> None:
        self.system = system
        self._names: list[_HostEntry] = []
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for raw in allowed:
            entry = raw.strip()
            if entry:
                self._add(entry)

    def _add(self, entry: str) -> None:
        try:
            self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            return
        except ValueError:
            pass
        host, port = entry, None
        bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", entry)
        if bracketed:
            host, port = bracketed.group(1), int(bracketed.group(2)) if bracketed.group(2) else None
        elif entry.count(":") == 1:
            host, _, port_text = entry.partition(":")
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ConfigurationError(f"{ALLOWED_HOSTS_VARIABLE}: {entry!r} has no valid port (host:port)")
            port = int(port_text)
        if not re.fullmatch(r"(\*\.)?[A-Za-z0-9_.\-]+|[0-9A-Fa-f:.]+", host):
            raise ConfigurationError(
                f"{ALLOWED_HOSTS_VARIABLE}: {entry!r} is not a host, host:port or CIDR (e.g. cw.example.com, "
                "cw.example.com:8443, 10.0.0.0/8)"
            )
        self._names.append(_HostEntry(host.lower().rstrip("."), port))

    def permits(self, url: httpx.URL) -> bool:
        host = (url.host or "").lower().rstrip(".")
        if not host or url.scheme not in ("http", "https"):
            return False
        port = url.port or (443 if url.scheme == "https" else 80)
        if (
            url.scheme == "https"
            and port == 443
            and not _is_ip(host)
            and any(_host_matches(host, pattern) for pattern in self.system.public_hosts)
        ):
            return True
        for entry in self._names:
            if _host_matches(host, entry.host) and entry.port in (None, port):
                return True
        if self._networks:
            addresses = _addresses(host)
            return bool(addresses) and all(any(a in net for net in self._networks) for a in addresses)
        return False

    def check(self, url: httpx.URL | str) -> None:
        """Raise ``HostNotAllowed`` unless ``url`` may be called."""
        url = httpx.URL(url) if isinstance(url, str) else url
        if self.permits(url):
            return
        public = self.system.example or (self.system.public_hosts[0] if self.system.public_hosts else "")
        hint = f"a {self.system.name} host such as {public} (over HTTPS)" if public else f"a {self.system.name} host"
        raise HostNotAllowed(
            f"requests to {url.host or str(url)!r} are not allowed: the {self.system.name} "
            f"{self.system.address} must be {hint}, or an address the operator of this installation allowed "
            f"({ALLOWED_HOSTS_VARIABLE})",
            system=self.system.name,
        )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_matches(host: str, pattern: str) -> bool:
    # "*.example.com" matches any name under example.com (never example.com itself, nor a dotted prefix trick)
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and fnmatchcase(host, pattern)
    return host == pattern


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    found = []
    for info in infos:
        try:
            found.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return found


class GuardedTransport(httpx.BaseTransport):
    """Refuses (``HostNotAllowed``) any request to an address ``hosts`` does not permit, before it is sent."""

    def __init__(self, inner: httpx.BaseTransport, hosts: OutboundHosts) -> None:
        self.inner = inner
        self.hosts = hosts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.check(request.url)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


# -- answers ------------------------------------------------------------------------------------------------

#: methods that change nothing: an answer to one that cannot be read is a failed read, never an ambiguous write
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_write(method: str) -> bool:
    """Whether a request with ``method`` may change something remote (its lost answer is ambiguous)."""
    return method.upper() not in SAFE_METHODS


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def remote_message(response: httpx.Response) -> str:
    """The remote system's own words from a JSON error body: a JSON string, the first of ``MESSAGE_KEYS``, and
    each entry of ``errors`` (a string or ``{message, field}``); a list of such bodies is read item by item.

    Anything that is not JSON gives ``""``: a body is never quoted as it came (it could be any page of any
    server). The message is one line of at most ``MESSAGE_LIMIT`` characters.
    """
    try:
        body: Any = jsonlib.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        return ""
    said = " ".join("; ".join(p.strip() for p in _words(body) if p and p.strip()).split())
    return said if len(said) <= MESSAGE_LIMIT else said[: MESSAGE_LIMIT - 1] + "…"


def _words(body: Any, depth: int = 0) -> list[str]:
    if isinstance(body, str):
        return [body]
    if isinstance(body, list) and depth == 0:
        return [word for item in body[:5] for word in _words(item, 1)]
    if not isinstance(body, dict):
        return []
    parts: list[str] = []
    message = next((body[key] for key in MESSAGE_KEYS if body.get(key)), None)
    if isinstance(message, list):
        parts.extend(str(m) for m in message if isinstance(m, str | int | float))
    elif isinstance(message, str | int | float):
        parts.append(str(message))
    for item in body.get("errors") or []:
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict) and isinstance(item.get("message"), str):
            field = f" ({item['field']})" if isinstance(item.get("field"), str) else ""
            parts.append(f"{item['message']}{field}")
    return parts


def error_for_status(
    response: httpx.Response, *, system: RemoteSystem, record: str | None = None, right: str | None = None
) -> ConnectorError | None:
    """The error a non-2xx answer means (``None`` for 2xx). ``record`` names what was asked for, ``right`` what
    the call needs (named in a 403). The system's ``refine`` hook has the last word."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    what = record or f"{response.request.method} {response.request.url.path}"
    error = _shared_reading(response, system, what, right)
    return system.refine(response, error, what, right) if system.refine is not None else error


def _shared_reading(response: httpx.Response, system: RemoteSystem, what: str, right: str | None) -> ConnectorError:
    status = response.status_code
    request = response.request
    method, path = request.method, request.url.path
    where: dict[str, Any] = {"system": system.name, "status_code": status, "method": method, "path": path}
    message = remote_message(response)
    said = f" {system.name} said: {message}" if message else ""
    name = system.name
    # the standard phrase of the status, never the server's own status line
    http = f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
    if status == 401:
        return AuthenticationFailed(f"{name} refused the credentials (401): {system.unauthorized}.{said}", **where)
    if status == 403:
        return PermissionDenied(
            f"{name} refused {what} (403): {_needed(system, right)}.{said}",
            right=str(right) if right else None,
            **where,
        )
    if status == 404:
        return RecordNotFound(f"{name} has no {what} (deleted, or the id is wrong).{said}", **where)
    if status == 429:
        return RateLimited(
            f"{name} is rate-limiting requests (429) on {method} {path}.{said}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            **where,
        )
    if status >= 500:
        return ServerError(f"{name} failed {method} {path} with {http}.{said}", **where)
    if 300 <= status < 400:
        return RequestRejected(
            f"{name} answered {method} {path} with a redirect ({http}); seatsync does not follow redirects: "
            f"check the {system.address}",
            **where,
        )
    return RequestRejected(f"{name} refused {what} ({http}).{said}", **where)


def _needed(system: RemoteSystem, right: str | None) -> str:
    if not right:
        return system.forbidden
    if system.right_advice is not None:
        return system.right_advice(right)
    return system.lacks_right.format(right=right)


def restate(error: ConnectorError, kind: type[E], message: str, **extra: Any) -> E:
    """``error``'s answer read as ``kind`` (a system's ``refine``): the same system, status, method and path."""
    return kind(
        message, system=error.system, status_code=error.status_code, method=error.method, path=error.path, **extra
    )


def unreachable(system: RemoteSystem, request: httpx.Request, *, maybe_processed: bool = True) -> TransportError:
    """The one error for every transport failure: the words never say refused, reset or timed out."""
    method, path = request.method, request.url.path
    return TransportError(
        f"could not reach the {system.name} {system.address} {request.url.host} ({method} {path}); "
        "check the address, or try again later",
        maybe_processed=maybe_processed,
        system=system.name,
        method=method,
        path=path,
    )


# -- retries ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long a connector retries (the same rules for every connector; the numbers may differ)."""

    #: retries after a 5xx or a transport failure
    max_retries: int = 5
    #: waits after a 429
    max_rate_limit_waits: int = 20
    #: a 429 asking to wait longer than this is raised at once
    max_retry_after: float = 300.0
    #: full-jitter exponential back-off after a failure: uniform(0, min(cap, base × 2^(n-1)))
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    #: after a 429 without Retry-After: min(cap, base × 2^(n-1)) + uniform(0, jitter): at least the back-off
    rate_limit_base: float = 1.0
    rate_limit_cap: float = 30.0
    rate_limit_jitter: float = 1.0


class _Attempts:
    """One logical request's retry bookkeeping, the callbacks ``tenacity.Retrying`` calls."""

    def __init__(self, client: HttpClient, *, idempotent: bool, renew: Renew | None) -> None:
        self.client = client
        self.policy = client.retry
        self.idempotent = idempotent
        self.renew = renew
        self.renewed = False
        self.failures = 0
        self.rate_limited = 0
        self.failure_backoff = tenacity.wait_random_exponential(
            multiplier=self.policy.backoff_base, max=self.policy.backoff_cap
        )
        self.rate_limit_backoff = tenacity.wait_exponential(
            multiplier=self.policy.rate_limit_base, max=self.policy.rate_limit_cap
        ) + tenacity.wait_random(0, self.policy.rate_limit_jitter)

    def retry(self, state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, AuthenticationFailed):
            # once: a new token, or the zone the tenant moved to; a second 401 is the answer
            if self.renew is None or self.renewed:
                return False
            self.renewed = True
            return self.renew(exc)
        if isinstance(exc, RateLimited):
            if exc.status_code is None:
                return False  # refused on this side by a pacing hook that waited all it may (Autotask's budget)
            self.rate_limited += 1
            return True
        if isinstance(exc, RetriableError) and (
            self.idempotent or (isinstance(exc, TransportError) and not exc.maybe_processed)
        ):
            self.failures += 1
            return True
        return False

    def wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, AuthenticationFailed):
            return 0.0
        if isinstance(exc, RateLimited):
            if exc.retry_after is not None:
                return exc.retry_after
            return float(self.rate_limit_backoff(_numbered(state, self.rate_limited)))
        return float(self.failure_backoff(_numbered(state, self.failures)))

    def stop(self, state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, AuthenticationFailed):
            return False  # renewed once (``retry``)
        if isinstance(exc, RateLimited):
            return self.rate_limited > self.policy.max_rate_limit_waits or state.upcoming_sleep > (
                self.policy.max_retry_after
            )
        return self.failures > self.policy.max_retries

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.client._count_retry()
        if isinstance(exc, AuthenticationFailed):
            log.info("%s refused the credentials: renewed, sending again", self.client.system.name)
        elif isinstance(exc, RateLimited):
            log.info("%s rate limit: holding off %.1f s", self.client.system.name, state.upcoming_sleep)
            self.client.hold(state.upcoming_sleep)
        else:
            self.client.sleep(state.upcoming_sleep)

    def give_up(self, state: tenacity.RetryCallState) -> Any:
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, ConnectorError)
        exc.message = f"{exc.message} (gave up after {state.attempt_number} attempts)"
        exc.args = (exc.message,)
        raise exc


def _numbered(state: tenacity.RetryCallState, n: int) -> tenacity.RetryCallState:
    # tenacity's back-off reads ``attempt_number``: give it this kind's count (429s and failures are apart)
    copy = tenacity.RetryCallState(state.retry_object, state.fn, state.args, state.kwargs)
    copy.attempt_number = max(1, n)
    return copy


# -- paging -------------------------------------------------------------------------------------------------


class Paging(Protocol):
    """How a list is walked: the first page's query, and the next one's from an answer (``None``: done)."""

    def first(self, params: Mapping[str, Any]) -> dict[str, Any]: ...

    def following(
        self, params: Mapping[str, Any], response: httpx.Response, items: Sequence[Any]
    ) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class LinkPaging:
    """``page``/``pageSize`` queries; the next page is ``Response.links["next"]`` (RFC 8288 ``Link`` header).

    Only the next link's query is taken: the request keeps its own origin and path, so a link cannot send the
    client elsewhere."""

    page_size: int
    page_param: str = "page"
    size_param: str = "pageSize"

    def first(self, params: Mapping[str, Any]) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        query.update({self.page_param: 1, self.size_param: self.page_size})
        return query

    def following(
        self, params: Mapping[str, Any], response: httpx.Response, items: Sequence[Any]
    ) -> dict[str, Any] | None:
        link = response.links.get("next", {}).get("url")
        if not link or not items:
            return None
        return dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))


# -- the client ---------------------------------------------------------------------------------------------


class HttpClient:
    """Sends requests for one remote system under the one policy. Thread-safe; ``close()`` it (or use ``with``)."""

    def __init__(
        self,
        system: RemoteSystem,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        concurrency: int | threading.Semaphore | None = None,
        pacing: Pacing | None = None,
        retry: RetryPolicy | None = None,
        allowed_hosts: Sequence[str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if allowed_hosts is None:
            from seatsync.config import get_settings

            allowed_hosts = get_settings().allowed_hosts
        self.system = system
        self.hosts = OutboundHosts(system, allowed_hosts)
        self.retry = retry or RetryPolicy()
        self.limiter: RateLimiter = limiter or Unlimited()
        if isinstance(concurrency, int):
            concurrency = threading.BoundedSemaphore(concurrency)
        self._slots = concurrency
        self._pacing = pacing
        self.sleep = sleep
        self._monotonic = monotonic
        self.timeout = timeout
        self._http = httpx.Client(
            transport=GuardedTransport(transport or httpx.HTTPTransport(), self.hosts),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
        )
        self._lock = threading.Lock()
        self._hold_until = 0.0  # monotonic instant before which this client's threads do not send (a 429)
        self._served = threading.local()  # the hold this thread has already waited out
        #: requests sent (retries included), 429 answers seen, retries made: read by benchmarks and tests
        self.requests_sent = 0
        self.rate_limited = 0
        self.retries = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, url: httpx.URL | str) -> None:
        """Refuse (``HostNotAllowed``) an address before any request is made to it."""
        self.hosts.check(url)

    # -- pacing

    def hold(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (a 429's Retry-After): the shared limiter is paused when it can be (every
        thread and worker sharing it holds off), this client's other threads wait at their next attempt, and the
        calling thread waits it out here unless the limiter will make it wait."""
        with self._lock:
            until = self._hold_until = max(self._hold_until, self._monotonic() + seconds)
        pause = getattr(self.limiter, "pause", None)
        if callable(pause):
            pause(seconds)
        else:
            self.sleep(seconds)
        self._served.until = until

    def _wait_for_hold(self) -> None:
        # threads that took a token before a 429 arrived must still honour its Retry-After
        while True:
            with self._lock:
                until = self._hold_until
            if until <= getattr(self._served, "until", 0.0):
                return  # this thread already waited for it (see ``hold``)
            wait = until - self._monotonic()
            if wait <= 0:
                return
            self.sleep(wait)
            with self._lock:
                if self._hold_until <= until:  # not extended by another 429 meanwhile
                    return

    def _count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    # -- sending

    def attempts(self, *, idempotent: bool = True, renew: Renew | None = None) -> tenacity.Retrying:
        """The retry loop of one logical request, for a caller that must act between attempts (build the URL or
        the headers again, look for what an earlier attempt may have created):
        ``for attempt in http.attempts(): with attempt: ...``. ``renew`` is called after a 401, once: when it
        answers true the request is sent again at once (a new token, the zone the tenant moved to)."""
        state = _Attempts(self, idempotent=idempotent, renew=renew)
        return tenacity.Retrying(
            retry=state.retry,
            wait=state.wait,
            stop=state.stop,
            before_sleep=state.before_sleep,
            sleep=lambda _seconds: None,  # before_sleep waited (or held the limiter)
            retry_error_callback=state.give_up,
        )

    def send(
        self,
        method: str,
        url: str,
        *,
        record: str | None = None,
        right: str | None = None,
        idempotent: bool = True,
        translate: Translate | None = None,
        **request: Any,
    ) -> httpx.Response:
        """Send one logical request with retries; return a 2xx answer or raise ``seatsync.errors`` only.

        ``request`` is passed to ``httpx.Client.request`` (``params``, ``json``, ``data``, ``files``,
        ``content``, ``headers``)."""
        response: httpx.Response = self.attempts(idempotent=idempotent)(
            self.send_once, method, url, record=record, right=right, translate=translate, **request
        )
        return response

    def send_once(
        self,
        method: str,
        url: str,
        *,
        record: str | None = None,
        right: str | None = None,
        translate: Translate | None = None,
        **request: Any,
    ) -> httpx.Response:
        """One attempt, paced: a 2xx answer, or the error it means (``translate`` has the last word)."""
        self.limiter.acquire()
        self._wait_for_hold()
        started = time.monotonic()
        error: TransportError | None = None
        with self._pacing(method, url) if self._pacing else nullcontext(), self._slots or nullcontext():
            with self._lock:
                self.requests_sent += 1
            try:
                response = self._http.request(method, url, **request)
            except httpx.HTTPError as exc:
                # a connection never made cannot have been processed: safe to repeat even a POST
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                sent = exc.request if _has_request(exc) else httpx.Request(method, url)
                error = unreachable(self.system, sent, maybe_processed=not never_sent)
                log.debug("%s %s failed: %s", method, urlsplit(url).path, type(exc).__name__)
        if error is not None:
            raise error  # outside the handler: no httpx error rides along as its context
        log.debug(
            "%s %s -> %s in %.0f ms",
            method,
            response.url.path,
            response.status_code,
            (time.monotonic() - started) * 1e3,
        )
        failure = error_for_status(response, system=self.system, record=record, right=right)
        if failure is None:
            return response
        if translate is not None:
            failure = translate(response, failure)
        if isinstance(failure, RateLimited):
            with self._lock:
                self.rate_limited += 1
        raise failure

    def once_or_found(self, post: Callable[[], T], find: Callable[[], F | None]) -> T | F:
        """A creation that is not idempotent (``post`` sends with ``idempotent=False``: repeated inside only when
        it cannot have landed), under the retry policy: each attempt after the first looks for what an earlier
        one may have created, its answer lost (``find``), and takes it instead of creating it twice."""
        for attempt in self.attempts():
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    existing = find()
                    if existing is not None:
                        return existing
                return post()
        raise AssertionError("unreachable")  # pragma: no cover - tenacity returns or raises

    def json(self, response: httpx.Response) -> Any:
        """The answer's JSON (``None`` for an empty body). A body that is not JSON raises ``RequestRejected``
        for a read, and ``AmbiguousAnswer`` for a write (it reached the server and may have been carried out:
        the caller reads back before trying again)."""
        if not response.content.strip():
            return None
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            kind = response.headers.get("content-type", "no content type").split(";", 1)[0]
            method, path = response.request.method, response.request.url.path
            where: dict[str, Any] = {
                "system": self.system.name,
                "status_code": response.status_code,
                "method": method,
                "path": path,
            }
            said = f"{self.system.name} answered {method} {path} with something that is not JSON ({kind}, "
            said += f"{len(response.content)} bytes)"
            if is_write(method):
                raise AmbiguousAnswer(f"{said}; the change may have been made", **where) from None
            raise RequestRejected(f"{said}: is the {self.system.name} {self.system.address} right?", **where) from None

    def unreadable(self, response: httpx.Response, what: str, why: str) -> ConnectorError:
        """The error for a 2xx answer whose JSON lacks what it should say (``why``): ``AmbiguousAnswer`` for a
        write (it may have been carried out), ``RequestRejected`` for a read."""
        method, path = response.request.method, response.request.url.path
        said = f"{self.system.name} answered {method} {path} with a {what} seatsync cannot read: {why}"
        where: dict[str, Any] = {
            "system": self.system.name,
            "status_code": response.status_code,
            "method": method,
            "path": path,
        }
        if is_write(method):
            return AmbiguousAnswer(f"{said}; the change may have been made", **where)
        return RequestRejected(said, **where)

    def pages(
        self, method: str, url: str, paging: Paging, *, params: Mapping[str, Any] | None = None, **send: Any
    ) -> Iterable[tuple[httpx.Response, list[Any]]]:
        """Each page of a list as ``(answer, items)``; the JSON answer must be a list."""
        query: dict[str, Any] | None = paging.first(params or {})
        while query is not None:
            response = self.send(method, url, params=query, **send)
            items = self.json(response)
            if not isinstance(items, list):
                raise RequestRejected(
                    f"{self.system.name} answered a list request ({response.request.url.path}) with a non-list",
                    system=self.system.name,
                    method=method,
                    path=response.request.url.path,
                )
            yield response, items
            query = paging.following(query, response, items)


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - httpx raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


__all__ = [
    "ALLOWED_HOSTS_VARIABLE",
    "AUTOTASK_HOSTS",
    "CONNECTWISE_HOSTS",
    "GRADIENT_HOSTS",
    "HALOPSA_HOSTS",
    "MESSAGE_KEYS",
    "SAFE_METHODS",
    "GuardedTransport",
    "HttpClient",
    "LinkPaging",
    "OutboundHosts",
    "Pacing",
    "Paging",
    "Refine",
    "RemoteSystem",
    "Renew",
    "RetryPolicy",
    "Translate",
    "error_for_status",
    "is_write",
    "parse_retry_after",
    "remote_message",
    "restate",
    "unreachable",
]
