"""Benchmark: importing users' status changes, against what the databases and Python do alone.

For each size, one generated history (``bench/billable.py``'s generator: ~3 events a user, 2,000 companies) is
imported by seatsync (the real ``import_file``, one transaction, as ``seatsync import users`` runs it), then
imported again unchanged. Side by side, in the same run:

- ``sqlite3 .import`` of the same CSV into a table with the same unique index (the ``sqlite3`` shell);
- ``COPY`` of the same CSV into a PostgreSQL table with the same unique index (psycopg's ``copy``);
- Python's ``csv`` module reading the file (no database).

Each seatsync import runs in its own process (peak RSS is its own: VmHWM). Ratios: seatsync's rows/s over the
anchor's (target ≥ 0.5), the re-import's time over the import's (target ≤ 0.10), and cost per row across sizes
(target: flat). Each is given by wall time and by CPU time (the machine is shared, and CPU moves much less with the
load): seatsync's process plus its PostgreSQL backend (procfs), the ``sqlite3`` shell's CPU (``getrusage`` of the
child), and for ``COPY`` the client plus the backend.

    python bench/import.py                          # 300,000 and 3,000,000 rows
    python bench/import.py --rows 300000 --skip-pg
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from billable import generate, peak_rss_mb  # noqa: E402

ANCHOR_TABLE = """
    CREATE TABLE anchor (user_id TEXT, company_id TEXT, email TEXT, name TEXT, status TEXT, at {at_type});
    CREATE UNIQUE INDEX anchor_event ON anchor (user_id, at, status, company_id);
