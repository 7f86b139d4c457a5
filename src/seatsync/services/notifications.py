"""Notification channels (who hears about what goes wrong) and their deliveries.

    add_email(session, tenant=t, to="ops@msp.example", created_by=...)
    add_webhook(session, tenant=t, url=..., fmt=WebhookFormat.SLACK, settings=s, created_by=...)
    deliver(engine, settings=s, tenant_id=t.id, event=e)     # every channel of the tenant, each delivery recorded
    notify_run_finished(engine, settings=s, run_id=r)        # the push engine's on_run_finished hook

A delivery is recorded (``sending``) before it is sent, keyed by channel and event: the same event raised twice
(a retried job) reaches each channel once. Sending never raises: a channel that fails is recorded as ``failed``
with its reason; the push that raised the event is finished already and stays as it ended.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.engine import transaction
from seatsync.db.models import Company, NotificationChannel, NotificationDelivery, PushResult, PushRun, Tenant
from seatsync.errors import NotFound, UserInputError
from seatsync.notify.delivery import Attempted, Deliverer, RetryPolicy, check_webhook_url, redact_url
from seatsync.notify.messages import CompanyLine, Event, EventKind, WebhookFormat
from seatsync.push.runs import Outcome
from seatsync.security.secrets import SecretBox

log = logging.getLogger(__name__)

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
#: target keys as people read them
TARGET_NAMES = {"connectwise": "ConnectWise", "autotask": "Autotask", "halopsa": "HaloPSA", "gradient": "Gradient"}


class ChannelKind(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryStatus(enum.StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def _now() -> datetime:
    return datetime.now(UTC)


def describe(channel: NotificationChannel) -> str:
    if channel.kind == ChannelKind.EMAIL:
        return f"email {channel.address}"
    return f"webhook ({channel.format}) {channel.address}"


# -- channels ------------------------------------------------------------------------------------------------------


def add_email(session: Session, *, tenant: Tenant, to: str, created_by: str) -> NotificationChannel:
    to = to.strip()
    if not _EMAIL.match(to) or len(to) > 320:
        raise UserInputError(f"{to!r} is not an e-mail address (one address, like ops@msp.example)")
    existing = session.scalar(
        select(NotificationChannel).where(
            NotificationChannel.tenant_id == tenant.id,
            NotificationChannel.kind == ChannelKind.EMAIL,
            NotificationChannel.address == to,
        )
    )
    if existing is not None:
        return existing
    channel = NotificationChannel(
        tenant_id=tenant.id, kind=ChannelKind.EMAIL.value, address=to, format="", created_by=created_by
    )
    session.add(channel)
    session.flush()
    return channel


def parse_format(value: str) -> WebhookFormat:
    try:
        return WebhookFormat(value)
    except ValueError:
        raise UserInputError(
            f"unknown webhook format {value!r}: choose one of {', '.join(f.value for f in WebhookFormat)}"
        ) from None


def add_webhook(
    session: Session, *, tenant: Tenant, url: str, fmt: WebhookFormat, settings: Settings, created_by: str
) -> NotificationChannel:
    url = check_webhook_url(url)
    if len(url) > 2000:
        raise UserInputError("a webhook URL may have at most 2000 characters")
    channel = NotificationChannel(
        tenant_id=tenant.id,
        kind=ChannelKind.WEBHOOK.value,
        address=redact_url(url),
        format=fmt.value,
        secret=SecretBox.for_session(session, settings, sealing=True).seal({"url": url}),
        created_by=created_by,
    )
    session.add(channel)
    session.flush()
    return channel


def list_channels(session: Session, *, tenant: Tenant) -> list[NotificationChannel]:
    return list(
        session.scalars(
            select(NotificationChannel)
            .where(NotificationChannel.tenant_id == tenant.id)
            .order_by(NotificationChannel.id)
        )
    )


def remove_channel(session: Session, *, tenant: Tenant, channel_id: int) -> NotificationChannel:
    channel = session.scalar(
        select(NotificationChannel).where(
            NotificationChannel.id == channel_id, NotificationChannel.tenant_id == tenant.id
        )
    )
    if channel is None:
        raise NotFound(f"no notification channel {channel_id} for this tenant (removed already?)")
    session.delete(channel)
    session.flush()
    return channel


def recent_deliveries(session: Session, *, tenant: Tenant, limit: int = 20) -> list[NotificationDelivery]:
    return list(
        session.scalars(
            select(NotificationDelivery)
            .where(NotificationDelivery.tenant_id == tenant.id)
            .order_by(NotificationDelivery.created_at.desc(), NotificationDelivery.id.desc())
            .limit(limit)
        )
    )


# -- delivering ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pending:
    delivery_id: int
    channel: NotificationChannel
    url: str | None


def _claim(
    engine: Engine, *, tenant_id: int, channel: NotificationChannel, event: Event, url: str | None
) -> _Pending | None:
    """Record the delivery as ``sending``; None when this event was already delivered (or is being) on it."""
    try:
        with transaction(engine) as session:
            row = NotificationDelivery(
                tenant_id=tenant_id,
                channel_id=channel.id,
                channel=describe(channel),
                event=event.kind.value,
                event_key=event.key,
                run_id=event.run_id,
                subject=event.subject,
                status=DeliveryStatus.SENDING.value,
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            return _Pending(row.id, channel, url)
    except IntegrityError:
        return None


def _record(engine: Engine, *, delivery_id: int, attempts: int, error: str | None) -> None:
    with transaction(engine) as session:
        row = session.get(NotificationDelivery, delivery_id)
        assert row is not None
        row.status = (DeliveryStatus.FAILED if error else DeliveryStatus.SENT).value
        row.attempts = attempts
        row.error = error
        row.finished_at = _now()


def make_deliverer(settings: Settings) -> Deliverer:
    smtp = settings.smtp_url.get_secret_value() if settings.smtp_url else None
    return Deliverer(
        smtp_url=smtp, mail_from=settings.mail_from, policy=RetryPolicy(first_wait=settings.notification_retry_wait)
    )


def deliver(
    engine: Engine, *, settings: Settings, tenant_id: int, event: Event, deliverer: Deliverer | None = None
) -> list[int]:
    """Send ``event`` through every channel of the tenant; the ids of the deliveries made now. Never raises for
    a channel that fails (its delivery says why)."""
    with transaction(engine) as session:
        channels = list(session.scalars(select(NotificationChannel).where(NotificationChannel.tenant_id == tenant_id)))
        for channel in channels:
            session.expunge(channel)
    if not channels:
        return []
    box = SecretBox.from_settings(settings, database_url=engine.url) if any(c.secret for c in channels) else None
    own = deliverer is None
    sender = deliverer or make_deliverer(settings)
    done: list[int] = []
    try:
        for channel in channels:
            url = box.open(channel.secret)["url"] if box is not None and channel.secret else None
            pending = _claim(engine, tenant_id=tenant_id, channel=channel, event=event, url=url)
            if pending is None:
                continue
            outcome = _send(sender, pending, event)
            _record(engine, delivery_id=pending.delivery_id, attempts=outcome.attempts, error=outcome.error)
            done.append(pending.delivery_id)
    finally:
        if own:
            sender.close()
    return done


def _send(sender: Deliverer, pending: _Pending, event: Event) -> Attempted:
    channel = pending.channel
    if channel.kind == ChannelKind.EMAIL:
        outcome = sender.send_email(channel.address, event)
    else:
        assert pending.url is not None
        outcome = sender.post_webhook(pending.url, WebhookFormat(channel.format), event)
    if outcome.error:
        log.warning(
            "notification to %s failed after %d attempt(s): %s", describe(channel), outcome.attempts, outcome.error
        )
    return outcome


# -- events --------------------------------------------------------------------------------------------------------


def run_link(settings: Settings, run_id: int) -> str:
    return f"{settings.public_url.rstrip('/')}/history/{run_id}"


def _target_name(target: str) -> str:
    return TARGET_NAMES.get(target, target)


def run_problems_event(session: Session, *, run: PushRun, settings: Settings) -> Event | None:
    """The event of a finished run with failed or blocked rows (or that failed as a whole); None when it went well."""
    if run.dry_run:
        return None
    tenant = session.get(Tenant, run.tenant_id)
    assert tenant is not None
    rows = session.execute(
        select(Company.company_id, Company.name, PushResult.outcome, PushResult.reason, PushResult.product)
        .join(Company, Company.id == PushResult.company_pk)
        .where(PushResult.run_id == run.id, PushResult.outcome.in_([Outcome.FAILED.value, Outcome.BLOCKED.value]))
        .order_by(Company.company_id, PushResult.product)
    ).all()
    if not rows and run.status not in ("failed", "interrupted"):
        return None
    lines = tuple(
        CompanyLine(cid, name, f"{outcome}{f' ({product})' if product else ''}: {reason or 'no reason recorded'}")
        for cid, name, outcome, reason, product in rows
    )
    failed = sum(1 for r in rows if r.outcome == Outcome.FAILED)
    blocked = len(rows) - failed
    name = _target_name(run.target)
    if rows:
        parts = [f"{n} {word}" for n, word in ((failed, "failed"), (blocked, "blocked")) if n]
        title = f"{name} push of {run.period} finished with {' and '.join(parts)}"
        advice = (
            "Open the run to see each company's reason; fix the mapping or the record in "
            f"{name}, then push again with “retry failed”."
        )
    else:
        title = f"{name} push of {run.period} {run.status}"
        advice = run.status_reason or "The run stopped before it finished; push again."
    return Event(
        kind=EventKind.RUN_PROBLEMS,
        tenant=tenant.slug,
        title=title,
        advice=advice,
        key=f"run:{run.id}:problems",
        target=run.target,
        period=run.period,
        run_id=run.id,
        link=run_link(settings, run.id),
        companies=lines,
    )


def connection_broken_event(*, tenant: Tenant, target: str, reason: str, settings: Settings, since: datetime) -> Event:
    name = _target_name(target)
    return Event(
        kind=EventKind.CONNECTION_BROKEN,
        tenant=tenant.slug,
        title=f"the {name} connection is broken",
        advice=f"{reason} Reconnect {name} on the Integrations page; pushes to it wait until then.",
        key=f"broken:{target}:{since.isoformat()}",
        target=target,
        link=f"{settings.public_url.rstrip('/')}/integrations",
    )


def schedule_missed_event(*, tenant: Tenant, target: str, period: str, due: datetime, settings: Settings) -> Event:
    name = _target_name(target)
    return Event(
        kind=EventKind.SCHEDULE_MISSED,
        tenant=tenant.slug,
        title=f"the scheduled {name} push of {period} was missed",
        advice=(
            f"It was due at {due:%Y-%m-%d %H:%M} UTC while seatsync was not running; it runs now, once, to catch up. "
            "Check that seatsync serve (or a worker) keeps running."
        ),
        key=f"missed:{target}:{period}",
        target=target,
        period=period,
        link=f"{settings.public_url.rstrip('/')}/history",
    )


def notify_run_finished(
    engine: Engine, *, settings: Settings, run_id: int, deliverer: Deliverer | None = None
) -> list[int]:
    """The hook: after a run finished, tell the tenant's channels about its failed or blocked rows, and about a
    connection the run found broken."""
    from seatsync.db.models import Integration

    with transaction(engine) as session:
        run = session.get(PushRun, run_id)
        if run is None:
            return []
        tenant_id = run.tenant_id
        events: list[Event] = []
        problems = run_problems_event(session, run=run, settings=settings)
        if problems is not None:
            events.append(problems)
        integration = session.scalar(
            select(Integration).where(Integration.tenant_id == tenant_id, Integration.kind == run.target)
        )
        if integration is not None and integration.status == "broken" and not run.dry_run:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            events.append(
                connection_broken_event(
                    tenant=tenant,
                    target=run.target,
                    reason=integration.status_reason or "",
                    settings=settings,
                    since=integration.checked_at or integration.updated_at,
                )
            )
    done: list[int] = []
    for event in events:
        done += deliver(engine, settings=settings, tenant_id=tenant_id, event=event, deliverer=deliverer)
    return done
