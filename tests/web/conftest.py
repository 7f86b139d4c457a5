"""Fixtures for the web app: two tenants with an admin and a viewer each, a TestClient logged in as each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from seatsync.config import get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Operator
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.connectwise import create_app as create_cw_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import connectwise_connection as cw
from seatsync.services.imports import ImportKind, import_records
from seatsync.services.tenants import create_tenant, get_tenant
from seatsync.web.app import create_app

PASSWORD = "correct horse battery"
#: named like companies of the ConnectWise sandbox's demo seed, so that auto-map finds them
CLIENTS = ["Acme Corp", "Northwind Traders", "Contoso Limited", "Globex Logistics", "Zebra Unmatched Holdings"]
# argon2 reads its cost from the hash: a cheap one keeps each login in these tests fast
FAST_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class World:
    engine: Engine
    clock: FakeClock
    tenants: dict[str, str]


def seed_tenant(engine: Engine, name: str, prefix: str) -> str:
    with transaction(engine) as session:
        tenant = create_tenant(session, name=name)
        for role in ("admin", "viewer"):
            session.add(
                Operator(tenant_id=tenant.id, email=f"{role}@{prefix}.test", password_hash=FAST_HASH, role=role)
            )
        companies = [
            (i, {"company_id": f"{prefix}-{i:03d}", "name": client, "products": ""})
            for i, client in enumerate(CLIENTS, start=1)
        ]
        import_records(session, tenant=tenant, kind=ImportKind.COMPANIES, records=companies, source="seed")
        users = [
            (
                i,
                {
                    "user_id": f"{prefix}-u{i}",
                    "company_id": f"{prefix}-{(i % 5) + 1:03d}",
                    "email": f"u{i}@{prefix}.test",
                    "name": f"User {i}",
                    "status": "active",
                    "at": "2026-09-01T00:00:00Z",
                },
            )
            for i in range(1, 13)
        ]
        import_records(session, tenant=tenant, kind=ImportKind.USERS, records=users, source="seed")
        return tenant.slug


@pytest.fixture
def world(engine: Engine) -> World:
    return World(
        engine, FakeClock(), {"a": seed_tenant(engine, "Alpha MSP", "a"), "b": seed_tenant(engine, "Beta MSP", "b")}
    )


@pytest.fixture
def app_client(world: World) -> Iterator[TestClient]:
    app = create_app(settings=get_settings(), engine=world.engine, clock=world.clock)
    with TestClient(app) as client:
        yield client
    app.state.seatsync.dispatcher.wait(10)


def login(client: TestClient, email: str) -> str:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    csrf = response.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    return csrf


@pytest.fixture
def admin(app_client: TestClient) -> TestClient:
    login(app_client, "admin@a.test")
    return app_client


@pytest.fixture
def viewer(app_client: TestClient) -> TestClient:
    login(app_client, "viewer@a.test")
    return app_client


@pytest.fixture
def cw_sandbox() -> ConnectWiseSandbox:
    return ConnectWiseSandbox(seed="demo")


@pytest.fixture
def cw_server(cw_sandbox: ConnectWiseSandbox) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_cw_app(cw_sandbox)) as running:
        yield running


def connect_cw(engine: Engine, slug: str, url: str, public_key: str = "demo-public") -> None:
    with transaction(engine) as session:
        tenant = get_tenant(session, slug=slug)
        private = public_key.replace("public", "private")
        result = cw.connect(
            session,
            tenant=tenant,
            site=url,
            company_id="demo",
            public_key=public_key,
            private_key=private,
            client_id="3f1c2a4e-0000-4000-8000-000000000001",
        )
        assert result.status.value in ("connected", "broken")


@pytest.fixture
def connected(world: World, cw_server: BackgroundServer) -> BackgroundServer:
    """Both tenants connected to the same ConnectWise sandbox (as two MSPs could never be: it tests isolation)."""
    connect_cw(world.engine, world.tenants["a"], cw_server.url)
    connect_cw(world.engine, world.tenants["b"], cw_server.url)
    return cw_server
