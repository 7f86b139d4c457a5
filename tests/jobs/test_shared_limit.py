"""With ``seatsync serve`` in ``auto`` mode and two ``seatsync worker`` processes pushing Gradient at the same time
(the serve process runs the pushes started before the workers came up, the workers the later ones), the vendor
key's limit holds across all of them: counted at the sandbox."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from seatsync.db.engine import transaction
from seatsync.db.models import Operator
from seatsync.sandboxes import gradient as gradient_sandbox
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.gradient import GradientSandbox
from seatsync.sandboxes.server import BackgroundServer, free_port
from seatsync.web import auth
from tests.jobs.conftest import Workers, scalar, wait_for
from tests.jobs.world import GRADIENT_VENDOR, build, connect_gradient

pytestmark = pytest.mark.postgres

RATE = 10.0  # requests a second for the vendor key (SEATSYNC_GRADIENT_RATE_LIMIT)
BURST = max(1.0, RATE / 10)  # the shared bucket's burst (seatsync.jobs.limiter.gradient_limiter)


class Gate:
    """In front of the sandbox: holds every API request until opened, then notes when each one arrives."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.open = threading.Event()
        self.open.set()  # open while the test sets things up
        self.arrivals: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            while not self.open.is_set():
                await asyncio.sleep(0.01)
            self.arrivals.append(time.monotonic())
        await self.app(scope, receive, send)


def _token(engine: Engine, tenant_id: int) -> str:
    with transaction(engine) as session:
        operator = Operator(tenant_id=tenant_id, email=f"admin{tenant_id}@limit.test", password_hash="-", role="admin")
        session.add(operator)
        session.flush()
        principal = auth.Principal(operator.id, tenant_id, operator.email, auth.Role.ADMIN, "token")
        return auth.create_token(
            session, principal=principal, name="limit", role=auth.Role.ADMIN, now=datetime.now(UTC)
        )[1]


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_gradient_limit_holds_across_serve_and_workers(
    pg_url: str, pg_engine: Engine, workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", GRADIENT_VENDOR)
    env = {**workers.env, "SEATSYNC_GRADIENT_VENDOR_KEY": GRADIENT_VENDOR, "SEATSYNC_GRADIENT_RATE_LIMIT": str(RATE)}
    workers.env.update(env)
    sandbox = GradientSandbox.seeded("empty")
    gate = Gate(gradient_sandbox.create_app(sandbox, rate_limit=None))
    cw = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(cw)) as cw_server, BackgroundServer(gate) as gradient_server:  # type: ignore[arg-type]
        worlds = build(pg_engine, cw, cw_server.url, tenants_count=4, companies=10)
        # connected now: no month is due for the schedule, only the pushes asked for below run
        connect_gradient(pg_engine, sandbox, gradient_server.url, worlds, since=datetime.now(UTC))
        tokens = {w.id: _token(pg_engine, w.id) for w in worlds}
        gate.open.clear()
        port = free_port()
        with (tmp_path / "serve.log").open("wb") as log:
            serve = subprocess.Popen(
                [sys.executable, "-m", "seatsync", "serve", "--port", str(port)],
                env={**env, "SEATSYNC_JOB_QUEUE": "auto"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(lambda: _healthy(port), 90, "seatsync serve")

            def push(tenant_id: int) -> int:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/api/v1/pushes",
                    json={"target": "gradient", "period": "2026-10"},
                    headers={"Authorization": f"Bearer {tokens[tenant_id]}"},
                    timeout=60,
                )
                assert response.status_code == 202, response.text
                return int(response.json()["run_id"])

            # no worker yet: serve runs these two itself (they wait at the gate)
            in_serve = [push(w.id) for w in worlds[:2]]
            options = ("--concurrency", "4", "--heartbeat", "0.5")
            workers.start(*options)
            workers.start(*options)
            wait_for(lambda: scalar(pg_engine, "SELECT count(*) FROM procrastinate_workers") == 2, 60, "two workers")
            in_workers = [push(w.id) for w in worlds[2:]]  # queued for the workers now
            claimed = "SELECT count(*) FROM push_runs WHERE id = ANY(:ids) AND pid IS NOT NULL AND status = 'running'"
            wait_for(lambda: scalar(pg_engine, claimed, ids=in_workers) == 2, 60, "the workers to take their runs")
            hosts = "SELECT count(DISTINCT pid) FROM push_runs WHERE id = ANY(:ids)"
            assert scalar(pg_engine, hosts, ids=in_serve + in_workers) >= 2  # serve and workers push at once
            gate.arrivals.clear()
            started = time.monotonic()
            gate.open.set()
            done = "SELECT count(*) FROM push_runs WHERE id = ANY(:ids) AND status <> 'running'"
            wait_for(lambda: scalar(pg_engine, done, ids=in_serve + in_workers) == 4, 120, "every push", 0.2)
        except AssertionError:
            print(workers.output(), (tmp_path / "serve.log").read_text(errors="replace"))
            raise
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)
    statuses = "SELECT count(*) FROM push_runs WHERE id = ANY(:ids) AND status = 'succeeded'"
    assert scalar(pg_engine, statuses, ids=in_serve + in_workers) == 4
    # whatever the delays between admission and arrival, the n requests cannot all have arrived sooner than
    # (n - held - BURST) / RATE after the gate opened, where held (at most one a push: its first request) were
    # admitted before it opened; a private bucket in serve would have let them through about twice as fast
    arrivals = sorted(gate.arrivals)
    n, held = len(arrivals), 4
    assert n >= 4 * 10 * 2  # every count, plus the account syncs
    assert arrivals[-1] - started >= (n - held - BURST) / RATE, (
        n,
        arrivals[-1] - started,
    )