"""


def backend_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by the PostgreSQL backend ``pid`` (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sqlite_anchor(folder: Path, users_csv: Path) -> tuple[float, float]:
    """(wall, CPU) seconds for the sqlite3 shell to .import the file into a table with the unique index."""
    db = folder / f"anchor-{uuid.uuid4().hex[:6]}.db"
    script = (
        ANCHOR_TABLE.format(at_type="TEXT")
        + f"\nPRAGMA journal_mode=WAL;\n.mode csv\n.import --skip 1 {users_csv} anchor\n"
    )
    began, cpu = time.perf_counter(), children_cpu()
    subprocess.run(["sqlite3", str(db)], input=script, text=True, check=True, capture_output=True)
    seconds, cpu = time.perf_counter() - began, children_cpu() - cpu
    db.unlink()
    return seconds, cpu


def postgres_anchor(url: str, users_csv: Path) -> tuple[float, float]:
    """(wall, CPU) seconds to COPY the file into a table with the unique index (instants parsed by PostgreSQL)."""
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS anchor")
        conn.execute(ANCHOR_TABLE.format(at_type="TIMESTAMPTZ"))
        conn.commit()
        pid = conn.info.backend_pid
        began, cpu = time.perf_counter(), time.process_time() + backend_cpu(pid)
        copy_sql = "COPY anchor FROM STDIN (FORMAT csv, HEADER true)"
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy, users_csv.open("rb") as handle:
            while block := handle.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds, cpu = time.perf_counter() - began, time.process_time() + backend_cpu(pid) - cpu
        conn.execute("DROP TABLE anchor")
        conn.commit()
    return seconds, cpu


def csv_anchor(users_csv: Path) -> tuple[float, float]:
    began, cpu = time.perf_counter(), time.process_time()
    with users_csv.open(newline="") as handle:
        for _row in csv.reader(handle):
            pass
    return time.perf_counter() - began, time.process_time() - cpu


#: (import wall s, import CPU s, re-import wall s, re-import CPU s, re-import summary, peak RSS MB)
Outcome = tuple[float, float, float, float, str, float]


def seatsync_import(url: str, companies_csv: Path, users_csv: Path) -> Outcome:
    """The import and the re-import, in this process (CPU: this process and its PostgreSQL backend)."""
    from seatsync.db.engine import make_engine, transaction
    from seatsync.db.migrate import upgrade
    from seatsync.services import tenants
    from seatsync.services.imports import ImportKind, import_file

    engine = make_engine(url)
    upgrade(engine)
    pid = None
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:  # the pool's one connection, which the imports use
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, name=f"bench {uuid.uuid4().hex[:6]}")
    with transaction(engine) as session, companies_csv.open("rb") as stream:
        import_file(session, tenant=tenant, kind=ImportKind.COMPANIES, stream=stream, source="companies.csv")
    timings: list[float] = []
    summary = ""
    for _ in range(2):
        began, cpu = time.perf_counter(), time.process_time() + backend_cpu(pid)
        with transaction(engine) as session, users_csv.open("rb") as stream:
            result = import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=stream, source="users.csv")
        timings += [time.perf_counter() - began, time.process_time() + backend_cpu(pid) - cpu]
        summary = result.summary()
    if pid is not None:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == pid, (
                "the imports used another backend"
            )
    engine.dispose()
    return timings[0], timings[1], timings[2], timings[3], summary, peak_rss_mb()


def _child(url: str, companies_csv: Path, users_csv: Path, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(seatsync_import(url, companies_csv, users_csv))


def isolated(url: str, companies_csv: Path, users_csv: Path) -> Outcome:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(url, companies_csv, users_csv, queue))
    child.start()
    while True:
        try:
            found: Outcome = queue.get(timeout=1)
        except Exception:  # queue.Empty: still working, unless the child died
            if not child.is_alive():
                raise SystemExit(f"the import process died (exit {child.exitcode})") from None
            continue
        child.join()
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="300000,3000000", help="comma-separated sizes (status rows, about)")
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in (int(s) for s in args.rows.split(",")):
            sub = folder / str(size)
            sub.mkdir()
            companies_csv, users_csv, events = generate(sub, args.companies, max(1, size * 10 // 33), args.seed)
            parse, _parse_cpu = csv_anchor(users_csv)
            print(f"{events:,} rows: Python csv parse {events / parse:,.0f} rows/s", flush=True)
            targets = []
            if not args.skip_sqlite:
                targets.append(
                    (
                        "sqlite",
                        f"sqlite:///{sub / 'bench.db'}",
                        lambda sub=sub, users_csv=users_csv: sqlite_anchor(sub, users_csv),
                    )
                )
            pg_db = f"seatsync_bench_{uuid.uuid4().hex[:8]}"
            if not args.skip_pg:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{pg_db}"')
                pg_url = args.pg.rsplit("/", 1)[0] + f"/{pg_db}"
                targets.append(
                    (
                        "postgresql",
                        pg_url.replace("postgresql://", "postgresql+psycopg://"),
                        lambda url=pg_url, users_csv=users_csv: postgres_anchor(url, users_csv),  # type: ignore[misc]
                    )
                )
            try:
                for name, url, anchor in targets:
                    anchor_seconds, anchor_cpu = anchor()
                    first, first_cpu, again, again_cpu, summary, rss = isolated(url, companies_csv, users_csv)
                    table.append(
                        (name, events, first, first_cpu, anchor_seconds, anchor_cpu, again, again_cpu, rss, parse)
                    )
                    print(
                        f"  {name}: import {events / first:,.0f} rows/s ({first:.1f} s, CPU {first_cpu:.2f} s), "
                        f"anchor {events / anchor_seconds:,.0f} rows/s (CPU {anchor_cpu:.2f} s), re-import "
                        f"{again:.2f} s ({summary}), peak RSS {rss:.0f} MB",
                        flush=True,
                    )
            finally:
                if not args.skip_pg:
                    with psycopg.connect(args.pg, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
    print()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(
        f"{'database':<11} {'rows':>10} {'seatsync rows/s':>16} {'anchor rows/s':>14} {'x anchor':>9} "
        f"{'x anchor CPU':>13} {'CPU µs/row':>11} {'re-import/import':>17} {'x csv parse':>12} {'peak RSS MB':>12}"
    )
    for name, rows, first, first_cpu, theirs, theirs_cpu, again, again_cpu, rss, parse in table:
        print(
            f"{name:<11} {rows:>10,} {rows / first:>16,.0f} {rows / theirs:>14,.0f} {theirs / first:>9.2f} "
            f"{theirs_cpu / first_cpu:>13.2f} {first_cpu / rows * 1e6:>11.1f} "
            f"{again / first:>8.3f} ({again_cpu / first_cpu:.3f} CPU) {parse / first:>12.2f} {rss:>12.0f}"
        )


if __name__ == "__main__":
    main()
