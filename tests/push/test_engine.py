"""The ConnectWise push engine against the sandbox over real sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from seatsync.connectors.http import RetryPolicy
from seatsync.db.engine import transaction
from seatsync.db.models import CWMapping, PushResult, PushRun
from seatsync.domain.planning import Action, BlockReason
from seatsync.errors import ConfigurationError, Conflict
from seatsync.push import runs
from seatsync.push.connectwise import preview, run_push
from seatsync.push.runs import RunStatus
from tests.push.conftest import PERIOD, World, make_client


def results(world: World, run_id: int) -> dict[str, PushResult]:
    with transaction(world.engine) as session:
        rows = runs.run_results(session, tenant_id=world.tenant.id, run_id=run_id)
        return {r.company_id: r.result for r in rows}


def get_run(world: World, run_id: int) -> PushRun:
    with transaction(world.engine) as session:
        return runs.get_run(session, tenant_id=world.tenant.id, run_id=run_id)


def push(world: World, **kwargs: object) -> int:
    kwargs.setdefault("client_factory", world.factory())
    return run_push(world.engine, tenant_id=world.tenant.id, period=PERIOD, **kwargs)  # type: ignore[arg-type]


def test_full_push_sets_every_addition_and_attaches_one_report(world: World) -> None:
    seen: list[tuple[int, int]] = []
    run_id = push(world, progress=lambda done, total: seen.append((done, total)))
    for cid, m in world.mapped.items():
        assert world.quantity(cid) == m.billable
        docs = world.documents(cid)
        assert len(docs) == 1
        assert docs[0]["title"].startswith(f"Company {cid.upper()} 2026-10: {m.billable} billable user")
        assert docs[0]["fileName"].endswith(".csv")
    by_company = results(world, run_id)
    assert {cid: r.outcome for cid, r in by_company.items()} == {
        "c01": "succeeded",
        "c02": "succeeded",
        "c03": "succeeded",
        "c04": "not_mapped",
    }
    c02 = by_company["c02"]
    assert (c02.quantity_before, c02.quantity_after, c02.billable, c02.attempts) == (0.0, 2.0, 2, 1)
    assert (c02.agreement_id, c02.addition_id) == (world.mapped["c02"].agreement, world.mapped["c02"].addition)
    assert c02.document_id == world.documents("c02")[0]["id"]
    assert c02.report_sha256 is not None and len(c02.report_sha256) == 64
    report = world.sandbox.documents[c02.document_id].content.decode()
    assert "u02-0,u02-0@example.com,User u02-0,active at the start of the period" in report
    assert "u02-1," in report
    run = get_run(world, run_id)
    assert (run.status, run.succeeded, run.not_mapped, run.total) == (RunStatus.SUCCEEDED, 3, 1, 4)
    assert run.finished_at is not None
    assert seen[-1] == (4, 4)
    with transaction(world.engine) as session:
        pushed = {m.company_pk: m.last_pushed_quantity for m in session.scalars(select(CWMapping))}
        assert sorted(pushed.values()) == [1.0, 2.0, 3.0]
        assert runs.last_push(session, tenant_id=world.tenant.id, target="connectwise") == run.finished_at
    # per changed company: read the addition, PATCH it, upload the report; plus one batched agreements read
    assert len(world.sandbox.requests) == 3 * 3 + 1
    assert world.requests("GET", "/system/documents") == 0


def test_a_second_identical_push_changes_nothing(world: World) -> None:
    push(world)
    documents = len(world.sandbox.documents)
    changes = len(world.sandbox.changes)
    with world.sandbox.lock:
        world.sandbox.requests.clear()
    run_id = push(world)
    assert world.requests("PATCH", "/additions/") == 0
    assert world.requests("POST", "/system/documents") == 0
    assert world.requests("GET", "/system/documents") == 0
    assert len(world.sandbox.documents) == documents
    assert len(world.sandbox.changes) == changes
    assert {r.outcome for cid, r in results(world, run_id).items() if cid != "c04"} == {"unchanged"}
    assert get_run(world, run_id).status == RunStatus.SUCCEEDED
    # one addition read per company and one agreements batch
    assert len(world.sandbox.requests) == 3 + 1


def test_preview_reads_and_writes_nothing(world: World) -> None:
    world.sandbox.set_quantity_by_hand(world.mapped["c02"].addition, 2)
    with make_client(world.url) as client, transaction(world.engine) as session:
        plan = preview(session, tenant=world.tenant, period=PERIOD, client=client)
        assert session.scalar(select(PushRun.id)) is None
    rows = {r.company.company_id: r for r in plan.rows}
    assert (rows["c01"].action, rows["c01"].current_quantity, rows["c01"].proposed_quantity) == (Action.UPDATE, 0, 1)
    assert rows["c02"].action is Action.UNCHANGED
    assert rows["c04"].action is Action.SKIP
    assert world.requests("PATCH", "/") == 0
    assert world.requests("POST", "/") == 0


def test_dry_run_records_what_would_be_done_and_sends_no_change(world: World) -> None:
    run_id = push(world, dry_run=True)
    assert {r.outcome for cid, r in results(world, run_id).items() if cid != "c04"} == {"planned"}
    assert world.requests("PATCH", "/") == 0
    assert world.requests("POST", "/") == 0
    assert world.sandbox.documents == {}
    with transaction(world.engine) as session:
        assert runs.last_push(session, tenant_id=world.tenant.id, target="connectwise") is None


def test_injected_faults_end_with_everything_applied_exactly_once(world: World) -> None:
    # errors (500, nothing done), slow answers (done, answered after the client gave up), dropped connections
    world.sandbox.configure(fault_rate=0.35, slow_seconds=0.6)
    factory = world.factory(timeout=0.3, retry=RetryPolicy(max_retries=8, backoff_base=0.01))
    run_id = push(world, client_factory=factory)
    for _ in range(3):
        if get_run(world, run_id).status == RunStatus.SUCCEEDED:
            break
        run_id = push(world, client_factory=factory, retry_failed=True)
    assert get_run(world, run_id).status == RunStatus.SUCCEEDED
    assert world.sandbox.stats()["faults"], "the sandbox injected no fault"
    for cid, m in world.mapped.items():
        assert world.quantity(cid) == m.billable
        assert len(world.sandbox.changes_of(m.addition)) == 1, cid
        assert len(world.documents(cid)) == 1, cid


def test_drift_blocks_until_forced(world: World) -> None:
    push(world)
    c02 = world.mapped["c02"]
    world.sandbox.set_quantity_by_hand(c02.addition, 40)
    run_id = push(world)
    row = results(world, run_id)["c02"]
    assert (row.outcome, row.quantity_before, row.quantity_after) == ("blocked", 40.0, None)
    assert row.reason is not None and "changed in ConnectWise since seatsync set it to 2 (it is now 40)" in row.reason
    assert world.quantity("c02") == 40
    run = get_run(world, run_id)
    assert (run.status, run.blocked, run.unchanged) == (RunStatus.PARTIAL, 1, 2)
    with make_client(world.url) as client, transaction(world.engine) as session:
        plan = preview(session, tenant=world.tenant, period=PERIOD, client=client)
    assert next(r.block for r in plan.rows if r.company.company_id == "c02") is BlockReason.DRIFT
    forced = push(world, force=True)
    assert results(world, forced)["c02"].outcome == "succeeded"
    assert world.quantity("c02") == 2
    assert len(world.documents("c02")) == 1  # the same report: reused
    assert get_run(world, forced).forced


def test_a_readonly_member_fails_with_the_missing_right(world: World) -> None:
    run_id = push(world, client_factory=world.factory("readonly-public", "readonly-private"))
    rows = results(world, run_id)
    for cid in world.mapped:
        assert rows[cid].outcome == "failed"
        assert rows[cid].reason is not None
        assert rows[cid].reason.startswith("the API member lacks Finance › Agreements › Edit Level (All)")
        assert world.quantity(cid) == 0
    assert get_run(world, run_id).status == RunStatus.FAILED
    # the retry-failed pass with a member that has the rights re-runs only those companies
    retried = push(world, retry_failed=True)
    again = results(world, retried)
    assert set(again) == set(world.mapped)
    assert {r.outcome for r in again.values()} == {"succeeded"}
    assert {r.attempts for r in again.values()} == {2}
    run = get_run(world, retried)
    assert (run.status, run.retry_failed) == (RunStatus.SUCCEEDED, True)
    with transaction(world.engine) as session:
        latest = runs.latest_results(session, tenant_id=world.tenant.id, target="connectwise", period="2026-10")
    assert sorted(r.outcome for r in latest.values()) == ["not_mapped", "succeeded", "succeeded", "succeeded"]


def test_a_deleted_addition_is_reported_in_words(world: World) -> None:
    c01 = world.mapped["c01"]
    with world.sandbox.lock:
        del world.sandbox.additions[c01.addition]
    row = results(world, push(world))["c01"]
    assert row.outcome == "blocked"
    assert row.reason is not None and f"addition {c01.addition} is no longer on agreement {c01.agreement}" in row.reason
    forced = results(world, push(world, force=True))["c01"]
    assert forced.outcome == "failed"
    assert forced.reason == (
        f"addition {c01.addition} was deleted in ConnectWise (it is no longer on agreement {c01.agreement}); "
        "choose another addition in the mapper"
    )


def test_a_dead_run_is_marked_interrupted_and_a_live_one_blocks_a_second(world: World) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    dead_pid = int(finished.stdout)
    with transaction(world.engine) as session:
        dead = runs.start_run(
            session, tenant_id=world.tenant.id, target="connectwise", period="2026-10", started_by="cli"
        )
        dead.pid = dead_pid
        dead_id = dead.id
    run_id = push(world)
    assert get_run(world, dead_id).status == RunStatus.INTERRUPTED
    assert get_run(world, run_id).status == RunStatus.SUCCEEDED
    with transaction(world.engine) as session:
        live = runs.start_run(
            session, tenant_id=world.tenant.id, target="connectwise", period="2026-10", started_by="web"
        )
        live_id = live.id
    with pytest.raises(Conflict, match="already running"):
        push(world)
    # a run whose heartbeat is older than the lease is dead wherever it runs
    with transaction(world.engine) as session:
        reaped = runs.reap_stale_runs(
            session,
            tenant_id=world.tenant.id,
            target="connectwise",
            now=datetime.now(UTC) + runs.LEASE + timedelta(seconds=1),
        )
    assert reaped == [live_id]


def test_a_tenant_not_connected_is_refused_before_a_run_starts(world: World) -> None:
    with pytest.raises(ConfigurationError, match="is not connected to ConnectWise"):
        run_push(world.engine, tenant_id=world.tenant.id, period=PERIOD)
    with transaction(world.engine) as session:
        assert runs.list_runs(session, tenant_id=world.tenant.id) == []  # nothing half-written
