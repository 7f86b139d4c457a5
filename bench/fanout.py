"""Benchmark: the month-start fan-out on PostgreSQL with 1, 2 and 4 ``seatsync worker`` processes.

Every tenant (default 200, each with 100 mapped companies, 1-4 active users each) is pushed at once to
ConnectWise (one job per tenant, as an operator's or a vendor's month-start automation enqueues them) and to
Gradient (the periodic schedule's fan-out: one job per tenant). The ConnectWise sandbox runs in its own process
with one API member per tenant and a per-member limit (``--cw-rate-limit`` requests a minute, as ConnectWise
counts); the Gradient sandbox runs in this process with one global limit (``--gradient-rate`` a second, as
Gradient counts per vendor key). Workers pace themselves through the PostgreSQL buckets (``seatsync.jobs.limiter``).

For each worker count: a fresh copy of the prepared database (``CREATE DATABASE ... TEMPLATE``), a fresh
ConnectWise sandbox (every quantity back to 0), the workers started and registered, then the clock starts, the
jobs are enqueued and the clock stops when every job has finished. Prints wall time, companies pushed a second
(both targets), requests a second, the Gradient request rate as a fraction of its limit and the 429s seen.

    python bench/fanout.py [--tenants 200] [--companies 100] [--workers 1,2,4] [--concurrency 8]
                           [--cw-latency-ms 50] [--cw-rate-limit 1000] [--gradient-latency-ms 20] [--gradient-rate 100]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from seatsync.config import Settings, get_settings  # noqa: E402
from seatsync.db.engine import make_engine  # noqa: E402
from seatsync.db.migrate import upgrade  # noqa: E402
from seatsync.domain.periods import BillingPeriod  # noqa: E402
from seatsync.jobs import fanout  # noqa: E402
from seatsync.jobs.dispatch import ProcrastinateDispatcher  # noqa: E402
from seatsync.sandboxes import gradient as gradient_sandbox  # noqa: E402
from seatsync.sandboxes.connectwise import ConnectWiseSandbox  # noqa: E402
from seatsync.sandboxes.connectwise import create_app as cw_app  # noqa: E402
from seatsync.sandboxes.gradient import GradientSandbox  # noqa: E402
from seatsync.sandboxes.server import BackgroundServer, free_port  # noqa: E402
from tests.jobs.world import GRADIENT_VENDOR, build, connect_gradient  # noqa: E402

ADMIN = os.environ.get("SEATSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def fill_cw(sandbox: ConnectWiseSandbox, tenants: int, companies: int) -> None:
    """What ``tests.jobs.world.build`` creates, in the same order, so the ids match the prepared database."""
    for t in range(1, tenants + 1):
        sandbox.add_member(f"t{t:04d}-public", f"t{t:04d}-private")
        for n in range(1, companies + 1):
            company = sandbox.add_company(f"Client {t:04d}-c{n:04d}")
            agreement = sandbox.add_agreement(company["id"])
            sandbox.add_addition(agreement["id"], quantity=0)


def serve_cw(port: int, tenants: int, companies: int, latency_ms: float, rate_limit: int) -> None:
    import uvicorn

    sandbox = ConnectWiseSandbox(seed=None, latency_ms=latency_ms, rate_limit=rate_limit)
    fill_cw(sandbox, tenants, companies)
    uvicorn.run(cw_app(sandbox), host="127.0.0.1", port=port, log_level="error")


class Counting:
    """ASGI wrapper: counts the Gradient API requests and 429s (the sandbox answers the 429s itself)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self.limited = 0
        self.times: list[float] = []  # when each answer started (monotonic)
        self.lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return

        async def counted(message: Any) -> None:
            if message["type"] == "http.response.start":
                with self.lock:
                    self.requests += 1
                    self.limited += message["status"] == 429
                    self.times.append(time.monotonic())
            await send(message)

        await self.app(scope, receive, counted)


def pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_db(name: str, template: str | None = None) -> str:
    with psycopg.connect(pg(ADMIN), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_db(name: str) -> None:
    with psycopg.connect(pg(ADMIN), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cw_requests(url: str) -> tuple[int, int]:
    stats = httpx.get(url + "/_sandbox/requests", timeout=30).json()
    return int(stats["total"]), int(stats.get("by_status", {}).get("429", 0))


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/_sandbox/requests", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the ConnectWise sandbox did not start")


def scalar(url: str, sql: str) -> Any:
    with psycopg.connect(pg(url)) as conn:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None


def run(
    args: argparse.Namespace, template: str, workers: int, gradient: Counting, env: dict[str, str]
) -> dict[str, float]:
    name = f"seatsync_bench_{uuid.uuid4().hex[:8]}"
    url = create_db(name, template)
    port = free_port()
    cw = multiprocessing.get_context("fork").Process(
        target=serve_cw, args=(port, args.tenants, args.companies, args.cw_latency_ms, args.cw_rate_limit), daemon=True
    )
    cw.start()
    cw_url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    engine = make_engine(url)
    try:
        wait_up(cw_url)
        with psycopg.connect(pg(url), autocommit=True) as conn:  # the template's site is another port
            conn.execute(
                "UPDATE integrations SET settings = jsonb_set(settings::jsonb, '{site}', to_jsonb(%s::text))::json "
                "WHERE kind = 'connectwise'",
                (cw_url,),
            )
        worker_env = {**env, "SEATSYNC_DATABASE_URL": url}
        log = open(os.devnull, "wb")  # noqa: SIM115
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "seatsync", "worker", "--concurrency", str(args.concurrency)],
                    env=worker_env,
                    stdout=log,
                    stderr=log,
                )
            )
        deadline = time.monotonic() + 60
        while scalar(url, "SELECT count(*) FROM procrastinate_workers") < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start")
            time.sleep(0.2)
        g_requests, g_limited = gradient.requests, gradient.limited
        settings = Settings(database_url=url)
        dispatcher = ProcrastinateDispatcher(engine, settings)
        tenant_ids = [int(t) for (t,) in psycopg.connect(pg(url)).execute("SELECT id FROM tenants ORDER BY id")]
        period = BillingPeriod.containing(datetime.now(UTC), UTC).previous()
        start = time.monotonic()
        for tenant_id in tenant_ids:
            dispatcher.enqueue_push(tenant_id, "connectwise", period, "bench")
        fanned = fanout.enqueue_due(engine, settings, now=datetime.now(UTC))
        dispatcher.close()
        total = len(tenant_ids) * 2
        while True:
            done = scalar(
                url,
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name LIKE 'push_%' AND status IN ('succeeded', 'failed')",
            )
            if done >= total:
                break
            time.sleep(0.25)
        wall = time.monotonic() - start
        # sustained: between the 10th and the 90th percentile of this run's Gradient requests (start and end
        # are ramps: the first jobs to start, the last push's tail)
        with gradient.lock:
            times = sorted(gradient.times[g_requests:])
        lo, hi = times[len(times) // 10], times[len(times) * 9 // 10]
        sustained = (len(times) * 8 // 10) / max(hi - lo, 1e-9)
        failed = scalar(url, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")
        bad_runs = scalar(url, "SELECT count(*) FROM push_runs WHERE status <> 'succeeded'")
        cw_total, cw_limited = cw_requests(cw_url)
        g_total = gradient.requests - g_requests
        return {
            "workers": workers,
            "wall": wall,
            "companies_per_s": 2 * len(tenant_ids) * args.companies / wall,
            "requests_per_s": (cw_total + g_total) / wall,
            "gradient_per_s": sustained,
            "gradient_fraction": sustained / args.gradient_rate,
            "cw_429": cw_limited,
            "gradient_429": gradient.limited - g_limited,
            "failed": failed + bad_runs,
            "fanned": len(fanned),
        }
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        cw.terminate()
        cw.join(10)
        engine.dispose()
        drop_db(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=8, help="jobs at once per worker")
    parser.add_argument("--cw-latency-ms", type=float, default=50.0)
    parser.add_argument("--cw-rate-limit", type=int, default=1000, help="requests a minute per tenant (API member)")
    parser.add_argument("--gradient-latency-ms", type=float, default=20.0)
    parser.add_argument("--gradient-rate", type=float, default=100.0, help="requests a second, all tenants together")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="seatsync-fanout-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "SEATSYNC_KEY_FILE": str(tmp / "seatsync.key"),
        "SEATSYNC_GRADIENT_VENDOR_KEY": GRADIENT_VENDOR,
        "SEATSYNC_GRADIENT_RATE_LIMIT": str(args.gradient_rate),
        "SEATSYNC_CONNECTWISE_RATE_LIMIT": str(args.cw_rate_limit),
    }
    os.environ.update({k: env[k] for k in ("SEATSYNC_KEY_FILE", "SEATSYNC_GRADIENT_VENDOR_KEY")})
    get_settings.cache_clear()

    gradient = GradientSandbox.seeded("empty")
    counting = Counting(
        gradient_sandbox.create_app(gradient, latency_ms=args.gradient_latency_ms, rate_limit=args.gradient_rate)
    )
    template = f"seatsync_bench_tpl_{uuid.uuid4().hex[:8]}"
    with BackgroundServer(counting) as gradient_server:
        started = time.monotonic()
        engine = make_engine(create_db(template))
        upgrade(engine)
        builder = ConnectWiseSandbox(seed=None)
        with BackgroundServer(cw_app(builder)) as builder_server:
            worlds = build(
                engine,
                builder,
                builder_server.url,
                tenants_count=args.tenants,
                companies=args.companies,
                member_per_tenant=True,
            )
        due = BillingPeriod.containing(datetime.now(UTC), UTC).previous()
        connect_gradient(engine, gradient, gradient_server.url, worlds, since=due.start(UTC) + timedelta(days=14))
        engine.dispose()
        print(
            f"prepared {args.tenants} tenants x {args.companies} companies in {time.monotonic() - started:.0f} s "
            f"(ConnectWise {args.cw_latency_ms:.0f} ms, {args.cw_rate_limit}/min per tenant; "
            f"Gradient {args.gradient_latency_ms:.0f} ms, {args.gradient_rate:.0f}/s global; "
            f"{args.concurrency} jobs per worker)",
            flush=True,
        )
        rows = []
        try:
            for count in [int(w) for w in args.workers.split(",")]:
                rows.append(run(args, template, count, counting, env))
                r = rows[-1]
                print(f"  {count} worker(s): {r['wall']:.1f} s", flush=True)
        finally:
            drop_db(template)
    print()
    print(
        "| workers | wall (s) | companies/s (both targets) | requests/s | Gradient req/s sustained "
        "| of Gradient limit | 429s CW / Gradient | failed |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['wall']:.1f} | {r['companies_per_s']:.0f} | {r['requests_per_s']:.0f} | "
            f"{r['gradient_per_s']:.1f} | {r['gradient_fraction']:.0%} | {r['cw_429']} / {r['gradient_429']} | {r['failed']} |"
        )


if __name__ == "__main__":
    # the sandboxes this benchmark starts listen on loopback: allowed as outbound hosts, as the demo does
    os.environ.setdefault("SEATSYNC_ALLOWED_HOSTS", "127.0.0.0/8,localhost")
    main()
