"""The running demo: both sandboxes and the web app in this process, each on its own server thread.

demo = Demo(database_url="sqlite:///seatsync-demo.db", host="127.0.0.1", port=8000, password=None)
info = demo.start()          # data, sandboxes, connections, web app; raises before anything listens on error
...                          # info.url, info.password, info.connectwise_url, info.gradient_url
demo.stop()                  # idempotent
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from seatsync.config import DEMO_DATABASE_FILE, DEMO_SANDBOX_HOSTS, Settings, get_settings
from seatsync.db.engine import make_engine
from seatsync.db.migrate import upgrade
from seatsync.demo import halopsa as demo_halopsa
from seatsync.demo import setup
from seatsync.demo.data import ADMIN_EMAIL, TENANT_NAME, TENANT_SLUG
from seatsync.errors import ConfigurationError, UserInputError
from seatsync.sandboxes.autotask import AutotaskSandbox
from seatsync.sandboxes.autotask import create_app as create_autotask_app
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.connectwise import create_app as create_cw_app
from seatsync.sandboxes.gradient import DEMO_VENDOR_KEY, GradientSandbox
from seatsync.sandboxes.gradient import create_app as create_gradient_app
from seatsync.sandboxes.halopsa import HaloPSASandbox
from seatsync.sandboxes.halopsa import create_app as create_halopsa_app
from seatsync.sandboxes.server import BackgroundServer

#: how long Ctrl-C waits for a push that is running to finish before the sandboxes go away
STOP_WAIT_SECONDS = 5.0
#: requests a minute the demo lets seatsync send to its ConnectWise sandbox
SANDBOX_RATE_LIMIT = 60_000


#: where the demo's sandboxes listen (loopback)
SANDBOX_HOSTS = DEMO_SANDBOX_HOSTS


def default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / DEMO_DATABASE_FILE}"


def demo_environment(database_url: str) -> dict[str, str]:
    """The demo process's settings: the Gradient sandbox's vendor key (also sealed with the demo's token, so other
    commands need no setting), no pacing towards the local ConnectWise sandbox, and its sandboxes' loopback
    addresses allowed as outbound hosts (added to any the operator allowed). The key file needs no setting:
    it is beside the demo's database and named after it (``seatsync-demo.key``), wherever a command runs."""
    allowed = [h for h in os.environ.get("SEATSYNC_ALLOWED_HOSTS", "").split(",") if h.strip()]
    # the sandbox has no rate limit: the real API's pacing (1000 a minute) would only make the demo slow
    return {
        "SEATSYNC_GRADIENT_VENDOR_KEY": DEMO_VENDOR_KEY,
        "SEATSYNC_CONNECTWISE_RATE_LIMIT": str(SANDBOX_RATE_LIMIT),
        "SEATSYNC_HALOPSA_RATE_LIMIT": str(SANDBOX_RATE_LIMIT * 5),
        "SEATSYNC_ALLOWED_HOSTS": ",".join([*allowed, *(h for h in SANDBOX_HOSTS if h not in allowed)]),
    }


def configure_environment(database_url: str) -> None:
    """Apply ``demo_environment`` to this process (the demo command's process only)."""
    os.environ.update(demo_environment(database_url))
    get_settings.cache_clear()


#: the sandboxes the demo runs, each on ``--NAME-port`` (0: any free port)
SANDBOXES = ("connectwise", "gradient", "autotask", "halopsa")


def check_port_free(host: str, port: int, option: str = "--port") -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UserInputError(f"cannot listen on {host}:{port} ({exc.strerror}): choose another {option}") from None


@dataclass
class DemoInfo:
    url: str
    email: str
    password: str
    connectwise_url: str
    gradient_url: str
    halopsa_url: str
    database_url: str
    autotask_url: str
    tenant: setup.TenantSummary
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        t = self.tenant
        first = "created" if t.created else "reused"
        return [
            "seatsync demo is running",
            f"  web app: {self.url}",
            f"  log in: {self.email} / {self.password}",
            f"  tenant: {TENANT_NAME} ({TENANT_SLUG}), {t.companies} companies, {t.users} users ({first}: {self.database_url})",
            f"  ConnectWise sandbox: {self.connectwise_url} (state: {self.connectwise_url}/_sandbox/state)",
            f"  Gradient sandbox: {self.gradient_url} (state: {self.gradient_url}/_sandbox/state)",
            f"  Autotask sandbox: {self.autotask_url} (state: {self.autotask_url}/_sandbox/state)",
            f"  HaloPSA sandbox: {self.halopsa_url} (state: {self.halopsa_url}/_sandbox/state)",
            *(f"  note: {n}" for n in self.notes),
            "Press Ctrl-C to stop.",
        ]


