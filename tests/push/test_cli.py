"""The commands, in process (click's runner) and as a real process killed mid-push."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import PushResult, PushRun
from seatsync.push.runs import RunStatus
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import connectwise_connection
from tests.push.conftest import CLIENT_ID, World, build_world


def connect(world: World, public: str = "demo-public", private: str = "demo-private") -> None:
    with transaction(world.engine) as session:
        result = connectwise_connection.connect(
            session,
            tenant=world.tenant,
            site=world.url,
            company_id="demo",
            public_key=public,
            private_key=private,
            client_id=CLIENT_ID,
        )
    assert result.status in (connectwise_connection.IntegrationStatus.CONNECTED, "broken")
    with world.sandbox.lock:
        world.sandbox.requests.clear()


def invoke(database_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--database-url", database_url], catch_exceptions=False)
    return result.exit_code, result.output


def test_dry_run_prints_the_plan_and_writes_nothing(world: World, database_url: str) -> None:
    connect(world)
    world.sandbox.set_quantity_by_hand(world.mapped["c02"].addition, 2)
    code, out = invoke(
        database_url, "push", "connectwise", "--tenant", world.tenant.slug, "--period", "2026-10", "--dry-run"
    )
    assert code == 0, out
    assert "dry run: nothing is written" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("c0")}
    assert lines["c01"].split()[3:6] == ["0", "1", "update"]
    assert lines["c02"].split()[3:6] == ["2", "2", "unchanged"]
    assert "skip" in lines["c04"] and "not mapped to ConnectWise" in lines["c04"]
    with transaction(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(PushRun)) == 0
    assert world.requests("PATCH", "/") == 0
    assert world.requests("POST", "/") == 0


def test_live_push_summary_exit_code_and_history(world: World, database_url: str) -> None:
    connect(world)
    code, out = invoke(database_url, "push", "connectwise", "--tenant", world.tenant.slug, "--period", "2026-10")
    assert code == 0, out
    assert "succeeded" in out and "3 succeeded, 0 unchanged, 0 failed, 0 blocked, 1 not mapped" in out
    world.sandbox.set_quantity_by_hand(world.mapped["c03"].addition, 30)
    code, out = invoke(database_url, "push", "connectwise", "--tenant", world.tenant.slug, "--period", "2026-10")
    assert code == 1, out  # c03 is blocked (drift)
    assert "blocked" in out and "changed in ConnectWise since seatsync set it to 3" in out
    code, out = invoke(database_url, "history", "--tenant", world.tenant.slug, "--format", "csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 8
    blocked = [r for r in rows if r["outcome"] == "blocked"]
    assert [(r["company_id"], r["quantity_before"], r["run_status"]) for r in blocked] == [("c03", "30.0", "partial")]
    code, out = invoke(database_url, "history", "--tenant", world.tenant.slug)
    assert code == 0 and "partial" in out and "succeeded" in out


def test_readonly_member_push_exits_1_with_the_reason(world: World, database_url: str) -> None:
    connect(world, "readonly-public", "readonly-private")
    code, out = invoke(database_url, "push", "connectwise", "--tenant", world.tenant.slug, "--period", "2026-10")
    assert code == 1
    assert "the API member lacks Finance › Agreements › Edit Level (All)" in out


def test_map_connectwise_refuses_a_broken_chain(world: World, database_url: str) -> None:
    connect(world)
    other = world.sandbox.add_company("Somebody Else")
    foreign = world.sandbox.add_agreement(other["id"])
    c04 = world.sandbox.add_company("CW Company C04")
    agreement = world.sandbox.add_agreement(c04["id"], name="Managed C04")
    addition = world.sandbox.add_addition(agreement["id"], quantity=1)
    base = ["map", "connectwise", "--tenant", world.tenant.slug, "--company", "c04", "--cw-company", str(c04["id"])]
    result = CliRunner().invoke(cli, [*base, "--agreement", str(foreign["id"]), "--database-url", database_url])
    assert result.exit_code == 1
    assert f"agreement {foreign['id']}" in result.output and "belongs to ConnectWise Somebody Else" in result.output
    code, out = invoke(database_url, *base, "--agreement", str(agreement["id"]), "--addition", str(addition["id"]))
    assert code == 0, out
    assert "mapping saved for c04: CW Company C04" in out


def test_map_suggest_lists_and_accepts(world: World, database_url: str) -> None:
    connect(world)
    c04 = world.sandbox.add_company("Company C04, LLC")
    agreement = world.sandbox.add_agreement(c04["id"])
    addition = world.sandbox.add_addition(agreement["id"], quantity=0)
    world.sandbox.add_company("Company C04", deleted=True)
    code, out = invoke(database_url, "map", "suggest", "--tenant", world.tenant.slug, "--format", "csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["company_id"], r["cw_company"], r["confidence"]) for r in rows] == [
        ("c04", f"Company C04, LLC ({c04['id']})", "1.00")
    ]
    assert rows[0]["addition"].endswith(f"({addition['id']})")
    code, out = invoke(database_url, "map", "suggest", "--tenant", world.tenant.slug, "--accept-above", "0.9")
    assert code == 0 and "1 mapping(s) saved" in out
    code, out = invoke(database_url, "push", "connectwise", "--tenant", world.tenant.slug, "--period", "2026-10")
    assert code == 0, out
    assert world.sandbox.additions[addition["id"]]["quantity"] == 4


def _results(engine: Engine) -> list[PushResult]:
    with transaction(engine) as session:
        return list(session.scalars(select(PushResult).where(PushResult.outcome == "succeeded")))


def test_a_push_killed_mid_way_is_finished_by_the_next_with_no_double_effect(
    engine: Engine, database_url: str, subprocess_env: dict[str, str]
) -> None:
    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(sandbox)) as server:
        world = build_world(engine, sandbox, server.url, mapped=10, unmapped=0)
        connect(world)
        sandbox.configure(latency_ms=120)
        env = {**subprocess_env, "SEATSYNC_CONNECTWISE_CONCURRENCY": "2"}
        command = [sys.executable, "-m", "seatsync", "push", "connectwise", "--tenant", world.tenant.slug]
        command += ["--period", "2026-10", "--database-url", database_url]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 180  # an upper bound, not a speed target
            while len(_results(engine)) < 2 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(timeout=10)
            assert process.stderr is not None
            process.stderr.close()
        recorded = _results(engine)
        assert 2 <= len(recorded) < 10, "the push was not killed mid-way"
        # nothing recorded that did not happen
        for result in recorded:
            assert result.addition_id is not None
            assert sandbox.additions[result.addition_id]["quantity"] == result.quantity_after
        with transaction(engine) as session:
            (killed,) = session.scalars(select(PushRun))
            assert killed.status == RunStatus.RUNNING
        sandbox.configure(latency_ms=0)
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stdout + again.stderr
        with transaction(engine) as session:
            statuses = [r.status for r in session.scalars(select(PushRun).order_by(PushRun.id))]
        assert statuses == [RunStatus.INTERRUPTED, RunStatus.SUCCEEDED]
        for cid, m in world.mapped.items():
            assert world.quantity(cid) == m.billable
            assert len(sandbox.changes_of(m.addition)) == 1, cid
            assert len(world.documents(cid)) == 1, cid


def test_a_month_that_has_not_started_exits_2_and_sends_nothing(world: World, database_url: str) -> None:
    connect(world)
    for extra in ((), ("--dry-run",)):
        args = ["push", "connectwise", "--tenant", world.tenant.slug, "--period", "2099-01", *extra]
        result = CliRunner().invoke(cli, [*args, "--database-url", database_url])
        assert result.exit_code == 2, result.output
        assert "2099-01 has not started yet" in result.output and "nothing was sent" in result.output
    with transaction(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(PushRun)) == 0
    assert len(world.sandbox.requests) == 0
