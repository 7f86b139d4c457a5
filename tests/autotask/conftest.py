"""Fixtures: the Autotask sandbox on a real socket and clients of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tests.web  # noqa: F401 - its warning filter for Starlette's TestClient
from seatsync.connectors.autotask import AutotaskClient
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, AutotaskSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer


class FakeClock:
    """The sandbox's clock for the rolling hour; the client's sleeps move it on (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> AutotaskSandbox:
    return AutotaskSandbox(seed="demo", clock=clock, slowdown_ms=0)


@pytest.fixture
def server(sandbox: AutotaskSandbox) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(sandbox)) as running:
        yield running


def make_client(server: BackgroundServer, clock: FakeClock, **options: Any) -> AutotaskClient:
    options.setdefault("username", "demo-api@example.com")
    options.setdefault("secret", "demo-secret")
    options.setdefault("integration_code", DEMO_INTEGRATION_CODE)
    options.setdefault("sleep", clock.sleep)
    return AutotaskClient(zone_url=server.url, **options)


@pytest.fixture
def client(server: BackgroundServer, clock: FakeClock) -> Iterator[AutotaskClient]:
    with make_client(server, clock) as made:
        yield made


# the web tests' tenants and logged-in clients, for the API and browser tests
from tests.web.conftest import admin, app_client, viewer, world  # noqa: E402, F401
