"""What the shared HTTP policy (``connectors.http``) needs to know about Autotask, and the permissions it names.

Autotask answers errors as ``{"errors": ["...", ...]}`` (strings; some versions send ``{message, field}``
objects), which the shared ``remote_message`` reads. Besides 401/403/404/429 it uses HTTP 500 for many refusals
a retry cannot fix: a missing permission ("does not have the adequate permissions"), a missing record ("No
matching records found"), an edit inside an approved and posted contract period. ``refine`` (the system's hook
into ``error_for_status``) recognises those by their words; any other 500 stays a server failure worth retrying.
A 429 without Retry-After waits a minute.
"""

from __future__ import annotations

import enum

import httpx

from seatsync.connectors.http import AUTOTASK_HOSTS, RemoteSystem, remote_message, restate
from seatsync.errors import ConnectorError, PermissionDenied, PostedPeriod, RateLimited, RecordNotFound

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


def lacks(right: str) -> str:
    """The advice after a refusal naming ``right`` (a ``Permission``)."""
    try:
        where = f" ({Permission(right).where})"
    except ValueError:
        where = ""
    return f"the API user's security level lacks the permission '{right}'{where}"


def _says(said: str, words: tuple[str, ...]) -> bool:
    lowered = said.casefold()
    return any(word in lowered for word in words)


def refine(response: httpx.Response, error: ConnectorError, what: str, right: str | None) -> ConnectorError:
    """Autotask's refusals sent as HTTP 500, read by their words; a minute's wait for a 429 that names none."""
    if isinstance(error, RateLimited) and error.retry_after is None:
        error.retry_after = DEFAULT_RETRY_AFTER
        return error
    if response.status_code != 500:
        return error
    said = remote_message(response)
    if _says(said, _PERMISSION_WORDS):
        needed = lacks(right) if right else "a permission this call needs"
        return restate(
            error, PermissionDenied, f"Autotask refused {what}: {needed}. Autotask said: {said}", right=right
        )
    if _says(said, _NOT_FOUND_WORDS):
        return restate(
            error, RecordNotFound, f"Autotask has no {what} (deleted, or the id is wrong). Autotask said: {said}"
        )
    if _says(said, _POSTED_WORDS):
        return restate(
            error,
            PostedPeriod,
            f"Autotask refused {what}: the contract period is already approved and posted, so its units cannot "
            f"change; bill the difference in the next open period (or un-post it in Autotask). Autotask said: {said}",
        )
    return error


#: where the client may send requests and what its answers mean (``connectors.http``)
AUTOTASK = RemoteSystem(
    name=SYSTEM,
    public_hosts=AUTOTASK_HOSTS,
    address="zone URL",
    example="webservices.autotask.net",
    unauthorized="it rejected the API user (user name, secret or integration code); check them, and that the API "
    "user is active and on an API-only security level",
    forbidden="the API user's security level lacks a permission this call needs",
    right_advice=lacks,
    refine=refine,
)
