"""Notifications: events worth hearing about, rendered for e-mail and webhooks, and delivered with retries."""

from seatsync.notify.delivery import Attempted, Deliverer, RetryPolicy, SmtpServer, check_webhook_url, redact_url
from seatsync.notify.messages import CompanyLine, Event, EventKind, WebhookFormat, email_text, webhook_payload

__all__ = [
    "Attempted",
    "CompanyLine",
    "Deliverer",
    "Event",
    "EventKind",
    "RetryPolicy",
    "SmtpServer",
    "WebhookFormat",
    "check_webhook_url",
    "email_text",
    "redact_url",
    "webhook_payload",
]
