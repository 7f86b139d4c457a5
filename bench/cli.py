"""Benchmark: how long the console script takes to start, against plain anchors.

- ``seatsync --help`` against a plain click app with the same commands and groups (one file, no imports but click);
- ``seatsync billable`` on a tiny SQLite database (one tenant, three companies, a few users) against Python's
  ``sqlite3`` running the same count.

Each is run ``--runs`` times in fresh processes; the table shows the median CPU time (user + system, which load
from other processes inflates less than wall time) and the ratio.

    python bench/cli.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def cpu_of(command: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_cpu(command: list[str], env: dict[str, str], runs: int) -> float:
    cpu_of(command, env)  # warm the page cache and the bytecode
    return statistics.median(cpu_of(command, env) for _ in range(runs))


def plain_click_app(folder: Path) -> Path:
    """A click app with seatsync's top-level commands and groups, each with a docstring and no work."""
    from click import Group

    from seatsync.cli.main import cli

    lines = ["import click", "", "@click.group()", "def cli():", '    """A plain click app."""', ""]
    for name in cli.list_commands(None):  # type: ignore[arg-type]
        kind = "group" if isinstance(cli.commands.get(name), Group) else "command"
        function = name.replace("-", "_") + "_"
        lines += [f"@cli.{kind}({name!r})", f"def {function}():", '    """A command."""', ""]
    lines += ["if __name__ == '__main__':", "    cli()"]
    path = folder / "plain_click.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_database(folder: Path, env: dict[str, str]) -> None:
    python = [sys.executable, "-m", "seatsync"]
    (folder / "companies.csv").write_text("company_id,name\na,Alpha\nb,Beta\nc,Gamma\n")
    (folder / "users.csv").write_text(
        "user_id,company_id,email,name,status,at\n"
        + "".join(f"u{i},{'abc'[i % 3]},u{i}@x.io,U{i},active,2026-10-0{1 + i % 9}T00:00:00Z\n" for i in range(12))
    )
    subprocess.run([*python, "tenant", "create", "Tiny"], env=env, check=True, stdout=subprocess.DEVNULL)
    for kind in ("companies", "users"):
        subprocess.run(
            [*python, "import", kind, str(folder / f"{kind}.csv"), "--tenant", "tiny"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


SQLITE_ANCHOR = textwrap.dedent(
    """
    import sqlite3, sys
    con = sqlite3.connect(sys.argv[1])
    rows = con.execute(
        "SELECT c.company_id, c.name, COUNT(DISTINCT e.user_id) FROM companies c "
        "LEFT JOIN status_events e ON e.company_pk = c.id AND e.status = 'active' "
        "AND e.at < '2026-11-01 00:00:00.000000' "
        "AND (e.valid_to IS NULL OR e.valid_to > '2026-10-01 00:00:00.000000') "
        "GROUP BY c.id ORDER BY c.company_id").fetchall()
    print(rows)
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
        env["SEATSYNC_DATABASE_URL"] = f"sqlite:///{folder / 'tiny.db'}"
        env["SEATSYNC_KEY_FILE"] = str(folder / "seatsync.key")
        tiny_database(folder, env)
        seatsync = [sys.executable, "-m", "seatsync"]
        rows = [
            (
                "seatsync --help",
                median_cpu([*seatsync, "--help"], env, args.runs),
                "plain click app, same commands",
                median_cpu([sys.executable, str(plain_click_app(folder)), "--help"], env, args.runs),
            ),
            (
                "seatsync billable (tiny SQLite)",
                median_cpu([*seatsync, "billable", "--tenant", "tiny", "--period", "2026-10"], env, args.runs),
                "python + sqlite3, same count",
                median_cpu([sys.executable, "-c", SQLITE_ANCHOR, str(folder / "tiny.db")], env, args.runs),
            ),
        ]
    print(f"median CPU seconds of {args.runs} runs each; load average {os.getloadavg()[0]:.1f}")
    print(f"{'measure':<34} {'seatsync s':>10}  {'anchor':<32} {'anchor s':>8} {'ratio':>6}")
    for name, ours, anchor, theirs in rows:
        print(f"{name:<34} {ours:>10.3f}  {anchor:<32} {theirs:>8.3f} {ours / theirs:>6.1f}")


if __name__ == "__main__":
    main()
