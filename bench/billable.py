"""Benchmark: import a large tenant and count one month's billable users, on SQLite and PostgreSQL.

Generates (deterministic seed) a tenant with 10,000 companies, 1,000,000 users and about 3,000,000 status
events over 24 months (and about one training or phishing activity a user), imports it through the real importer,
times `billable` for one month on each database under each rule (`active`, `active-at-end`, `engaged`, `peak`),
computes the `active` counts with DuckDB straight from the CSV, and runs every rule in DuckDB over the same stored
intervals and activity (exported from the database): each rule's counts must agree with DuckDB's, and its time is
shown as a ratio to DuckDB's.

    python bench/billable.py                 # full size (a few minutes)
    python bench/billable.py --users 100000  # smaller

Prints: database, rule, rows, import rows/s, count seconds, ratio to DuckDB, peak RSS (seatsync's import and counts,
read before the DuckDB check runs in the same process), agreement.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import duckdb  # noqa: E402
import psycopg  # noqa: E402

from seatsync.db.engine import make_engine, transaction  # noqa: E402
from seatsync.db.migrate import upgrade  # noqa: E402
from seatsync.domain.periods import BillingPeriod  # noqa: E402
from seatsync.domain.rules import Rule  # noqa: E402
from seatsync.services import tenants  # noqa: E402
from seatsync.services.billing import count_billable  # noqa: E402
from seatsync.services.imports import ImportKind, import_file  # noqa: E402

EPOCH = datetime(2024, 11, 1, tzinfo=UTC)
MONTHS = 24
PERIOD = BillingPeriod(2026, 6)
RULES = (Rule.ACTIVE, Rule.ACTIVE_AT_END, Rule.ENGAGED, Rule.PEAK)
#: each rule over the stored intervals (company_id, user_id, status, at, valid_to), in DuckDB; $start, $stop: the period
DUCK_RULES = {
    Rule.ACTIVE: """
        SELECT company_id, COUNT(DISTINCT user_id) FROM iv
        WHERE status = 'active' AND "at" < $stop AND (valid_to IS NULL OR valid_to > $start OR "at" >= $start)
        GROUP BY company_id""",
    Rule.ACTIVE_AT_END: """
        SELECT company_id, COUNT(DISTINCT user_id) FROM iv
        WHERE status = 'active' AND "at" < $stop AND (valid_to IS NULL OR valid_to >= $stop)
        GROUP BY company_id""",
    Rule.PEAK: """
        WITH a AS (SELECT * FROM iv
                   WHERE status = 'active' AND "at" < $stop AND (valid_to IS NULL OR valid_to > $start OR "at" >= $start)),
        marks AS (
            SELECT company_id, GREATEST("at", $start) AS x, 1 AS kind, 1 AS delta FROM a
            UNION ALL
            SELECT company_id, valid_to, CASE WHEN valid_to = "at" THEN 2 ELSE 0 END, -1 FROM a WHERE valid_to < $stop),
        levels AS (SELECT company_id, kind, SUM(delta) OVER (PARTITION BY company_id ORDER BY x, kind) AS n FROM marks)
        SELECT company_id, MAX(n) FROM levels WHERE kind = 1 GROUP BY company_id""",
    # an activity in the period, billed to the company of the interval (any status) in force at its instant
    Rule.ENGAGED: """
        SELECT iv.company_id, COUNT(DISTINCT a.user_id) FROM act a
        JOIN iv ON iv.user_id = a.user_id AND iv."at" <= a."at" AND (iv.valid_to IS NULL OR iv.valid_to > a."at")
        WHERE a."at" >= $start AND a."at" < $stop
        GROUP BY iv.company_id""",
}


def generate(folder: Path, companies: int, users: int, seed: int) -> tuple[Path, Path, int]:
    rng = random.Random(seed)
    companies_csv, users_csv = folder / "companies.csv", folder / "users.csv"
    with companies_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["company_id", "name", "products"])
        for c in range(companies):
            writer.writerow([f"C{c:05d}", f"Company {c}", "sat;phishing" if c % 3 else "sat"])
    span = MONTHS * 30 * 86400
    events = 0
    with users_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "company_id", "email", "name", "status", "at"])
        for u in range(users):
            company = f"C{rng.randrange(companies):05d}"
            at = EPOCH + timedelta(seconds=rng.randrange(span // 2))
            # about three events a user: active, then sometimes sleeping / re-active / deleted / moved
            history = [("active", company, at)]
            for _ in range(rng.choice((1, 2, 2, 3))):
                at = at + timedelta(seconds=rng.randrange(1, span // 3))
                state = rng.choice(("sleeping", "active", "deleted", "active"))
                if rng.random() < 0.05:
                    company = f"C{rng.randrange(companies):05d}"
                history.append((state, company, at))
            for state, comp, instant in history:
                writer.writerow(
                    [f"U{u:07d}", comp, f"u{u}@example.com", f"User {u}", state, instant.strftime("%Y-%m-%dT%H:%M:%SZ")]
                )
                events += 1
    return companies_csv, users_csv, events


def generate_activity(folder: Path, users: int, seed: int) -> Path:
    """About one activity a user (training or phishing) at a random instant of the 24 months."""
    rng = random.Random(seed + 1)
    activity_csv = folder / "activity.csv"
    span = MONTHS * 30 * 86400
    with activity_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "kind", "at"])
        for u in range(users):
            for _ in range(rng.choice((0, 0, 1, 1, 2, 2))):
                at = EPOCH + timedelta(seconds=rng.randrange(span))
                writer.writerow([f"U{u:07d}", rng.choice(("training", "phishing")), at.strftime("%Y-%m-%dT%H:%M:%SZ")])
    return activity_csv


def duckdb_counts(companies_csv: Path, users_csv: Path) -> tuple[dict[str, int], float]:
    start, end = PERIOD.bounds(UTC)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE ev AS SELECT * FROM read_csv_auto('{users_csv}', types={{'at': 'TIMESTAMPTZ'}})")
    con.execute(f"CREATE TABLE co AS SELECT * FROM read_csv_auto('{companies_csv}')")
    began = time.perf_counter()
    rows = con.execute(
        """
        WITH iv AS (
            SELECT user_id, company_id, status, "at",
                   LEAD("at") OVER (PARTITION BY user_id ORDER BY "at",
                       CASE status WHEN 'active' THEN 0 WHEN 'sleeping' THEN 1 ELSE 2 END, company_id) AS next_at
            FROM ev)
        SELECT co.company_id, COUNT(DISTINCT iv.user_id)
        FROM co LEFT JOIN iv ON iv.company_id = co.company_id AND iv.status = 'active' AND iv."at" < $2
             AND (iv.next_at IS NULL OR iv.next_at > $1 OR iv."at" >= $1)
        GROUP BY co.company_id
        """,
        [start, end],
    ).fetchall()
    seconds = time.perf_counter() - began
    con.close()
    return dict(rows), seconds


def export_intervals(engine: object, tenant_id: int, folder: Path) -> tuple[Path, Path]:
    """The stored intervals and activity as CSV, for DuckDB to count over the very rows seatsync counts."""
    path, activity = folder / "intervals.csv", folder / "stored_activity.csv"
    with engine.connect() as conn, path.open("w", newline="") as handle:  # type: ignore[attr-defined]
        writer = csv.writer(handle)
        writer.writerow(["company_id", "user_id", "status", "at", "valid_to"])
        result = conn.exec_driver_sql(
            "SELECT c.company_id, e.user_id, e.status, e.at, e.valid_to FROM status_events e "
            f"JOIN companies c ON c.id = e.company_pk WHERE e.tenant_id = {int(tenant_id)}"
        )
        for row in result:
            writer.writerow(row)
    with engine.connect() as conn, activity.open("w", newline="") as handle:  # type: ignore[attr-defined]
        writer = csv.writer(handle)
        writer.writerow(["user_id", "kind", "at"])
        for row in conn.exec_driver_sql(
            f"SELECT user_id, kind, at FROM activity_events WHERE tenant_id = {int(tenant_id)}"
        ):
            writer.writerow(row)
    return path, activity


def duckdb_rules(stored: tuple[Path, Path]) -> dict[Rule, tuple[dict[str, int], float]]:
    """Each rule's counts and best-of-three seconds in DuckDB over the stored intervals and activity (loaded
    first)."""
    intervals_csv, activity_csv = stored
    start, end = PERIOD.bounds(UTC)
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE iv AS SELECT * FROM read_csv('{intervals_csv}', header = true, "
        "types = {'at': 'TIMESTAMP', 'valid_to': 'TIMESTAMP', 'company_id': 'VARCHAR', 'user_id': 'VARCHAR'})"
    )
    con.execute(
        f"CREATE TABLE act AS SELECT * FROM read_csv('{activity_csv}', header = true, "
        "types = {'at': 'TIMESTAMP', 'user_id': 'VARCHAR', 'kind': 'VARCHAR'})"
    )
    out = {}
    naive = {"start": start.replace(tzinfo=None), "stop": end.replace(tzinfo=None)}
    for rule, sql in DUCK_RULES.items():
        timings, rows = [], []
        for _ in range(3):
            began = time.perf_counter()
            used = {name: value for name, value in naive.items() if f"${name}" in sql}
            rows = con.execute(sql, used).fetchall()
            timings.append(time.perf_counter() - began)
        out[rule] = ({c: int(n) for c, n in rows if n}, min(timings))
    con.close()
    return out


def _vacuum(engine: Any) -> None:
    """What autovacuum does after a large insert (it is off on the test server): the statistics of the loaded
    tables, and their visibility map, without which an index-only scan still reads every row's heap page."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def run(
    url: str, companies_csv: Path, users_csv: Path, rows: int
) -> tuple[float, dict[Rule, float], dict[Rule, dict[str, int]], dict[Rule, tuple[dict[str, int], float]], float]:
    """Import, count, check against DuckDB; the peak RSS returned is seatsync's (read before DuckDB runs in this
    process: its own memory is not seatsync's)."""
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, name=f"bench {uuid.uuid4().hex[:6]}")
    began = time.perf_counter()
    with transaction(engine) as session, companies_csv.open("rb") as stream:
        import_file(session, tenant=tenant, kind=ImportKind.COMPANIES, stream=stream, source="companies.csv")
    with transaction(engine) as session, users_csv.open("rb") as stream:
        import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=stream, source="users.csv")
    import_rate = rows / (time.perf_counter() - began)
    with transaction(engine) as session, (users_csv.parent / "activity.csv").open("rb") as stream:
        import_file(session, tenant=tenant, kind=ImportKind.ACTIVITY, stream=stream, source="activity.csv")
    if engine.dialect.name == "postgresql":
        _vacuum(engine)
    seconds: dict[Rule, float] = {}
    counts: dict[Rule, dict[str, int]] = {}
    for rule in RULES:
        timings = []
        for _ in range(3):
            began = time.perf_counter()
            with transaction(engine) as session:
                counted = count_billable(session, tenant=tenant, period=PERIOD, rule=rule)
            timings.append(time.perf_counter() - began)
        seconds[rule] = min(timings)
        counts[rule] = {c.company_id: c.billable_users for c in counted}
    rss = peak_rss_mb()
    oracle = duckdb_rules(export_intervals(engine, tenant.id, users_csv.parent))
    engine.dispose()
    return import_rate, seconds, counts, oracle, rss


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would carry the parent's peak across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(url: str, companies_csv: Path, users_csv: Path, rows: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(run(url, companies_csv, users_csv, rows))


