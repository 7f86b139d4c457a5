"""Connecting a tenant to HaloPSA: the stored API application, the permission check, and clients for others.

    result = connect(session, tenant=t, url="https://acme.halopsa.com", client_id=..., client_secret=...,
                     halo_tenant="acme")          # checks, then stores (secret sealed)
    client = client_for(session, tenant=t)        # a HaloPSAClient from what is stored

HaloPSA grants a call only when the application's scopes *and* its login agent's rights both allow it. The
check reads the token's scopes, then probes each permission: reads for the read permissions, and for "edit
software licensing" a save of one subscription exactly as it is (HaloPSA only updates what changed), or an
empty save when no subscription is visible. A permission the scopes lack is named as a scope; one the scopes
have but HaloPSA still refuses is named as the agent's right. A failed check never replaces working
credentials: they stay stored and in use, and the new ones are dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.orm import Session

from seatsync.config import Settings, get_settings
from seatsync.connectors.halopsa import (
    HaloPSAClient,
    Permission,
    SoftwareLicence,
    base_url,
    default_auth_url,
    licence_update,
    rolling_window_limiter,
)
from seatsync.connectors.limits import TokenBucket
from seatsync.db.models import Integration, Tenant
from seatsync.errors import AuthenticationFailed, ConfigurationError, ConnectorError, PermissionDenied
from seatsync.services import psa_connection
from seatsync.services.psa_connection import IntegrationStatus, RightStatus

KIND = "halopsa"
#: every permission the billing push needs, in the order they are checked
REQUIRED_PERMISSIONS: tuple[Permission, ...] = (
    Permission.READ_CUSTOMERS,
    Permission.READ_ITEMS,
    Permission.READ_LICENCES,
    Permission.EDIT_LICENCES,
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
    "integration",
]


@dataclass(frozen=True, slots=True)
class PermissionCheck:
    permission: Permission
    status: RightStatus
    detail: str = ""

    @property
    def setting(self) -> str:
        return self.permission.words

    def __str__(self) -> str:
        return f"{self.status.value:<9} {self.setting} ({self.permission.value})" + (
            f" — {self.detail}" if self.detail else ""
        )


@dataclass(slots=True)
class ConnectionResult:
    status: IntegrationStatus
    reason: str | None
    checks: list[PermissionCheck] = field(default_factory=list)
    #: False when the check failed and the working credentials already stored were kept
    stored: bool = True

    @property
    def missing(self) -> list[Permission]:
        return [c.permission for c in self.checks if c.status is RightStatus.MISSING]


def _scope_grants(scopes: frozenset[str], permission: Permission) -> bool:
    return "all" in scopes or "all:standard" in scopes or permission.value in scopes


def _refused(permission: Permission, scopes: frozenset[str]) -> PermissionCheck:
    if not _scope_grants(permission=permission, scopes=scopes):
        shown = " ".join(sorted(scopes)) or "none"
        detail = f"the API application lacks the scope {permission.value} (its token has: {shown})"
    else:
        detail = f"the application has the scope, but HaloPSA refused: give its login agent {permission.agent_right}"
    return PermissionCheck(permission, RightStatus.MISSING, detail)


def _probe(permission: Permission, scopes: frozenset[str], probe: Any) -> tuple[PermissionCheck, Any]:
    try:
        value = probe()
    except PermissionDenied:
        return _refused(permission, scopes), None
    except AuthenticationFailed:
        raise
    except ConnectorError as exc:
        return PermissionCheck(permission, RightStatus.UNCHECKED, f"the probe failed: {exc}"), None
    return PermissionCheck(permission, RightStatus.PRESENT), value


def _first_licence(client: HaloPSAClient) -> SoftwareLicence | None:
    page = next(
        client.iter_pages("SoftwareLicence", permission=Permission.READ_LICENCES, record="subscriptions", page_size=1)
    )
    return SoftwareLicence.model_validate(page[0]) if page else None


def check_permissions(client: HaloPSAClient) -> list[PermissionCheck]:
    """Probe every permission in ``REQUIRED_PERMISSIONS`` without changing any data. Raises AuthenticationFailed."""
    scopes = client.check_token().scopes
    customers, _ = _probe(
        Permission.READ_CUSTOMERS, scopes, lambda: client.count("Client", permission=Permission.READ_CUSTOMERS)
    )
    items, _ = _probe(Permission.READ_ITEMS, scopes, lambda: client.count("Item", permission=Permission.READ_ITEMS))
    licences, first = _probe(Permission.READ_LICENCES, scopes, lambda: _first_licence(client))
    edit = Permission.EDIT_LICENCES
    if not _scope_grants(scopes, edit):
        editing = _refused(edit, scopes)  # no need to ask HaloPSA
    elif first is not None:
        # saved exactly as it is: HaloPSA only updates what changed, so nothing changes
        editing, _ = _probe(edit, scopes, lambda: client.upsert_licences([licence_update(first, count=first.count)]))
        if editing.status is RightStatus.PRESENT:
            editing = PermissionCheck(edit, RightStatus.PRESENT, "a subscription saved unchanged was accepted")
    else:
        editing, _ = _probe(edit, scopes, client.probe_licence_edit)
        if editing.status is RightStatus.PRESENT:
            editing = PermissionCheck(
                edit,
                RightStatus.PRESENT,
                "an empty save was accepted (no subscription is visible to save unchanged; "
                "whether HaloPSA checks the agent's rights on an empty save is unconfirmed)",
            )
    return [customers, items, licences, editing]


# -- stored credentials ------------------------------------------------------------------------------------

_pacing_lock = threading.Lock()
_pacing: dict[tuple[int, int, float], TokenBucket] = {}


def tenant_limiter(tenant_id: int, settings: Settings) -> TokenBucket:
    """One rolling-window pacer per tenant (and limit) in this process, shared by all its HaloPSA clients."""
    key = (tenant_id, settings.halopsa_rate_limit, settings.halopsa_rate_window)
    with _pacing_lock:
        found = _pacing.get(key)
        if found is None:
            found = _pacing[key] = rolling_window_limiter(settings.halopsa_rate_limit, settings.halopsa_rate_window)
        return found


def integration(session: Session, *, tenant: Tenant) -> Integration | None:
    return psa_connection.integration_of(session, tenant, KIND)


def _build_client(
    *,
    tenant: Tenant,
    stored: dict[str, Any],
    client_secret: str,
    transport: httpx.BaseTransport | None,
    settings: Settings,
    options: dict[str, Any],
) -> HaloPSAClient:
    options.setdefault("limiter", tenant_limiter(tenant.id, settings))
    return HaloPSAClient(
        url=stored["url"],
        auth_url=stored.get("auth_url"),
        halo_tenant=stored.get("halo_tenant"),
        client_id=stored["client_id"],
        client_secret=client_secret,
        transport=transport,
        settings=settings,
        **options,
    )


def _run_check(client: HaloPSAClient) -> ConnectionResult:
    try:
        checks = check_permissions(client)
    except ConnectorError as exc:
        return ConnectionResult(IntegrationStatus.BROKEN, str(exc))
    missing = [c for c in checks if c.status is RightStatus.MISSING]
    if missing:
        names = "; ".join(f"{c.setting} ({c.detail})" for c in missing)
        return ConnectionResult(IntegrationStatus.BROKEN, f"HaloPSA refuses: {names}", checks)
    return ConnectionResult(IntegrationStatus.CONNECTED, None, checks)


def _permissions(result: ConnectionResult) -> dict[str, Any]:
    # the last check's permissions, shown on the Integrations page after its redirect (as ConnectWise's rights)
    return {
        "permissions": [
            {"permission": c.setting, "scope": c.permission.value, "status": c.status.value, "detail": c.detail}
            for c in result.checks
        ],
        "missing_permissions": [p.value for p in result.missing],
    }


def connect(
    session: Session,
    *,
    tenant: Tenant,
    url: str,
    client_id: str,
    client_secret: str,
    auth_url: str | None = None,
    halo_tenant: str | None = None,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
    client_options: dict[str, Any] | None = None,
) -> ConnectionResult:
    """Check the application and every permission, then store it (secret sealed) and record the status.

    When the check fails and the tenant already has working credentials, those are kept (``stored=False``);
    otherwise the new ones are stored even when broken, so the operator can fix the rights and check again.
    """
    settings = settings or get_settings()
    if not client_id.strip() or not client_secret.strip():
        raise ConfigurationError("the HaloPSA application's client id and secret are both needed")
    stored = {
        "url": base_url(url),
        "auth_url": base_url(auth_url) if auth_url else default_auth_url(url),
        "halo_tenant": (halo_tenant or "").strip() or None,
        "client_id": client_id.strip(),
    }
    with _build_client(
        tenant=tenant,
        stored=stored,
        client_secret=client_secret,
        transport=transport,
        settings=settings,
        options=dict(client_options or {}),
    ) as client:
        result = _run_check(client)
    if not psa_connection.store_checked(
        session,
        tenant=tenant,
        kind=KIND,
        values={**stored, **_permissions(result)},
        secret={"client_secret": client_secret.strip()},
        result=result,
        settings=settings,
    ):
        result.stored = False
        result.reason = f"{result.reason}; the new credentials were not stored, the working ones are kept"
    return result


def check_connection(
    session: Session,
    *,
    tenant: Tenant,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
) -> ConnectionResult:
    """Re-run the check on the stored application (the web page's "Check connection") and record it."""
    with client_for(session, tenant=tenant, transport=transport, settings=settings) as client:
        result = _run_check(client)
    psa_connection.recheck(session, tenant=tenant, kind=KIND, result=result, shown=_permissions(result), found={})
    return result


def disconnect(session: Session, *, tenant: Tenant) -> bool:
    """Forget the secret (the non-secret settings stay, to pre-fill a reconnect; mappings and history stay)."""
    return psa_connection.forget_secret(session, tenant=tenant, kind=KIND)


def client_for(
    session: Session,
    *,
    tenant: Tenant,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
    **client_options: Any,
) -> HaloPSAClient:
    """A HaloPSAClient from the tenant's stored application, paced by the tenant's shared limiter.

    ``client_options`` go to ``HaloPSAClient`` (``timeout``, ``retry``, ``sleep``, ``limiter`` ...).
    """
    settings = settings or get_settings()
    row, secret = psa_connection.open_stored(session, tenant=tenant, kind=KIND, system="HaloPSA", settings=settings)
    return _build_client(
        tenant=tenant,
        stored=row.settings,
        client_secret=secret["client_secret"],
        transport=transport,
        settings=settings,
        options=dict(client_options),
    )
