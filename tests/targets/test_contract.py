"""The billing-target contract, for every registered target: plan, dry run, push, re-push, retry failed, force,
a future period, a refused credential. Each target brings a world (``tests/targets/worlds.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.db.models import PushResult, PushRun, Tenant
from seatsync.domain.planning import Action
from seatsync.errors import PeriodNotStarted
from seatsync.push import engine as push_engine
from seatsync.push.runs import Outcome, RunStatus
from seatsync.targets import PushOptions, get_target
from tests.targets.worlds import PERIOD, ContractWorld

NOW = datetime(2026, 11, 5, tzinfo=UTC)  # the engine's clock: October is closed, November in progress


def push(world: ContractWorld, key: str, **options: bool) -> int:
    return push_engine.push(
        world.engine,
        tenant_id=world.tenant_id,
        target=key,
        options=PushOptions(PERIOD, started_by="contract", **options),
        client_factory=world.factory(),
        concurrency=1,  # a fatal answer stops the next item, whatever the machine's speed
        clock=lambda: NOW,
    )


def results(world: ContractWorld, run_id: int) -> dict[tuple[int, str], PushResult]:
    with Session(world.engine) as session:
        rows = session.scalars(select(PushResult).where(PushResult.run_id == run_id))
        return {(r.company_pk, r.product or ""): r for r in rows}


def run(world: ContractWorld, run_id: int) -> PushRun:
    with Session(world.engine) as session:
        found = session.get(PushRun, run_id)
        assert found is not None
        return found


def test_plan_says_before_after_action_and_changes_nothing(contract: ContractWorld, target_key: str) -> None:
    writes = contract.writes()
    with Session(contract.engine) as session:
        tenant = session.get(Tenant, contract.tenant_id)
        assert tenant is not None
        client = contract.factory()(session, tenant)
        try:
            rows = push_engine.preview(session, tenant=tenant, target=target_key, period=PERIOD, client=client)
        finally:
            client.close()
    planned = {r.key: r for r in rows if r.key in contract.expected()}
    assert set(planned) == set(contract.expected())
    assert {k: r.after for k, r in planned.items()} == contract.expected()
    assert {r.action for r in planned.values()} <= {Action.UPDATE, Action.UNCHANGED}
    assert contract.writes() == writes


def test_dry_run_records_the_plan_and_sends_nothing(contract: ContractWorld, target_key: str) -> None:
    before, writes = contract.remote(), contract.writes()
    run_id = push(contract, target_key, dry_run=True)
    assert contract.writes() == writes and contract.remote() == before
    found = results(contract, run_id)
    assert {k: found[k].outcome for k in contract.expected()} == dict.fromkeys(contract.expected(), Outcome.PLANNED)
    assert run(contract, run_id).dry_run


def test_push_sets_every_item_and_a_re_push_is_a_no_op(contract: ContractWorld, target_key: str) -> None:
    first = push(contract, target_key)
    assert run(contract, first).status == RunStatus.SUCCEEDED
    assert contract.remote() == contract.expected()
    found = results(contract, first)
    assert {found[k].outcome for k in contract.expected()} == {Outcome.SUCCEEDED}
    assert {found[k].quantity_after for k in contract.expected()} == set(contract.expected().values())

    writes = contract.writes()
    again = push(contract, target_key)
    assert run(contract, again).status == RunStatus.SUCCEEDED
    assert contract.remote() == contract.expected()
    if contract.compares:  # read, compare: nothing to set
        assert contract.writes() == writes
        assert {results(contract, again)[k].outcome for k in contract.expected()} == {Outcome.UNCHANGED}


def test_retry_failed_re_sends_only_the_failures(contract: ContractWorld, target_key: str) -> None:
    broken = sorted(contract.expected())[0]
    contract.fail(broken)
    first = push(contract, target_key)
    found = results(contract, first)
    assert found[broken].outcome == Outcome.FAILED and found[broken].reason
    assert run(contract, first).status == RunStatus.PARTIAL

    contract.fail(None)
    writes = contract.writes()
    retried = push(contract, target_key, retry_failed=True)
    again = results(contract, retried)
    assert set(again) == {broken}  # only the failure
    assert again[broken].outcome == Outcome.SUCCEEDED and again[broken].attempts == 2
    assert contract.writes() - writes >= 1
    assert contract.remote() == contract.expected()


def test_force_sends_the_blocked_rows(contract: ContractWorld, target_key: str) -> None:
    push(contract, target_key)
    changed = sorted(contract.expected())[-1]
    if not contract.drift(changed):
        # nothing can block in this target: the override is accepted and changes nothing
        forced = push(contract, target_key, force=True)
        assert Outcome.BLOCKED not in {r.outcome for r in results(contract, forced).values()}
        assert run(contract, forced).forced and contract.remote() == contract.expected()
        return
    blocked = push(contract, target_key)
    assert results(contract, blocked)[changed].outcome == Outcome.BLOCKED
    assert contract.remote()[changed] != contract.expected()[changed]
    forced = push(contract, target_key, force=True)
    assert results(contract, forced)[changed].outcome == Outcome.SUCCEEDED
    assert contract.remote() == contract.expected()


def test_a_period_that_has_not_started_is_refused_and_nothing_is_sent(contract: ContractWorld, target_key: str) -> None:
    writes = contract.writes()
    with pytest.raises(PeriodNotStarted, match="2026-12 has not started"):
        push_engine.push(
            contract.engine,
            tenant_id=contract.tenant_id,
            target=target_key,
            options=PushOptions(PERIOD.next().next()),
            client_factory=contract.factory(),
            clock=lambda: NOW,
        )
    with Session(contract.engine) as session:
        assert session.scalars(select(PushRun).where(PushRun.tenant_id == contract.tenant_id)).all() == []
    assert contract.writes() == writes
    tenant_zone = "UTC"
    assert push_engine.period_status(PERIOD.next(), zone=tenant_zone, now=NOW) == push_engine.IN_PROGRESS


def test_a_401_stops_the_run_and_marks_the_integration_broken(contract: ContractWorld, target_key: str) -> None:
    contract.refuse_credentials()
    run_id = push(contract, target_key)
    found = run(contract, run_id)
    assert found.status == RunStatus.FAILED
    assert "refused the credentials" in (found.status_reason or "")
    rows = results(contract, run_id)
    assert {rows[k].outcome for k in contract.expected()} == {Outcome.FAILED}
    assert sum("not pushed" in (rows[k].reason or "") for k in contract.expected()) >= len(contract.expected()) - 1
    with Session(contract.engine) as session:
        tenant = session.get(Tenant, contract.tenant_id)
        assert tenant is not None
        assert get_target(target_key).connected_since(session, tenant=tenant) is None  # broken


def test_a_push_by_hand_holds_the_rows_over_the_threshold_until_confirmed(
    contract: ContractWorld, target_key: str
) -> None:
    """The gate is the engine's: any change over the tenant's threshold (here: more than 0 seats) waits unless the
    operator confirmed it, for every target."""
    from seatsync.db.models import TargetAutomation

    with Session(contract.engine) as session, session.begin():
        session.add(TargetAutomation(tenant_id=contract.tenant_id, target=target_key, approve_above_seats=0))
    before = contract.remote()
    first = push(contract, target_key)
    found = results(contract, first)
    expected = contract.expected()
    held = {k for k in expected if found[k].outcome == Outcome.AWAITING_APPROVAL}
    assert held, "the world has no item whose count changes"
    assert {found[k].outcome for k in set(expected) - held} <= {Outcome.SUCCEEDED, Outcome.UNCHANGED}
    now = contract.remote()
    assert all(now.get(k) == before.get(k) for k in held)  # nothing sent for them
    assert {found[k].quantity_after for k in held} <= set(expected.values())  # the proposed quantities kept

    confirmed = push(contract, target_key, approve_over_threshold=True)
    assert contract.remote() == expected
    assert {results(contract, confirmed)[k].outcome for k in held} == {Outcome.SUCCEEDED}


def test_disconnect_forgets_the_credentials_and_says_so(contract: ContractWorld, target_key: str) -> None:
    """``seatsync disconnect TARGET`` and the web's Disconnect, through the seam: connected, then not."""
    target = get_target(target_key)
    with Session(contract.engine) as session, session.begin():
        tenant = session.get(Tenant, contract.tenant_id)
        assert tenant is not None
        assert target.connected_since(session, tenant=tenant) is not None
        done = target.disconnect(session, tenant=tenant)
        assert done.was_connected and done.summary(target.label).startswith(f"{target.label} disconnected: ")
        assert "(mappings and history are kept)" in done.summary(target.label)
        assert target.connected_since(session, tenant=tenant) is None
        again = target.disconnect(session, tenant=tenant)
        assert not again.was_connected and again.summary(target.label) == (
            f"{target.label} was not connected: nothing to forget."
        )
