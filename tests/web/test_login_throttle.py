"""From outside: 30 wrong passwords sent at once to a running server let exactly 5 through to the password check
(the limit: 5 failures per 15 minutes), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from seatsync.config import get_settings
from seatsync.sandboxes.server import BackgroundServer
from seatsync.web.app import create_app
from seatsync.web.auth import THROTTLE_FAILURES
from tests.web.conftest import PASSWORD, World

GUESSES = 30


def test_thirty_parallel_guesses_let_exactly_the_limit_through(world: World) -> None:
    app = create_app(settings=get_settings(), engine=world.engine, clock=world.clock)
    with BackgroundServer(app) as server:

        def guess(n: int) -> int:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                body = {"email": "admin@a.test", "password": f"wrong-{n}"}
                return client.post("/api/v1/auth/login", json=body).status_code

        with ThreadPoolExecutor(GUESSES) as pool:
            answers = Counter(pool.map(guess, range(GUESSES)))
        assert answers == {401: THROTTLE_FAILURES, 429: GUESSES - THROTTLE_FAILURES}
        with httpx.Client(base_url=server.url) as client:  # the right password is throttled too, for now
            right = client.post("/api/v1/auth/login", json={"email": "admin@a.test", "password": PASSWORD})
            assert right.status_code == 429
