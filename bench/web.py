"""Web benchmark: 10,000 companies; the mapper page (50 rows, with a search) and the main API routes under 20
concurrent clients. Prints p50/p95/p99 of the server's own time (Server-Timing) and of the client's wall time.

    python bench/web.py [--companies 10000] [--clients 20] [--requests 400] [--database-url URL]

Targets: mapper page p95 <= 200 ms server time; API p99 <= 100 ms server time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from argon2 import PasswordHasher
from sqlalchemy import insert, select

from seatsync.config import Settings
from seatsync.db.engine import make_engine, transaction
from seatsync.db.migrate import upgrade
from seatsync.db.models import Company, CWMapping, Operator, PushResult, PushRun
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services.imports import ImportKind, import_records
from seatsync.services.tenants import create_tenant
from seatsync.web import auth
from seatsync.web.app import create_app

PASSWORD = "benchmark password"
MAPPER_P95_MS = 200.0
API_P99_MS = 100.0
WORDS = [
    "Acme",
    "Northwind",
    "Contoso",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Harbor",
    "Cedar",
    "Summit",
    "Pine",
]
KINDS = ["Dental", "Law", "Logistics", "Realty", "Clinic", "Bakery", "Partners", "Holdings", "Schools", "Finance"]


def seed(url: str, companies: int, users_per_company: int) -> tuple[str, int]:
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    period = f"{now.year:04d}-{now.month:02d}"
    with transaction(engine) as session:
        tenant = create_tenant(session, name="Bench MSP")
        cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
        session.add(Operator(tenant_id=tenant.id, email="admin@bench.test", password_hash=cheap, role="admin"))
        records = [
            (i, {"company_id": f"c{i:05d}", "name": f"{WORDS[i % len(WORDS)]} {KINDS[(i // 7) % len(KINDS)]} {i}"})
            for i in range(1, companies + 1)
        ]
        import_records(session, tenant=tenant, kind=ImportKind.COMPANIES, records=records, source="bench")
        events = (
            (
                n,
                {
                    "user_id": f"u{n}",
                    "company_id": f"c{(n % companies) + 1:05d}",
                    "email": f"u{n}@bench.test",
                    "name": f"U {n}",
                    "status": "active",
                    "at": f"{period}-01T08:00:00Z",
                },
            )
            for n in range(1, companies * users_per_company + 1)
        )
        import_records(session, tenant=tenant, kind=ImportKind.USERS, records=events, source="bench")
        pks = list(session.scalars(select(Company.id).where(Company.tenant_id == tenant.id).order_by(Company.id)))
        # two thirds mapped, and a finished push of the period with a result for each mapped company
        mapped = pks[: len(pks) * 2 // 3]
        session.execute(
            insert(CWMapping),
            [
                {
                    "tenant_id": tenant.id,
                    "company_pk": pk,
                    "cw_company_id": 1000 + pk,
                    "cw_company_name": f"CW {pk}",
                    "agreement_id": 5000 + pk,
                    "agreement_name": "Managed Services",
                    "addition_id": 9000 + pk,
                    "addition_name": "PHISH-SAT",
                    "saved_at": now,
                    "saved_by": "bench",
                    "last_pushed_quantity": 10.0,
                }
                for pk in mapped
            ],
        )
        run = PushRun(
            tenant_id=tenant.id,
            target="connectwise",
            period=period,
            started_by="bench",
            status="partial",
            started_at=now,
            finished_at=now,
            total=len(mapped),
        )
        session.add(run)
        session.flush()
        session.execute(
            insert(PushResult),
            [
                {
                    "run_id": run.id,
                    "tenant_id": tenant.id,
                    "company_pk": pk,
                    "outcome": "failed" if pk % 50 == 0 else "succeeded",
                    "quantity_before": 9.0,
                    "quantity_after": 10.0,
                    "billable": 10,
                    "attempts": 1,
                    "reason": "ConnectWise refused: addition gone" if pk % 50 == 0 else None,
                    "updated_at": now,
                }
                for pk in mapped
            ],
        )
        operator = session.scalar(select(Operator).where(Operator.tenant_id == tenant.id))
        assert operator is not None
        principal = auth.Principal(operator.id, tenant.id, operator.email, auth.Role.ADMIN, "token")
        _row, token = auth.create_token(session, principal=principal, name="bench", role=auth.Role.ADMIN, now=now)
        run_id = run.id
    engine.dispose()
    return token, run_id


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def measure(
    base: str,
    headers: dict[str, str],
    cookies: httpx.Cookies | None,
    paths: list[tuple[str, str]],
    clients: int,
    total: int,
) -> tuple[list[float], list[float], int]:
    server: list[float] = []
    wall: list[float] = []
    errors = 0
    lock = threading.Lock()
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base, headers=headers, cookies=cookies, timeout=30)
        return local.client

    def one(i: int) -> None:
        nonlocal errors
        method, path = paths[i % len(paths)]
        started = time.perf_counter()
        response = client().request(method, path, json={"name": f"Renamed {i}"} if method == "PUT" else None)
        elapsed = (time.perf_counter() - started) * 1000
        timing = response.headers.get("server-timing", "app;dur=0").split("dur=")[1]
        with lock:
            wall.append(elapsed)
            server.append(float(timing))
            if response.status_code >= 400:
                errors += 1

    made: list[httpx.Client] = []
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(total)))
        # close each worker's client
        list(pool.map(lambda _i: made.append(client()) if hasattr(local, "client") else None, range(clients)))
    for c in made:
        c.close()
    return server, wall, errors


def row(name: str, server: list[float], wall: list[float], errors: int) -> str:
    return (
        f"| {name} | {len(server)} | {percentile(server, 50):.1f} | {percentile(server, 95):.1f} | "
        f"{percentile(server, 99):.1f} | {percentile(wall, 50):.1f} | {percentile(wall, 95):.1f} | "
        f"{percentile(wall, 99):.1f} | {errors} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--users-per-company", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400, help="requests per scenario")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        started = time.perf_counter()
        token, run_id = seed(url, args.companies, args.users_per_company)
        print(
            f"seeded {args.companies} companies, {args.companies * args.users_per_company} users in {time.perf_counter() - started:.1f}s ({url.split(':')[0]})"
        )
        engine = make_engine(url)
        app = create_app(settings=Settings(database_url=url, key_file=Path(tmp) / "bench.key"), engine=engine)
        with BackgroundServer(app) as server:
            with httpx.Client(base_url=server.url) as login_client:
                r = login_client.post("/api/v1/auth/login", json={"email": "admin@bench.test", "password": PASSWORD})
                r.raise_for_status()
                cookies = login_client.cookies
                csrf = r.json()["csrf_token"]
                login_client.get("/connectwise/billing")  # warm the counts
            bearer = {"Authorization": f"Bearer {token}"}
            mapper = [
                ("GET", "/connectwise/billing?q=acme"),
                ("GET", "/connectwise/billing?q=dental&page=2"),
                ("GET", "/connectwise/billing?filter=failed"),
                ("GET", "/connectwise/billing?page=120"),
                ("GET", "/connectwise/billing?filter=unmapped&q=pine"),
            ]
            api = [
                ("GET", "/api/v1/mappings?q=acme"),
                ("GET", "/api/v1/mappings?page=50"),
                ("GET", "/api/v1/companies?q=cedar"),
                ("GET", "/api/v1/auth/me"),
                ("GET", f"/api/v1/pushes/{run_id}"),
                ("GET", "/api/v1/pushes"),
                ("GET", "/api/v1/connectwise"),
            ]
            writes = [("PUT", "/api/v1/companies/c00042")]
            print()
            print(f"{args.clients} concurrent clients, {args.requests} requests per scenario; times in ms")
            print()
            print(
                "| scenario | requests | server p50 | server p95 | server p99 | client p50 | client p95 | client p99 | errors |"
            )
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            results = {}
            m = measure(server.url, {"X-CSRF-Token": csrf}, cookies, mapper, args.clients, args.requests)
            print(row("mapper page (50 rows, search/filter/page)", *m))
            results["mapper"] = m
            a = measure(server.url, bearer, None, api, args.clients, args.requests * 2)
            print(row("API reads (mappings, companies, me, run, runs, connection)", *a))
            results["api"] = a
            # one SQLite writer and the importer's per-call cost (it reads the tenant's companies): 4 writers, not 20
            w = measure(server.url, bearer, None, writes, min(4, args.clients), args.requests // 10)
            print(row("API write: PUT company, 4 clients (the importer; not in the target)", *w))
            period = datetime.now(UTC).strftime("%Y-%m")
            b = measure(
                server.url,
                bearer,
                None,
                [("GET", f"/api/v1/billable?period={period}")],
                args.clients,
                args.requests // 4,
            )
            print(row(f"API billable, all {args.companies} companies (not in the target)", *b))
            app.state.seatsync.dispatcher.wait(10)
        engine.dispose()
    mapper_p95 = percentile(results["mapper"][0], 95)
    api_p99 = percentile(results["api"][0], 99)
    ok = mapper_p95 <= MAPPER_P95_MS and api_p99 <= API_P99_MS and not results["mapper"][2] and not results["api"][2]
    print()
    print(
        f"mapper p95 {mapper_p95:.1f} ms (target <= {MAPPER_P95_MS:.0f}); API p99 {api_p99:.1f} ms (target <= {API_P99_MS:.0f}): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
