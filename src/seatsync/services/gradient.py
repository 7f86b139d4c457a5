"""Gradient MSP: connect a tenant with its partner token, keep its services and accounts in step.

The integration row (``integrations``, kind ``gradient``) keeps, in ``settings`` (not secret)::

    {"url": "https://app.usegradient.com",
     "organization": {"id": "...", "name": "..."},
     "services": {"sat": "<service id>", "phishing": "<service id>"},   # keyed by the companies' product codes
     "accounts_synced_at": "2026-10-01T00:00:00+00:00"}

and in ``secret`` the sealed ``{"partner_token": ...}``. The vendor key is the installation's
(``SEATSYNC_GRADIENT_VENDOR_KEY``) and is never stored.

Errors that should leave a mark (a 401 makes the integration ``broken``) are marked in the caller's session
*before* being raised: commit the session even when catching ``AuthenticationFailed`` to keep the mark.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from seatsync.config import Settings, get_settings
from seatsync.connectors.gradient import (
    DEFAULT_URL,
    Account,
    AccountsAlreadyExist,
    GradientClient,
    GradientStatus,
    NewAccount,
)
from seatsync.connectors.limits import RateLimiter
from seatsync.db.engine import transaction
from seatsync.db.models import Company, Integration, Tenant
from seatsync.db.types import utcnow
from seatsync.errors import AuthenticationFailed, ConfigurationError, ConnectorError, SeatsyncError, UserInputError
from seatsync.security.secrets import SecretBox

KIND = "gradient"
#: accounts per ``POST /organization/accounts``
BATCH_SIZE = 100


class ConnectionStatus(enum.StrEnum):
    """The local integration status (mirrors Gradient's lifecycle, plus ``broken`` when the token is refused)."""

    PENDING = "pending"
    ACTIVE = "active"
    BROKEN = "broken"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    product: str  # the product code in ``companies.products``
    name: str
    category: str
    subcategory: str
    description: str


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "sat",
        "Security Awareness Training",
        "security",
        "privacy and security awareness training",
        "Security awareness training: billable users per month.",
    ),
    ServiceSpec(
        "phishing",
        "Phishing Simulation",
        "security",
        "phishing simulation",
        "Phishing simulation: billable users per month.",
    ),
)


@dataclass
class SyncReport:
    """What one account sync did. Ids are company ids (= Gradient account ids)."""

    created: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: accounts Gradient already had although its list did not show them (it answered 409)
    already_present: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{len(self.created)} created, {len(self.renamed)} renamed, {len(self.unchanged)} unchanged"
        if self.already_present:
            text += f" ({len(self.already_present)} already present in Gradient)"
        return text


@dataclass
class ConnectResult:
    organization_name: str | None
    services_created: list[str]
    services_found: list[str]
    sync: SyncReport | None
    #: why the account sync after connecting failed (the connection itself is kept), else None
    sync_error: str | None = None


# ---- helpers


def configured_vendor_key(settings: Settings | None = None) -> str:
    secret = (settings or get_settings()).gradient_vendor_key
    value = secret.get_secret_value().strip() if secret is not None else ""
    if not value:
        raise ConfigurationError(
            "the Gradient vendor API key is not configured: set SEATSYNC_GRADIENT_VENDOR_KEY "
            "(issued by Gradient once for the installation)"
        )
    return value


def _box(session: Session, *, sealing: bool = False) -> SecretBox:
    return SecretBox.for_session(session, get_settings(), sealing=sealing)


def get_integration(session: Session, *, tenant: Tenant) -> Integration | None:
    return session.scalar(select(Integration).where(Integration.tenant_id == tenant.id, Integration.kind == KIND))


def _connected(session: Session, *, tenant: Tenant) -> Integration:
    integration = get_integration(session, tenant=tenant)
    if integration is None or integration.secret is None or integration.status == ConnectionStatus.DISCONNECTED:
        raise ConfigurationError(
            f"Gradient is not connected for tenant {tenant.slug!r}: "
            f"run `seatsync connect gradient --tenant {tenant.slug} --token TOKEN`"
        )
    return integration


