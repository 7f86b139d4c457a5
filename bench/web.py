"""Web benchmark: 10,000 companies; the mapper page (50 rows, with a search) and the main API routes under 20
concurrent clients. Prints p50/p95/p99 of the client's wall time and of the server's own time (Server-Timing).

    python bench/web.py [--companies 10000] [--clients 20] [--requests 400] [--workers 2] [--database-url URL]

The app runs as in production, ``seatsync serve --workers N`` in its own processes; the clients are one asyncio
process with N keep-alive connections, each sending its next request as soon as the last answer arrived (a closed
loop without pauses: 20 requests in flight all the time). Each scenario is warmed up first (not counted).

Targets: mapper page p95 <= 200 ms; API p99 <= 100 ms. They are judged on the client's wall time, which holds
all the server's time: Server-Timing starts when the app sees the request, so it leaves out the time a request
waits for a busy worker (on SQLite, reads run on the worker's event loop, one at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from argon2 import PasswordHasher
from sqlalchemy import insert, select

from seatsync.db.engine import make_engine, transaction
from seatsync.db.migrate import upgrade
from seatsync.db.models import Company, CWMapping, Operator, PushResult, PushRun
from seatsync.sandboxes.server import free_port
from seatsync.services.imports import ImportKind, import_records
from seatsync.services.tenants import create_tenant
from seatsync.web import auth

PASSWORD = "benchmark password"
ROOT = Path(__file__).resolve().parents[1]
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
    if engine.dialect.name == "postgresql":
        # what autovacuum does for a live database within a minute: without statistics the planner guesses
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    engine.dispose()
    return token, run_id


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# --- the clients: HTTP/1.1 keep-alive over asyncio streams (light, so the server gets the cores) ----------------


class Connection:
    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body else ""
        self.writer.write(f"{method} {path} HTTP/1.1\r\n{self.fixed}{extra}\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16):
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            content = b"".join(chunks)
        else:
            content = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
            self.writer = self.reader = None


@dataclass
class Sample:
    server: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0


async def _load(url: str, headers: dict[str, str], paths: list[tuple[str, str]], clients: int, total: int) -> Sample:
    host, port = url.removeprefix("http://").split(":")
    sample = Sample()
    issued = 0

    async def client() -> None:
        nonlocal issued
        connection = Connection(host, int(port), headers)
        try:
            while issued < total:
                i, issued = issued, issued + 1
                method, path = paths[i % len(paths)]
                body = json.dumps({"name": f"Renamed {i}"}).encode() if method == "PUT" else b""
                started = time.perf_counter()
                status, answer, _content = await connection.request(method, path, body)
                sample.wall.append((time.perf_counter() - started) * 1000)
                sample.server.append(float(answer.get("server-timing", "app;dur=nan").split("dur=")[1]))
                if status >= 400:
                    sample.errors += 1
                    if sample.errors == 1:
                        print(f"  {method} {path} answered {status}: {_content[:200]!r}", file=sys.stderr)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    sample.seconds = time.perf_counter() - started
    return sample


def measure(
    url: str, headers: dict[str, str], paths: list[tuple[str, str]], clients: int, total: int, warmup: int
) -> Sample:
    """``warmup`` requests first (each worker's first requests compile queries and templates), then ``total``."""
    if warmup:
        asyncio.run(_load(url, headers, paths, clients, warmup))
    return asyncio.run(_load(url, headers, paths, clients, total))


def row(name: str, s: Sample) -> str:
    return (
        f"| {name} | {len(s.wall)} | {len(s.wall) / s.seconds:.0f} | {percentile(s.wall, 50):.1f} | "
        f"{percentile(s.wall, 95):.1f} | {percentile(s.wall, 99):.1f} | {percentile(s.server, 50):.1f} | "
        f"{percentile(s.server, 95):.1f} | {percentile(s.server, 99):.1f} | {s.errors} |"
    )


# --- the server: `seatsync serve` in its own processes ------------------------------------------------------------


class Server:
    def __init__(self, url: str, workers: int, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "SEATSYNC_DATABASE_URL": url,
            "SEATSYNC_KEY_FILE": str(tmp / "bench.key"),
            "SEATSYNC_JOB_QUEUE": "inprocess",
        }
        self.log = (tmp / "serve.log").open("w")
        command = [sys.executable, "-m", "seatsync", "serve", "--port", str(self.port), "--workers", str(workers)]
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"seatsync serve stopped (exit {self.process.returncode}); see its log")
            try:
                status, _h, _b = asyncio.run(_once(self.url, "GET", "/healthz", {}))
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("seatsync serve did not answer within a minute")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


