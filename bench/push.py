"""Benchmark: the ConnectWise push of 2,000 mapped companies against the sandbox.

The sandbox runs in its own process (50 ms latency, 6,000 requests a minute per API member) with 2,000
companies, each with one agreement and one PHISH-SAT addition at quantity 0. seatsync (SQLite in a temporary
directory) has the same 2,000 companies, mapped, with 1-7 active users each. The push itself runs as the real
command, ``python -m seatsync push connectwise``, in a child process, so its peak RSS is its own:

1. a push where every quantity changes (PATCH + report per company);
2. the same push again: nothing changes.

Prints wall time, requests per company, the achieved request rate as a fraction of the limit, and peak RSS.
Targets: >= 0.9 of the limit, <= 4 requests per changed company, <= 2 per unchanged one, peak RSS <= 200 MB.

    python bench/push.py [--companies 2000] [--latency-ms 50] [--rate-limit 6000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from seatsync.db.engine import make_engine, transaction  # noqa: E402
from seatsync.db.migrate import upgrade  # noqa: E402
from seatsync.db.models import Company, CWMapping  # noqa: E402
from seatsync.sandboxes.server import free_port  # noqa: E402
from seatsync.services import connectwise_connection, tenants  # noqa: E402
from seatsync.services.imports import ImportKind, import_file  # noqa: E402

TARGETS = {"rate": 0.9, "changed": 4.0, "unchanged": 2.0, "rss_mb": 200.0}


def serve_sandbox(port: int, companies: int, latency_ms: float, rate_limit: int) -> None:
    """The child process: ids are assigned 1, 2, 3 ... so company i has agreement i and addition i."""
    import uvicorn

    from seatsync.sandboxes.connectwise import ConnectWiseSandbox, create_app

    sandbox = ConnectWiseSandbox(seed=None, latency_ms=latency_ms, rate_limit=rate_limit)
    for n in range(1, companies + 1):
        company = sandbox.add_company(f"Client {n:05d}")
        agreement = sandbox.add_agreement(company["id"])
        sandbox.add_addition(agreement["id"], quantity=0)
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


def requests_by_status(url: str) -> dict[str, int]:
    return {k: int(v) for k, v in httpx.get(url + "/_sandbox/requests", timeout=10).json()["by_status"].items()}


def prepare(database_url: str, url: str, companies: int) -> str:
    engine = make_engine(database_url)
    upgrade(engine)
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, name="Bench MSP")
        slug, tenant_id = tenant.slug, tenant.id
        rows = "company_id,name\n" + "".join(f"c{n:05d},Client {n:05d}\n" for n in range(1, companies + 1))
        import_file(session, tenant=tenant, kind=ImportKind.COMPANIES, stream=io.BytesIO(rows.encode()), source="b")
        users = ["user_id,company_id,email,name,status,at"]
        for n in range(1, companies + 1):
            users += [
                f"u{n:05d}-{k},c{n:05d},u{n:05d}-{k}@example.com,User {n}-{k},active,2026-09-01T00:00:00Z"
                for k in range(1 + n % 7)
            ]
        data = ("\n".join(users) + "\n").encode()
        import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=io.BytesIO(data), source="u")
        pks = dict(session.query(Company.company_id, Company.id).filter(Company.tenant_id == tenant_id).all())
        # mappings are stored directly: validating 2,000 chains would cost 6,000 requests before the benchmark
        session.add_all(
            CWMapping(
                tenant_id=tenant_id,
                company_pk=pks[f"c{n:05d}"],
                cw_company_id=n,
                cw_company_name=f"Client {n:05d}",
                agreement_id=n,
                agreement_name=f"Agreement {n}",
                addition_id=n,
                addition_name="PHISH-SAT",
                saved_by="bench",
            )
            for n in range(1, companies + 1)
        )
        connectwise_connection.connect(
            session,
            tenant=tenant,
            site=url,
            company_id="demo",
            public_key="demo-public",
            private_key="demo-private",
            client_id="bench-client",
        )
    engine.dispose()
    return slug


def push(
    database_url: str, slug: str, env: dict[str, str], url: str
) -> tuple[float, float, int, list[tuple[float, int]]]:
    """Runs the command; returns (wall seconds, peak RSS MB, exit code, samples of (seconds, requests so far))."""
    command = [sys.executable, "-m", "seatsync", "push", "connectwise", "--tenant", slug, "--period", "2026-10"]
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.wait(0.25):
                samples.append((time.monotonic() - started, int(http.get(url + "/_sandbox/requests").json()["total"])))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    process = subprocess.Popen(
        [*command, "--database-url", database_url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    stop.set()
    sampler.join()
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        print(errors, file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, process.returncode, samples


def sustained(samples: list[tuple[float, int]], limit_per_second: float) -> float:
    """The request rate between 10 % and 90 % of the push's requests, as a fraction of the limit."""
    if len(samples) < 3:
        return 0.0
    first, last = samples[0][1], samples[-1][1]
    low = first + 0.1 * (last - first)
    high = first + 0.9 * (last - first)
    t_low, n_low = next((t, n) for t, n in samples if n >= low)
    t_high, n_high = next((t, n) for t, n in samples if n >= high)
    if t_high <= t_low:
        return 0.0
    return (n_high - n_low) / (t_high - t_low) / limit_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rate-limit", type=int, default=6000, help="requests a minute")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "SEATSYNC_KEY_FILE": str(Path(tmp) / "seatsync.key"),
            "SEATSYNC_CONNECTWISE_RATE_LIMIT": str(args.rate_limit),
            "SEATSYNC_CONNECTWISE_CONCURRENCY": str(args.concurrency),
        }
        os.environ["SEATSYNC_KEY_FILE"] = env["SEATSYNC_KEY_FILE"]
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        child = multiprocessing.get_context("spawn").Process(
            target=serve_sandbox, args=(port, args.companies, args.latency_ms, args.rate_limit), daemon=True
        )
        child.start()
        try:
            wait_until_up(url)
            slug = prepare(database_url, url, args.companies)
            figures = []
            for label in ("changed", "unchanged"):
                before = requests_by_status(url)
                wall, rss, code, samples = push(database_url, slug, env, url)
                after = requests_by_status(url)
                sent = sum(after.values()) - sum(before.values())
                limited = after.get("429", 0) - before.get("429", 0)
                per_second = args.rate_limit / 60
                figures.append(
                    (label, wall, sent, sent / args.companies, sent / wall / per_second, sustained(samples, per_second),
                     limited, rss, code)
                )  # fmt: skip
            states = httpx.get(url + "/_sandbox/state", timeout=30).json()
        finally:
            child.terminate()
            child.join(10)

    quantities_ok = all(a["quantity"] == 1 + n % 7 for n, a in enumerate(states["additions"], start=1))
    documents = len(states["documents"])
    print(
        f"ConnectWise push: {args.companies} mapped companies, sandbox latency {args.latency_ms:g} ms, "
        f"limit {args.rate_limit} requests/minute, {args.concurrency} threads"
    )
    print(
        f"{'push':<10} {'wall s':>7} {'requests':>9} {'req/company':>12} {'rate/limit':>11} {'sustained':>10}"
        f" {'429s':>5} {'peak RSS MB':>12} exit"
    )
    for label, wall, sent, per, rate, steady, limited, rss, code in figures:
        print(
            f"{label:<10} {wall:>7.1f} {sent:>9} {per:>12.3f} {rate:>11.3f} {steady:>10.3f} {limited:>5}"
            f" {rss:>12.1f} {code:>4}"
        )
    changed, unchanged = figures
    print("rate/limit: requests / wall time of the whole command (start-up included) / the limit;")
    print("sustained: the same between 10 % and 90 % of the push's requests (sampled every 0.25 s)")
    print(f"additions hold the billable counts: {quantities_ok}; documents attached: {documents}")
    checks = {
        f"sustained rate >= {TARGETS['rate']} of the limit (changed push)": changed[5] >= TARGETS["rate"],
        f"<= {TARGETS['changed']:g} requests per changed company": changed[3] <= TARGETS["changed"],
        f"<= {TARGETS['unchanged']:g} requests per unchanged company": unchanged[3] <= TARGETS["unchanged"],
        f"peak RSS <= {TARGETS['rss_mb']:g} MB": max(changed[7], unchanged[7]) <= TARGETS["rss_mb"],
        "both pushes exit 0": changed[8] == 0 and unchanged[8] == 0,
        "one report per agreement": documents == args.companies,
    }
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'MISS'} {name}")
    print(f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    raise SystemExit(0 if all(checks.values()) and quantities_ok else 1)


if __name__ == "__main__":
    # the sandboxes this benchmark starts listen on loopback: allowed as outbound hosts, as the demo does
    os.environ.setdefault("SEATSYNC_ALLOWED_HOSTS", "127.0.0.0/8,localhost")
    main()