def connected_integration(session: Session, *, tenant: Tenant) -> Integration:
    """The tenant's Gradient integration, or ``ConfigurationError`` saying how to connect."""
    return _connected(session, tenant=tenant)


def is_connected(integration: Integration | None) -> bool:
    """Connected with a stored token and not refused last time (``broken`` waits for a reconnect)."""
    return (
        integration is not None
        and integration.secret is not None
        and integration.status not in (ConnectionStatus.DISCONNECTED, ConnectionStatus.BROKEN)
    )


def _update_settings(integration: Integration, **changes: Any) -> None:
    # a new dict, so that SQLAlchemy sees the JSON column change
    integration.settings = {**(integration.settings or {}), **changes}


def service_ids(integration: Integration) -> dict[str, str]:
    """``{"sat": id, "phishing": id}``: the Gradient service of each product code."""
    return dict((integration.settings or {}).get("services", {}))


def mark_broken(session: Session, *, tenant: Tenant, reason: str) -> None:
    integration = get_integration(session, tenant=tenant)
    if integration is not None and integration.status != ConnectionStatus.DISCONNECTED:
        integration.status = ConnectionStatus.BROKEN
        integration.status_reason = reason
        integration.checked_at = utcnow()
        session.flush()


def mark_working(session: Session, *, tenant: Tenant, active: bool = False) -> None:
    """A call just succeeded with the stored token: clear ``broken``; ``active=True`` after counts were accepted."""
    integration = get_integration(session, tenant=tenant)
    if integration is None or integration.status == ConnectionStatus.DISCONNECTED:
        return
    if active:
        integration.status = ConnectionStatus.ACTIVE
    elif integration.status == ConnectionStatus.BROKEN:
        integration.status = ConnectionStatus.PENDING
    integration.status_reason = None
    integration.checked_at = utcnow()
    session.flush()


def client_for(
    session: Session,
    *,
    tenant: Tenant,
    transport: httpx.BaseTransport | None = None,
    limiter: RateLimiter | None = None,
    vendor_key: str | None = None,
) -> GradientClient:
    """A client with the tenant's stored token (close it, or use it as a context manager)."""
    integration = _connected(session, tenant=tenant)
    assert integration.secret is not None
    sealed = _box(session).open(integration.secret)
    token = str(sealed.get("partner_token", ""))
    return GradientClient(
        # a vendor key given when connecting (the demo's sandbox key) is kept with the token and wins
        vendor_key=vendor_key or str(sealed.get("vendor_key") or "") or configured_vendor_key(),
        partner_token=token,
        base_url=str((integration.settings or {}).get("url") or DEFAULT_URL),
        transport=transport,
        limiter=limiter,
    )


# ---- use cases


def ensure_services(client: GradientClient) -> tuple[dict[str, str], list[str], list[str]]:
    """Create the services Gradient does not list yet (matched by exact name).

    Returns ``(ids by product code, names created, names found)``."""
    existing: dict[str, str] = {}
    for service in client.get_vendor().skus:
        existing.setdefault(service.name, service.id)  # duplicates (a lost answer, retried): the first wins
    ids: dict[str, str] = {}
    created: list[str] = []
    found: list[str] = []
    for spec in SERVICES:
        if spec.name in existing:
            ids[spec.product] = existing[spec.name]
            found.append(spec.name)
            continue
        service = client.create_service(
            name=spec.name, description=spec.description, category=spec.category, subcategory=spec.subcategory
        )
        ids[spec.product] = service.id
        created.append(spec.name)
    return ids, created, found


