"""One error policy: translate a ConnectWise answer into ``seatsync.errors`` (no httpx error leaks past here)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from seatsync.errors import (
    AuthenticationFailed,
    ConnectorError,
    PermissionDenied,
    RateLimited,
    RecordNotFound,
    RequestRejected,
    ServerError,
    TransportError,
)

SYSTEM = "ConnectWise"


class Right(enum.StrEnum):
    """Security-role settings (System › Security Roles) the billing integration needs, as ConnectWise names them."""

    COMPANY_INQUIRE = "Companies › Company Maintenance › Inquire Level (All)"
    ATTACHMENTS_ADD = "Companies › Manage Attachments › Add Level (All)"
    ATTACHMENTS_INQUIRE = "Companies › Manage Attachments › Inquire Level (All)"
    AGREEMENTS_INQUIRE = "Finance › Agreements › Inquire Level (All)"
    AGREEMENTS_EDIT = "Finance › Agreements › Edit Level (All)"
    CATALOG_INQUIRE = "Procurement › Product Catalog › Inquire Level (All)"
    CATALOG_ADD = "Procurement › Product Catalog › Add Level (All)"
    # service-desk tickets (optional: only with a board chosen)
    TICKETS_INQUIRE = "Service Desk › Service Tickets › Inquire Level (All)"
    TICKETS_ADD = "Service Desk › Service Tickets › Add Level (All)"
    TICKETS_EDIT = "Service Desk › Service Tickets › Edit Level (All)"


def remote_message(response: httpx.Response) -> str:
    """ConnectWise's own words: ``message`` plus each ``errors[].message``; the raw text when not JSON."""
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text else response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:300]
    parts = [str(body.get("message") or body.get("code") or body.get("error") or "").strip()]
    for item in body.get("errors") or []:
        if isinstance(item, dict) and item.get("message"):
            field = f" ({item['field']})" if item.get("field") else ""
            parts.append(f"{item['message']}{field}")
    return "; ".join(p for p in parts if p) or response.reason_phrase


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_for_response(
    response: httpx.Response, *, record: str | None = None, right: Right | str | None = None
) -> ConnectorError:
    """The error a non-2xx answer means. ``record`` names what was asked for, ``right`` what the call needs."""
    request = response.request
    method, path = request.method, request.url.path
    where = {"system": SYSTEM, "status_code": response.status_code, "method": method, "path": path}
    what = record or f"{method} {path}"
    said = remote_message(response)
    status = response.status_code
    if status == 401:
        return AuthenticationFailed(
            "ConnectWise rejected the credentials (company id, public and private key); "
            f"check them and that the API member is not inactive. ConnectWise said: {said}",
            **where,  # type: ignore[arg-type]
        )
    if status == 403:
        needed = f"the security-role setting {right}" if right else "a right this call needs"
        return PermissionDenied(
            f"ConnectWise refused {what}: the API member's security role lacks {needed}; "
            f"grant it in System › Security Roles. ConnectWise said: {said}",
            right=str(right) if right else None,
            **where,
        )
    if status == 404:
        return RecordNotFound(
            f"ConnectWise has no {what} (deleted, or the id is wrong). ConnectWise said: {said}",
            **where,  # type: ignore[arg-type]
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(
            f"ConnectWise is rate-limiting requests ({said})",
            retry_after=retry_after,
            **where,
        )
    if status >= 500:
        return ServerError(
            f"ConnectWise failed {method} {path} with HTTP {status}: {said}",
            **where,  # type: ignore[arg-type]
        )
    return RequestRejected(
        f"ConnectWise refused {what} (HTTP {status}): {said}",
        **where,  # type: ignore[arg-type]
    )


def error_for_exception(exc: httpx.HTTPError, *, method: str, path: str) -> TransportError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else f"failed ({type(exc).__name__})"
    return TransportError(
        f"the request to ConnectWise ({method} {path}) {kind}; the connection may be down or the server slow",
        system=SYSTEM,
        method=method,
        path=path,
    )
