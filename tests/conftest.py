"""Shared fixtures: a fresh database on SQLite *and* on the real PostgreSQL server for every DB test."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from seatsync.db.engine import make_engine
from seatsync.db.migrate import upgrade

PG_ADMIN_URL = os.environ.get("SEATSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SRC = Path(__file__).resolve().parents[1] / "src"
LOOPBACK_HOSTS = "127.0.0.0/8,::1,localhost"

# Property tests judge answers, not speed: Hypothesis's per-example deadline and its too-slow health check are
# wall-clock limits that fail on a loaded machine (a pure scheduling property failed so under load 14).
settings.register_profile("seatsync", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("seatsync")


def _pg_conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _loopback_only() -> Iterator[None]:
    """No test reaches past this machine: names other than loopback do not resolve (as on an offline machine)
    and a connection to another address is refused, whatever code under test tries."""
    resolve, connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host is None or _is_loopback(host):
            return resolve(host, *args, **kwargs)  # type: ignore[arg-type]
        try:
            ipaddress.ip_address(str(host))
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, f"tests resolve only loopback names, not {host!r}") from None
        return resolve(host, *args, **kwargs)  # type: ignore[arg-type]

    def guarded_connect(sock: socket.socket, address: object) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"tests connect only to loopback, not {address[0]!r}")
        connect(sock, address)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        patch.setattr(socket.socket, "connect", guarded_connect)
        yield


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL admin URL; fails loudly (never skips) when the server cannot be reached."""
    try:
        with psycopg.connect(_pg_conninfo(PG_ADMIN_URL), connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} cannot be reached: {exc}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = f"seatsync_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_conninfo(pg_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_server.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://")
    try:
        yield url
    finally:
        with psycopg.connect(_pg_conninfo(pg_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'seatsync.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'seatsync.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's environment or writes keys/databases outside its tmp dir."""
    from seatsync.config import get_settings

    for key in list(os.environ):
        if key.startswith("SEATSYNC_") and key != "SEATSYNC_TEST_PG":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SEATSYNC_KEY_FILE", str(tmp_path / "seatsync.key"))
    # the sandboxes listen on loopback; every other address stays refused as in production
    monkeypatch.setenv("SEATSYNC_ALLOWED_HOSTS", LOOPBACK_HOSTS)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for running ``python -m seatsync`` from this source tree in a subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show that the database tests ran on both backends."""
    passed = terminalreporter.stats.get("passed", [])
    by_backend = {
        name: sum(1 for r in passed if f"[{name}" in r.nodeid or f"-{name}]" in r.nodeid or f"-{name}-" in r.nodeid)
        for name in ("sqlite", "postgresql")
    }
    terminalreporter.write_line(
        f"database tests passed: sqlite {by_backend['sqlite']}, postgresql {by_backend['postgresql']}"
    )
