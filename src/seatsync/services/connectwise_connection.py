"""Connecting a tenant to ConnectWise Manage: stored credentials, the rights check, and clients for others.

    result = connect(session, tenant=t, site=..., company_id=..., public_key=..., private_key=...,
                     client_id=...)                       # stores (keys sealed) and checks every right
    client = client_for(session, tenant=t)                # a ConnectWiseClient from what is stored

The rights check changes nothing in ConnectWise: reads for the inquire rights, and for the write rights
requests that ConnectWise refuses *after* checking the security role (an empty JSON Patch on an existing
addition, an upload form without a file). A right that cannot be probed that way is reported unchecked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.orm import Session

from seatsync.config import Settings, get_settings
from seatsync.connectors.connectwise import ConnectWiseClient, Right
from seatsync.connectors.limits import TokenBucket
from seatsync.db.models import Integration, Tenant
from seatsync.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ConnectorError,
    PermissionDenied,
    RequestRejected,
)
from seatsync.services import psa_connection
from seatsync.services.psa_connection import IntegrationStatus as IntegrationStatus  # re-exported
from seatsync.services.psa_connection import RightStatus as RightStatus  # re-exported

KIND = "connectwise"
#: how many agreements are searched for an addition to probe Agreements › Edit on
PROBE_AGREEMENTS = 5
#: integration settings a reconnect keeps (``seatsync.services.cw_catalog``)
KEPT_SETTINGS = ("catalog",)
_DENIED = "ConnectWise answered 403: grant this in System › Security Roles, on the API member's role"


#: every right the billing integration needs, in the order they are checked
REQUIRED_RIGHTS: tuple[Right, ...] = (
    Right.COMPANY_INQUIRE,
    Right.AGREEMENTS_INQUIRE,
    Right.AGREEMENTS_EDIT,
    Right.ATTACHMENTS_INQUIRE,
    Right.ATTACHMENTS_ADD,
)


@dataclass(frozen=True, slots=True)
class RightCheck:
    right: Right
    status: RightStatus
    detail: str = ""

    @property
    def setting(self) -> str:
        """The security-role setting to change, e.g. ``Finance › Agreements › Edit Level (All)``."""
        return str(self.right)

    def __str__(self) -> str:
        return f"{self.status.value:<9} {self.setting}" + (f" — {self.detail}" if self.detail else "")


@dataclass(slots=True)
class ConnectionResult:
    status: IntegrationStatus
    reason: str | None
    checks: list[RightCheck] = field(default_factory=list)
    #: False when the new credentials failed their check and the working ones were kept instead
    stored: bool = True

    @property
    def missing(self) -> list[Right]:
        return [c.right for c in self.checks if c.status is RightStatus.MISSING]

    def summary(self) -> str:
        """One sentence for every surface (web, CLI, API)."""
        if self.status is IntegrationStatus.CONNECTED:
            return "Connected to ConnectWise: every right is granted."
        if not self.stored:
            return (
                f"The new credentials failed their check ({self.reason}); they were not stored, and the "
                "working connection is kept."
            )
        return f"Saved, but the connection is broken: {self.reason}"


#: the rights a preview needs (reads only): with these, a preview works even while a write right is missing
READ_RIGHTS: tuple[Right, ...] = (Right.COMPANY_INQUIRE, Right.AGREEMENTS_INQUIRE)


def can_read(integration: Integration | None) -> bool:
    """Connected, or broken only for want of write rights (the last check found every read right)."""
    if integration is None or integration.secret is None:
        return False
    if integration.status == IntegrationStatus.CONNECTED:
        return True
    if integration.status != IntegrationStatus.BROKEN:
        return False
    missing = (integration.settings or {}).get("missing_rights")
    return isinstance(missing, list) and bool(missing) and not {str(r) for r in READ_RIGHTS} & set(missing)


def _read(probe: Callable[[], Any], right: Right) -> tuple[RightCheck, Any]:
    """Run a read; a 403 means the right is missing. Authentication failures propagate."""
    try:
        value = probe()
    except PermissionDenied:
        return RightCheck(right, RightStatus.MISSING, _DENIED), None
    except AuthenticationFailed:
        raise
    except ConnectorError as exc:
        return RightCheck(right, RightStatus.UNCHECKED, f"the probe failed: {exc}"), None
    return RightCheck(right, RightStatus.PRESENT), value


#: the smallest ``fields`` that still answer with each record's required fields (the contract needs them)
COMPANY_FIELDS = "id,identifier,name"
AGREEMENT_FIELDS = "id,name,type,company,contact"
ADDITION_FIELDS = "id,product,billCustomer"


def _first_id(client: ConnectWiseClient, path: str, right: Right, fields: str) -> int | None:
    page = next(client.iter_pages(path, params={"fields": fields}, record=path, right=right, page_size=1))
    return int(page[0]["id"]) if page else None


def _probe_agreements_edit(client: ConnectWiseClient, agreement_ids: list[int]) -> RightCheck:
    right = Right.AGREEMENTS_EDIT
    target: tuple[int, int] | None = None
    for agreement_id in agreement_ids:
        addition_id = _first_id(
            client, f"/finance/agreements/{agreement_id}/additions", Right.AGREEMENTS_INQUIRE, ADDITION_FIELDS
        )
        if addition_id is not None:
            target = (agreement_id, addition_id)
            break
    if target is None:
        return RightCheck(
            right,
            RightStatus.UNCHECKED,
            "cannot be checked without a change: no agreement addition is visible to probe it on",
        )
    try:
        # an empty JSON Patch changes nothing; ConnectWise checks the role first, then refuses the empty list
        client.patch_addition(*target, [])
    except PermissionDenied:
        return RightCheck(right, RightStatus.MISSING, _DENIED)
    except RequestRejected:
        return RightCheck(right, RightStatus.PRESENT, "an empty patch passed the security check and was refused")
    except AuthenticationFailed:
        raise
    except ConnectorError as exc:
        return RightCheck(right, RightStatus.UNCHECKED, f"the probe failed: {exc}")
    return RightCheck(right, RightStatus.PRESENT)


def _probe_attachments_add(client: ConnectWiseClient, company_id: int | None) -> RightCheck:
    right = Right.ATTACHMENTS_ADD
    if company_id is None:
        return RightCheck(
            right, RightStatus.UNCHECKED, "cannot be checked without a change: no company is visible to probe it on"
        )
    try:
        status = client.probe_document_upload("Company", company_id)
    except PermissionDenied:
        return RightCheck(right, RightStatus.MISSING, _DENIED)
    except AuthenticationFailed:
        raise
    except ConnectorError as exc:
        return RightCheck(right, RightStatus.UNCHECKED, f"the probe failed: {exc}")
    if status in (400, 415):
        return RightCheck(
            right, RightStatus.PRESENT, "an upload without a file passed the security check and was refused"
        )
    return RightCheck(right, RightStatus.PRESENT, f"ConnectWise accepted an upload form without a file (HTTP {status})")


def check_rights(client: ConnectWiseClient) -> list[RightCheck]:
    """Probe every right in ``REQUIRED_RIGHTS`` without changing any data. Raises AuthenticationFailed."""
    companies, company_id = _read(
        lambda: _first_id(client, "/company/companies", Right.COMPANY_INQUIRE, COMPANY_FIELDS), Right.COMPANY_INQUIRE
    )
    agreements, agreement_ids = _read(
        lambda: [
            int(a["id"])
            for a in next(
                client.iter_pages(
                    "/finance/agreements",
                    params={"fields": AGREEMENT_FIELDS, "conditions": "cancelledFlag=False"},
                    record="agreements",
                    right=Right.AGREEMENTS_INQUIRE,
                    page_size=PROBE_AGREEMENTS,
                )
            )
        ],
        Right.AGREEMENTS_INQUIRE,
    )
    if agreements.status is RightStatus.PRESENT:
        edit = _probe_agreements_edit(client, agreement_ids or [])
    else:
        edit = RightCheck(
            Right.AGREEMENTS_EDIT,
            RightStatus.UNCHECKED,
            "cannot be checked without a change until Agreements › Inquire is granted",
        )
    attachments, _ = _read(lambda: client.list_documents("Company", company_id or 0), Right.ATTACHMENTS_INQUIRE)
    add = _probe_attachments_add(client, company_id)
    checks = {c.right: c for c in (companies, agreements, edit, attachments, add)}
    return [checks[r] for r in REQUIRED_RIGHTS]


# -- stored credentials ------------------------------------------------------------------------------------

_pacing_lock = threading.Lock()
_pacing: dict[int, tuple[TokenBucket, threading.BoundedSemaphore]] = {}


def tenant_pacing(tenant_id: int, settings: Settings) -> tuple[TokenBucket, threading.BoundedSemaphore]:
    """One rate limiter and one concurrency limit per tenant in this process, shared by all its clients."""
    with _pacing_lock:
        found = _pacing.get(tenant_id)
        if found is None:
            found = (
                TokenBucket(settings.connectwise_rate_limit, 60.0),
                threading.BoundedSemaphore(settings.connectwise_concurrency),
            )
            _pacing[tenant_id] = found
        return found


def _integration(session: Session, tenant: Tenant) -> Integration | None:
    return psa_connection.integration_of(session, tenant, KIND)


def _build_client(
    *,
    tenant: Tenant,
    site: str,
    company_id: str,
    public_key: str,
    private_key: str,
    client_id: str,
    codebase: str | None,
    transport: httpx.BaseTransport | None,
    settings: Settings,
    options: dict[str, Any],
) -> ConnectWiseClient:
    limiter, slots = tenant_pacing(tenant.id, settings)
    options.setdefault("rate_limiter", limiter)
    options.setdefault("concurrency", slots)
    return ConnectWiseClient(
        site=site,
        company_id=company_id,
        public_key=public_key,
        private_key=private_key,
        client_id=client_id,
        transport=transport,
        codebase=codebase,
        settings=settings,
        **options,
    )


def _run_check(client: ConnectWiseClient) -> tuple[ConnectionResult, str | None]:
    try:
        # looked up again each time: an upgraded site moves to a new codebase
        codebase = client.company_info().codebase
        client.system_info()
        checks = check_rights(client)
    except ConnectorError as exc:
        return ConnectionResult(IntegrationStatus.BROKEN, str(exc)), None
    missing = [c for c in checks if c.status is RightStatus.MISSING]
    if missing:
        names = "; ".join(c.setting for c in missing)
        reason = f"the API member's security role lacks: {names}"
        return ConnectionResult(IntegrationStatus.BROKEN, reason, checks), codebase
    return ConnectionResult(IntegrationStatus.CONNECTED, None, checks), codebase


def _rights(result: ConnectionResult) -> dict[str, Any]:
    # the last check's rights stay with the integration: the page shows them after its redirect, Preview reads them
    return {
        "missing_rights": [str(r) for r in result.missing],
        "rights": [{"right": c.setting, "status": c.status.value, "detail": c.detail} for c in result.checks],
    }


def connect(
    session: Session,
    *,
    tenant: Tenant,
    site: str,
    company_id: str,
    public_key: str,
    private_key: str,
    client_id: str | None = None,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
    client_options: dict[str, Any] | None = None,
) -> ConnectionResult:
    """Check the connection and every right with these credentials, and store them (keys sealed).

    A failed check never replaces working credentials: while the stored connection is ``connected``, new
    credentials that fail are reported (``stored=False``) and not kept. Without a working connection they are
    stored even when the check fails, so the operator can fix the role and check again.
    """
    settings = settings or get_settings()
    client_id = (client_id or settings.connectwise_client_id or "").strip()
    if not client_id:
        raise ConfigurationError(
            "a ConnectWise Client ID is required (the integration's clientId from developer.connectwise.com), "
            "unless the installation sets SEATSYNC_CONNECTWISE_CLIENT_ID"
        )
    client = _build_client(
        tenant=tenant,
        site=site,
        company_id=company_id,
        public_key=public_key,
        private_key=private_key,
        client_id=client_id,
        codebase=None,
        transport=transport,
        settings=settings,
        options=dict(client_options or {}),
    )
    with client:
        result, codebase = _run_check(client)
    result.stored = psa_connection.store_checked(
        session,
        tenant=tenant,
        kind=KIND,
        values={
            "site": client.origin,
            "company_id": client.company_id,
            "client_id": client_id,
            "codebase": codebase,
            **_rights(result),
        },
        secret={"public_key": public_key.strip(), "private_key": private_key.strip()},
        result=result,
        settings=settings,
        kept=KEPT_SETTINGS,  # choices made on other pages (the catalog products) outlive a reconnect
    )
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
        result, codebase = _run_check(client)
    found = {"codebase": codebase} if codebase else {}
    psa_connection.recheck(session, tenant=tenant, kind=KIND, result=result, shown=_rights(result), found=found)
    return result


def get_integration(session: Session, *, tenant: Tenant) -> Integration | None:
    return _integration(session, tenant)


def mark_broken(session: Session, *, tenant: Tenant, reason: str) -> None:
    """The stored credentials were refused (401 during a push): ``broken`` with the reason, until checked again."""
    psa_connection.mark_broken(session, tenant=tenant, kind=KIND, reason=reason)


def disconnect(session: Session, *, tenant: Tenant) -> bool:
    """Forget the keys (the non-secret settings stay, to pre-fill a reconnect). Returns whether anything was
    connected."""
    return psa_connection.forget_secret(session, tenant=tenant, kind=KIND)


def client_for(
    session: Session,
    *,
    tenant: Tenant,
    transport: httpx.BaseTransport | None = None,
    settings: Settings | None = None,
    **client_options: Any,
) -> ConnectWiseClient:
    """A ConnectWiseClient from the tenant's stored credentials, paced by the tenant's shared limiter.

    ``client_options`` go to ``ConnectWiseClient`` (``timeout``, ``retry``, ``sleep``, ...).
    Close the client when done (``with client_for(...) as client:``).
    """
    settings = settings or get_settings()
    integration, keys = psa_connection.open_stored(
        session, tenant=tenant, kind=KIND, system="ConnectWise", settings=settings
    )
    stored = integration.settings
    return _build_client(
        tenant=tenant,
        site=stored["site"],
        company_id=stored["company_id"],
        public_key=keys["public_key"],
        private_key=keys["private_key"],
        client_id=stored["client_id"],
        codebase=stored.get("codebase"),
        transport=transport,
        settings=settings,
        options=dict(client_options),
    )
