"""A corrupting proxy in front of a sandbox: every request is forwarded (so the sandbox carries it out), and the
answers of the requests a rule names are replaced — an HTML page with status 200 (a proxy's login page), JSON
missing its fields, a 502 after the request was processed — or held until released (a process killed while
waiting for an answer). Served on loopback by ``BackgroundServer``; thread-safe."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HTML = b"<!doctype html><html><head><title>Sign in</title></head><body><form>proxy login</form></body></html>"
#: the modes a rule may replace an answer with
MODES = ("html", "missing", "502", "hold")


@dataclass
class Rule:
    method: str
    #: a regular expression searched in the request's path
    path: str
    mode: str
    #: how many answers it replaces (then it is spent)
    times: int = 1_000_000
    used: int = 0


@dataclass
class CorruptingProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    #: (method, path, mode) of every answer replaced, in order
    corrupted: list[tuple[str, str, str]] = field(default_factory=list)

    def corrupt(self, method: str, path: str, mode: str, times: int = 1_000_000) -> None:
        assert mode in MODES, mode
        with self.lock:
            self.rules.append(Rule(method.upper(), path, mode, times))

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
        self.release.set()

    def held(self) -> int:
        with self.lock:
            return sum(1 for _m, _p, mode in self.corrupted if mode == "hold")

    def _mode(self, method: str, path: str) -> str | None:
        with self.lock:
            for rule in self.rules:
                if rule.method == method and re.search(rule.path, path) and rule.used < rule.times:
                    rule.used += 1
                    self.corrupted.append((method, path, rule.mode))
                    return rule.mode
        return None

    def app(self) -> Starlette:
        client = httpx.AsyncClient(base_url=self.upstream, timeout=30.0)

        async def forward(request: Request) -> Response:
            body = await request.body()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            answer = await client.request(
                request.method, request.url.path, params=request.url.query, content=body, headers=headers
            )
            mode = self._mode(request.method, request.url.path)
            keep = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "link", "retry-after")}
            if mode is None:
                return Response(answer.content, status_code=answer.status_code, headers=keep)
            if mode == "hold":
                await asyncio.to_thread(self.release.wait, 60)
                return Response(answer.content, status_code=answer.status_code, headers=keep)
            if mode == "html":
                return Response(HTML, status_code=200, media_type="text/html")
            if mode == "502":
                return Response(HTML, status_code=502, media_type="text/html")
            try:
                value = json.loads(answer.content)
            except ValueError:
                value = {}
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in ("id", "_info")}
            return Response(json.dumps(value).encode(), status_code=answer.status_code, media_type="application/json")

        @asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            yield
            self.release.set()
            await client.aclose()

        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", forward, methods=methods)], lifespan=lifespan)
