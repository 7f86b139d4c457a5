from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from seatsync.config import get_settings
from seatsync.connectors.halopsa import HaloPSAClient
from seatsync.connectors.limits import Unlimited
from seatsync.sandboxes.halopsa import HaloPSASandbox, create_app
from seatsync.sandboxes.server import BackgroundServer

ClientFactory = Callable[..., HaloPSAClient]

# Starlette's TestClient warns at import that it prefers httpx2 (see tests/web/__init__.py): imported here, once
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    import fastapi.testclient  # noqa: F401


class FakeClock:
    """One clock for the sandbox's window and tokens and the client's sleeps: a test never waits."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@pytest.fixture(autouse=True)
def _unpaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients built from stored credentials are paced by the settings: far above what a test sends."""
    monkeypatch.setenv("SEATSYNC_HALOPSA_RATE_LIMIT", "1000000")
    get_settings.cache_clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> HaloPSASandbox:
    return HaloPSASandbox(seed="demo", rate_limit=None, clock=clock)


@pytest.fixture
def server(sandbox: HaloPSASandbox) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(sandbox)) as running:
        yield running


@pytest.fixture
def make_client(server: BackgroundServer, clock: FakeClock) -> Iterator[ClientFactory]:
    made: list[HaloPSAClient] = []

    def factory(client_id: str = "demo-client", client_secret: str = "demo-secret", **options: Any) -> HaloPSAClient:
        options.setdefault("timeout", 10.0)
        options.setdefault("limiter", Unlimited())
        options.setdefault("sleep", clock.sleep)
        options.setdefault("clock", clock)
        client = HaloPSAClient(url=server.url, client_id=client_id, client_secret=client_secret, **options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
