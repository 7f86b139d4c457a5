"""SQLite has one writer: a long import must not hold it while it reads and stages a file, and a request that
cannot get it in time is answered 503 with Retry-After, never 500."""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from seatsync.config import get_settings
from seatsync.db.engine import make_engine, transaction
from seatsync.db.migrate import upgrade
from seatsync.db.models import StatusEvent
from seatsync.services.imports import ImportKind, import_file
from seatsync.services.tenants import get_tenant
from seatsync.web import deps
from seatsync.web.app import create_app
from tests.web.conftest import PASSWORD, FakeClock, seed_tenant

HEADER = b"user_id,company_id,email,name,status,at\n"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(sqlite_engine: Engine) -> Iterator[TestClient]:
    seed_tenant(sqlite_engine, "Alpha MSP", "a")
    app = create_app(settings=get_settings(), engine=sqlite_engine, clock=FakeClock())
    with TestClient(app) as test_client:
        yield test_client


class HeldFile(io.RawIOBase):
    """A users file whose reading stops half-way until the test lets it go on."""

    def __init__(self, rows: int) -> None:
        self.lines = [HEADER] + [
            f"big-{i},a-001,big{i}@a.test,Big {i},active,2026-10-01T00:00:00Z\n".encode() for i in range(rows)
        ]
        self.halfway, self.go_on = threading.Event(), threading.Event()

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> bytes:
        if len(self.lines) == 1000:
            self.halfway.set()
            assert self.go_on.wait(60)
        return self.lines.pop(0) if self.lines else b""


def login(client: TestClient) -> int:
    return client.post("/api/v1/auth/login", json={"email": "admin@a.test", "password": PASSWORD}).status_code


def test_logins_go_on_while_a_large_import_reads_its_file(sqlite_engine: Engine, client: TestClient) -> None:
    held = HeldFile(3000)
    outcome: dict[str, object] = {}

    def run_import() -> None:
        try:
            with transaction(sqlite_engine) as session:
                tenant = get_tenant(session, slug="alpha-msp")
                outcome["result"] = import_file(
                    session, tenant=tenant, kind=ImportKind.USERS, stream=held, source="big.csv"
                )
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=run_import)
    worker.start()
    assert held.halfway.wait(60)
    # the import has read and staged 2,000 rows: logins (writes) are not held up, several times over
    assert [login(client) for _ in range(3)] == [200, 200, 200]
    held.go_on.set()
    worker.join(60)
    assert "error" not in outcome, outcome
    with transaction(sqlite_engine) as session:
        assert session.scalar(select(func.count()).select_from(StatusEvent)) == 12 + 3000


def test_a_busy_database_answers_503_with_retry_after(
    sqlite_engine: Engine, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deps, "SQLITE_WRITE_WAIT_MS", 50)
    client.headers["X-CSRF-Token"] = client.post(
        "/api/v1/auth/login", json={"email": "admin@a.test", "password": PASSWORD}
    ).json()["csrf_token"]
    other = sqlite3.connect(str(sqlite_engine.url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock (as a long import's merge does)
    try:
        busy = client.post("/api/v1/auth/login", json={"email": "admin@a.test", "password": PASSWORD})
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
        assert "the database is busy" in busy.json()["detail"]
        data = HEADER + b"late-1,a-001,late1@a.test,Late,active,2026-10-01T00:00:00Z\n"
        files = {"file": ("users.csv", io.BytesIO(data), "text/csv")}
        # the upload reads and checks its file without the lock; its merge waits for it, then answers 503
        upload = client.post("/api/v1/imports/users", files=files)
        assert upload.status_code == 503 and upload.headers["Retry-After"] == "5", upload.text
    finally:
        other.execute("ROLLBACK")
        other.close()
    again = client.post("/api/v1/auth/login", json={"email": "admin@a.test", "password": PASSWORD})
    assert again.status_code == 200
    client.headers["X-CSRF-Token"] = again.json()["csrf_token"]
    with transaction(sqlite_engine) as session:
        assert session.scalar(select(func.count()).select_from(StatusEvent)) == 12  # nothing of the upload
    assert client.post("/api/v1/imports/users", files={"file": ("users.csv", io.BytesIO(data))}).status_code == 200
