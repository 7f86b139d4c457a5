"""Connecting a tenant to Autotask PSA: stored API user, the permission check, and clients for others.

    result = connect(session, tenant=t, username=..., secret=..., integration_code=...)  # stores and checks
    client = client_for(session, tenant=t)       # an AutotaskClient from what is stored, paced per tenant

The permission check changes nothing in Autotask: reads for the read permissions, and for the write
permissions creates Autotask must refuse *after* checking the security level (an adjustment without an
effective date, a contract note without a title). A failed check never replaces working credentials.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.orm import Session

from seatsync.config import Settings, get_settings
from seatsync.connectors.autotask import (
    DEFAULT_ZONE_URL,
    AutotaskClient,
    EndpointSlots,
    HourlyBudget,
    Permission,
    zone_origin,
)
from seatsync.db.models import Integration, Tenant
from seatsync.errors import (
    AuthenticationFailed,
    ConnectorError,
    PermissionDenied,
    RecordNotFound,
    RequestRejected,
)
from seatsync.services import psa_connection
from seatsync.services.psa_connection import IntegrationStatus, RightStatus

KIND = "autotask"
#: every permission the billing integration needs, in the order they are checked
REQUIRED_PERMISSIONS: tuple[Permission, ...] = tuple(Permission)


@dataclass(frozen=True, slots=True)
class PermissionCheck:
    permission: Permission
    status: RightStatus
    detail: str = ""

    @property
    def setting(self) -> str:
        """What to grant, e.g. ``contract services adjust (Contracts › Contracts: Edit (All) ...)``."""
        return f"{self.permission} ({self.permission.where})"

    def __str__(self) -> str:
        return f"{self.status.value:<9} {self.setting}" + (f" — {self.detail}" if self.detail else "")


@dataclass(slots=True)
class ConnectionResult:
    status: IntegrationStatus
    reason: str | None
    checks: list[PermissionCheck] = field(default_factory=list)
    #: a failed check left the working credentials stored before it in place
    kept_previous: bool = False

    @property
    def missing(self) -> list[Permission]:
        return [c.permission for c in self.checks if c.status is RightStatus.MISSING]


_DENIED = "Autotask refused it: grant this on the API user's security level"


def _read(client: AutotaskClient, entity: str, permission: Permission) -> tuple[PermissionCheck, int | None]:
    try:
        page = next(client.query_pages(entity, include_fields=["id"], page_size=1, permission=permission))
    except PermissionDenied:
        return PermissionCheck(permission, RightStatus.MISSING, _DENIED), None
    except AuthenticationFailed:
        raise
    except ConnectorError as exc:
        return PermissionCheck(permission, RightStatus.UNCHECKED, f"the probe failed: {exc}"), None
    if not page.items:
        return PermissionCheck(permission, RightStatus.PRESENT, f"no {entity.lower()} are visible to this user"), None
    return PermissionCheck(permission, RightStatus.PRESENT), int(page.items[0]["id"])


def _refused_create(client: AutotaskClient, path: str, permission: Permission) -> PermissionCheck:
    """POST a body Autotask must refuse; only the security level decides whether it says "permission"."""
    try:
        client.create(path, {}, record=f"a permission probe ({path}, nothing is created)", permission=permission)
    except PermissionDenied:
        return PermissionCheck(permission, RightStatus.MISSING, _DENIED)
    except (RequestRejected, RecordNotFound):
        return PermissionCheck(
            permission, RightStatus.PRESENT, "an empty create passed the security check and was refused"
        )
    except AuthenticationFailed:
        raise
    except ConnectorError as exc:
        return PermissionCheck(permission, RightStatus.UNCHECKED, f"the probe failed: {exc}")
    return PermissionCheck(
        permission, RightStatus.PRESENT, "Autotask accepted an empty create (check it for a stray record)"
    )


def check_permissions(client: AutotaskClient) -> list[PermissionCheck]:
    """Probe every permission in ``REQUIRED_PERMISSIONS`` without changing data. Raises AuthenticationFailed."""
    companies, _ = _read(client, "Companies", Permission.COMPANIES_READ)
    contracts, contract_id = _read(client, "Contracts", Permission.CONTRACTS_READ)
    adjust = _refused_create(client, "/ContractServiceAdjustments", Permission.CONTRACT_SERVICES_ADJUST)
    notes = _refused_create(client, f"/Contracts/{contract_id or 0}/Notes", Permission.CONTRACT_NOTES_ADD)
    checks = {c.permission: c for c in (companies, contracts, adjust, notes)}
    return [checks[p] for p in REQUIRED_PERMISSIONS]


# -- pacing ------------------------------------------------------------------------------------------------

_pacing_lock = threading.Lock()
_pacing: dict[int, tuple[HourlyBudget, EndpointSlots]] = {}


def tenant_pacing(tenant_id: int, settings: Settings) -> tuple[HourlyBudget, EndpointSlots]:
    """One hourly budget and one set of endpoint slots per tenant in this process, shared by its clients."""
    with _pacing_lock:
        found = _pacing.get(tenant_id)
        if found is None or found[0].share != settings.autotask_budget_share:
            found = (HourlyBudget(settings.autotask_budget_share), EndpointSlots())
            _pacing[tenant_id] = found
        return found


# -- stored credentials ------------------------------------------------------------------------------------


def _build_client(
    *,
    tenant: Tenant,
    username: str,
    secret: str,
    integration_code: str,
    zone_url: str,
    api_base: str | None,
    transport: httpx.BaseTransport | None,
    settings: Settings,
    options: dict[str, Any],
) -> AutotaskClient:
    budget, slots = tenant_pacing(tenant.id, settings)
    options.setdefault("budget", budget)
    options.setdefault("slots", slots)
    return AutotaskClient(
        username=username,
        secret=secret,
        integration_code=integration_code,
        zone_url=zone_url,
        api_base=api_base,
        transport=transport,
        **options,
    )


def _run_check(client: AutotaskClient) -> tuple[ConnectionResult, str | None]:
    try:
        zone = client.zone_information()  # looked up again each time: a tenant can move zone
        checks = check_permissions(client)
    except ConnectorError as exc:
        return ConnectionResult(IntegrationStatus.BROKEN, str(exc)), None
    missing = [c for c in checks if c.status is RightStatus.MISSING]
    if missing:
        names = "; ".join(c.setting for c in missing)
        return ConnectionResult(
            IntegrationStatus.BROKEN, f"the API user's security level lacks: {names}", checks
        ), zone.api_base
    return ConnectionResult(IntegrationStatus.CONNECTED, None, checks), zone.api_base


def _permissions(result: ConnectionResult) -> dict[str, Any]:
    # the last check's permissions, shown on the Integrations page after its redirect (as ConnectWise's rights)
    return {
        "permissions": [{"permission": c.setting, "status": c.status.value, "detail": c.detail} for c in result.checks],
        "missing_permissions": [str(p) for p in result.missing],
    }


def connect(
    session: Session,
    *,
    tenant: Tenant,
    username: str,
    secret: str,
    integration_code: str,
    zone_url: str = DEFAULT_ZONE_URL,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
    client_options: dict[str, Any] | None = None,
) -> ConnectionResult:
    """Check the API user and every permission, then store it (secret and integration code sealed).

    When the check fails and the tenant already has working credentials, those stay (the new ones are
    dropped, ``kept_previous`` says so); with none working, the new ones are stored as ``broken`` so the
    operator can fix the security level and re-check.
    """
    settings = settings or get_settings()
    origin = zone_origin(zone_url)
    client = _build_client(
        tenant=tenant,
        username=username,
        secret=secret,
        integration_code=integration_code,
        zone_url=origin,
        api_base=None,
        transport=transport,
        settings=settings,
        options=dict(client_options or {}),
    )
    with client:
        result, api_base = _run_check(client)
    if not psa_connection.store_checked(
        session,
        tenant=tenant,
        kind=KIND,
        values={"zone_url": origin, "username": client.username, "api_base": api_base, **_permissions(result)},
        secret={"secret": secret.strip(), "integration_code": integration_code.strip()},
        result=result,
        settings=settings,
    ):
        result.kept_previous = True
        result.reason = f"{result.reason}; the working credentials stored before were kept"
    return result


def check_connection(
    session: Session,
    *,
    tenant: Tenant,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
) -> ConnectionResult:
    """Re-run the check on the stored credentials (the web page's "Check connection") and record it."""
    with client_for(session, tenant=tenant, transport=transport, settings=settings) as client:
        result, api_base = _run_check(client)
    found = {"api_base": api_base} if api_base else {}
    psa_connection.recheck(session, tenant=tenant, kind=KIND, result=result, shown=_permissions(result), found=found)
    return result


def get_integration(session: Session, *, tenant: Tenant) -> Integration | None:
    return psa_connection.integration_of(session, tenant, KIND)


def mark_broken(session: Session, *, tenant: Tenant, reason: str) -> None:
    """The stored credentials were refused (401 during a push): ``broken`` with the reason, until checked again."""
    psa_connection.mark_broken(session, tenant=tenant, kind=KIND, reason=reason)


def disconnect(session: Session, *, tenant: Tenant) -> bool:
    """Forget the secret and integration code (the user name and zone stay, to pre-fill a reconnect).
    Returns whether anything was connected."""
    return psa_connection.forget_secret(session, tenant=tenant, kind=KIND)


def client_for(
    session: Session,
    *,
    tenant: Tenant,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
    **client_options: Any,
) -> AutotaskClient:
    """An AutotaskClient from the tenant's stored credentials, paced by the tenant's hourly budget.

    ``client_options`` go to ``AutotaskClient`` (``timeout``, ``retry``, ``sleep``, ``budget`` ...).
    Close the client when done (``with client_for(...) as client:``).
    """
    settings = settings or get_settings()
    integration, sealed = psa_connection.open_stored(
        session, tenant=tenant, kind=KIND, system="Autotask", settings=settings
    )
    stored = integration.settings
    return _build_client(
        tenant=tenant,
        username=stored["username"],
        secret=sealed["secret"],
        integration_code=sealed["integration_code"],
        zone_url=stored["zone_url"],
        api_base=stored.get("api_base"),
        transport=transport,
        settings=settings,
        options=dict(client_options),
    )


__all__ = [
    "KIND",
    "REQUIRED_PERMISSIONS",
    "ConnectionResult",
    "IntegrationStatus",
    "PermissionCheck",
    "RightStatus",
    "check_connection",
    "check_permissions",
    "client_for",
    "connect",
    "disconnect",
    "get_integration",
    "mark_broken",
    "tenant_pacing",
]
