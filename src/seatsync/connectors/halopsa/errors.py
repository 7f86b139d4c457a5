"""One error policy for HaloPSA: its five error-body shapes, translated into ``seatsync.errors``.

HaloPSA answers errors in several shapes, depending on the layer that refused the request:

    "a bare JSON string"                                   (rate limit, some validation)
    {"ClassName": "System.Exception", "Message": "..."}    (.NET exceptions)
    {"Message": "..."}                                     (ASP.NET, e.g. an expired token)
    {"resultCode": 1, "errorMessage": "..."}               (business rules)
    {"error": "invalid_client", "error_description": "..."} (the token endpoint, OAuth style)

``remote_message`` reads any of them (and plain text); ``error_for_response`` picks the class.
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
    RateLimited,
    RecordNotFound,
    RequestRejected,
    ServerError,
    TransportError,
)

SYSTEM = "HaloPSA"
RATE_LIMIT_MESSAGE = "Rate Limit Reached - 300 Requests per rolling 5 minute window"


class Permission(enum.StrEnum):
    """An API scope the billing push needs. HaloPSA grants a call only when the application's scope *and*
    the login agent's rights both allow it, so each names both places to look."""

    READ_CUSTOMERS = "read:customers"
    READ_ITEMS = "read:items"
    READ_LICENCES = "read:softwarelicensing"
    EDIT_LICENCES = "edit:softwarelicensing"

    @property
    def words(self) -> str:
        return _WORDS[self]

    @property
    def agent_right(self) -> str:
        """Where the agent's side of this permission is set (the agent's or its role's access levels)."""
        return _AGENT[self]

    def advice(self) -> str:
        return (
            f"{self.words}: give the API application the scope {self.value} (Configuration › Integrations › "
            f"Halo API › the application › Permissions) and its login agent {self.agent_right}"
        )


_WORDS = {
    Permission.READ_CUSTOMERS: "read customers",
    Permission.READ_ITEMS: "read items",
    Permission.READ_LICENCES: "read software licensing",
    Permission.EDIT_LICENCES: "edit software licensing",
}
_AGENT = {
    Permission.READ_CUSTOMERS: "read access to Customers",
    Permission.READ_ITEMS: "read access to Products (Items)",
    Permission.READ_LICENCES: "Software Licensing access level Read",
    Permission.EDIT_LICENCES: "Software Licensing access level Read and Modify",
}


def _words_of(body: Any) -> str:
    if isinstance(body, str):
        return body.strip()
    if isinstance(body, dict):
        for key in ("error_description", "errorMessage", "Message", "message", "error", "ClassName"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        if "resultCode" in body:
            return f"result code {body['resultCode']}"
    if isinstance(body, list) and body:
        return "; ".join(_words_of(item) for item in body[:5] if _words_of(item))
    return ""


def remote_message(response: httpx.Response) -> str:
    """HaloPSA's own words, whichever of its error shapes the body has; the raw text when not JSON."""
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text else response.reason_phrase
    return _words_of(body)[:300] or response.reason_phrase


def oauth_error(response: httpx.Response) -> str | None:
    """The OAuth ``error`` code of a token-endpoint answer (``invalid_client``, ``invalid_scope`` ...)."""
    try:
        body: Any = response.json()
    except ValueError:
        return None
    value = body.get("error") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def error_for_token_response(response: httpx.Response) -> ConnectorError:
    """A refused client-credentials token request."""
    where: dict[str, Any] = {
        "system": SYSTEM,
        "status_code": response.status_code,
        "method": "POST",
        "path": response.request.url.path,
    }
    said = remote_message(response)
    code = oauth_error(response)
    if response.status_code == 429 or response.status_code >= 500:
        return error_for_response(response, record="a token")
    if code in ("invalid_client", "unauthorized_client", "invalid_grant") or response.status_code == 401:
        return AuthenticationFailed(
            "HaloPSA refused the API application's client id and secret (check them, that the application's "
            "authentication method is 'Client ID and Secret (Services)', that it is active, and on hosted Halo "
            f"the tenant name). HaloPSA said: {said}",
            **where,
        )
    if code == "invalid_scope":
        return PermissionDenied(f"HaloPSA refused the scopes asked for. HaloPSA said: {said}", **where)
    return RequestRejected(f"HaloPSA refused the token request (HTTP {response.status_code}): {said}", **where)


def error_for_response(
    response: httpx.Response, *, record: str | None = None, permission: Permission | None = None
) -> ConnectorError:
    """The error a non-2xx API answer means. ``record`` names what was asked for, ``permission`` what it needs."""
    request = response.request
    method, path = request.method, request.url.path
    where: dict[str, Any] = {"system": SYSTEM, "status_code": response.status_code, "method": method, "path": path}
    what = record or f"{method} {path}"
    said = remote_message(response)
    status = response.status_code
    if status == 401:
        return AuthenticationFailed(
            "HaloPSA refused the access token even after a new one was fetched; check that the API application "
            f"is still active and its login agent enabled. HaloPSA said: {said}",
            **where,
        )
    if status == 403:
        needed = permission.advice() if permission else "a permission this call needs"
        return PermissionDenied(
            f"HaloPSA refused {what}: the application's scopes or its login agent's rights lack {needed}. "
            f"HaloPSA said: {said}",
            right=str(permission) if permission else None,
            **where,
        )
    if status == 404:
        return RecordNotFound(f"HaloPSA has no {what} (deleted, or the id is wrong). HaloPSA said: {said}", **where)
    if status == 429:
        return RateLimited(
            f"HaloPSA is rate-limiting requests ({said})",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            **where,
        )
    if status >= 500:
        return ServerError(f"HaloPSA failed {method} {path} with HTTP {status}: {said}", **where)
    return RequestRejected(f"HaloPSA refused {what} (HTTP {status}): {said}", **where)


def error_for_exception(exc: httpx.HTTPError, *, method: str, path: str) -> TransportError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else f"failed ({type(exc).__name__})"
    return TransportError(
        f"the request to HaloPSA ({method} {path}) {kind}; the connection may be down or the server slow",
        system=SYSTEM,
        method=method,
        path=path,
    )
