"""``seatsync sandbox connectwise`` serves a ConnectWise site the client can use."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from seatsync.connectors.connectwise import ConnectWiseClient
from seatsync.sandboxes.server import free_port


def test_the_sandbox_command_serves(subprocess_env: dict[str, str]) -> None:
    port = free_port()
    command = [sys.executable, "-m", "seatsync", "sandbox", "connectwise", "--port", str(port), "--rate-limit", "600"]
    process = subprocess.Popen(command, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # an upper bound: ends as soon as it answers (loaded machines start slowly)
        while True:
            try:
                httpx.get(f"{url}/_sandbox/requests", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        with ConnectWiseClient(
            site=url, company_id="demo", public_key="demo-public", private_key="demo-private", client_id="cli-test"
        ) as client:
            assert len(client.list_companies()) > 30
        assert httpx.get(f"{url}/_sandbox/state").json()["settings"]["rate_limit"] == 600
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert f"ConnectWise sandbox at http://127.0.0.1:{port}" in output
