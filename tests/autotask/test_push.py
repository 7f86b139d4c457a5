"""The Autotask push, item by item (the engine's calls): units on the period's first day, one adjustment with the
difference, confirmed; posted periods and drift; the report on a contract note once per period and content."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, select

from seatsync.connectors.autotask import AutotaskClient
from seatsync.connectors.http import RetryPolicy
from seatsync.db.engine import transaction
from seatsync.db.models import PSAMapping, PushRun, Tenant
from seatsync.domain.planning import Action
from seatsync.push.runs import Outcome
from seatsync.sandboxes.autotask import AutotaskSandbox
from seatsync.targets.autotask import TARGET, push
from seatsync.targets.base import PushOptions, RowResult
from tests.autotask.pushing import DAY, PERIOD, Mapped, mapped_tenant


def run(engine: Engine, mapped: Mapped, client: AutotaskClient, **options: object) -> list[RowResult]:
    """What the engine does with the target: prepare, apply each unit, record."""
    chosen = PushOptions(period=PERIOD, **options)  # type: ignore[arg-type]
    with transaction(engine) as session, ThreadPoolExecutor(3) as pool:
        tenant = session.get(Tenant, mapped.tenant.id)
        assert tenant is not None
        prepared = TARGET.prepare(
            session, tenant=tenant, client=client, options=chosen, scope=None, attempts={}, pool=pool
        )
        results = list(prepared.local) + [TARGET.apply(client, u, options=chosen, final=False) for u in prepared.units]
        run_row = PushRun(
            tenant_id=tenant.id, target="autotask", period=str(PERIOD), dry_run=chosen.dry_run, started_by="test"
        )
        TARGET.record(session, run=run_row, results=results)
    return results


def by_company(results: Sequence[RowResult]) -> dict[str, RowResult]:
    return {r.company.company_id: r for r in results}


def test_units_are_adjusted_by_the_difference_confirmed_and_the_report_attached_once(
    engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient
) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8, "globex": 5, "initech": 2})
    results = by_company(run(engine, mapped, client))
    assert {k: r.outcome for k, r in results.items()} == {
        "acme": Outcome.SUCCEEDED,
        "globex": Outcome.UNCHANGED,
        "initech": Outcome.SUCCEEDED,
    }
    assert (results["acme"].before, results["acme"].after) == (5, 8)
    for company_id, (_contract, service) in mapped.items.items():
        assert sandbox.units_on(service, DAY) == mapped.billable[company_id]
    changes = sorted((a["contractServiceID"], a["unitChange"], a["effectiveDate"]) for a in sandbox.adjustments)
    assert changes == sorted(
        [(mapped.items["acme"][1], 3, "2026-11-01T00:00:00"), (mapped.items["initech"][1], -3, "2026-11-01T00:00:00")]
    )
    assert len(sandbox.attachments) == 3 and len(sandbox.tables["ContractNotes"]) == 3
    note = next(n for n in sandbox.tables["ContractNotes"].values() if n["contractID"] == mapped.items["acme"][0])
    assert "2026-11: 8 billable users [seatsync " in note["title"]
    # a second run finds everything right: no adjustment, no note, no attachment
    again = by_company(run(engine, mapped, client))
    assert {r.outcome for r in again.values()} == {Outcome.UNCHANGED}
    assert len(sandbox.adjustments) == 2 and len(sandbox.attachments) == 3
    with transaction(engine) as session:
        pushed = {m.item_id: m.last_pushed_quantity for m in session.scalars(select(PSAMapping))}
    assert pushed == {str(s): float(mapped.billable[c]) for c, (_, s) in mapped.items.items()}


def test_a_dry_run_reads_only(engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8, "globex": 5})
    results = by_company(run(engine, mapped, client, dry_run=True))
    assert results["acme"].outcome is Outcome.PLANNED and results["acme"].after == 8
    assert results["globex"].outcome is Outcome.UNCHANGED
    assert sandbox.adjustments == [] and sandbox.attachments == {}


def test_a_posted_period_is_not_changed_and_says_what_to_do(
    engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient
) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8})
    sandbox.approve_and_post(mapped.items["acme"][0], DAY.replace(day=30))
    (result,) = run(engine, mapped, client, force=True)
    assert result.outcome is Outcome.BLOCKED
    assert "already approved and posted" in (result.reason or "") and "next open period" in (result.reason or "")
    assert sandbox.adjustments == []


def test_drift_is_blocked_unless_forced(engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8})
    run(engine, mapped, client)
    service = mapped.items["acme"][1]
    sandbox.set_units_by_hand(service, DAY, 11)
    (blocked,) = run(engine, mapped, client)
    assert blocked.outcome is Outcome.BLOCKED and "changed in Autotask since seatsync set them" in (
        blocked.reason or ""
    )
    assert sandbox.units_on(service, DAY) == 11
    (forced,) = run(engine, mapped, client, force=True)
    assert forced.outcome is Outcome.SUCCEEDED and sandbox.units_on(service, DAY) == 8


def test_unmapped_and_partial_companies_are_said(
    engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient
) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 3})
    from tests.foundation.util import csv_bytes, load

    load(engine, mapped.tenant, "companies", csv_bytes("company_id,name", ["zenith,Zenith"]))
    results = by_company(run(engine, mapped, client))
    assert results["zenith"].outcome is Outcome.NOT_MAPPED and "not mapped to Autotask" in (
        results["zenith"].reason or ""
    )


def test_the_preview_plans_every_row(engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8, "globex": 5})
    with transaction(engine) as session:
        tenant = session.get(Tenant, mapped.tenant.id)
        assert tenant is not None
        rows = {r.company.company_id: r for r in TARGET.plan(session, tenant=tenant, period=PERIOD, client=client)}
    assert (rows["acme"].action, rows["acme"].before, rows["acme"].after) == (Action.UPDATE, 5, 8)
    assert rows["globex"].action is Action.UNCHANGED
    assert rows["acme"].item is not None and rows["acme"].item.item_id == str(mapped.items["acme"][1])
    assert sandbox.adjustments == []


def test_requests_per_company(engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient) -> None:
    sizes = {f"c{n:02d}": (5 if n % 2 else 7) for n in range(20)}
    mapped = mapped_tenant(engine, sandbox, client, sizes)
    before = client.requests_sent
    run(engine, mapped, client)
    changed = sum(1 for s in sizes.values() if s != 5)
    # 4 per changed company (adjust, confirm, note, attachment), 1 per unchanged one (its note's attachments? none
    # yet: a new report gets a note and an attachment, 2), plus the batched reads
    first = client.requests_sent - before
    assert first <= 4 * changed + 2 * (len(sizes) - changed) + 2
    before = client.requests_sent
    run(engine, mapped, client)
    assert client.requests_sent - before <= len(sizes) + 2  # every item unchanged: its note's attachments listed
    assert len(sizes) <= push.BATCH


def test_faults_and_a_low_threshold_end_with_every_count_right_and_nothing_twice(
    engine: Engine,
    sandbox: AutotaskSandbox,
    server,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    from seatsync.connectors.autotask import HourlyBudget
    from tests.autotask.conftest import make_client

    sizes = {f"c{n:02d}": 3 + n % 6 for n in range(24)}
    with make_client(server, clock) as setup_client:
        mapped = mapped_tenant(engine, sandbox, setup_client, sizes)
    sandbox.threshold.limit = 400
    sandbox.threshold.stamps.clear()  # the set-up's requests were an hour ago
    sandbox.threshold.peak = 0
    sandbox.spend_by_others(120)
    sandbox.fault_rate = 0.2
    budget = HourlyBudget(0.5, check_every=10, slow_seconds=0, wait_seconds=300, max_wait=3600, sleep=clock.sleep)
    outcomes: dict[str, Outcome] = {}
    with make_client(
        server, clock, budget=budget, retry=RetryPolicy(max_retries=8, backoff_base=0.01, backoff_cap=0.05)
    ) as client:
        for _ in range(6):  # the first run, then retries of what failed
            results = run(engine, mapped, client)
            outcomes.update({r.company.company_id: r.outcome for r in results})
            if all(o in (Outcome.SUCCEEDED, Outcome.UNCHANGED) for o in outcomes.values()):
                break
    assert set(outcomes.values()) <= {Outcome.SUCCEEDED, Outcome.UNCHANGED}, outcomes
    faults = [r for r in sandbox.requests if r.fault]
    assert len(faults) > 10 and any(r.fault == "lost" for r in faults)
    for company_id, (contract, service) in mapped.items.items():
        assert sandbox.units_on(service, DAY) == sizes[company_id], company_id
        posted = [a for a in sandbox.adjustments if a["contractServiceID"] == service]
        assert len(posted) == (0 if sizes[company_id] == 5 else 1), company_id
        attached = [a for a in sandbox.attachments.values() if a["contractID"] == contract]
        assert len(attached) == 1, company_id
    # the whole MSP (the others' 120 and seatsync's) never went past half of the hourly threshold
    assert sandbox.threshold.peak <= 200 and budget.waited > 0


def test_the_read_only_users_push_fails_naming_the_permission(
    engine: Engine,
    sandbox: AutotaskSandbox,
    server,
    clock,
    client: AutotaskClient,  # type: ignore[no-untyped-def]
) -> None:
    from tests.autotask.conftest import make_client

    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8, "globex": 5})
    with make_client(server, clock, username="readonly-api@example.com", secret="readonly-secret") as readonly:
        results = by_company(run(engine, mapped, readonly))
    assert results["acme"].outcome is Outcome.FAILED
    assert "lacks 'contract services adjust'" in (results["acme"].reason or "")
    assert results["globex"].outcome is Outcome.FAILED  # units right, but the report cannot be attached
    assert "lacks 'contract notes and attachments add'" in (results["globex"].reason or "")
    assert sandbox.adjustments == [] and sandbox.attachments == {}
