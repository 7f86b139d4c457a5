"""From outside: a tenant admin pointing ConnectWise or Gradient at an internal address gets a clear refusal,
nothing is stored, and no connection is made (a real listener on loopback counts every connection)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from seatsync.config import get_settings
from seatsync.web.app import create_app
from tests.web.conftest import World, login


class Listener:
    """A TCP port on loopback that records every connection made to it (and answers nothing)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener()
    yield running
    running.close()


@pytest.fixture
def locked_down(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app as installed in production: the operator allowed no extra outbound hosts."""
    monkeypatch.setenv("SEATSYNC_ALLOWED_HOSTS", "")
    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", "vendor-key")
    get_settings.cache_clear()
    app = create_app(settings=get_settings(), engine=world.engine, clock=world.clock)
    with TestClient(app) as client:
        login(client, "admin@a.test")
        yield client


CW_KEYS = {"company_id": "demo", "public_key": "p", "private_key": "k", "client_id": "c"}


@pytest.mark.parametrize(
    "site",
    [
        "http://127.0.0.1:{port}",
        "127.0.0.1:{port}",
        "http://localhost:{port}",
        "http://[::ffff:127.0.0.1]:{port}",
        "https://api-na.myconnectwise.net@127.0.0.1:{port}",
        "http://169.254.169.254",
        "https://10.0.0.5",
    ],
)
def test_connectwise_site_at_an_internal_address_is_refused_and_never_called(
    locked_down: TestClient, listener: Listener, site: str
) -> None:
    r = locked_down.post("/api/v1/connectwise/connect", json={"site": site.format(port=listener.port), **CW_KEYS})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "are not allowed" in detail or "host name only" in detail
    assert listener.connections == 0
    assert locked_down.get("/api/v1/connectwise").json()["status"] == "disconnected"  # nothing stored


@pytest.mark.parametrize("company_id", ["..", ".", "../../login", "a/b", "x?y"])
def test_a_company_id_cannot_walk_out_of_its_path(locked_down: TestClient, company_id: str) -> None:
    body = {**CW_KEYS, "company_id": company_id, "site": "api-na.myconnectwise.net"}
    r = locked_down.post("/api/v1/connectwise/connect", json=body)
    assert r.status_code == 422, r.text
    assert "is not a company id" in r.json()["detail"]


def test_the_refusal_names_what_is_allowed(locked_down: TestClient, listener: Listener) -> None:
    r = locked_down.post("/api/v1/connectwise/connect", json={"site": f"127.0.0.1:{listener.port}", **CW_KEYS})
    detail = r.json()["detail"]
    assert "api-na.myconnectwise.net" in detail
    assert "SEATSYNC_ALLOWED_HOSTS" in detail


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:{port}", "http://localhost:{port}/", "https://app.usegradient.com.127.0.0.1.nip.io:{port}"],
)
def test_gradient_url_at_an_internal_address_is_refused_and_never_called(
    locked_down: TestClient, listener: Listener, url: str
) -> None:
    r = locked_down.post("/api/v1/gradient/connect", json={"token": "t", "url": url.format(port=listener.port)})
    assert r.status_code == 422, r.text
    assert "are not allowed" in r.json()["detail"]
    assert listener.connections == 0
    assert locked_down.get("/api/v1/gradient").json()["status"] == "disconnected"
