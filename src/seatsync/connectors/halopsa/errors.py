"""What the shared HTTP policy needs to know about HaloPSA: its five error-body shapes, its permissions, its token.

HaloPSA answers errors in several shapes, depending on the layer that refused the request:

    "a bare JSON string"                                   (rate limit, some validation)
    {"ClassName": "System.Exception", "Message": "..."}    (.NET exceptions)
    {"Message": "..."}                                     (ASP.NET, e.g. an expired token)
    {"resultCode": 1, "errorMessage": "..."}               (business rules)
    {"error": "invalid_client", "error_description": "..."} (the token endpoint, OAuth style)

The shared policy (``connectors.http``) reads every one of them (``remote_message``) and picks the class
(``error_for_status``); what is HaloPSA's own is here: the permissions it names, and the token endpoint's refusals.
"""

from __future__ import annotations

import enum
from typing import Any

import httpx

from seatsync.connectors.http import HALOPSA_HOSTS, RemoteSystem, remote_message, restate
from seatsync.errors import (
    AuthenticationFailed,
    ConnectorError,
    PermissionDenied,
    RateLimited,
    RequestRejected,
    ServerError,
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


def lacks(right: str) -> str:
    """The advice after a 403 naming ``right`` (a ``Permission``): both places HaloPSA looks."""
    try:
        advice = Permission(right).advice()
    except ValueError:
        advice = right
    return f"the application's scopes or its login agent's rights lack {advice}"


def oauth_error(response: httpx.Response) -> str | None:
    """The OAuth ``error`` code of a token-endpoint answer (``invalid_client``, ``invalid_scope`` ...)."""
    try:
        body: Any = response.json()
    except ValueError:
        return None
    value = body.get("error") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def token_refusal(response: httpx.Response, error: ConnectorError) -> ConnectorError:
    """A refused client-credentials token request (the token call's ``translate``): 429 and 5xx stay the shared
    policy's (retried), any other refusal names what to check."""
    if isinstance(error, RateLimited | ServerError):
        return error
    said = remote_message(response)
    said = f" HaloPSA said: {said}" if said else ""
    code = oauth_error(response)
    if code in ("invalid_client", "unauthorized_client", "invalid_grant") or response.status_code == 401:
        return restate(
            error,
            AuthenticationFailed,
            "HaloPSA refused the API application's client id and secret (check them, that the application's "
            "authentication method is 'Client ID and Secret (Services)', that it is active, and on hosted Halo "
            f"the tenant name).{said}",
        )
    if code == "invalid_scope":
        return restate(error, ScopeRefused, f"HaloPSA refused the scopes asked for.{said}")
    return restate(error, RequestRejected, f"HaloPSA refused the token request (HTTP {response.status_code}).{said}")


class ScopeRefused(PermissionDenied):
    """The token endpoint refused the scopes asked for (``invalid_scope``): ask for the application's own."""


#: where the client may send requests and what its answers mean (``connectors.http``): the five body shapes
#: above are read by the shared ``remote_message``
HALOPSA = RemoteSystem(
    name=SYSTEM,
    public_hosts=HALOPSA_HOSTS,
    address="URL",
    example="yourcompany.halopsa.com",
    unauthorized="the access token was refused even after a new one was fetched; check that the API application "
    "is still active and its login agent enabled",
    forbidden="the application's scopes or its login agent's rights lack a permission this call needs",
    right_advice=lacks,
)
