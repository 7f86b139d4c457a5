"""Issue 19, point 5 for Gradient: a count a killed run sent without recording its answer is not lost from
History. Gradient's API has no call that reads a unit count back, so the next run records it on the killed run
as ``unconfirmed`` (sent, the count it meant, never claimed as accepted), and *retry failed* sends it again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushIntent, PushRun
from seatsync.push import runs
from seatsync.push.gradient import run_gradient_push
from seatsync.push.runs import Outcome, RunStatus
from tests.gradient.gradient_helpers import PERIOD, Connected, service_ids

pytestmark = pytest.mark.usefixtures("gradient_vendor_key")


def test_a_count_sent_by_a_killed_run_is_recorded_unconfirmed_on_it_and_retried(
    gradient_world: Connected, gradient: Any
) -> None:
    world = gradient_world
    sat = service_ids(gradient.sandbox)["sat"]
    with transaction(world.engine) as session:
        killed = runs.start_run(
            session, tenant_id=world.tenant.id, target="gradient", period=str(PERIOD), started_by="x"
        )
        killed.pid = 2**22 + 12345  # above pid_max: the process is gone
        killed_id = killed.id
        company = session.scalar(
            select(Company).where(Company.tenant_id == world.tenant.id, Company.company_id == "c-1")
        )
        assert company is not None
        # what the killed run committed before sending c-1's count (its answer never recorded)
        session.execute(
            insert(PushIntent),
            [
                {
                    "run_id": killed_id,
                    "tenant_id": world.tenant.id,
                    "company_pk": company.id,
                    "product": "sat",
                    "quantity_before": None,
                    "quantity_intended": 2.0,
                    "billable": 2,
                    "item": {"service": sat, "remote_id": "c-1"},
                    "created_at": datetime.now(UTC),
                }
            ],
        )
    kw: dict[str, Any] = {"client_factory": world.factory(), "period": PERIOD, "started_by": "test"}
    rerun = run_gradient_push(world.engine, tenant_id=world.tenant.id, retry_failed=True, **kw)
    assert world.run(killed_id).status == RunStatus.INTERRUPTED
    recorded = world.results(killed_id)
    assert list(recorded) == [("c-1", "sat")]
    result = recorded[("c-1", "sat")]
    assert (result.outcome, result.quantity_after, result.billable) == (Outcome.UNCONFIRMED, 2.0, 2)
    assert result.service == sat and result.remote_id == "c-1"
    assert "no way to read it back" in (result.reason or "")
    # the retry re-sent the unconfirmed count with the rest the killed run never reached
    assert ("c-1", "sat") in world.results(rerun)
    assert world.results(rerun)[("c-1", "sat")].outcome == Outcome.SUCCEEDED
    # read back once: a later run adds nothing to the killed run
    run_gradient_push(world.engine, tenant_id=world.tenant.id, **kw)
    assert list(world.results(killed_id)) == [("c-1", "sat")]
    with transaction(world.engine) as session:
        assert session.scalar(select(PushRun.succeeded).where(PushRun.id == killed_id)) == 0
