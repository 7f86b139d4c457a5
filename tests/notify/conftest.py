"""A real SMTP server (aiosmtpd) and a real webhook receiver, both on loopback, for the notification tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seatsync.sandboxes.server import BackgroundServer, free_port


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's handler hook
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, Mailbox]]:
    """``smtp://127.0.0.1:PORT`` and the mailbox that server delivers to."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", mailbox
    finally:
        controller.stop()


@dataclass
class Receiver:
    """What the webhook receiver got, per path; ``fail`` answers 500 that many times per path first."""

    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    url: str = ""


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    async def hook(request: Request) -> Response:
        path = request.path_params["name"]
        receiver.tries[path] = receiver.tries.get(path, 0) + 1
        if receiver.fail.get(path, 0) > 0:
            receiver.fail[path] -= 1
            return JSONResponse({"error": "down"}, status_code=500)
        receiver.received.setdefault(path, []).append(json.loads(await request.body()))
        return Response("ok")

    app = Starlette(routes=[Route("/hooks/{name}", hook, methods=["POST"])])
    with BackgroundServer(app) as server:
        receiver.url = server.url
        yield receiver
