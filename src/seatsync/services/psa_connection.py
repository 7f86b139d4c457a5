"""What connecting a tenant to a PSA shares, whichever PSA it is: the stored integration row, its status, and its
sealed secret (``connectwise_connection``, ``autotask_connection`` and ``halopsa_connection`` add their checks).

    row = integration_of(session, tenant, "autotask")
    if not checked_ok and working(row): return result      # a failed check never replaces working credentials
    recheck(session, tenant=t, kind="autotask", result=result, shown={...}, found={"api_base": ...})  # again
    store(session, tenant=t, kind="autotask", row=row, values={...}, secret={...}, result=result, settings=s)
    stored = store_checked(session, tenant=t, kind="autotask", values={...}, ...)  # the two lines above in one
    row, secret = open_stored(session, tenant=t, kind="autotask", system="Autotask", settings=s)
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.models import Integration, Tenant
from seatsync.errors import ConfigurationError
from seatsync.security.secrets import SecretBox


class IntegrationStatus(enum.StrEnum):
    CONNECTED = "connected"
    BROKEN = "broken"
    DISCONNECTED = "disconnected"


class RightStatus(enum.StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    UNCHECKED = "unchecked"


class Checked(Protocol):
    """A connection check's outcome, as each PSA's ``ConnectionResult`` has it."""

    status: IntegrationStatus
    reason: str | None


def integration_of(session: Session, tenant: Tenant, kind: str) -> Integration | None:
    return session.scalar(select(Integration).where(Integration.tenant_id == tenant.id, Integration.kind == kind))


def record(row: Integration, result: Checked) -> None:
    """The check's status and reason on the row; connected since now when it first connects."""
    now = datetime.now(UTC)
    row.status = result.status.value
    row.status_reason = result.reason
    row.checked_at = now
    if result.status is IntegrationStatus.CONNECTED and row.connected_at is None:
        row.connected_at = now


def recheck(
    session: Session, *, tenant: Tenant, kind: str, result: Checked, shown: dict[str, Any], found: dict[str, Any]
) -> None:
    """Record a check of the stored credentials on their row: ``found`` (what the check looked up again: the
    zone's API address, the codebase) and ``shown`` (the rights it checked, for the Integrations page), then the
    check's status (``record``)."""
    row = integration_of(session, tenant, kind)
    assert row is not None  # the stored credentials just opened
    row.settings = {**(row.settings or {}), **found, **shown}
    record(row, result)
    session.flush()


def working(row: Integration | None) -> bool:
    """Whether ``row`` holds credentials that passed their last check."""
    return row is not None and row.secret is not None and row.status == IntegrationStatus.CONNECTED.value


def store(
    session: Session,
    *,
    tenant: Tenant,
    kind: str,
    row: Integration | None,
    values: dict[str, Any],
    secret: dict[str, str],
    result: Checked,
    settings: Settings,
) -> Integration:
    """Store checked credentials (``secret`` sealed) and the check's outcome; the row is created if needed."""
    if row is None:
        row = Integration(tenant_id=tenant.id, kind=kind)
        session.add(row)
    row.settings = values
    row.secret = SecretBox.for_session(session, settings, sealing=True).seal(secret)
    row.connected_at = None
    record(row, result)
    session.flush()
    return row


def store_checked(
    session: Session,
    *,
    tenant: Tenant,
    kind: str,
    values: dict[str, Any],
    secret: dict[str, str],
    result: Checked,
    settings: Settings,
    kept: tuple[str, ...] = (),
) -> bool:
    """``store`` new credentials after their check, unless the check failed and the tenant's stored credentials
    work: a failed check never replaces working credentials (returns False, nothing changed). Without working
    ones they are stored even when broken, so the operator can fix the rights and check again. ``kept``: the
    stored settings a reconnect keeps (choices made on other pages)."""
    row = integration_of(session, tenant, kind)
    if result.status is not IntegrationStatus.CONNECTED and working(row):
        return False
    before = {k: v for k, v in ((row.settings if row else None) or {}).items() if k in kept}
    store(
        session,
        tenant=tenant,
        kind=kind,
        row=row,
        values={**before, **values},
        secret=secret,
        result=result,
        settings=settings,
    )
    return True


def open_stored(
    session: Session, *, tenant: Tenant, kind: str, system: str, settings: Settings
) -> tuple[Integration, dict[str, Any]]:
    """The tenant's integration with ``kind`` and its opened secret; ``ConfigurationError`` saying how to connect
    when there is none."""
    row = integration_of(session, tenant, kind)
    if row is None or row.secret is None or row.status == IntegrationStatus.DISCONNECTED:
        raise ConfigurationError(
            f"tenant {tenant.slug!r} is not connected to {system}; run `seatsync connect {kind} --tenant {tenant.slug} ...`"
        )
    return row, SecretBox.for_session(session, settings).open(row.secret)


def mark_broken(session: Session, *, tenant: Tenant, kind: str, reason: str) -> None:
    """The stored credentials were refused (401 during a push): ``broken`` with the reason, until checked again."""
    row = integration_of(session, tenant, kind)
    if row is None or row.status == IntegrationStatus.DISCONNECTED:
        return
    row.status = IntegrationStatus.BROKEN.value
    row.status_reason = reason
    row.checked_at = datetime.now(UTC)
    session.flush()


def forget_secret(session: Session, *, tenant: Tenant, kind: str) -> bool:
    """Disconnect: forget the secret (the other settings stay, to pre-fill a reconnect; mappings and history stay).
    Returns whether anything was connected."""
    row = integration_of(session, tenant, kind)
    if row is None or row.secret is None:
        return False
    row.secret = None
    row.status = IntegrationStatus.DISCONNECTED.value
    row.status_reason = None
    row.connected_at = None
    session.flush()
    return True


__all__ = [
    "Checked",
    "IntegrationStatus",
    "RightStatus",
    "forget_secret",
    "integration_of",
    "mark_broken",
    "open_stored",
    "recheck",
    "record",
    "store",
    "store_checked",
    "working",
]