def run_isolated(url: str, companies_csv: Path, users_csv: Path, rows: int) -> tuple[Any, ...]:
    """Each database in its own process, so peak RSS is seatsync's alone."""
    queue = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(
        target=_child, args=(url, companies_csv, users_csv, rows, queue)
    )
    child.start()
    while True:
        try:
            result: tuple[Any, ...] = queue.get(timeout=1)
        except Exception:  # queue.Empty: still working, unless the child died
            if not child.is_alive():
                raise SystemExit(
                    f"the benchmark process for {url.split('://')[0]} died (exit {child.exitcode})"
                ) from None
            continue
        child.join()
        return result


# --- a month in a long history against the same month in a short one ------------------------------------------

#: the month counted in both histories: the last of the short one (the month being billed), the middle of the long
#: one (history on both sides of it)
HISTORY_MONTH = BillingPeriod(2026, 6)
#: a user's stay in days (active, perhaps a sleep, then deleted): at most 60, so no stay that began before the short
#: history (March or earlier) reaches the counted month, and the month sees the same users in both histories
STAY_DAYS = (1, 60)
RUNS = 5


def _month_start(index: int) -> datetime:
    """The first instant of the month ``index`` months after HISTORY_MONTH's (negative: before)."""
    months = HISTORY_MONTH.year * 12 + HISTORY_MONTH.month - 1 + index
    return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)


