"""``seatsync sandbox autotask`` serves the zone look-up and the API the client uses."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from seatsync.connectors.autotask import AutotaskClient
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE
from seatsync.sandboxes.server import free_port


def test_the_sandbox_command_serves(subprocess_env: dict[str, str]) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "seatsync",
        "sandbox",
        "autotask",
        "--port",
        str(port),
        "--rate-limit",
        "600/min",
        "--other-integrations",
        "2500",
    ]
    process = subprocess.Popen(command, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # an upper bound: ends as soon as it answers (loaded machines start slowly)
        while True:
            try:
                httpx.get(f"{url}/_sandbox/state", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        with AutotaskClient(
            username="demo-api@example.com", secret="demo-secret", integration_code=DEMO_INTEGRATION_CODE, zone_url=url
        ) as client:
            assert len(client.companies()) == 34
            assert client.threshold_information().current_timeframe_request_count >= 2500
        state = httpx.get(f"{url}/_sandbox/state").json()
        assert state["settings"]["rate_limit"] == 600
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert f"Autotask sandbox at http://127.0.0.1:{port}" in output
