from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from seatsync.connectors.connectwise import ConnectWiseClient
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer

ClientFactory = Callable[..., ConnectWiseClient]


@pytest.fixture
def sandbox() -> ConnectWiseSandbox:
    return ConnectWiseSandbox(seed="demo")


@pytest.fixture
def server(sandbox: ConnectWiseSandbox) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(sandbox)) as running:
        yield running


@pytest.fixture
def make_client(server: BackgroundServer) -> Iterator[ClientFactory]:
    made: list[ConnectWiseClient] = []

    def factory(
        public_key: str = "demo-public", private_key: str = "demo-private", **options: Any
    ) -> ConnectWiseClient:
        options.setdefault("timeout", 10.0)
        client = ConnectWiseClient(
            site=server.url,
            company_id="demo",
            public_key=public_key,
            private_key=private_key,
            client_id="3f1c2a4e-0000-4000-8000-000000000001",
            **options,
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
