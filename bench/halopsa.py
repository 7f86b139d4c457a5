"""Benchmark: the HaloPSA push of 500 mapped companies against the sandbox's rolling rate limit.

Hosted Halo allows 300 requests per rolling 5 minutes (1 a second on average). At that scale a push of 500
changed companies (about 1,500 requests) takes 25 minutes, so by default the window is **scaled**: 300 requests
per rolling 30 seconds, the same number of requests per window (what the pacing has to get right: a burst that
fits, then a steady rate under it), ten times faster. ``--window 300`` runs the real 5-minute window.

The sandbox (HaloPSA's API with ``--rate-limit`` over ``--rate-window``, 20 ms latency) runs in its own process
with 500 clients, each with one subscription at count 0. seatsync (SQLite in a temporary directory) has the same
500 companies, mapped, with 1-7 active users each, and paces its client with the same limit and window
(``SEATSYNC_HALOPSA_RATE_LIMIT`` / ``SEATSYNC_HALOPSA_RATE_WINDOW``). Two pushes through the one engine:

1. every count changes (read, POST, read back);
2. the same push again: nothing changes (one read each, nothing posted).

Prints requests per company, the busiest rolling window as a fraction of the limit (the sandbox counts arrivals),
the whole push's rate as a fraction of the limit, and 429s. Targets: busiest window >= 0.9 of the limit, 0 x 429.

    python bench/halopsa.py [--companies 500] [--limit 300] [--window 30] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from seatsync.config import get_settings  # noqa: E402
from seatsync.db.engine import make_engine, transaction  # noqa: E402
from seatsync.db.migrate import upgrade  # noqa: E402
from seatsync.domain.periods import BillingPeriod  # noqa: E402
from seatsync.push import engine as push_engine  # noqa: E402
from seatsync.push import runs  # noqa: E402
from seatsync.sandboxes.server import free_port  # noqa: E402
from seatsync.services import halopsa_connection, psa_mappings, tenants  # noqa: E402
from seatsync.services.imports import ImportKind, import_file  # noqa: E402
from seatsync.services.psa_mappings import MappingValues  # noqa: E402
from seatsync.targets.base import PushOptions  # noqa: E402

TARGETS = {"window": 0.9, "429": 0}


def serve_sandbox(port: int, companies: int, limit: int, window: float, latency_ms: float) -> None:
    """The child process: client i (id i) has subscription i at count 0."""
    import uvicorn

    from seatsync.sandboxes.halopsa import HaloPSASandbox, create_app

    sandbox = HaloPSASandbox(seed=None, rate_limit=limit, rate_window_seconds=window, latency_ms=latency_ms)
    for n in range(1, companies + 1):
        client = sandbox.add_client(f"Client {n:05d}", id=n)
        sandbox.add_licence(client["id"], name=f"Client {n:05d} - Security Awareness", id=n, count=0)
    uvicorn.run(create_app(sandbox), host="127.0.0.1", port=port, log_level="error")


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/_sandbox/requests", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the sandbox did not start")


def stats(url: str) -> dict[str, object]:
    data: dict[str, object] = httpx.get(url + "/_sandbox/requests", timeout=30).json()
    return data


def prepare(database_url: str, url: str, companies: int, period: BillingPeriod) -> int:
    engine = make_engine(database_url)
    upgrade(engine)
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, name="Bench MSP")
        tenant_id = tenant.id
        rows = "".join(f"C{n:05d},Client {n:05d}\n" for n in range(1, companies + 1))
        import_file(
            session,
            tenant=tenant,
            kind=ImportKind.COMPANIES,
            stream=io.BytesIO(b"company_id,name\n" + rows.encode()),
            source="companies.csv",
        )
        at = period.start(UTC) + timedelta(hours=1)
        users = "".join(
            f"u{n}-{k},C{n:05d},u{n}-{k}@example.com,User {k},active,{at.isoformat()}\n"
            for n in range(1, companies + 1)
            for k in range(1 + n % 7)
        )
        import_file(
            session,
            tenant=tenant,
            kind=ImportKind.USERS,
            stream=io.BytesIO(b"user_id,company_id,email,name,status,at\n" + users.encode()),
            source="users.csv",
        )
        result = halopsa_connection.connect(
            session, tenant=tenant, url=url, client_id="demo-client", client_secret="demo-secret"
        )
        if result.status is not halopsa_connection.IntegrationStatus.CONNECTED:
            raise SystemExit(f"could not connect: {result.reason}")
        for n in range(1, companies + 1):
            psa_mappings.save_mapping(
                session,
                tenant=tenant,
                target="halopsa",
                company_id=f"C{n:05d}",
                values=MappingValues(str(n), f"Client {n:05d}", item_id=str(n), item_name=f"Client {n:05d} - SA"),
                by="bench",
            )
    engine.dispose()
    return tenant_id


def run(database_url: str, tenant_id: int, period: BillingPeriod, url: str, limit: int, label: str) -> list[str]:
    engine = make_engine(database_url)
    httpx.post(url + "/_sandbox/clear-log", json={}, timeout=30).raise_for_status()
    started = time.monotonic()
    run_id = push_engine.push(
        engine, tenant_id=tenant_id, target="halopsa", options=PushOptions(period=period, started_by="bench")
    )
    wall = time.monotonic() - started
    after = stats(url)
    with transaction(engine) as session:
        finished = runs.get_run(session, tenant_id=tenant_id, run_id=run_id)
        status, succeeded, unchanged = finished.status, finished.succeeded, finished.unchanged
    engine.dispose()
    sent = int(after["total"])  # type: ignore[call-overload]
    refused = int(after["rate_limited"])  # type: ignore[call-overload]
    companies = succeeded + unchanged
    peak = int(after["peak_in_window"])  # type: ignore[call-overload]
    window = float(after["rate_window_seconds"])  # type: ignore[arg-type]
    rate = sent / wall / (limit / window) if window else 0.0
    return [
        label,
        f"{wall:.1f}",
        f"{sent:,}",
        f"{sent / max(1, companies):.3f}",
        f"{peak / limit:.3f}",
        f"{rate:.3f}",
        str(refused),
        f"{status} ({succeeded} set, {unchanged} unchanged)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--limit", type=int, default=300, help="requests per rolling window")
    parser.add_argument("--window", type=float, default=30.0, help="seconds (hosted Halo: 300)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    child = multiprocessing.get_context("spawn").Process(
        target=serve_sandbox, args=(port, args.companies, args.limit, args.window, args.latency_ms), daemon=True
    )
    child.start()
    try:
        wait_until_up(url)
        with tempfile.TemporaryDirectory() as folder:
            os.environ["SEATSYNC_KEY_FILE"] = str(Path(folder) / "seatsync.key")
            os.environ["SEATSYNC_HALOPSA_RATE_LIMIT"] = str(args.limit)
            os.environ["SEATSYNC_HALOPSA_RATE_WINDOW"] = str(args.window)
            os.environ["SEATSYNC_JOB_QUEUE"] = "inprocess"
            get_settings.cache_clear()
            database_url = f"sqlite:///{Path(folder) / 'bench.db'}"
            period = BillingPeriod.containing(datetime.now(UTC), UTC)
            tenant_id = prepare(database_url, url, args.companies, period)
            # the connection check's requests are spent: start the pushes on an empty window
            time.sleep(args.window)
            rows = [run(database_url, tenant_id, period, url, args.limit, "changed")]
            time.sleep(args.window)
            rows.append(run(database_url, tenant_id, period, url, args.limit, "unchanged"))
    finally:
        child.terminate()
        child.join(10)
    header = ["push", "wall s", "requests", "requests/company", "busiest window/limit", "rate/limit", "429s", "run"]
    print(
        f"HaloPSA push: {args.companies} companies, limit {args.limit} per rolling {args.window:g} s, "
        f"latency {args.latency_ms:g} ms"
    )
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" if i in (0, 7) else "---:" for i in range(len(header))) + " |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"targets: busiest window >= {TARGETS['window']} of the limit, {TARGETS['429']} x 429")


if __name__ == "__main__":
    # the sandboxes this benchmark starts listen on loopback: allowed as outbound hosts, as the demo does
    os.environ.setdefault("SEATSYNC_ALLOWED_HOSTS", "127.0.0.0/8,localhost")
    main()
