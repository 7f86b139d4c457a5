"""Where a request's database work runs: endpoints that only read get a read session (autocommit on PostgreSQL)
and run on the event loop; everything else keeps a transaction of its own and a worker thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from seatsync.web import deps
from seatsync.web.api.routes import mappings as mapping_routes


def test_reading_endpoints_get_a_read_session_and_others_a_transaction(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = admin.app.state.seatsync  # type: ignore[attr-defined]
    autocommit = state.engine.dialect.name == "postgresql"
    levels: dict[str, bool] = {}
    real = deps._reads_only

    def spy(request: Any) -> bool:
        reads_only: bool = real(request)
        session = (state.read_sessions if reads_only else state.sessions)()
        try:
            # what the driver's connection is set to (psycopg: autocommit; sqlite3 keeps its default)
            levels[request.url.path] = bool(
                getattr(session.connection().connection.dbapi_connection, "autocommit", False)
            )
        finally:
            session.close()
        return reads_only

    monkeypatch.setattr(deps, "_reads_only", spy)
    assert admin.get("/api/v1/mappings").status_code == 200
    assert admin.put("/api/v1/companies/a-001", json={"name": "Acme Corp"}).status_code == 200
    assert levels["/api/v1/mappings"] is autocommit
    assert levels["/api/v1/companies/a-001"] is False  # a write keeps its transaction


def test_reading_endpoints_run_on_the_event_loop_and_writes_on_a_worker_thread(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: dict[str, str] = {}
    real_page = mapping_routes.mapper_page

    def page(*args: Any, **kwargs: Any) -> Any:
        threads["read"] = threading.current_thread().name
        return real_page(*args, **kwargs)

    monkeypatch.setattr(mapping_routes, "mapper_page", page)
    real_clear = mapping_routes.mappings.clear_mapping

    def clear(*args: Any, **kwargs: Any) -> None:
        threads["write"] = threading.current_thread().name
        real_clear(*args, **kwargs)

    monkeypatch.setattr(mapping_routes.mappings, "clear_mapping", clear)
    assert admin.get("/api/v1/mappings").status_code == 200
    assert admin.delete("/api/v1/mappings/a-001").status_code == 204
    loop_thread = threads["read"]
    assert "AnyIO worker" not in loop_thread  # TestClient's event loop thread, not the thread pool
    assert "AnyIO worker" in threads["write"]
