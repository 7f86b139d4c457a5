"""Benchmark: the Autotask push of N mapped companies against the sandbox, under the MSP's hourly threshold.

The sandbox runs in its own process (200 ms latency; 10,000 requests per rolling "hour" shared with the MSP's
other integrations, who have already spent some of it; answers slow down by 0.5 s past half of it) with N
companies, each with one active recurring-service contract and one contract service at 0 units. seatsync (SQLite
in a temporary directory) has the same N companies, mapped, with 1-7 active users each, and pushes through the one
engine (``seatsync.push.engine``) with a budget of 50 % of the hour:

1. ``changed``: every company's units change (adjustment, confirming read, note, attachment);
2. ``unchanged``: the same push again: nothing changes;
3. ``busy hour``: the next period while the other integrations have already spent 45 % of the hour: seatsync may
   use only what is left of its 50 %, so it waits for the hour to roll on rather than take the MSP past half.

Prints per push: wall time, requests, requests per company, the MSP's peak use of the hour and the share of the
threshold left for the other integrations when the push ends. Targets: <= 4 requests per changed company, <= 2 per
unchanged one, the MSP never past 50 % of its hourly budget. ``--hour-seconds`` shrinks the rolling hour (and the
budget's waits with it) so that the busy-hour push finishes in minutes.

    python bench/autotask.py [--companies 500] [--latency-ms 200] [--threshold 10000] [--others 0.2]
                             [--hour-seconds 3600] [--concurrency 6]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from seatsync.connectors.autotask import HourlyBudget  # noqa: E402
from seatsync.db.engine import make_engine, transaction  # noqa: E402
from seatsync.db.migrate import upgrade  # noqa: E402
from seatsync.db.models import Company, PSAMapping, PushRun, Tenant  # noqa: E402
from seatsync.domain.periods import BillingPeriod  # noqa: E402
from seatsync.push import engine as push_engine  # noqa: E402
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, SECURITY_AWARENESS_SERVICE  # noqa: E402
from seatsync.sandboxes.server import free_port  # noqa: E402
from seatsync.services import autotask_connection, tenants  # noqa: E402
from seatsync.services.imports import ImportKind, import_records  # noqa: E402
from seatsync.targets.autotask.push import BATCH  # noqa: E402
from seatsync.targets.base import PushOptions  # noqa: E402

TARGETS = {"changed": 4.0, "unchanged": 2.0, "peak": 0.5}
SHARE = 0.5
PERIODS = (BillingPeriod(2026, 10), BillingPeriod(2026, 10), BillingPeriod(2026, 11))
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def serve_sandbox(port: int, companies: int, latency_ms: float, threshold: int, hour: float) -> None:
    """The child process: ids are assigned 1, 2, 3 ... so company i has contract i and contract service i."""
    import uvicorn

    from seatsync.sandboxes.autotask import AutotaskSandbox, create_app

    sandbox = AutotaskSandbox(seed=None, latency_ms=latency_ms, threshold=threshold, threshold_window_seconds=hour)
    for n in range(1, companies + 1):
        company = sandbox.add_company(f"Client {n:05d}")
        contract = sandbox.add_contract(company["id"], name=f"Managed Services {n:05d}")
        sandbox.add_contract_service(contract["id"], SECURITY_AWARENESS_SERVICE, units=0)
    uvicorn.run(create_app(sandbox), host="127.0.0.1", port=port, log_level="error")


def _readings(requests: dict[str, Any]) -> int:
    return sum(n for route, n in requests["by_route"].items() if route.casefold().endswith("/thresholdinformation"))


def state(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(url + "/_sandbox/state", timeout=60).json()
    return answer


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/_sandbox/state", timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the sandbox did not start")


def prepare(database_url: str, url: str, companies: int) -> int:
    engine = make_engine(database_url)
    upgrade(engine)
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, name="Bench MSP")
        tenant_id = tenant.id
        import_records(
            session,
            tenant=tenant,
            kind=ImportKind.COMPANIES,
            records=((n, {"company_id": f"c{n:05d}", "name": f"Client {n:05d}"}) for n in range(1, companies + 1)),
            source="bench companies",
        )
        users = (
            (n * 10 + k, {"user_id": f"u{n:05d}-{k}", "company_id": f"c{n:05d}", "email": f"u{n}-{k}@example.com",
                          "name": f"User {n}-{k}", "status": "active", "at": "2026-09-01T00:00:00Z"})
            for n in range(1, companies + 1)
            for k in range(1 + n % 7)
        )  # fmt: skip
        import_records(session, tenant=tenant, kind=ImportKind.USERS, records=users, source="bench users")
        pks = dict(session.query(Company.company_id, Company.id).filter(Company.tenant_id == tenant_id).all())
        # stored directly: validating N chains would cost several requests each before the benchmark
        session.add_all(
            PSAMapping(
                tenant_id=tenant_id, company_pk=pks[f"c{n:05d}"], target="autotask", product="",
                psa_company_id=str(n), psa_company_name=f"Client {n:05d}", contract_id=str(n),
                contract_name=f"Managed Services {n:05d}", item_id=str(n),
                item_name="Security Awareness Training (per user)", saved_by="bench",
            )
            for n in range(1, companies + 1)
        )  # fmt: skip
        result = autotask_connection.connect(
            session,
            tenant=tenant,
            username="demo-api@example.com",
            secret="demo-secret",
            integration_code=DEMO_INTEGRATION_CODE,
            zone_url=url,
        )
        if result.status is not autotask_connection.IntegrationStatus.CONNECTED:
            raise SystemExit(f"could not connect to the sandbox: {result.reason}")
    engine.dispose()
    return tenant_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--threshold", type=int, default=10_000, help="the MSP's requests per rolling hour")
    parser.add_argument("--others", type=float, default=0.2, help="share of the hour other integrations spent first")
    parser.add_argument("--hour-seconds", type=float, default=3600.0, help="the rolling hour's length (to shrink it)")
    parser.add_argument("--concurrency", type=int, default=6)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEATSYNC_KEY_FILE"] = str(Path(tmp) / "seatsync.key")
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        child = multiprocessing.get_context("spawn").Process(
            target=serve_sandbox,
            args=(port, args.companies, args.latency_ms, args.threshold, args.hour_seconds),
            daemon=True,
        )
        child.start()
        try:
            wait_until_up(url)
            tenant_id = prepare(database_url, url, args.companies)
            engine = make_engine(database_url)
            budget = HourlyBudget(SHARE, wait_seconds=args.hour_seconds / 60, max_wait=args.hour_seconds)

            def client_factory(session: Any, tenant: Tenant) -> Any:
                return autotask_connection.client_for(session, tenant=tenant, budget=budget)

            figures = []
            for label, period, others in zip(
                ("changed", "unchanged", "busy hour"), PERIODS, (args.others, 0.0, 0.45), strict=True
            ):
                current = state(url)["threshold"]
                spend = max(0, int(others * args.threshold) - current["currentTimeframeRequestCount"])
                httpx.post(url + "/_sandbox/spend", json={"requests": spend}, timeout=30).raise_for_status()
                httpx.post(url + "/_sandbox/threshold", json={"reset_peak": True}, timeout=30).raise_for_status()
                before = state(url)["requests"]
                started = time.monotonic()
                run_id = push_engine.push(
                    engine,
                    tenant_id=tenant_id,
                    target="autotask",
                    options=PushOptions(period=period, started_by="bench"),
                    client_factory=client_factory,
                    concurrency=args.concurrency,
                    clock=lambda: NOW,
                )
                wall = time.monotonic() - started
                after = state(url)
                with transaction(engine) as session:
                    run = session.get(PushRun, run_id)
                    assert run is not None
                    status = run.status
                threshold = after["threshold"]
                sent = after["requests"]["total"] - before["total"]
                readings = _readings(after["requests"]) - _readings(before)
                # the run's own reads, whatever its size: units and notes read ahead in batches of BATCH items
                run_level = readings + 2 * math.ceil(args.companies / BATCH)
                figures.append(
                    (label, str(period), wall, sent, sent / args.companies, (sent - run_level) / args.companies,
                     readings, threshold["peak"] / args.threshold,
                     1 - threshold["currentTimeframeRequestCount"] / args.threshold, status)
                )  # fmt: skip
            final = state(url)
        finally:
            child.terminate()
            child.join(10)

    units_ok = all(
        u["units"] == 1 + u["contractServiceID"] % 7
        for u in final["contractServiceUnits"]
        if u["startDate"].startswith(("2026-10-01", "2026-11-01"))
    )
    per_contract: dict[int, int] = {}
    for attachment in final["contractNoteAttachments"]:
        per_contract[attachment["contractID"]] = per_contract.get(attachment["contractID"], 0) + 1
    print(
        f"Autotask push: {args.companies} mapped companies, sandbox latency {args.latency_ms:g} ms, threshold "
        f"{args.threshold} requests per {args.hour_seconds:g} s 'hour', seatsync's budget {SHARE:.0%}, "
        f"{args.concurrency} threads"
    )
    print(
        f"{'push':<10} {'period':<8} {'wall s':>7} {'requests':>9} {'req/company':>12} {'per company':>12}"
        f" {'readings':>9} {'MSP peak':>9} {'left at end':>12} status"
    )
    for label, period, wall, sent, per, own, readings, peak, left, status in figures:
        print(
            f"{label:<10} {period:<8} {wall:>7.1f} {sent:>9} {per:>12.3f} {own:>12.3f} {readings:>9} {peak:>9.1%}"
            f" {left:>12.1%} {status}"
        )
    changed, unchanged, busy = figures
    print("req/company: every request of the push / companies; per company: the same without the run's own reads")
    print("(units and notes read ahead in batches, and the hourly budget's threshold readings, counted in 'readings');")
    print("MSP peak: the highest use of the rolling hour during the push (the other integrations' requests included);")
    print("left at end: the share of the threshold still free when the push ended")
    checks = {
        f"<= {TARGETS['changed']:g} requests per changed company": changed[5] <= TARGETS["changed"],
        f"<= {TARGETS['unchanged']:g} requests per unchanged company": unchanged[5] <= TARGETS["unchanged"],
        f"the MSP never past {TARGETS['peak']:.0%} of its hourly budget": max(f[7] for f in figures) <= TARGETS["peak"],
        "every push succeeded": all(f[9] == "succeeded" for f in figures),
        "units in force on each period's first day = billable": units_ok,
        "one report per contract and period": sorted(set(per_contract.values())) == [2],
    }
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'MISS'} {name}")
    print(f"(busy hour: seatsync waited for the hour to roll on: {busy[2]:.0f} s)")
    raise SystemExit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    # the sandboxes this benchmark starts listen on loopback: allowed as outbound hosts, as the demo does
    os.environ.setdefault("SEATSYNC_ALLOWED_HOSTS", "127.0.0.0/8,localhost")
    main()