async def _once(
    url: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    connection = Connection(host, int(port), headers)
    try:
        return await connection.request(method, path, body)
    finally:
        await connection.close()


def login(url: str) -> dict[str, str]:
    """A browser's headers after logging in: the session cookie and the CSRF token."""
    body = json.dumps({"email": "admin@bench.test", "password": PASSWORD}).encode()
    status, headers, content = asyncio.run(_once(url, "POST", "/api/v1/auth/login", {}, body))
    if status != 200:
        raise RuntimeError(f"login failed: {status} {content[:200]!r}")
    cookie = headers["set-cookie"].split(";")[0]
    return {"Cookie": cookie, "X-CSRF-Token": json.loads(content)["csrf_token"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--users-per-company", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400, help="requests per scenario")
    parser.add_argument("--workers", type=int, default=2, help="seatsync serve --workers (default: 2, one per core)")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        started = time.perf_counter()
        token, run_id = seed(url, args.companies, args.users_per_company)
        print(
            f"seeded {args.companies} companies, {args.companies * args.users_per_company} users in "
            f"{time.perf_counter() - started:.1f}s ({url.split(':')[0]}); seatsync serve --workers {args.workers}, "
            f"{os.cpu_count()} cores"
        )
        server = Server(url, args.workers, tmp)
        try:
            server.wait_ready()
            browser = login(server.url)
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
            period = datetime.now(UTC).strftime("%Y-%m")
            billable = [("GET", f"/api/v1/billable?period={period}")]
            n, warm = args.requests, max(2 * args.clients, args.requests // 4)
            print()
            print(
                f"{args.clients} concurrent clients, {n} requests per scenario (after {warm} to warm up); times in ms"
            )
            print()
            print(
                "| scenario | requests | req/s | client p50 | client p95 | client p99 | server p50 | server p95 | "
                "server p99 | errors |"
            )
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            m = measure(server.url, browser, mapper, args.clients, n, warm)
            print(row("mapper page (50 rows, search/filter/page)", m), flush=True)
            a = measure(server.url, bearer, api, args.clients, n * 2, warm)
            print(row("API reads (mappings, companies, me, run, runs, connection)", a), flush=True)
            w = measure(server.url, bearer, writes, args.clients, n // 4, args.clients)
            print(row("API write: PUT company (not in the target)", w), flush=True)
            b = measure(server.url, bearer, billable, args.clients, n // 4, args.clients)
            print(row(f"API billable, all {args.companies} companies (not in the target)", b), flush=True)
        finally:
            server.stop()
    mapper_p95 = percentile(m.wall, 95)
    api_p99 = percentile(a.wall, 99)
    ok = mapper_p95 <= MAPPER_P95_MS and api_p99 <= API_P99_MS and not m.errors and not a.errors
    print()
    print(
        f"client wall time: mapper p95 {mapper_p95:.1f} ms (target <= {MAPPER_P95_MS:.0f}); API p99 "
        f"{api_p99:.1f} ms (target <= {API_P99_MS:.0f}): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    # the sandboxes this benchmark starts listen on loopback: allowed as outbound hosts, as the demo does
    os.environ.setdefault("SEATSYNC_ALLOWED_HOSTS", "127.0.0.0/8,localhost")
    sys.exit(main())
