"""The demo's data: deterministic, lined up with the ConnectWise sandbox's seed, and with the histories it promises."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from seatsync.cli.main import cli
from seatsync.demo.data import DemoMapping, demo_companies, generate
from seatsync.sandboxes.connectwise.seed import DEMO_COMPANIES

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_same_instant_same_data() -> None:
    first, second = generate(NOW), generate(NOW)
    assert list(first.user_records()) == list(second.user_records())
    assert list(first.activity_records()) == list(second.activity_records())


def test_companies_follow_the_connectwise_sandbox_seed() -> None:
    companies = demo_companies()
    assert 30 <= len(companies) <= 40
    live = {identifier for identifier, _name, deleted in DEMO_COMPANIES if not deleted}
    named = [c.cw_identifier for c in companies if c.cw_identifier is not None]
    assert set(named) <= live and len(named) == len(set(named))
    cw_names = {identifier: name for identifier, name, _ in DEMO_COMPANIES}
    differ = [c for c in companies if c.cw_identifier and cw_names[c.cw_identifier] != c.name]
    assert len(differ) >= 5  # slightly different names, for the mapper and auto-map to cope with
    assert any("&" in cw_names[c.cw_identifier] and "&" not in c.name for c in differ)
    mappings = Counter(c.mapping for c in companies)
    assert mappings[DemoMapping.COMPLETE] > 15 and mappings[DemoMapping.NONE] > 5 and mappings[DemoMapping.COMPANY_ONLY]
    assert len({c.company_id for c in companies}) == len(companies)


def test_histories_have_sleeping_deleted_moves_and_activity_in_the_last_months() -> None:
    data = generate(NOW)
    statuses = Counter(change.status for user in data.users for change in user.history)
    assert statuses["sleeping"] > 20 and statuses["deleted"] > 20
    moved = [u for u in data.users if len({c.company.company_id for c in u.history}) > 1]
    assert len(moved) > 5
    instants = [change.at for user in data.users for change in user.history]
    assert max(instants) < NOW and sum(i > NOW - timedelta(days=183) for i in instants) > 300
    assert {kind for _, kind, _ in data.activity} == {"training", "phishing"}
    assert all(NOW - timedelta(days=184) < at < NOW for _, _, at in data.activity)


def test_a_short_password_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    result = CliRunner().invoke(cli, ["demo", "--password", "short", "--database-url", f"sqlite:///{database}"])
    assert result.exit_code == 1
    assert "at least 8 characters" in result.output
    assert not database.exists()
    assert "SEATSYNC_GRADIENT_VENDOR_KEY" not in os.environ  # refused before the demo's settings were applied
