"""Issue 19, points 3 and 5: a corrupting proxy in front of the ConnectWise sandbox replaces the answers of
changes and uploads that the sandbox carried out (HTML with status 200, JSON missing its fields, 502 after
processing, an unreadable documents listing). Every quantity is set once, every agreement gets exactly one
report, and History records what ConnectWise holds — before → after — never "failed" for a change that was made."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from seatsync.db.engine import transaction
from seatsync.db.models import PushIntent, PushResult, PushRun
from seatsync.push import runs
from seatsync.push.engine import push
from seatsync.push.runs import Outcome
from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app
from seatsync.sandboxes.server import BackgroundServer
from seatsync.targets.base import PushOptions
from tests.push.conftest import PERIOD, World, build_world, make_client
from tests.push.proxy import CorruptingProxy
from tests.push.test_cli import connect, invoke

ADDITION = r"/finance/agreements/\d+/additions/\d+$"
DOCUMENTS = r"/system/documents$"
BEFORE = 5


@pytest.fixture
def proxy(world: World) -> Iterator[tuple[CorruptingProxy, str]]:
    corrupting = CorruptingProxy(world.url)
    with BackgroundServer(corrupting.app()) as server:
        yield corrupting, server.url


def _push_through(world: World, url: str, **options: bool) -> int:
    def factory(_session: object, _tenant: object) -> object:
        return make_client(url)

    return push(
        world.engine,
        tenant_id=world.tenant.id,
        target="connectwise",
        options=PushOptions(period=PERIOD, started_by="test", **options),
        client_factory=factory,  # type: ignore[arg-type]
        concurrency=2,
    )


def _history(world: World, run_id: int) -> dict[str, tuple[float | None, float | None, str]]:
    with transaction(world.engine) as session:
        rows = runs.run_results(session, tenant_id=world.tenant.id, run_id=run_id)
        return {
            r.company_id: (r.result.quantity_before, r.result.quantity_after, r.result.outcome)
            for r in rows
            if r.result.outcome != Outcome.NOT_MAPPED
        }


def _start_at(world: World, quantity: float) -> None:
    for m in world.mapped.values():
        world.sandbox.additions[m.addition]["quantity"] = quantity


def _assert_once(world: World) -> None:
    for cid, m in world.mapped.items():
        assert world.quantity(cid) == m.billable, cid
        assert [(c.old, c.new) for c in world.sandbox.changes_of(m.addition)] == [(BEFORE, m.billable)], cid
        assert len(world.documents(cid)) == 1, (cid, world.documents(cid))


@pytest.mark.parametrize("mode", ["html", "missing", "502"])
def test_changes_and_uploads_answered_unreadably_are_read_back_and_recorded_true(
    world: World, proxy: tuple[CorruptingProxy, str], mode: str
) -> None:
    corrupting, url = proxy
    _start_at(world, BEFORE)
    corrupting.corrupt("PATCH", ADDITION, mode, times=len(world.mapped))
    corrupting.corrupt("POST", DOCUMENTS, mode, times=len(world.mapped))
    run_id = _push_through(world, url)
    assert {m for _method, _path, m in corrupting.corrupted} == {mode}
    assert _history(world, run_id) == {
        cid: (float(BEFORE), float(m.billable), Outcome.SUCCEEDED) for cid, m in world.mapped.items()
    }
    _assert_once(world)
    # and the next push finds everything done: no change, no upload
    again = _push_through(world, url)
    assert _history(world, again) == {
        cid: (float(m.billable), float(m.billable), Outcome.UNCHANGED) for cid, m in world.mapped.items()
    }
    _assert_once(world)


@pytest.mark.parametrize("upload", ["html", "502"])
def test_an_upload_whose_answer_and_listing_are_unreadable_is_found_by_its_hash_before_trying_again(
    world: World, proxy: tuple[CorruptingProxy, str], upload: str
) -> None:
    corrupting, url = proxy
    _start_at(world, BEFORE)
    corrupting.corrupt("POST", DOCUMENTS, upload)
    corrupting.corrupt("GET", DOCUMENTS, "html")
    first = _push_through(world, url)
    history = _history(world, first)
    for cid, m in world.mapped.items():
        assert history[cid] == (float(BEFORE), float(m.billable), Outcome.FAILED), cid
    with transaction(world.engine) as session:
        reasons = [r.result.reason or "" for r in runs.run_results(session, tenant_id=world.tenant.id, run_id=first)]
    assert sum("the report may have been attached" in r for r in reasons) == len(world.mapped), reasons
    corrupting.clear()
    retried = _push_through(world, url, retry_failed=True)
    assert _history(world, retried) == {
        cid: (float(m.billable), float(m.billable), Outcome.UNCHANGED) for cid, m in world.mapped.items()
    }
    _assert_once(world)
    with transaction(world.engine) as session:
        assert session.scalar(select(PushRun.status).where(PushRun.id == retried)) == runs.RunStatus.SUCCEEDED
        # every write was announced before it was sent
        announced = {
            (i.company_pk, i.quantity_before, i.quantity_intended) for i in session.scalars(select(PushIntent))
        }
    assert {(BEFORE, m.billable) for m in world.mapped.values()} <= {(b, n) for _pk, b, n in announced}


def test_a_push_killed_while_waiting_for_answers_is_read_back_into_its_own_history(
    engine: Engine, database_url: str, subprocess_env: dict[str, str]
) -> None:
    """kill -9 while two uploads the sandbox carried out wait for their answers (the proxy holds them): the next
    push reads those companies back and records their true before → after on the killed run; it then finds
    their quantity set and their report attached (nothing sent twice) and pushes the rest."""
    sandbox = ConnectWiseSandbox(seed=None)
    with BackgroundServer(create_app(sandbox)) as server:
        corrupting = CorruptingProxy(server.url)
        with BackgroundServer(corrupting.app()) as front:
            world = build_world(engine, sandbox, front.url, mapped=4, unmapped=0)
            connect(world)
            _start_at(world, BEFORE)
            corrupting.corrupt("POST", DOCUMENTS, "hold")
            env = {**subprocess_env, "SEATSYNC_CONNECTWISE_CONCURRENCY": "2"}
            command = [sys.executable, "-m", "seatsync", "push", "connectwise", "--tenant", world.tenant.slug]
            command += ["--period", str(PERIOD), "--database-url", database_url]
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                # synchronised on the sandbox: two reports attached, their answers held by the proxy
                deadline = time.monotonic() + 60
                while (len(sandbox.documents) < 2 or corrupting.held() < 2) and process.poll() is None:
                    assert time.monotonic() < deadline, "the push never reached two uploads"
                    time.sleep(0.02)
                os.kill(process.pid, signal.SIGKILL)
            finally:
                process.wait(timeout=10)
            corrupting.clear()
            with transaction(engine) as session:
                (killed,) = session.scalars(select(PushRun))
                killed_id = killed.id
                assert killed.status == runs.RunStatus.RUNNING
                assert session.scalars(select(PushResult).where(PushResult.run_id == killed_id)).all() == []
            uploaded = {d.record_id for d in sandbox.documents.values()}
            sent = {cid for cid, m in world.mapped.items() if m.agreement in uploaded}
            assert len(sent) == 2
            again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            assert again.returncode == 0, again.stdout + again.stderr
    with transaction(engine) as session:
        statuses = [r.status for r in session.scalars(select(PushRun).order_by(PushRun.id))]
        (rerun,) = session.scalars(select(PushRun.id).where(PushRun.id != killed_id))
        killed = session.get(PushRun, killed_id)
        assert killed is not None and killed.succeeded == 2
    assert statuses == [runs.RunStatus.INTERRUPTED, runs.RunStatus.SUCCEEDED]
    assert _history(world, killed_id) == {
        cid: (float(BEFORE), float(world.mapped[cid].billable), Outcome.SUCCEEDED) for cid in sent
    }
    assert _history(world, rerun) == {
        cid: (float(m.billable), float(m.billable), Outcome.UNCHANGED)
        if cid in sent
        else (float(BEFORE), float(m.billable), Outcome.SUCCEEDED)
        for cid, m in world.mapped.items()
    }
    _assert_once(world)
    code, out = invoke(database_url, "history", "--tenant", world.tenant.slug, "--format", "csv")
    assert code == 0, out
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["run_id"] == str(killed_id)]
    assert sorted((r["company_id"], r["quantity_before"], r["quantity_after"], r["outcome"]) for r in rows) == sorted(
        (cid, "5.0", f"{float(world.mapped[cid].billable)}", "succeeded") for cid in sent
    )
