"""Property-based requests from /openapi.json against the app in-process: no answer is a server error (5xx)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from seatsync.config import get_settings
from seatsync.db.engine import make_engine, transaction
from seatsync.db.migrate import upgrade
from seatsync.db.models import Operator
from seatsync.web import auth
from seatsync.web.app import create_app
from tests.web.conftest import FakeClock, seed_tenant

EXAMPLES = 4
#: these send requests to whatever host the body names: fuzzing them would leave loopback (their validation is
#: covered in test_api)
OUTBOUND = {
    "/api/v1/connectwise/connect",
    "/api/v1/gradient/connect",
    "/api/v1/autotask/connect",
    "/api/v1/halopsa/connect",
}


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_no_server_errors(sqlite_engine: Engine) -> None:
    seed_tenant(sqlite_engine, "Alpha MSP", "a")
    with transaction(sqlite_engine) as session:
        operator = session.scalar(select(Operator).where(Operator.email == "admin@a.test"))
        assert operator is not None
        principal = auth.Principal(operator.id, operator.tenant_id, operator.email, auth.Role.ADMIN, "token")
        _row, token = auth.create_token(
            session, principal=principal, name="fuzz", role=auth.Role.ADMIN, now=FakeClock()()
        )
    app = create_app(settings=get_settings(), engine=sqlite_engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = [op for op in (result.ok() for result in schema.get_all_operations()) if op.path not in OUTBOUND]
    assert len(operations) >= 35

    strategies = st.one_of(*[op.as_strategy() for op in operations])

    @settings(
        max_examples=EXAMPLES * len(operations),
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategies)
    def run(case: schemathesis.Case) -> None:
        if case.path == "/api/v1/auth/logout":
            return
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")

    run()
    app.state.seatsync.dispatcher.wait(10)
    assert not failures, "\n".join(failures[:20])
