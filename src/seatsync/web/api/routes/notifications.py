"""Notification channels (e-mail, webhooks) and the deliveries made through them. Webhook URLs are never
returned (Slack and Teams put a secret in them): only their redacted form."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from seatsync.db.models import NotificationChannel, NotificationDelivery
from seatsync.notify import WebhookFormat
from seatsync.services import notifications
from seatsync.web.deps import AdminOperator, CurrentOperator, DbSession, IdPath, State, Tenant, local_read

router = APIRouter(prefix="/notifications", tags=["notifications"])


class ChannelOut(BaseModel):
    id: int
    kind: str
    format: str
    address: str = Field(description="the e-mail address, or the webhook's host and the end of its path")
    created_at: datetime
    created_by: str


class ChannelIn(BaseModel):
    kind: Literal["email", "webhook"]
    to: str | None = Field(None, max_length=320, description="for email: the address")
    url: str | None = Field(None, max_length=2000, description="for webhook: where to POST")
    format: WebhookFormat = WebhookFormat.JSON


class DeliveryOut(BaseModel):
    id: int
    channel: str
    event: str
    run_id: int | None
    subject: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def channel_out(channel: NotificationChannel) -> ChannelOut:
    return ChannelOut.model_validate(channel, from_attributes=True)


def delivery_out(row: NotificationDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(row, from_attributes=True)


@router.get("/channels")
@local_read
def list_channels(principal: CurrentOperator, tenant: Tenant, db: DbSession) -> list[ChannelOut]:
    return [channel_out(c) for c in notifications.list_channels(db, tenant=tenant)]


@router.post("/channels", status_code=201)
def add_channel(body: ChannelIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State) -> ChannelOut:
    """Add an e-mail address (``to``) or a webhook (``url``, ``format`` json, slack or teams)."""
    if body.kind == "email":
        channel = notifications.add_email(db, tenant=tenant, to=body.to or "", created_by=principal.email)
    else:
        channel = notifications.add_webhook(
            db, tenant=tenant, url=body.url or "", fmt=body.format, settings=state.settings, created_by=principal.email
        )
    return channel_out(channel)


@router.delete("/channels/{channel_id}", status_code=204)
def remove_channel(channel_id: IdPath, principal: AdminOperator, tenant: Tenant, db: DbSession) -> None:
    notifications.remove_channel(db, tenant=tenant, channel_id=channel_id)


@router.get("/deliveries")
@local_read
def list_deliveries(principal: CurrentOperator, tenant: Tenant, db: DbSession) -> list[DeliveryOut]:
    """The latest 50 deliveries, newest first."""
    return [delivery_out(d) for d in notifications.recent_deliveries(db, tenant=tenant, limit=50)]
