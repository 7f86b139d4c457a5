"""The demo connects Autotask too: its own sandbox, the demo's companies mapped to the sandbox's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from seatsync.config import get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Integration, PSAMapping
from seatsync.demo.data import DemoMapping, demo_companies
from seatsync.demo.runner import Demo, DemoInfo, demo_environment


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Demo, DemoInfo]]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    for name, value in demo_environment(url).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    running = Demo(database_url=url, port=0, password="demo-password", now=lambda: datetime(2026, 11, 20, tzinfo=UTC))
    info = running.start()
    try:
        yield running, info
    finally:
        running.stop()


def test_the_demo_connects_and_maps_autotask(demo: tuple[Demo, DemoInfo]) -> None:
    running, info = demo
    assert any(line.startswith(f"  Autotask sandbox: {info.autotask_url}") for line in info.lines())
    assert running.engine is not None
    with transaction(running.engine) as session:
        integration = session.scalar(select(Integration).where(Integration.kind == "autotask"))
        assert integration is not None and integration.status == "connected"
        rows = list(session.scalars(select(PSAMapping).where(PSAMapping.target == "autotask")))
    complete = [r for r in rows if r.item_id is not None]
    wanted = [c for c in demo_companies() if c.mapping is not DemoMapping.NONE and c.cw_identifier is not None]
    assert len(rows) == len(wanted)
    # most complete mappings reach a contract service; the companies without a contract in Autotask stop at the company
    assert 0 < len(rows) - len(complete) < 6 and len(complete) > 15
    state = httpx.get(f"{info.autotask_url}/_sandbox/state", timeout=10).json()
    services = {s["id"] for s in state["contractServices"]}
    assert all(int(r.item_id or 0) in services for r in complete)
    names = {c["companyName"] for c in state["companies"]}
    assert {r.psa_company_name for r in rows} <= names