class Demo:
    def __init__(
        self,
        *,
        database_url: str,
        host: str = "127.0.0.1",
        port: int = 8000,
        password: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sandbox_ports: dict[str, int] | None = None,
    ) -> None:
        self.database_url = database_url
        self.host = host
        self.port = port
        #: each sandbox's port on 127.0.0.1 (``SANDBOXES``; missing or 0: any free one)
        self.sandbox_ports = dict(sandbox_ports or {})
        unknown = set(self.sandbox_ports) - set(SANDBOXES)
        if unknown:
            raise UserInputError(
                f"no demo sandbox {', '.join(sorted(unknown))} (the sandboxes: {', '.join(SANDBOXES)})"
            )
        self.password = password
        self.now = now
        self.engine: Engine | None = None
        self.app: Any = None
        self._web: BackgroundServer | None = None
        self._sandboxes: list[BackgroundServer] = []

    def start(self) -> DemoInfo:
        if self.password is not None:
            setup.check_password(self.password)
        check_port_free(self.host, self.port)
        chosen = [p for p in self.sandbox_ports.values() if p]
        if len(set(chosen)) < len(chosen) or self.port in chosen:
            raise UserInputError("the web app and each sandbox need a port of their own: choose different ports")
        for name, port in self.sandbox_ports.items():
            check_port_free("127.0.0.1", port, f"--{name}-port")
        settings = get_settings()
        try:
            return self._start(settings)
        except BaseException:
            self.stop()
            raise

    def _start(self, settings: Settings) -> DemoInfo:
        self.engine = engine = make_engine(self.database_url)
        upgrade(engine)
        password = self.password or setup.new_password()
        summary = setup.ensure_tenant(engine, now=self.now(), password=password)

        cw_sandbox = ConnectWiseSandbox(seed="demo")
        cw_server = self._sandbox("connectwise", create_cw_app(cw_sandbox))
        gradient_sandbox = GradientSandbox.seeded("demo")
        gradient_server = self._sandbox("gradient", create_gradient_app(gradient_sandbox, rate_limit=None))

        notes: list[str] = []
        connected = setup.connect_connectwise(
            engine, tenant_id=summary.tenant_id, site=cw_server.url, sandbox=cw_sandbox, settings=settings
        )
        if connected.status is not connected.status.CONNECTED:
            raise ConfigurationError(f"the demo could not connect to its ConnectWise sandbox: {connected.reason}")
        if summary.created:
            setup.first_push(engine, tenant_id=summary.tenant_id, now=self.now())
        notes.append(
            "Gradient accounts: "
            + setup.connect_gradient(
                engine, tenant_id=summary.tenant_id, url=gradient_server.url, sandbox=gradient_sandbox
            )
        )
        if summary.created:
            setup.first_gradient_push(engine, tenant_id=summary.tenant_id, now=self.now())
        autotask_sandbox = AutotaskSandbox(seed="demo", slowdown_ms=0)
        autotask_server = self._sandbox("autotask", create_autotask_app(autotask_sandbox))
        from seatsync.demo.autotask import connect_autotask

        at_connected = connect_autotask(
            engine, tenant_id=summary.tenant_id, url=autotask_server.url, sandbox=autotask_sandbox, settings=settings
        )
        if at_connected.status is not at_connected.status.CONNECTED:
            raise ConfigurationError(f"the demo could not connect to its Autotask sandbox: {at_connected.reason}")
        halo_sandbox = HaloPSASandbox(seed="demo", rate_limit=None)
        halo_server = self._sandbox("halopsa", create_halopsa_app(halo_sandbox))
        halo = demo_halopsa.connect_halopsa(
            engine, tenant_id=summary.tenant_id, url=halo_server.url, sandbox=halo_sandbox, settings=settings
        )
        if halo.status is not halo.status.CONNECTED:
            raise ConfigurationError(f"the demo could not connect to its HaloPSA sandbox: {halo.reason}")

        from seatsync.web.app import create_app

        self.app = create_app(settings=settings, engine=engine, migrate=False)
        self._web = web = BackgroundServer(self.app, host=self.host, port=self.port)
        try:
            web.start()
        except RuntimeError as exc:
            raise UserInputError(f"cannot listen on {self.host}:{self.port}: choose another --port") from exc
        if not self.password:
            notes.append("the password was generated for this run: pass --password to choose one")
        # a wildcard address is not one a browser can open: show loopback
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)  # noqa: S104
        url_host = f"[{shown}]" if ":" in shown else shown
        return DemoInfo(
            url=f"http://{url_host}:{web.port}/",
            email=ADMIN_EMAIL,
            password=password,
            connectwise_url=cw_server.url,
            gradient_url=gradient_server.url,
            halopsa_url=halo_server.url,
            database_url=self.database_url,
            autotask_url=autotask_server.url,
            tenant=summary,
            notes=notes,
        )

    def _sandbox(self, name: str, app: Any) -> BackgroundServer:
        port = self.sandbox_ports.get(name, 0)
        server = BackgroundServer(app, host="127.0.0.1", port=port)
        self._sandboxes.append(server)
        try:
            return server.start()
        except RuntimeError as exc:
            raise UserInputError(f"cannot listen on 127.0.0.1:{port}: choose another --{name}-port") from exc

    def stop(self) -> None:
        """Stop the web app first (no new pushes), let a running push finish briefly, then the sandboxes."""
        web, self._web = self._web, None
        if web is not None:
            web.stop()
            self.app.state.seatsync.dispatcher.wait(STOP_WAIT_SECONDS)
        sandboxes, self._sandboxes = self._sandboxes, []
        for server in sandboxes:
            server.stop()
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