def connect(
    session: Session,
    *,
    tenant: Tenant,
    token: str,
    url: str = DEFAULT_URL,
    vendor_key: str | None = None,
    transport: httpx.BaseTransport | None = None,
    limiter: RateLimiter | None = None,
) -> ConnectResult:
    """Validate the partner token, store it sealed, set ``pending``, register the services, sync accounts.

    ``vendor_key``, when given, is sealed with the token and used for this tenant from then on (the demo
    connects its sandbox so, and commands run beside its database need no SEATSYNC_GRADIENT_VENDOR_KEY);
    otherwise the installation's key (``SEATSYNC_GRADIENT_VENDOR_KEY``) is used at every call.

    A refused token raises (``AuthenticationFailed``) and stores nothing. A failure of the account sync after
    everything else worked keeps the connection and is reported in ``sync_error``."""
    token = token.strip()
    if not token:
        raise UserInputError("the Gradient partner token is empty: paste the token generated in Synthesize")
    key = vendor_key or configured_vendor_key()
    with GradientClient(
        vendor_key=key, partner_token=token, base_url=url, transport=transport, limiter=limiter
    ) as client:
        organization = client.get_organization()
        client.set_status(GradientStatus.PENDING)
        ids, created, found = ensure_services(client)

        integration = get_integration(session, tenant=tenant)
        if integration is None:
            integration = Integration(tenant_id=tenant.id, kind=KIND, settings={})
            session.add(integration)
        now = utcnow()
        sealed = {"partner_token": token, **({"vendor_key": vendor_key} if vendor_key else {})}
        integration.secret = _box(session, sealing=True).seal(sealed)
        integration.status = ConnectionStatus.PENDING
        integration.status_reason = None
        integration.connected_at = now
        integration.checked_at = now
        _update_settings(
            integration,
            url=client.base_url,
            organization={"id": organization.organization_id, "name": organization.name},
            services=ids,
        )
        session.flush()

        result = ConnectResult(organization.name, created, found, sync=None)
        try:
            result.sync = sync_accounts(session, tenant=tenant, client=client)
        except ConnectorError as exc:
            result.sync_error = str(exc)
            if not isinstance(exc, AuthenticationFailed):
                integration.status_reason = f"the account sync after connecting failed: {exc}"
            session.flush()
        return result


def disconnect(
    session: Session,
    *,
    tenant: Tenant,
    vendor_key: str | None = None,
    transport: httpx.BaseTransport | None = None,
    limiter: RateLimiter | None = None,
) -> str | None:
    """Tell Gradient ``inactive`` (best effort), forget the token. Returns a note when Gradient could not be told."""
    integration = get_integration(session, tenant=tenant)
    if integration is None or integration.status == ConnectionStatus.DISCONNECTED:
        return None
    note = None
    if integration.secret is not None:
        try:
            with client_for(
                session, tenant=tenant, vendor_key=vendor_key, transport=transport, limiter=limiter
            ) as client:
                client.set_status(GradientStatus.INACTIVE)
        except (ConnectorError, ConfigurationError) as exc:
            # the token may already be gone on Gradient's side; forgetting it here must still happen
            note = f"Gradient could not be told the integration is inactive: {exc}"
    integration.secret = None
    integration.status = ConnectionStatus.DISCONNECTED
    integration.status_reason = note
    integration.checked_at = utcnow()
    session.flush()
    return note


