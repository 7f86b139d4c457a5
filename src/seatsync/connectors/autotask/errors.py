"""One error policy: translate an Autotask answer into ``seatsync.errors`` (no httpx error leaks past here).

Autotask answers errors as ``{"errors": ["...", ...]}`` (strings; some versions send ``{message, field}``
objects). Besides 401/403/404/429 it uses HTTP 500 for many refusals a retry cannot fix: a missing
permission ("does not have the adequate permissions"), a missing record ("No matching records found"),
an edit inside an approved and posted contract period, and business-rule violations. Those are recognised
by their words; any other 500 is taken as a server failure worth retrying.
"""

from __future__ import annotations

import enum
from typing import Any

import httpx

from seatsync.connectors.http import parse_retry_after
from seatsync.errors import (
    AuthenticationFailed,
    ConnectorError,
    PermissionDenied,
    PostedPeriod,
    RateLimited,
    RecordNotFound,
    RequestRejected,
    ServerError,
    TransportError,
)

SYSTEM = "Autotask"
#: clients that see a 429 without Retry-After wait a minute (go-autotask does)
DEFAULT_RETRY_AFTER = 60.0


class Permission(enum.StrEnum):
    """What the API user's security level must allow, in the words the connection check reports."""

    COMPANIES_READ = "companies read"
    CONTRACTS_READ = "contracts read"
    CONTRACT_SERVICES_ADJUST = "contract services adjust"
    CONTRACT_NOTES_ADD = "contract notes and attachments add"

    @property
    def where(self) -> str:
        """Where an Autotask administrator grants it (Admin › Account Settings & Users › Security Levels)."""
        return {
            Permission.COMPANIES_READ: "CRM › Companies: View (All)",
            Permission.CONTRACTS_READ: "Contracts › Contracts: View (All)",
            Permission.CONTRACT_SERVICES_ADJUST: "Contracts › Contracts: Edit (All) (adjusting service units)",
            Permission.CONTRACT_NOTES_ADD: "Contracts › Contract Notes and Attachments: Add",
        }[self]


_PERMISSION_WORDS = ("adequate permission", "does not have permission", "not have the permission", "not authorized")
_NOT_FOUND_WORDS = ("no matching records found",)
_POSTED_WORDS = ("approved and posted",)


def remote_messages(response: httpx.Response) -> list[str]:
    """Autotask's own words: each entry of ``errors`` (strings or ``{message, field}``), else the text."""
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text.strip()
        return [text[:300] if text else response.reason_phrase]
    found: list[str] = []
    if isinstance(body, dict):
        for item in body.get("errors") or []:
            if isinstance(item, dict):
                message = str(item.get("message") or "").strip()
                if message:
                    found.append(message + (f" ({item['field']})" if item.get("field") else ""))
            elif str(item).strip():
                found.append(str(item).strip())
        if not found and body.get("message"):
            found.append(str(body["message"]))
    return found or [response.reason_phrase or f"HTTP {response.status_code}"]


def remote_message(response: httpx.Response) -> str:
    return "; ".join(remote_messages(response))


def _says(said: str, words: tuple[str, ...]) -> bool:
    lowered = said.casefold()
    return any(word in lowered for word in words)


def error_for_response(
    response: httpx.Response, *, record: str | None = None, permission: Permission | None = None
) -> ConnectorError:
    """The error a non-2xx answer means. ``record`` names what was asked for, ``permission`` what it needs."""
    request = response.request
    method, path = request.method, request.url.path
    where: dict[str, Any] = {"system": SYSTEM, "status_code": response.status_code, "method": method, "path": path}
    what = record or f"{method} {path}"
    said = remote_message(response)
    status = response.status_code
    if status == 401:
        return AuthenticationFailed(
            "Autotask rejected the API user (user name, secret or integration code); check them, and that the "
            f"API user is active and on an API-only security level. Autotask said: {said}",
            **where,
        )
    if status == 403 or (status == 500 and _says(said, _PERMISSION_WORDS)):
        needed = f"the permission '{permission}' ({permission.where})" if permission else "a permission this call needs"
        return PermissionDenied(
            f"Autotask refused {what}: the API user's security level lacks {needed}. Autotask said: {said}",
            right=str(permission) if permission else None,
            **where,
        )
    if status == 404 or (status == 500 and _says(said, _NOT_FOUND_WORDS)):
        return RecordNotFound(f"Autotask has no {what} (deleted, or the id is wrong). Autotask said: {said}", **where)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(
            f"Autotask is limiting requests ({said})",
            retry_after=DEFAULT_RETRY_AFTER if retry_after is None else retry_after,
            **where,
        )
    if status == 500 and _says(said, _POSTED_WORDS):
        return PostedPeriod(
            f"Autotask refused {what}: the contract period is already approved and posted, so its units cannot "
            f"change; bill the difference in the next open period (or un-post it in Autotask). Autotask said: {said}",
            **where,
        )
    if status >= 500:
        return ServerError(f"Autotask failed {method} {path} with HTTP {status}: {said}", **where)
    return RequestRejected(f"Autotask refused {what} (HTTP {status}): {said}", **where)


def error_for_exception(exc: httpx.HTTPError, *, method: str, path: str) -> TransportError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else f"failed ({type(exc).__name__})"
    return TransportError(
        f"the request to Autotask ({method} {path}) {kind}; the connection may be down or the server slow",
        system=SYSTEM,
        method=method,
        path=path,
    )