def steady_history(folder: Path, months: range, per_month: int, companies: int, seed: int) -> tuple[Path, Path, Path]:
    """Companies, users and activity over ``months`` (indices around HISTORY_MONTH): ``per_month`` users arrive in
    each month, each generated from the month's own seed, so a month's arrivals are the same in every history that
    holds the month."""
    folder.mkdir(parents=True, exist_ok=True)
    companies_csv, users_csv, activity_csv = folder / "companies.csv", folder / "users.csv", folder / "activity.csv"
    with companies_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["company_id", "name", "products"])
        for c in range(companies):
            writer.writerow([f"C{c:05d}", f"Company {c}", "sat;phishing"])
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    with users_csv.open("w", newline="") as users, activity_csv.open("w", newline="") as acts:
        events, activity = csv.writer(users), csv.writer(acts)
        events.writerow(["user_id", "company_id", "email", "name", "status", "at"])
        activity.writerow(["user_id", "kind", "at"])
        for index in months:
            rng = random.Random(seed * 1000 + index)
            first, after = _month_start(index), _month_start(index + 1)
            seconds = int((after - first).total_seconds())
            for n in range(per_month):
                user = f"U{index + 500:03d}{n:06d}"
                company = f"C{rng.randrange(companies):05d}"
                at = first + timedelta(seconds=rng.randrange(seconds))
                end = at + timedelta(seconds=rng.randrange(STAY_DAYS[0] * 86400, STAY_DAYS[1] * 86400))
                history = [("active", company, at)]
                if rng.random() < 0.4:  # a sleep inside the stay, then active again
                    nap = at + (end - at) / 3
                    history += [("sleeping", company, nap), ("active", company, nap + (end - at) / 3)]
                history.append(("deleted", company, end))
                for state, comp, instant in history:
                    events.writerow([user, comp, f"{user}@example.com", f"User {user}", state, instant.strftime(stamp)])
                if rng.random() < 0.7:
                    activity.writerow(
                        [user, rng.choice(("training", "phishing")), (at + (end - at) / 2).strftime(stamp)]
                    )
    return companies_csv, users_csv, activity_csv


