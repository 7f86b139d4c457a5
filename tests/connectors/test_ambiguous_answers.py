"""Issue 19, point 3: an answer to a write that cannot be read is ambiguous (the write may have been carried
out), never a plain failure; the same answer to a read is a failed read."""

from __future__ import annotations

import httpx
import pytest

from seatsync.connectors.http import GRADIENT_HOSTS, HttpClient, RemoteSystem, is_write
from seatsync.errors import (
    AmbiguousAnswer,
    RateLimited,
    RequestRejected,
    ServerError,
    TransportError,
    maybe_applied,
)

SYSTEM = RemoteSystem("Gradient", GRADIENT_HOSTS)
URL = "https://app.usegradient.com/api/x"
PAGE = "<html><title>Sign in</title>SECRET-INSIDE-PAGE</html>"


def _client() -> HttpClient:
    return HttpClient(SYSTEM, transport=httpx.MockTransport(lambda r: httpx.Response(200, text=PAGE)))


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
def test_a_write_answered_with_a_page_is_ambiguous_and_the_page_is_not_echoed(method: str) -> None:
    with _client() as http, pytest.raises(AmbiguousAnswer, match="may have been made") as caught:
        http.json(http.send(method, URL))
    assert maybe_applied(caught.value) and "SECRET" not in str(caught.value)
    assert (caught.value.method, caught.value.status_code) == (method, 200)


def test_a_read_answered_with_a_page_is_a_failed_read() -> None:
    with _client() as http, pytest.raises(RequestRejected, match="not JSON"):
        http.json(http.send("GET", URL))
    assert not is_write("GET") and is_write("patch")


def test_json_missing_its_fields_is_ambiguous_for_a_write_only() -> None:
    with _client() as http:
        write = http.unreadable(httpx.Response(200, request=httpx.Request("PATCH", URL)), "record", "id missing")
        read = http.unreadable(httpx.Response(200, request=httpx.Request("GET", URL)), "record", "id missing")
    assert isinstance(write, AmbiguousAnswer) and maybe_applied(write)
    assert type(read) is RequestRejected and not maybe_applied(read)


def test_which_failures_may_hide_a_change() -> None:
    assert maybe_applied(ServerError("502", system="X", status_code=502))
    assert maybe_applied(TransportError("lost", maybe_processed=True))
    assert not maybe_applied(TransportError("never connected", maybe_processed=False))
    assert not maybe_applied(RateLimited("429", status_code=429))
    assert not maybe_applied(RequestRejected("400", status_code=400))
