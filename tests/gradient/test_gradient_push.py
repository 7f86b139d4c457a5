"""The Gradient usage push against the sandbox over real sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from seatsync.cli.main import cli
from seatsync.connectors.gradient import GradientClient
from seatsync.connectors.limits import TokenBucket, Unlimited
from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushRun
from seatsync.push import runs
from seatsync.push.gradient import NOT_MAPPED, run_gradient_push
from seatsync.push.runs import Outcome, RunStatus
from seatsync.sandboxes.gradient import create_app
from seatsync.sandboxes.gradient.app import _Bucket
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import gradient as svc
from tests.foundation.util import csv_bytes, load
from tests.gradient.gradient_helpers import PERIOD, TOKEN, VENDOR, Connected, connect, seed_tenant, service_ids

EXPECTED = {("c-1", "sat"): 2, ("c-1", "phishing"): 2, ("c-2", "sat"): 1, ("c-3", "sat"): 0, ("c-3", "phishing"): 0}


pytestmark = pytest.mark.usefixtures("gradient_vendor_key")


@pytest.fixture
def world(gradient_world: Connected) -> Connected:
    return gradient_world


def push(world: Connected, **kw: Any) -> int:
    kw.setdefault("client_factory", world.factory())
    return run_gradient_push(world.engine, tenant_id=world.tenant.id, period=PERIOD, started_by="test", **kw)


def sent(gradient: Any) -> dict[tuple[str, str], Any]:
    """``(account, product) → count`` as it stands in the sandbox."""
    product = {v: k for k, v in service_ids(gradient.sandbox).items()}
    return {(a, product[s]): n for (a, s), n in gradient.sandbox.latest_counts().items()}


def test_push_sets_each_account_and_service_with_no_build_on_all_but_the_last(world: Connected, gradient: Any) -> None:
    progress: list[tuple[int, int]] = []
    run_id = push(world, progress=lambda done, total: progress.append((done, total)))

    assert sent(gradient) == EXPECTED  # a company without users gets 0, never null; c-2 only its service
    records = gradient.sandbox.state()["counts"]
    assert len(records) == len(EXPECTED)
    assert [r["noBuild"] for r in records] == [True] * (len(EXPECTED) - 1) + [False]

    run = world.run(run_id)
    assert (run.target, run.period, run.status, run.started_by) == ("gradient", "2026-10", RunStatus.SUCCEEDED, "test")
    assert (run.total, run.succeeded, run.failed, run.not_mapped) == (5, 5, 0, 0)
    results = world.results(run_id)
    assert {k: r.billable for k, r in results.items()} == EXPECTED
    assert {r.outcome for r in results.values()} == {Outcome.SUCCEEDED}
    assert results[("c-1", "sat")].remote_id == "c-1"
    assert results[("c-1", "sat")].service == service_ids(gradient.sandbox)["sat"]
    assert results[("c-1", "sat")].quantity_after == 2
    assert progress[-1] == (5, 5)
    assert world.integration().status == svc.ConnectionStatus.ACTIVE
    assert gradient.sandbox.state()["status"] == "active"


def test_a_re_push_sets_the_same_values_and_creates_no_accounts(world: Connected, gradient: Any) -> None:
    first = push(world)
    second = push(world)
    assert sent(gradient) == EXPECTED
    assert sorted(a["id"] for a in gradient.sandbox.state()["accounts"]) == ["c-1", "c-2", "c-3"]
    assert len(gradient.sandbox.state()["counts"]) == 2 * len(EXPECTED)
    assert world.run(second).status == RunStatus.SUCCEEDED
    with transaction(world.engine) as session:
        listed = runs.list_runs(session, tenant_id=world.tenant.id, target="gradient")
    assert [r.id for r in listed] == [second, first]  # the same history as ConnectWise pushes


def test_a_new_company_becomes_an_account_at_the_next_push_and_unmapped_ones_do_not_fail_the_run(
    world: Connected, gradient: Any
) -> None:
    load(world.engine, world.tenant, "companies", csv_bytes("company_id,name", ["c-4,Hooli"]))
    run_id = push(world)
    accounts = {a["id"]: a for a in gradient.sandbox.state()["accounts"]}
    assert accounts["c-4"]["name"] == "Hooli"
    assert not accounts["c-4"]["isMapped"]  # Hooli is no company of the MSP's PSA

    results = world.results(run_id)
    assert results[("c-4", "sat")].outcome == Outcome.NOT_MAPPED
    assert results[("c-4", "sat")].reason == NOT_MAPPED
    assert results[("c-4", "sat")].reason.startswith("not mapped in Gradient")
    assert sent(gradient) == EXPECTED  # the rest still pushed
    run = world.run(run_id)
    assert (run.status, run.succeeded, run.not_mapped) == (RunStatus.SUCCEEDED, 5, 2)
    # c-4 sorts last: its refused call was the one without no_build, so a pushed count was sent again to build
    last = gradient.sandbox.state()["counts"][-1]
    assert last["noBuild"] is False
    product = {v: k for k, v in service_ids(gradient.sandbox).items()}
    assert EXPECTED[(last["accountId"], product[last["serviceId"]])] == last["unitCount"]

    # once the MSP maps it, the next push sends it
    gradient.sandbox.map(accounts=["c-4"])
    push(world)
    assert sent(gradient)[("c-4", "phishing")] == 0


def test_an_unmapped_service_is_not_mapped_for_every_account(world: Connected, gradient: Any) -> None:
    gradient.sandbox.map(services=[service_ids(gradient.sandbox)["phishing"]], unmap=True)
    run_id = push(world)
    results = world.results(run_id)
    assert {k for k, r in results.items() if r.outcome == Outcome.NOT_MAPPED} == {
        ("c-1", "phishing"),
        ("c-3", "phishing"),
    }
    assert sent(gradient) == {k: v for k, v in EXPECTED.items() if k[1] == "sat"}
    assert world.run(run_id).status == RunStatus.SUCCEEDED


def test_401_marks_the_connection_broken_and_fails_the_run(world: Connected, gradient: Any) -> None:
    gradient.sandbox.revoke("demo-partner")
    run_id = push(world)
    run = world.run(run_id)
    assert run.status == RunStatus.FAILED
    assert "refused the credentials" in (run.status_reason or "")
    integration = world.integration()
    assert integration.status == svc.ConnectionStatus.BROKEN
    assert "refused the credentials" in (integration.status_reason or "")
    results = world.results(run_id)
    assert len(results) == 5 and {r.outcome for r in results.values()} == {Outcome.FAILED}
    assert all("not pushed" in (r.reason or "") for r in results.values())


def test_server_errors_and_dropped_answers_are_retried(engine: Engine) -> None:
    app = create_app(rate_limit=None, fault_rate=0.3, seed=7)
    with BackgroundServer(app) as server:
        world = connect_retrying(engine, server.url)

        def quick(session: Any, tenant: Any) -> GradientClient:  # the same client, without waiting between tries
            return GradientClient(
                vendor_key=VENDOR, partner_token=TOKEN, base_url=server.url, limiter=Unlimited(), sleep=lambda s: None
            )

        run_id = push(world, client_factory=quick)
        assert world.run(run_id).status == RunStatus.SUCCEEDED
        product = {v: k for k, v in service_ids(app.sandbox).items()}
        assert {(a, product[s]): n for (a, s), n in app.sandbox.latest_counts().items()} == EXPECTED


def connect_retrying(engine: Engine, url: str) -> Connected:
    """Connecting is not the subject here: try until the faults let it through."""
    tenant = seed_tenant(engine)
    for _ in range(20):
        try:
            return connect(engine, tenant, url)
        except Exception:  # a 500 or a dropped answer during connect
            continue
    raise AssertionError("could not connect through the faults")


def test_429_backs_off_and_every_count_arrives(engine: Engine) -> None:
    app = create_app(rate_limit=None)
    with BackgroundServer(app) as server:
        world = connect(engine, seed_tenant(engine), server.url)
        # from now on: a bucket of 3 whose clock stands still until it has refused a request (so a refusal
        # happens however slow this machine is), then runs, so the retries get through
        start = time.monotonic()
        app.bucket = _Bucket(3, lambda: start if app.rate_limited == 0 else time.monotonic())
        run_id = push(world, client_factory=world.factory(TokenBucket(1000)))
        assert world.run(run_id).status == RunStatus.SUCCEEDED
        assert app.rate_limited > 0
        assert len(app.sandbox.latest_counts()) == 5


def test_a_run_left_running_by_a_dead_process_is_interrupted_at_the_next_start(world: Connected) -> None:
    with transaction(world.engine) as session:
        dead = runs.start_run(session, tenant_id=world.tenant.id, target="gradient", period="2026-10", started_by="x")
        dead.pid = 2**22 + 12345  # above pid_max: no such process
        dead_id = dead.id
    assert not _alive(2**22 + 12345)
    run_id = push(world)
    assert world.run(dead_id).status == RunStatus.INTERRUPTED
    assert world.run(run_id).status == RunStatus.SUCCEEDED


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_company_import_creates_accounts_through_the_hook(world: Connected, gradient: Any, database_url: str) -> None:
    note = svc.after_company_import(world.engine, tenant_id=world.tenant.id, company_ids=[])
    assert note is None
    load(world.engine, world.tenant, "companies", csv_bytes("company_id,name", ["c-5,Stark Logistics"]))
    note = svc.after_company_import(world.engine, tenant_id=world.tenant.id, company_ids=["c-5"])
    assert note == "Gradient: 1 account(s) created for the new companies"
    assert "c-5" in {a["id"] for a in gradient.sandbox.state()["accounts"]}

    # the CLI import path calls it
    path = "companies.csv"
    with open(path, "wb") as f:
        f.write(csv_bytes("company_id,name", ["c-6,Acme Corporation", "c-1,Initech"]))
    result = CliRunner().invoke(
        cli, ["import", "companies", path, "--tenant", world.tenant.slug, "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    assert "Gradient: 1 account(s) created" in result.output
    assert "c-6" in {a["id"] for a in gradient.sandbox.state()["accounts"]}


def test_the_hook_never_fails_an_import(world: Connected, gradient: Any) -> None:
    with transaction(world.engine) as session:
        session.add(Company(tenant_id=world.tenant.id, company_id="c-7", name="Seven"))
    gradient.sandbox.revoke("demo-partner")
    note = svc.after_company_import(world.engine, tenant_id=world.tenant.id, company_ids=["c-7"])
    assert note is not None and "were not created yet" in note and "sync-accounts" in note
    assert world.integration().status == svc.ConnectionStatus.BROKEN
    # broken: later imports do not try (the next push or account sync will)
    assert svc.after_company_import(world.engine, tenant_id=world.tenant.id, company_ids=["c-7"]) is None


def test_push_without_a_connection_says_how_to_connect(engine: Engine) -> None:
    from seatsync.errors import ConfigurationError

    tenant = seed_tenant(engine)
    with pytest.raises(ConfigurationError, match="seatsync connect gradient"):
        run_gradient_push(engine, tenant_id=tenant.id, period=PERIOD, started_by="test")
    with transaction(engine) as session:
        assert session.query(PushRun).count() == 0
