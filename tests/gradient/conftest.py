"""A Gradient sandbox on a real loopback socket, and clients of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from seatsync.connectors.gradient import GradientClient
from seatsync.connectors.limits import Unlimited
from seatsync.sandboxes.gradient import DEMO_PARTNER_TOKEN, DEMO_VENDOR_KEY, GradientSandbox, SandboxApp, create_app
from seatsync.sandboxes.server import BackgroundServer


@dataclass
class RunningSandbox:
    app: SandboxApp
    url: str

    @property
    def sandbox(self) -> GradientSandbox:
        return self.app.sandbox

    def client(self, *, token: str = DEMO_PARTNER_TOKEN, vendor: str = DEMO_VENDOR_KEY, **kw: object) -> GradientClient:
        kw.setdefault("limiter", Unlimited())
        kw.setdefault("sleep", lambda seconds: None)
        return GradientClient(vendor_key=vendor, partner_token=token, base_url=self.url, **kw)  # type: ignore[arg-type]


@pytest.fixture
def gradient() -> Iterator[RunningSandbox]:
    """The demo sandbox (vendor ``demo-vendor``, partner ``demo-partner``) without rate limit or faults."""
    app = create_app(rate_limit=None)
    with BackgroundServer(app) as server:
        yield RunningSandbox(app, server.url)


@pytest.fixture
def gradient_vendor_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """The installation's vendor key set to the demo vendor's (``SEATSYNC_GRADIENT_VENDOR_KEY``)."""
    from seatsync.config import get_settings

    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", DEMO_VENDOR_KEY)
    get_settings.cache_clear()
    return DEMO_VENDOR_KEY


@pytest.fixture
def gradient_world(engine: Any, gradient: RunningSandbox, gradient_vendor_key: str) -> Any:
    """A tenant (UTC) with three companies and users, connected to the demo sandbox (``gradient_helpers``)."""
    from tests.gradient.gradient_helpers import connect, seed_tenant

    return connect(engine, seed_tenant(engine), gradient.url)
