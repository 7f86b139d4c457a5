"""The contract suite runs for every registered billing target (and the fake third one of ``fake_target``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from seatsync.config import get_settings
from seatsync.targets import registry
from tests.targets import fake_target
from tests.targets.worlds import BUILDERS, ContractWorld


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target_key" in metafunc.fixturenames:
        keys = [t.key for t in registry.all_targets()] + [fake_target.KEY]
        metafunc.parametrize("target_key", keys)


@pytest.fixture
def registered(target_key: str) -> Iterator[str]:
    """The target is in the registry for the test (the fake one only while it runs)."""
    added = target_key not in registry.target_keys()
    if added:
        registry.register(fake_target.TARGET)
    try:
        yield target_key
    finally:
        if added:
            registry.unregister(target_key)


@pytest.fixture
def contract(registered: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[ContractWorld]:
    from tests.jobs.world import GRADIENT_VENDOR

    monkeypatch.setenv("SEATSYNC_GRADIENT_VENDOR_KEY", GRADIENT_VENDOR)
    get_settings.cache_clear()
    builder = BUILDERS.get(registered)
    assert builder is not None, f"target {registered!r} is registered without a contract world (tests/targets)"
    with builder(engine) as world:
        yield world
    get_settings.cache_clear()