def _backend_cpu(engine: Any) -> Any:
    """A function giving the CPU seconds (user + system) the PostgreSQL backend of ``engine``'s one pooled
    connection has used, read from procfs (the server runs on this machine); None on SQLite."""
    if engine.dialect.name != "postgresql":
        return lambda: 0.0
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    return cpu


def history_run(url: str, files: tuple[Path, Path, Path]) -> dict[Rule, tuple[float, float, dict[str, int]]]:
    """Import one history, then per rule: (best wall s, best CPU s: this process + the server backend, counts)."""
    from sqlalchemy.pool import StaticPool

    companies_csv, users_csv, activity_csv = files
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, name=f"bench {uuid.uuid4().hex[:6]}")
    for kind, path in (
        (ImportKind.COMPANIES, companies_csv),
        (ImportKind.USERS, users_csv),
        (ImportKind.ACTIVITY, activity_csv),
    ):
        with transaction(engine) as session, path.open("rb") as stream:
            import_file(session, tenant=tenant, kind=kind, stream=stream, source=path.name)
    if engine.dialect.name == "postgresql":  # (as the main run)
        _vacuum(engine)
        engine.dispose()
        # one connection for every count, so that the backend whose CPU is read is the one that counts
        engine = make_engine(url, poolclass=StaticPool)
    backend = _backend_cpu(engine)
    out = {}
    for rule in RULES:
        walls, counts = [], {}
        # CPU summed over the runs (procfs counts the backend's in 10 ms ticks), wall the best run
        mine, theirs = time.process_time(), backend()
        for _ in range(RUNS):
            wall = time.perf_counter()
            with transaction(engine) as session:
                counted = count_billable(session, tenant=tenant, period=HISTORY_MONTH, rule=rule)
            walls.append(time.perf_counter() - wall)
            counts = {c.company_id: c.billable_users for c in counted if c.billable_users}
        out[rule] = (min(walls), (time.process_time() - mine + backend() - theirs) / RUNS, counts)
    engine.dispose()
    return out


def _history_child(url: str, files: tuple[Path, Path, Path], queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(history_run(url, files))


def history_isolated(url: str, files: tuple[Path, Path, Path]) -> dict[Rule, tuple[float, float, dict[str, int]]]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_history_child, args=(url, files, queue))
    child.start()
    while True:
        try:
            found: dict[Rule, tuple[float, float, dict[str, int]]] = queue.get(timeout=1)
        except Exception:  # queue.Empty: still working, unless the child died
            if not child.is_alive():
                raise SystemExit(f"the history process died (exit {child.exitcode})") from None
            continue
        child.join()
        return found


