"""Sending one rendered event through one channel: mail over SMTP (``SEATSYNC_SMTP_URL``) or a webhook POST,
retried with exponential back-off (tenacity) while the failure is one that retrying can cure.

Library errors are translated here into the project's tree: a refused connection, a timeout or a 5xx is a
``RetriableError`` (tried again), a refused recipient, refused SMTP credentials or a 4xx is a ``FatalError``
(recorded at once).
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from seatsync.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ConnectorError,
    RequestRejected,
    RetriableError,
    SeatsyncError,
    ServerError,
    TransportError,
    UserInputError,
)
from seatsync.notify.messages import Event, WebhookFormat, email_text, webhook_payload

SMTP = "SMTP"
WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where mail goes: ``smtp://[user:pass@]host[:25]`` (plain) or ``smtps://[user:pass@]host[:465]`` (TLS)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never the password
        return f"SmtpServer({'smtps' if self.tls else 'smtp'}://{self.host}:{self.port})"

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ConfigurationError(
                f"SEATSYNC_SMTP_URL must start with smtp:// or smtps:// (it starts with {parts.scheme or 'nothing'}://)"
            )
        if not parts.hostname:
            raise ConfigurationError("SEATSYNC_SMTP_URL names no host (smtp://user:pass@host:port)")
        tls = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if tls else 25)
        except ValueError as exc:
            raise ConfigurationError(f"SEATSYNC_SMTP_URL has a bad port: {exc}") from None
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def check_webhook_url(url: str) -> str:
    """A webhook address a tenant may give: http(s) with a host. (The installation's outbound-host allow-list
    applies to it as to every other outbound request.)"""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserInputError(f"a webhook URL must be http:// or https:// with a host name, not {url[:60]!r}")
    return url


def redact_url(url: str) -> str:
    """How a webhook is shown: its host and the end of its path (Slack and Teams put the secret in the path)."""
    parts = urlsplit(url)
    tail = parts.path.rstrip("/")[-4:]
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/…{tail}"


@dataclass(frozen=True, slots=True)
class Attempted:
    """How a delivery went: the attempts made, and the last error (None: delivered)."""

    attempts: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    #: seconds before the 2nd try; doubled each time up to ``longest``
    first_wait: float = 2.0
    longest: float = 30.0


class Deliverer:
    """Sends events; one per hook call. ``transport`` and ``sleep`` are injected in tests."""

    def __init__(
        self,
        *,
        smtp_url: str | None,
        mail_from: str,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 10.0,
    ) -> None:
        self.smtp = SmtpServer.parse(smtp_url) if smtp_url else None
        self.mail_from = mail_from
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._timeout = timeout
        self._http = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _retrying(self, work: Callable[[], None]) -> Attempted:
        """Run ``work`` under the policy; never raises a deliberate error (it is returned, with the attempts)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_exponential(multiplier=self.policy.first_wait, max=self.policy.longest),
            retry=retry_if_exception_type(RetriableError),
            sleep=self._sleep,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    work()
        except SeatsyncError as exc:
            return Attempted(attempts, str(exc))
        return Attempted(attempts)

    # -- mail ------------------------------------------------------------------------------------------------

    def send_email(self, to: str, event: Event) -> Attempted:
        if self.smtp is None:
            return Attempted(0, "no mail server is configured: set SEATSYNC_SMTP_URL (smtp://user:pass@host:port)")
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = to
        message["Subject"] = event.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="seatsync")
        message.set_content(email_text(event))
        return self._retrying(lambda: self._smtp_send(message))

    def _smtp_send(self, message: EmailMessage) -> None:
        server = self.smtp
        assert server is not None
        try:
            client: smtplib.SMTP
            if server.tls:
                client = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=self._timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(server.host, server.port, timeout=self._timeout)
            with client:
                if server.username:
                    client.login(server.username, server.password or "")
                client.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise AuthenticationFailed(
                f"the mail server refused the SMTP user {server.username!r} (code {exc.smtp_code})", system=SMTP
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            raise RequestRejected(f"the mail server refused the recipient {refused}", system=SMTP) from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            cls: type[ConnectorError] = ServerError if 400 <= exc.smtp_code < 500 else RequestRejected
            raise cls(
                f"the mail server answered {exc.smtp_code} {text}", system=SMTP, status_code=exc.smtp_code
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(
                f"the mail server {server.host}:{server.port} cannot be reached: {exc.__class__.__name__}: {exc}",
                system=SMTP,
            ) from None

    # -- webhooks --------------------------------------------------------------------------------------------

    def post_webhook(self, url: str, fmt: WebhookFormat, event: Event) -> Attempted:
        payload = webhook_payload(event, fmt)
        return self._retrying(lambda: self._post(url, payload))

    def _post(self, url: str, payload: dict[str, Any]) -> None:
        shown = redact_url(url)
        try:
            response = self._http.post(url, json=payload, headers={"User-Agent": "seatsync"})
        except httpx.HTTPError as exc:
            raise TransportError(
                f"the webhook {shown} cannot be reached: {exc.__class__.__name__}", system=WEBHOOK
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ServerError(
                f"the webhook {shown} answered {response.status_code}", system=WEBHOOK, status_code=response.status_code
            )
        if response.status_code >= 300:
            raise RequestRejected(
                f"the webhook {shown} refused the message ({response.status_code}: {response.text[:200]})",
                system=WEBHOOK,
                status_code=response.status_code,
            )
