"""Benchmark: the Gradient usage push of 1,000 companies x 2 services against the sandbox.

The sandbox runs in its own process (30 ms latency, 429 above 100 requests a second) with the demo vendor and a
partner whose PSA has every company, so each account is mapped as it is created. seatsync (SQLite in a temporary
directory, or ``--database-url``) has the 1,000 companies with 0-6 active users each and is connected (services
registered, accounts created); then the push runs twice, as the engine does it for the CLI, the web page and the
schedule: one account listing, then 2,000 unit counts.

Prints wall time, requests, the achieved request rate as a fraction of the limit and the 429s seen.
Targets: >= 0.9 of the limit, no more than a handful (5) of 429s per push.

    python bench/gradient.py [--companies 1000] [--latency-ms 30] [--rate-limit 6000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from seatsync.connectors.gradient import GradientClient  # noqa: E402
from seatsync.db.engine import make_engine, transaction  # noqa: E402
from seatsync.db.models import Tenant  # noqa: E402
from seatsync.domain.periods import BillingPeriod  # noqa: E402
from seatsync.push.gradient import run_gradient_push  # noqa: E402
from seatsync.sandboxes.server import free_port  # noqa: E402
from seatsync.services import gradient as gradient_service  # noqa: E402
from seatsync.services import tenants  # noqa: E402
from seatsync.services.imports import ImportKind, import_file  # noqa: E402

TARGETS = {"rate": 0.9, "rate_limited": 5}
VENDOR, TOKEN = "demo-vendor", "demo-partner"
PERIOD = BillingPeriod(2026, 10)


def name(n: int) -> str:
    return f"Client {n:05d}"


def serve_sandbox(port: int, companies: int, latency_ms: float, rate_limit: float) -> None:
    import uvicorn

    from seatsync.sandboxes.gradient import GradientSandbox, create_app
    from seatsync.sandboxes.gradient.state import DEMO_PSA_PRODUCTS

    sandbox = GradientSandbox.seeded("empty")
    sandbox.add_vendor(VENDOR, name="seatsync (bench)")
    psa = [name(n) for n in range(1, companies + 1)]
    sandbox.add_partner(VENDOR, TOKEN, name="Bench MSP", psa_companies=psa, psa_products=DEMO_PSA_PRODUCTS)
    uvicorn.run(create_app(sandbox, latency_ms=latency_ms, rate_limit=rate_limit), port=port, log_level="error")


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/_sandbox/state", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the sandbox did not start")


def prepare(engine: object, url: str, companies: int) -> int:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, name="Bench MSP")
        rows = "company_id,name\n" + "".join(f"c{n:05d},{name(n)}\n" for n in range(1, companies + 1))
        import_file(session, tenant=tenant, kind=ImportKind.COMPANIES, stream=io.BytesIO(rows.encode()), source="c.csv")
        users = "user_id,company_id,email,name,status,at\n" + "".join(
            f"u{n:05d}-{k},c{n:05d},u{n}-{k}@example.com,User {n} {k},active,2026-09-01T00:00:00Z\n"
            for n in range(1, companies + 1)
            for k in range(n % 7)
        )
        import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=io.BytesIO(users.encode()), source="u.csv")
        tenant_id = tenant.id
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        gradient_service.connect(session, tenant=tenant, token=TOKEN, url=url, vendor_key=VENDOR)
    return tenant_id


def recording_factory(clients: list[GradientClient]) -> Any:
    """The default client (shared limiter), kept so that its request and 429 counters can be read."""

    def factory(session: Session, tenant: Tenant) -> GradientClient:
        client = gradient_service.client_for(session, tenant=tenant)
        clients.append(client)
        return client

    return factory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument(
        "--rate-limit", type=float, default=6000.0, help="the sandbox's requests a minute (as every sandbox's option)"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    per_second = args.rate_limit / 60  # Gradient documents its limit a second (100); the client's setting is too

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEATSYNC_KEY_FILE"] = str(Path(tmp) / "seatsync.key")
        os.environ["SEATSYNC_GRADIENT_VENDOR_KEY"] = VENDOR
        os.environ["SEATSYNC_GRADIENT_RATE_LIMIT"] = str(per_second)
        engine = make_engine(args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        from seatsync.db.migrate import upgrade

        upgrade(engine)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        child = multiprocessing.get_context("spawn").Process(
            target=serve_sandbox, args=(port, args.companies, args.latency_ms, per_second), daemon=True
        )
        child.start()
        try:
            wait_until_up(url)
            tenant_id = prepare(engine, url, args.companies)
            figures = []
            for label in ("first", "again"):
                clients: list[GradientClient] = []
                factory = recording_factory(clients)
                started = time.perf_counter()
                run_id = run_gradient_push(
                    engine,
                    tenant_id=tenant_id,
                    period=PERIOD,
                    started_by="bench",
                    client_factory=factory,
                    concurrency=args.concurrency,
                )
                wall = time.perf_counter() - started
                [client] = clients
                with transaction(engine) as session:
                    from seatsync.db.models import PushRun

                    run = session.get(PushRun, run_id)
                    assert run is not None
                    status, succeeded = run.status, run.succeeded
                sent = client.request_count
                rate = sent / wall / per_second
                figures.append((label, wall, sent, rate, client.rate_limited_count, status, succeeded))
            state = httpx.get(url + "/_sandbox/state", timeout=60).json()
        finally:
            child.terminate()
            child.join(10)
            engine.dispose()

    counts = state["counts"]
    latest = {(c["accountId"], c["serviceId"]): c["unitCount"] for c in counts}
    counts_ok = len(latest) == 2 * args.companies and all(
        n == int(account[1:]) % 7 for (account, _service), n in latest.items()
    )
    builds = sum(1 for c in counts if not c["noBuild"])
    print(
        f"Gradient push: {args.companies} companies x 2 services, sandbox latency {args.latency_ms:g} ms, "
        f"limit {per_second:g} requests/s ({args.rate_limit:g} a minute), {args.concurrency} threads"
    )
    print(f"{'push':<6} {'wall s':>7} {'requests':>9} {'rate/limit':>11} {'429s':>5} {'status':>10} {'succeeded':>10}")
    for label, wall, sent, rate, limited, status, succeeded in figures:
        print(f"{label:<6} {wall:>7.1f} {sent:>9} {rate:>11.3f} {limited:>5} {status:>10} {succeeded:>10}")
    print(f"every account and service holds its billable count: {counts_ok}; build calls (no_build=false): {builds}")
    checks = {
        f"rate >= {TARGETS['rate']} of the limit": all(f[3] >= TARGETS["rate"] for f in figures),
        f"<= {TARGETS['rate_limited']} 429s per push": all(f[4] <= TARGETS["rate_limited"] for f in figures),
        "every count succeeded": all(f[6] == 2 * args.companies for f in figures),
        "one build call per push": builds == len(figures),
    }
    for label, ok in checks.items():
        print(f"  {'ok  ' if ok else 'MISS'} {label}")
    raise SystemExit(0 if all(checks.values()) and counts_ok else 1)


if __name__ == "__main__":
    # the sandboxes this benchmark starts listen on loopback: allowed as outbound hosts, as the demo does
    os.environ.setdefault("SEATSYNC_ALLOWED_HOSTS", "127.0.0.0/8,localhost")
    main()
