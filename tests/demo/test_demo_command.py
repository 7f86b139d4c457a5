"""``seatsync demo`` end to end, in a subprocess: it starts, a login works, a push reaches the ConnectWise sandbox,
Ctrl-C stops it cleanly, and a second start reuses the data (mappings still valid, nothing reported as drift)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from seatsync.demo.runner import Demo
from seatsync.errors import UserInputError
from seatsync.sandboxes.server import free_port
from tests.demo.helpers import DemoProcess, browser_login

EMAIL = "admin@demo.local"


def _wait_finished(client: httpx.Client, run_id: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/api/v1/pushes/{run_id}", params={"results": True}).json()
        if run["finished_at"] is not None:
            return run
        time.sleep(0.1)
    raise AssertionError(f"push {run_id} did not finish in {timeout} s")


def _quantities(connectwise_url: str) -> dict[int, float]:
    state = httpx.get(f"{connectwise_url}/_sandbox/state", timeout=10).json()
    return {a["id"]: a["quantity"] for a in state["additions"]}


def test_demo_runs_pushes_stops_on_sigint_and_restarts_with_its_data(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    database_url = f"sqlite:///{tmp_path / 'demo.db'}"

    with DemoProcess(subprocess_env, database_url, "first-password") as demo:
        assert any("log in: admin@demo.local / first-password" in line for line in demo.lines)
        assert any("created" in line and "34 companies" in line for line in demo.lines)
        with browser_login(demo.url, EMAIL, "first-password") as client:
            mapper = client.get("/connectwise/billing")
            assert mapper.status_code == 200
            assert "Smith and Sons Plumbing" in mapper.text

            preview = client.post("/api/v1/pushes/preview", json={}).json()
            counts = preview["counts"]
            assert counts["update"] > 0 and counts["skip"] > 0, counts  # some mapped and changed, some not mapped
            expected = {
                r["company_id"]: r["billable"] for r in preview["rows"] if r["action"] in ("update", "unchanged")
            }

            # last month went to Gradient at the first start, as the schedule would have sent it
            gradient_runs = client.get("/api/v1/pushes", params={"target": "gradient"}).json()
            assert [r["status"] for r in gradient_runs] == ["succeeded"], gradient_runs
            received = httpx.get(f"{demo.gradient_url}/_sandbox/state", timeout=10).json()["counts"]
            assert len(received) == gradient_runs[0]["succeeded"] > 30
            # HaloPSA is connected too: the demo's companies mapped to their clients (and subscriptions)
            halo = httpx.get(f"{demo.halopsa_url}/_sandbox/state", timeout=10).json()
            assert halo["requests"]["by_route"]["POST /api/SoftwareLicence"] == 1  # the permission check only
            assert halo["changes"] == []

            started = client.post("/api/v1/pushes", json={"target": "connectwise"})
            assert started.status_code == 202, started.text
            run = _wait_finished(client, started.json()["run_id"])
            assert run["status"] == "succeeded", run
            assert run["period"] == preview["period"]

        pushed = {r["company_id"]: r for r in run["results"] if r["outcome"] in ("succeeded", "unchanged")}
        assert set(pushed) == set(expected)
        quantities = _quantities(demo.connectwise_url)
        for company_id, billable in expected.items():
            assert quantities[pushed[company_id]["addition_id"]] == billable, company_id

        code, seconds = demo.interrupt()
        assert code == 0, "\n".join(demo.lines)
        assert seconds < 8
    assert demo.lines[-1] == "demo stopped"

    # the second start chooses its sandboxes' ports (--NAME-port; 0, the default, is any free one)
    ports = {name: free_port() for name in ("connectwise", "gradient", "autotask", "halopsa")}
    chosen = tuple(word for name, port in ports.items() for word in (f"--{name}-port", str(port)))
    with DemoProcess(subprocess_env, database_url, "second-password", options=chosen) as again:
        assert any("reused" in line for line in again.lines)
        assert again.connectwise_url == f"http://127.0.0.1:{ports['connectwise']}"
        assert again.gradient_url == f"http://127.0.0.1:{ports['gradient']}"
        assert again.autotask_url == f"http://127.0.0.1:{ports['autotask']}"
        assert again.halopsa_url == f"http://127.0.0.1:{ports['halopsa']}"
        with browser_login(again.url, EMAIL, "second-password") as client:
            preview = client.post("/api/v1/pushes/preview", json={}).json()
            # what was pushed before the restart is what the fresh sandbox holds: nothing to change, no drift
            assert preview["counts"]["blocked"] == 0 and preview["counts"]["error"] == 0, preview["counts"]
            assert preview["counts"]["update"] == 0, [r for r in preview["rows"] if r["action"] == "update"]
            same = {r["company_id"]: r["billable"] for r in preview["rows"] if r["action"] == "unchanged"}
            assert same == expected
            gradient = httpx.get(f"{again.gradient_url}/_sandbox/state", timeout=10).json()
            assert len(gradient["accounts"]) == 34 and len(gradient["mappings"]["accounts"]) == 34
        code, _ = again.interrupt()
        assert code == 0


def test_a_busy_sandbox_port_is_refused_naming_its_option(tmp_path: Path) -> None:
    """Before anything is created: the option to change is named."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        url = f"sqlite:///{tmp_path / 'demo.db'}"
        with pytest.raises(UserInputError, match=rf"127.0.0.1:{port} .*choose another --halopsa-port"):
            Demo(database_url=url, port=0, sandbox_ports={"halopsa": port}).start()
        with pytest.raises(UserInputError, match="a port of their own"):
            Demo(database_url=url, port=0, sandbox_ports={"gradient": 8765, "autotask": 8765}).start()
    assert not (tmp_path / "demo.db").exists()