def history_lengths(args: argparse.Namespace, folder: Path) -> bool:
    """Month HISTORY_MONTH in a 36-month history (18 months before it, 17 after) against the same month in a
    3-month one (it and the two before it), the same arrivals each month; prints the cost ratio per rule."""
    histories = {"3 months": range(-2, 1), "36 months": range(-18, 18)}
    files = {
        name: steady_history(folder / name.replace(" ", "_"), months, args.per_month, args.companies, args.seed)
        for name, months in histories.items()
    }
    databases = [] if args.skip_sqlite else [("sqlite", lambda name: f"sqlite:///{folder / name.replace(' ', '_')}.db")]
    pg_dbs: list[str] = []
    if not args.skip_pg:
        base = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")

        def pg_url(name: str) -> str:
            db = f"seatsync_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{db}"')
            pg_dbs.append(db)
            return f"{base}/{db}"

        databases.append(("postgresql", pg_url))
    rows = []
    try:
        for database, url_of in databases:
            found = {name: history_isolated(url_of(name), files[name]) for name in histories}
            for rule in RULES:
                short, long = found["3 months"][rule], found["36 months"][rule]
                rows.append((database, rule.value, short, long, short[2] == long[2]))
            print(f"{database}: both histories counted", flush=True)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            for db in pg_dbs:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    print()
    print(
        f"month {HISTORY_MONTH} in a 3-month and a 36-month history ({args.per_month:,} users arriving a month, "
        f"{args.companies:,} companies; wall: best of {RUNS}; CPU: mean of {RUNS}, this process + the PostgreSQL backend); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'database':<11} {'rule':<14} {'billable':>9} {'3m wall s':>10} {'36m wall s':>11} {'x wall':>7} "
        f"{'3m CPU s':>9} {'36m CPU s':>10} {'x CPU':>6} {'same':>5}"
    )
    for database, rule, short, long, same in rows:
        print(
            f"{database:<11} {rule:<14} {sum(long[2].values()):>9,} {short[0]:>10.3f} {long[0]:>11.3f} "
            f"{long[0] / short[0]:>7.2f} {short[1]:>9.3f} {long[1]:>10.3f} {long[1] / max(short[1], 1e-9):>6.2f} "
            f"{'yes' if same else 'NO':>5}"
        )
    return all(r[-1] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--per-month", type=int, default=20_000, help="history lengths: users arriving a month")
    parser.add_argument("--skip-history", action="store_true", help="without the 3-month / 36-month comparison")
    parser.add_argument("--history-only", action="store_true", help="only the 3-month / 36-month comparison")
    args = parser.parse_args()

    if args.history_only:
        with tempfile.TemporaryDirectory() as tmp:
            if not history_lengths(args, Path(tmp)):
                sys.exit("a month's counts differ between the histories")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        companies_csv, users_csv, events = generate(folder, args.companies, args.users, args.seed)
        generate_activity(folder, args.users, args.seed)
        rows = events + args.companies
        print(f"generated {args.companies:,} companies, {args.users:,} users, {events:,} status events", flush=True)
        reference, duck_seconds = duckdb_counts(companies_csv, users_csv)
        results = []
        databases = [] if args.skip_sqlite else [("sqlite", f"sqlite:///{folder / 'bench.db'}")]
        pg_db = f"seatsync_bench_{uuid.uuid4().hex[:8]}"
        if not args.skip_pg:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_db}"')
            databases.append(
                (
                    "postgresql",
                    args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{pg_db}",
                )
            )
        try:
            for name, url in databases:
                rate, seconds, counts, oracle, rss = run_isolated(url, companies_csv, users_csv, rows)
                for rule in RULES:
                    duck_counts, duck_rule_seconds = oracle[rule]
                    mine = {c: n for c, n in counts[rule].items() if n}
                    agree = mine == duck_counts and (rule is not Rule.ACTIVE or counts[rule] == reference)
                    results.append((name, rule.value, rows, rate, seconds[rule], duck_rule_seconds, rss, agree))
                print(f"{name}: import {rate:,.0f} rows/s, peak RSS {rss:.0f} MB", flush=True)
        finally:
            if not args.skip_pg:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
    print()
    print(
        f"month {PERIOD}; DuckDB from the raw CSV (active, recomputing the intervals) {duck_seconds:.3f} s; "
        f"billable total (active) {sum(reference.values()):,}; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'database':<11} {'rule':<14} {'rows':>10} {'import rows/s':>14} {'count s':>8} {'DuckDB s':>9} "
        f"{'x DuckDB':>9} {'peak RSS MB':>12} {'agrees':>7}"
    )
    for name, rule, n, rate, seconds, duck_rule, rss, agree in results:
        print(
            f"{name:<11} {rule:<14} {n:>10,} {rate:>14,.0f} {seconds:>8.3f} {duck_rule:>9.3f} "
            f"{seconds / duck_rule:>9.1f} {rss:>12.0f} {'yes' if agree else 'NO':>7}"
        )
    if not all(r[-1] for r in results):
        sys.exit("counts disagree with DuckDB")
    if not args.skip_history:
        with tempfile.TemporaryDirectory() as tmp:
            if not history_lengths(args, Path(tmp)):
                sys.exit("a month's counts differ between the histories")


if __name__ == "__main__":
    main()
