"""One validation for every import path: the same bad rows are refused, with line, column and reason, through a
CSV file, a JSON-lines file and the API, on SQLite and PostgreSQL; never a traceback or a 500."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import StatusEvent, User
from seatsync.errors import ImportRejected
from seatsync.services.imports import ImportKind, import_file
from seatsync.services.tenants import get_tenant
from tests.web.conftest import World

GOOD = {
    "user_id": "v-1",
    "company_id": "a-001",
    "email": "v1@a.test",
    "name": "V One",
    "status": "active",
    "at": "2026-10-02T00:00:00Z",
}


def bad(**changes: str) -> dict[str, str]:
    return {**GOOD, "user_id": "v-2", **changes}


#: (id, the bad record, its column, words of the reason)
CASES = [
    ("year-1-positive-offset", bad(at="0001-01-01T00:00:00+05:00"), "at", "outside the instants seatsync accepts"),
    ("year-9999-negative-offset", bad(at="9999-12-31T23:00:00-05:00"), "at", "outside the instants"),
    ("year-226-typo", bad(at="0226-10-01T00:00:00Z"), "at", "1970-01-01 to 2199-12-31"),
    ("after-2199", bad(at="2199-12-31T23:00:00-05:00"), "at", "outside the instants"),
    ("before-1970", bad(at="1969-12-31T23:59:59Z"), "at", "outside the instants"),
    ("field-over-128-KiB", bad(name="x" * (129 * 1024)), "name", "longer than 128 KiB"),
    ("nul-byte", bad(name="Nul\x00Name"), "name", "contains a NUL character"),
    ("user-id-over-200", bad(user_id="u" * 201), "user_id", "longer than 200 characters"),
    ("company-id-over-200", bad(company_id="c" * 201), "company_id", "longer than 200 characters"),
    ("email-over-320", bad(email="e" * 320 + "@a.test"), "email", "longer than 320 characters"),
    ("name-over-300", bad(name="n" * 301), "name", "longer than 300 characters"),
    ("naive-instant", bad(at="2026-10-03T10:00:00"), "at", "has no UTC offset"),
    ("unknown-status", bad(status="paused"), "status", "unknown status 'paused'"),
]


def _csv(records: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(GOOD), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().encode()


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _stored(world: World) -> tuple[int, int]:
    with transaction(world.engine) as session:
        return (
            session.scalar(select(func.count()).select_from(StatusEvent)) or 0,
            session.scalar(select(func.count()).select_from(User)) or 0,
        )


def _file_errors(world: World, data: bytes, source: str) -> list[tuple[int, str | None, str]]:
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenants["a"])
        with pytest.raises(ImportRejected) as caught:
            import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=io.BytesIO(data), source=source)
    return [(e.line, e.column, e.reason) for e in caught.value.errors]


@pytest.mark.parametrize(("record", "column", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_row_is_refused_alike_on_every_path(
    world: World, admin: TestClient, record: dict[str, str], column: str, reason: str
) -> None:
    before = _stored(world)
    records = [GOOD, record]
    # CSV: the header is line 1, so the bad row is line 3
    [(line, col, why)] = _file_errors(world, _csv(records), "users.csv")
    assert (line, col) == (3, column) and reason in why
    [(line, col, why)] = _file_errors(world, _jsonl(records), "users.jsonl")
    assert (line, col) == (2, column) and reason in why
    answer = admin.post("/api/v1/users/events", json={"records": records})
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["errors"]
    assert (problem["line"], problem["column"]) == (2, column) and reason in problem["reason"]
    upload = admin.post("/api/v1/imports/users", files={"file": ("users.csv", io.BytesIO(_csv(records)), "text/csv")})
    assert upload.status_code == 422 and upload.json()["errors"][0]["column"] == column
    assert _stored(world) == before


def test_json_paths_refuse_unknown_fields_and_non_text(world: World, admin: TestClient) -> None:
    records = [GOOD, {**bad(), "statsu": "active"}, bad(user_id={"id": 1}), bad(at=12), {"user_id": "v-9"}]  # type: ignore[arg-type]
    answer = admin.post("/api/v1/users/events", json={"records": records})
    assert answer.status_code == 422
    got = {(p["line"], p["column"], p["reason"].split(";")[0].split(",")[0]) for p in answer.json()["errors"]}
    assert (2, "statsu", "unknown field 'statsu'") in got
    assert (3, "user_id", "must be text") in {(a, b, c[:12]) for a, b, c in got}
    assert (4, "at", "must be text") in {(a, b, c[:12]) for a, b, c in got}
    assert {(5, "company_id", "is missing"), (5, "email", "is missing")} <= got
    errors = _file_errors(world, _jsonl(records), "users.jsonl")
    assert (2, "statsu") in {(line, column) for line, column, _ in errors}
    # CSV: an unknown column is refused in the header
    header = _csv([GOOD]).replace(b"name,", b"name,statsu,", 1).replace(b"V One,", b"V One,x,", 1)
    assert _file_errors(world, header, "users.csv")[0][:2] == (1, "statsu")


def test_empty_files_and_batches_are_refused_alike(world: World, admin: TestClient) -> None:
    assert _file_errors(world, b"", "users.csv")[0][2].startswith("the file is empty")
    assert _file_errors(world, b"", "users.jsonl")[0][2].startswith("the file is empty")
    assert _file_errors(world, b"\n\n", "users.jsonl")[0][2].startswith("the file is empty")
    answer = admin.post("/api/v1/users/events", json={"records": []})
    assert answer.status_code == 422 and "no records" in answer.text


def test_name_is_optional_on_every_path(world: World, admin: TestClient) -> None:
    no_name = {k: v for k, v in GOOD.items() if k != "name"}
    csv_file = b"user_id,company_id,email,status,at\nv-1,a-001,v1@a.test,active,2026-10-02T00:00:00Z\n"
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenants["a"])
        assert import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=io.BytesIO(csv_file), source="u.csv")
        data = io.BytesIO(_jsonl([{**no_name, "user_id": "v-3"}]))
        assert import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=data, source="u.jsonl").created == 1
    answer = admin.post("/api/v1/users/events", json={"records": [{**no_name, "user_id": "v-4"}]})
    assert answer.status_code == 200 and answer.json()["created"] == 1


def test_the_latest_import_wins_for_a_corrected_email(world: World, admin: TestClient) -> None:
    first = admin.post("/api/v1/users/events", json={"records": [bad(user_id="v-5", email="zed@a.test")]})
    assert first.status_code == 200
    corrected = admin.post("/api/v1/users/events", json={"records": [bad(user_id="v-5", email="amy@a.test")]})
    assert corrected.status_code == 200 and corrected.json()["created"] == 0
    with transaction(world.engine) as session:
        assert session.scalar(select(User.email).where(User.user_id == "v-5")) == "amy@a.test"
    # an older event does not overwrite what a later one set
    older = bad(user_id="v-5", email="old@a.test", at="2026-09-01T00:00:00Z")
    assert admin.post("/api/v1/users/events", json={"records": [older]}).status_code == 200
    with transaction(world.engine) as session:
        assert session.scalar(select(User.email).where(User.user_id == "v-5")) == "amy@a.test"


def test_one_user_active_in_two_companies_at_one_instant_is_refused(world: World, admin: TestClient) -> None:
    before = _stored(world)
    twice = [bad(user_id="v-6"), bad(user_id="v-6", company_id="a-002")]
    answer = admin.post("/api/v1/users/events", json={"records": twice})
    assert answer.status_code == 422
    [problem] = answer.json()["errors"]
    assert problem["line"] == 2 and problem["column"] == "company_id"
    assert "active in 'a-001' and 'a-002' at the same instant" in problem["reason"]
    assert _stored(world) == before
    # against an event already stored
    assert admin.post("/api/v1/users/events", json={"records": [twice[0]]}).status_code == 200
    again = admin.post("/api/v1/users/events", json={"records": [twice[1]]})
    assert again.status_code == 422 and "an event already stored" in again.text
    # a move at one instant (deleted from one, active in the other) is not a clash
    move = bad(user_id="v-6", company_id="a-002", status="deleted")
    assert admin.post("/api/v1/users/events", json={"records": [move]}).status_code == 200


def test_a_local_time_zone_is_refused(world: World) -> None:
    runner = CliRunner()
    url = str(world.engine.url.render_as_string(hide_password=False))
    for zone in ("localtime", "posixrules", "Not/AZone"):
        result = runner.invoke(cli, ["tenant", "create", "Local", "--time-zone", zone, "--database-url", url])
        assert result.exit_code == 1 and f"unknown time zone {zone!r}" in result.output, result.output


def test_every_company_import_surface_calls_the_post_import_hook(
    world: World, admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import seatsync.services.gradient as gradient

    calls: list[tuple[int, list[str]]] = []

    def record(engine: object, *, tenant_id: int, company_ids: list[str]) -> None:
        calls.append((tenant_id, list(company_ids)))

    monkeypatch.setattr(gradient, "after_company_import", record)
    files = {"file": ("companies.csv", io.BytesIO(b"company_id,name\nn-1,New One\n"), "text/csv")}
    assert admin.post("/api/v1/imports/companies", files=files).status_code == 200
    assert admin.put("/api/v1/companies/n-2", json={"name": "New Two"}).status_code == 200
    batch = admin.post("/api/v1/companies/batch", json={"records": [{"company_id": "n-3", "name": "New Three"}]})
    assert batch.status_code == 200
    page = admin.post(
        "/companies/upload",
        data={"kind": "companies", "csrf_token": admin.headers["X-CSRF-Token"]},
        files={"file": ("companies.csv", io.BytesIO(b"company_id,name\nn-4,New Four\n"), "text/csv")},
    )
    assert page.status_code == 200, page.text
    # an update of a known company creates no account
    assert admin.put("/api/v1/companies/n-2", json={"name": "New Two Renamed"}).status_code == 200
    assert [ids for _tenant, ids in calls] == [["n-1"], ["n-2"], ["n-3"], ["n-4"]]
    with transaction(world.engine) as session:
        tenant_id = get_tenant(session, slug=world.tenants["a"]).id
    assert {tenant for tenant, _ in calls} == {tenant_id}


def test_a_repeated_import_is_found_out_by_its_hash(world: World, admin: TestClient) -> None:
    records = [GOOD, bad(user_id="v-7")]
    data = _csv(records)
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenants["a"])
        first = import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=io.BytesIO(data), source="u.csv")
        again = import_file(session, tenant=tenant, kind=ImportKind.USERS, stream=io.BytesIO(data), source="u.csv")
    assert (first.created, first.nothing_new) == (2, False)
    assert (again.nothing_new, again.rows, again.created) == (True, 2, 0)
    assert again.summary() == "users: nothing new (the same 2 rows as the last import)"
    # the same records through the API: another content (JSON), read in full, nothing created; then found out
    answer = admin.post("/api/v1/users/events", json={"records": records}).json()
    assert (answer["created"], answer["nothing_new"]) == (0, False)
    assert admin.post("/api/v1/users/events", json={"records": records}).json()["nothing_new"] is True
    # other content in between: compared with the last import only
    assert admin.post("/api/v1/users/events", json={"records": [bad(user_id="v-8")]}).json()["created"] == 1
    assert admin.post("/api/v1/users/events", json={"records": records}).json()["nothing_new"] is False
