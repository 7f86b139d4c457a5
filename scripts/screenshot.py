"""Take the README's screenshot of the mapper (docs/img/mapper.png) from a running demo, in headless Chromium.

    python scripts/screenshot.py                     # starts its own demo (temporary database), pushes, shoots
    python scripts/screenshot.py --url http://127.0.0.1:8000 --password PW    # a demo you started yourself

Uses Debian's /usr/bin/chromium through Playwright (`apt-get install chromium`); never downloads a browser.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "src").is_dir():
    sys.path.insert(0, str(ROOT / "src"))

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EMAIL = "admin@demo.local"
PASSWORD = "screenshot-demo"  # noqa: S105 (a throw-away demo started by this script)
MAX_BYTES = 300_000
WIDTH = 1280


@contextmanager
def own_demo() -> Iterator[str]:
    """A demo on a temporary database and a free port; yields its URL."""
    from seatsync.demo.runner import Demo, configure_environment

    with tempfile.TemporaryDirectory(prefix="seatsync-screenshot-") as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        configure_environment(url)
        demo = Demo(database_url=url, port=0, password=PASSWORD)
        try:
            yield demo.start().url.rstrip("/")
        finally:
            demo.stop()


def shoot(base: str, email: str, password: str, out: Path, *, push: bool) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing: install it with `apt-get install chromium` (no browser is downloaded)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # the width the mapper must fit (issue 17): a wider picture would hide a page that overflows
            page = browser.new_page(viewport={"width": WIDTH, "height": 860}, device_scale_factor=1)
            page.goto(f"{base}/login")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="ConnectWise › Billing")).to_be_visible()
            if push:
                csrf = page.request.get(f"{base}/api/v1/auth/me").json()["csrf_token"]
                started = page.request.post(
                    f"{base}/api/v1/pushes", data={"target": "connectwise"}, headers={"X-CSRF-Token": csrf}
                )
                run_url = f"{base}{started.json()['status_url']}"
                deadline = time.monotonic() + 60
                while page.request.get(run_url).json()["finished_at"] is None:
                    if time.monotonic() > deadline:
                        sys.exit("the push did not finish within a minute")
                    time.sleep(0.2)
                page.reload()
            page.wait_for_load_state("networkidle")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()
    size = out.stat().st_size
    print(f"{out} ({size // 1000} kB)")
    if size > MAX_BYTES:
        sys.exit(f"{out} is {size} bytes, more than {MAX_BYTES}: make the viewport smaller")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running demo (default: start one on a temporary database)")
    parser.add_argument("--email", default=EMAIL)
    parser.add_argument("--password", default=PASSWORD, help="the running demo's password (with --url)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "mapper.png")
    parser.add_argument("--no-push", dest="push", action="store_false", help="do not push before the screenshot")
    args = parser.parse_args()
    if args.url:
        shoot(args.url.rstrip("/"), args.email, args.password, args.out, push=args.push)
        return
    with own_demo() as base:
        shoot(base, args.email, args.password, args.out, push=args.push)


if __name__ == "__main__":
    main()
