"""Issue 19, point 5, for every registered target: a run killed after its writes reached the remote but before
their results were written leaves only its intents (committed before each write). The next run reads those
items back and writes their true before → after on the killed run; a target that cannot read back (the fake
one, like Gradient) records them ``unconfirmed``, never as done and never lost."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from seatsync.db.engine import transaction
from seatsync.db.models import PushIntent, PushResult, PushRun
from seatsync.push.intents import ReadsBack
from seatsync.push.runs import Outcome, RunStatus
from seatsync.targets import get_target
from tests.targets.test_contract import push, results, run
from tests.targets.worlds import ContractWorld

GONE = 2**22 + 12345  # above pid_max: no such process


def test_a_killed_runs_unrecorded_writes_are_read_back_into_its_own_history(
    contract: ContractWorld, target_key: str
) -> None:
    first = push(contract, target_key)
    sent = results(contract, first)
    before = {k: sent[k].quantity_before for k in contract.expected()}
    with transaction(contract.engine) as session:
        announced = session.scalar(select(func.count()).select_from(PushIntent).where(PushIntent.run_id == first))
        assert announced == len(contract.expected()), "every write is announced before it is sent"
        # the run as a kill -9 leaves it: its writes done, their results never written, its process gone
        session.execute(delete(PushResult).where(PushResult.run_id == first))
        killed = session.get(PushRun, first)
        assert killed is not None
        killed.status, killed.pid = RunStatus.RUNNING, GONE
    writes = contract.writes()
    second = push(contract, target_key)
    assert run(contract, first).status == RunStatus.INTERRUPTED
    recorded = results(contract, first)
    reads_back = isinstance(get_target(target_key), ReadsBack)
    want = Outcome.SUCCEEDED if reads_back else Outcome.UNCONFIRMED
    assert {k: (r.quantity_before, r.quantity_after, r.outcome) for k, r in recorded.items()} == {
        k: (before[k], after, want) for k, after in contract.expected().items()
    }
    assert all(
        "after the run stopped" in (r.reason or "") or "when the run stopped" in (r.reason or "")
        for r in recorded.values()
    )
    assert contract.remote() == contract.expected()
    again = results(contract, second)
    if reads_back:
        # what was read back is found set: nothing written again
        assert contract.writes() == writes
        assert {again[k].outcome for k in contract.expected()} == {Outcome.UNCHANGED}
    with Session(contract.engine) as session:
        assert session.get(PushRun, first).succeeded == (len(recorded) if reads_back else 0)  # type: ignore[union-attr]
    # read back once: a third run adds nothing to the killed run
    push(contract, target_key)
    assert results(contract, first).keys() == recorded.keys()
