"""Benchmark: importing users' status changes, against what the databases and Python do alone.

For each size, one generated history (``bench/billable.py``'s generator: ~3 events a user, 2,000 companies) is
imported by seatsync (the real ``import_file``, one transaction, as ``seatsync import users`` runs it), then
imported again unchanged. Side by side, in the same run:

- ``sqlite3 .import`` of the same CSV into a table with the same unique index (the ``sqlite3`` shell);
- ``COPY`` of the same CSV into a PostgreSQL table with the same unique index (psycopg's ``copy``);
- Python's ``csv`` module reading the file (no database).

Each seatsync import runs in its own process (peak RSS is its own: VmHWM). Ratios: seatsync's rows/s over the
anchor's (target ≥ 0.5), the re-import's time over the import's (target ≤ 0.10), and cost per row across sizes
(target: flat).

    python bench/import.py                          # 300,000 and 3,000,000 rows
    python bench/import.py --rows 300000 --skip-pg
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
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


def sqlite_anchor(folder: Path, users_csv: Path) -> float:
    """Seconds for the sqlite3 shell to .import the file into a table with the unique index."""
    db = folder / f"anchor-{uuid.uuid4().hex[:6]}.db"
    script = (
        ANCHOR_TABLE.format(at_type="TEXT")
        + f"\nPRAGMA journal_mode=WAL;\n.mode csv\n.import --skip 1 {users_csv} anchor\n"
    )
    began = time.perf_counter()
    subprocess.run(["sqlite3", str(db)], input=script, text=True, check=True, capture_output=True)
    seconds = time.perf_counter() - began
    db.unlink()
    return seconds


def postgres_anchor(url: str, users_csv: Path) -> float:
    """Seconds to COPY the file into a table with the unique index (instants parsed by PostgreSQL)."""
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS anchor")
        conn.execute(ANCHOR_TABLE.format(at_type="TIMESTAMPTZ"))
        conn.commit()
        began = time.perf_counter()
        copy_sql = "COPY anchor FROM STDIN (FORMAT csv, HEADER true)"
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy, users_csv.open("rb") as handle:
            while block := handle.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - began
        conn.execute("DROP TABLE anchor")
        conn.commit()
    return seconds


def csv_anchor(users_csv: Path) -> float:
    began = time.perf_counter()
    with users_csv.open(newline="") as handle:
        for _row in csv.reader(handle):
            pass
    return time.perf_counter() - began


def seatsync_import(url: str, companies_csv: Path, users_csv: Path) -> tuple[float, float, str, float]:
    """(import seconds, re-import seconds, re-import summary, peak RSS MB), in this process."""
    from seatsync.db.engine import make_engine, transaction
    from seatsync.db.migrate import upgrade
    from seatsync.services import tenants
    from seatsync.services.imports import ImportKind, import_file

    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, name=f"bench {uuid.uuid4().hex[:6]}")
    with transaction(engine) as session, companies_csv.open("rb") as stream:
        import_file(session, tenant=tenant, kind=ImportKind.COMPANIES, stream=stream, source="companies.csv")
    timings = []
    summary = ""
    for _ in range(2):
        began = time.perf_counter()
        with transaction(engine) as session, users_csv.open("rb") as stream:
            result = import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=stream, source="users.csv")
        timings.append(time.perf_counter() - began)
        summary = result.summary()
    engine.dispose()
    return timings[0], timings[1], summary, peak_rss_mb()


def _child(url: str, companies_csv: Path, users_csv: Path, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(seatsync_import(url, companies_csv, users_csv))


def isolated(url: str, companies_csv: Path, users_csv: Path) -> tuple[float, float, str, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(url, companies_csv, users_csv, queue))
    child.start()
    while True:
        try:
            found: tuple[float, float, str, float] = queue.get(timeout=1)
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
            parse = csv_anchor(users_csv)
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
                    anchor_seconds = anchor()
                    first, again, summary, rss = isolated(url, companies_csv, users_csv)
                    table.append((name, events, events / first, events / anchor_seconds, first, again, rss, parse))
                    print(
                        f"  {name}: import {events / first:,.0f} rows/s ({first:.1f} s), anchor "
                        f"{events / anchor_seconds:,.0f} rows/s, re-import {again:.2f} s ({summary}), "
                        f"peak RSS {rss:.0f} MB",
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
        f"{'µs/row':>7} {'re-import/import':>17} {'x csv parse':>12} {'peak RSS MB':>12}"
    )
    for name, rows, ours, theirs, first, again, rss, parse in table:
        print(
            f"{name:<11} {rows:>10,} {ours:>16,.0f} {theirs:>14,.0f} {ours / theirs:>9.2f} "
            f"{first / rows * 1e6:>7.1f} {again / first:>17.3f} {ours / (rows / parse):>12.2f} {rss:>12.0f}"
        )


if __name__ == "__main__":
    main()
