"""A run-finished hook named by import path (what the console script does before every command) is imported and
called when a run finishes, and only then; a name that cannot be imported is logged and the run stands."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from seatsync.push import engine as push_engine
from seatsync.push.engine import FinishedRun
from seatsync.push.hook_names import name_run_finished_hook, take_named_hooks
from seatsync.push.runs import RunStatus
from seatsync.targets import PushOptions, registry
from tests.targets import fake_target
from tests.targets.test_contract import NOW, run
from tests.targets.worlds import BUILDERS, PERIOD, ContractWorld

finished: list[FinishedRun] = []


def record(run_finished: FinishedRun) -> None:
    finished.append(run_finished)


@pytest.fixture
def fake(engine: Engine) -> Iterator[ContractWorld]:
    registry.register(fake_target.TARGET)
    finished.clear()
    try:
        with BUILDERS[fake_target.KEY](engine) as world:
            yield world
    finally:
        take_named_hooks()
        push_engine.remove_run_finished_hook(record)
        registry.unregister(fake_target.KEY)


def _push(world: ContractWorld) -> int:
    return push_engine.push(
        world.engine,
        tenant_id=world.tenant_id,
        target=fake_target.KEY,
        options=PushOptions(PERIOD, started_by="hooks"),
        client_factory=world.factory(),
        concurrency=1,
        clock=lambda: NOW,
    )


def test_a_named_hook_is_called_after_the_run_with_the_run(fake: ContractWorld) -> None:
    name_run_finished_hook(f"{__name__}:record")
    name_run_finished_hook(f"{__name__}:record")  # named twice: called once
    assert finished == []
    run_id = _push(fake)
    assert [(f.run_id, f.target, f.status) for f in finished] == [(run_id, fake_target.KEY, RunStatus.SUCCEEDED)]
    second = _push(fake)  # registered for good once imported
    assert [f.run_id for f in finished] == [run_id, second]


def test_a_hook_that_cannot_be_imported_is_logged_and_the_run_stands(
    fake: ContractWorld, caplog: pytest.LogCaptureFixture
) -> None:
    name_run_finished_hook("tests.targets.no_such_module:record")
    name_run_finished_hook(f"{__name__}:no_such_function")
    name_run_finished_hook(f"{__name__}:record")
    with caplog.at_level(logging.ERROR, logger="seatsync.push.engine"):
        run_id = _push(fake)
    assert run(fake, run_id).status == RunStatus.SUCCEEDED
    logged = caplog.text
    assert "tests.targets.no_such_module:record" in logged and f"{__name__}:no_such_function" in logged
    assert [f.run_id for f in finished] == [run_id]  # the good one still ran
    assert "tests.targets.no_such_module" not in sys.modules


def test_a_malformed_name_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="module:function"):
        name_run_finished_hook("seatsync.automation.hooks.run_finished")
    assert take_named_hooks() == ()
