"""Mapper page weight: bytes of HTML and the server's CPU per page (50 rows), in one process.

    python bench/mapper_page.py [--companies 2000] [--requests 200] [--target connectwise|autotask|halopsa]

Seeds a tenant as ``bench/web.py`` does (two thirds of the companies mapped to ConnectWise, one finished
ConnectWise push of the period; no Autotask or HaloPSA mappings), then asks the app for the target's mapper page
through Starlette's TestClient, each page in turn (first page, a search, the "not mapped" filter, page 3). The server's CPU per page is the CPU time of the app's thread while it answers
(``time.thread_time`` around the ASGI call: routing, the reads, answered from the app's caches after the first
page, and the rendering; the page's reads run on that thread), without the test client's own work. The anchor is the same app answering a
static file of about a page's size (``ANCHOR``), measured the same way; the ratio of the medians is printed. Prints
a table; run it a few times on a busy machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastapi.testclient import TestClient

from seatsync.config import get_settings
from seatsync.db.engine import make_engine
from web import seed  # bench/web.py

QUERIES = ["", "?q=Acme", "?filter=unmapped", "?page=3"]
TARGETS = ("connectwise", "autotask", "halopsa")


#: a static file the app serves, about the size of a page's HTML (32 KB against 36–38 KB)
ANCHOR = "/static/mapper.js"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--target", choices=TARGETS, default="connectwise", help="whose mapper page")
    args = parser.parse_args()
    paths = [f"/{args.target}/billing{query}" for query in QUERIES]
    from seatsync.web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        token, _run = seed(url, args.companies, 2)
        engine = make_engine(url)
        app = create_app(settings=get_settings(), engine=engine, migrate=False)
        spent: list[float] = []

        async def timed(scope: Any, receive: Any, send: Any) -> None:
            started = time.thread_time()
            try:
                await app(scope, receive, send)
            finally:
                if scope["type"] == "http":
                    spent.append((time.thread_time() - started) * 1000)

        with TestClient(timed) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            for path in paths:  # warm the caches and the templates
                assert client.get(path).status_code == 200
            sizes: list[int] = []
            cpu: list[float] = []
            for n in range(args.requests):
                path = paths[n % len(paths)]
                spent.clear()
                response = client.get(path)
                cpu.append(sum(spent))
                assert response.status_code == 200, response.text[:200]
                sizes.append(len(response.content))
            # the anchor: the same app answering a static file of about the page's size (routing, middleware and
            # the session check are paid alike; no reads, no rendering)
            static: list[float] = []
            for _ in range(args.requests):
                spent.clear()
                assert client.get(ANCHOR).status_code == 200
                static.append(sum(spent))
        engine.dispose()
    first = sizes[0]
    print(f"| measure ({args.target}, {args.companies} companies, {args.requests} pages) | value |")
    print("| --- | --- |")
    print(f"| HTML bytes, first page (50 rows) | {first:,} |")
    print(f"| HTML bytes per page, mean | {statistics.mean(sizes):,.0f} |")
    print(f"| server CPU per page, median (ms) | {statistics.median(cpu):.2f} |")
    print(f"| server CPU per page, p90 (ms) | {sorted(cpu)[int(len(cpu) * 0.9)]:.2f} |")
    print(f"| anchor: server CPU for {ANCHOR}, median (ms) | {statistics.median(static):.2f} |")
    print(f"| page / anchor, medians | {statistics.median(cpu) / statistics.median(static):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
