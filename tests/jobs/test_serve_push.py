"""Two ``seatsync serve`` processes on PostgreSQL, asked at the same instant to push the same tenant and target,
start one run: the partial unique index on running runs lets one insert win, the other answers 409."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from seatsync.db.engine import transaction
from seatsync.db.models import Operator
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer, free_port
from seatsync.web import auth
from tests.jobs.conftest import scalar, wait_for
from tests.jobs.world import build

pytestmark = pytest.mark.postgres


def _token(engine: Engine, tenant_id: int) -> str:
    with transaction(engine) as session:
        operator = Operator(tenant_id=tenant_id, email="admin@race.test", password_hash="-", role="admin")
        session.add(operator)
        session.flush()
        principal = auth.Principal(operator.id, tenant_id, operator.email, auth.Role.ADMIN, "token")
        _row, token = auth.create_token(
            session, principal=principal, name="race", role=auth.Role.ADMIN, now=datetime.now(UTC)
        )
        return token


def _serve(env: dict[str, str], url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "seatsync", "serve", "--port", str(port), "--database-url", url]
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_two_serve_processes_asked_at_once_start_one_run(
    pg_url: str, pg_engine: Engine, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(sandbox)) as cw:
        (tenant,) = build(pg_engine, sandbox, cw.url, tenants_count=1, companies=2)
        token = _token(pg_engine, tenant.id)
        env = {**subprocess_env, "SEATSYNC_JOB_QUEUE": "inprocess"}  # each process runs what it starts
        ports = [free_port(), free_port()]
        processes = [_serve(env, pg_url, port, tmp_path / f"serve-{port}.log") for port in ports]
        try:
            wait_for(lambda: all(_healthy(p) for p in ports), 90, "both seatsync serve processes")
            barrier = threading.Barrier(len(ports))
            answers: list[httpx.Response] = []

            def ask(port: int) -> None:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                    body = {"target": "connectwise", "period": "2026-10"}
                    barrier.wait()
                    answers.append(
                        client.post("/api/v1/pushes", json=body, headers={"Authorization": f"Bearer {token}"})
                    )

            threads = [threading.Thread(target=ask, args=(port,)) for port in ports]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(a.status_code for a in answers) == [202, 409], [a.text for a in answers]
            started = next(a for a in answers if a.status_code == 202).json()
            refused = next(a for a in answers if a.status_code == 409).json()
            assert "already running" in refused["detail"] or "same moment" in refused["detail"]
            runs_sql = "SELECT count(*) FROM push_runs WHERE tenant_id = :t AND target = 'connectwise'"
            assert scalar(pg_engine, runs_sql, t=tenant.id) == 1
            done_sql = "SELECT status FROM push_runs WHERE id = :r"
            wait_for(lambda: scalar(pg_engine, done_sql, r=started["run_id"]) != "running", 60, "the run to finish")
            assert scalar(pg_engine, done_sql, r=started["run_id"]) == "succeeded"
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    # every changed quantity was set once
    assert sorted(c.addition_id for c in sandbox.changes if c.field == "quantity") == sorted(tenant.expected)