def _chunks(items: Sequence[NewAccount], size: int) -> Iterator[Sequence[NewAccount]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _create_missing(
    client: GradientClient, missing: Sequence[NewAccount], batch_size: int
) -> tuple[list[str], dict[str, Account | None]]:
    """Create in batches; on 409 look again and create the rest one by one.

    Returns the ids created and the ones Gradient already had (with its account when known)."""
    created: list[str] = []
    present: dict[str, Account | None] = {}
    for batch in _chunks(missing, batch_size):
        try:
            client.create_accounts(batch)
            created.extend(a.id for a in batch)
            continue
        except AccountsAlreadyExist:
            pass
        # someone else (or our own retried request whose answer was lost) created some of them
        listed = {a.id: a for a in client.list_accounts()}
        for account in batch:
            if account.id in listed:
                present[account.id] = listed[account.id]
                continue
            try:
                client.create_accounts([account])
                created.append(account.id)
            except AccountsAlreadyExist:
                present[account.id] = None
    return created, present


def sync_accounts(
    session: Session, *, tenant: Tenant, client: GradientClient, batch_size: int = BATCH_SIZE
) -> SyncReport:
    """Make every non-archived company an account (id = company_id): list, create the missing, rename the changed."""
    integration = _connected(session, tenant=tenant)
    companies = list(
        session.scalars(
            select(Company)
            .where(Company.tenant_id == tenant.id, Company.archived.is_(False))
            .order_by(Company.company_id)
        )
    )
    report = SyncReport()
    try:
        remote = {a.id: a for a in client.list_accounts()}
        missing = [NewAccount(id=c.company_id, name=c.name) for c in companies if c.company_id not in remote]
        created, present = _create_missing(client, missing, batch_size)
        report.created = created
        report.already_present = sorted(present)
        known: dict[str, Account | None] = {**remote, **present}
        just_created = set(created)
        for company in companies:
            if company.company_id in just_created:
                continue
            account = known.get(company.company_id)
            if account is not None and account.name == company.name:
                report.unchanged.append(company.company_id)
                continue
            client.rename_account(company.company_id, company.name)
            report.renamed.append(company.company_id)
    except AuthenticationFailed as exc:
        mark_broken(session, tenant=tenant, reason=str(exc))
        raise
    mark_working(session, tenant=tenant)
    _update_settings(integration, accounts_synced_at=utcnow().isoformat())
    session.flush()
    return report


def accounts_synced_at(integration: Integration) -> datetime | None:
    value = (integration.settings or {}).get("accounts_synced_at")
    return datetime.fromisoformat(value) if value else None


def accounts_for_new_companies(
    session: Session,
    *,
    tenant: Tenant,
    company_ids: Sequence[str],
    client: GradientClient | None = None,
    batch_size: int = BATCH_SIZE,
) -> list[str] | None:
    """Create the Gradient accounts of companies that just appeared (an import, the API), in batches.

    Returns the ids created, or None when Gradient is not connected or is broken (the next push or account
    sync creates them then). A 401 marks the integration broken in ``session`` (commit it) and raises.
    """
    if not company_ids or not is_connected(get_integration(session, tenant=tenant)):
        return None
    wanted = set(company_ids)
    new = [
        NewAccount(id=c.company_id, name=c.name)
        for c in session.scalars(
            select(Company)
            .where(Company.tenant_id == tenant.id, Company.archived.is_(False))
            .order_by(Company.company_id)
        )
        if c.company_id in wanted
    ]
    if not new:
        return []
    own = client is None
    active = client if client is not None else client_for(session, tenant=tenant)
    try:
        created, _present = _create_missing(active, new, batch_size)
    except AuthenticationFailed as exc:
        mark_broken(session, tenant=tenant, reason=str(exc))
        raise
    finally:
        if own:
            active.close()
    mark_working(session, tenant=tenant)
    return created


def after_company_import(engine: Engine, *, tenant_id: int, company_ids: Sequence[str]) -> str | None:
    """The hook every company import path calls after its transaction committed: new companies become Gradient
    accounts at once. Never fails the import: returns a line for the person who imported (None: nothing to say)."""
    if not company_ids:
        return None
    failure: SeatsyncError | None = None
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            return None
        try:
            created = accounts_for_new_companies(session, tenant=tenant, company_ids=company_ids)
        except SeatsyncError as exc:
            failure = exc  # the "broken" mark of a 401 is committed with this transaction
    if failure is not None:
        return (
            f"Gradient accounts for the {len(company_ids)} new companies were not created yet ({failure}); "
            "the next push or `seatsync sync-accounts` creates them"
        )
    if created is None:
        return None
    return f"Gradient: {len(created)} account(s) created for the new companies"
