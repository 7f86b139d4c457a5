"""Schedules and thresholds on Integrations and through the API; the Approvals page lists held rows and rejects
them, all or per row."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seatsync.db.engine import transaction
from seatsync.db.models import Company, PushResult, PushRun
from seatsync.services.tenants import get_tenant
from tests.web.conftest import World, login
from tests.web.test_pages import form_login


def held(world: World, slug_key: str = "a") -> int:
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenants[slug_key])
        run = PushRun(
            tenant_id=tenant.id, target="connectwise", period="2026-10", started_by="schedule", status="succeeded"
        )
        session.add(run)
        session.flush()
        pks = list(
            session.scalars(select(Company.id).where(Company.tenant_id == tenant.id).order_by(Company.company_id))
        )
        for pk, (before, after) in zip(pks, [(10, 25), (40, 20)], strict=False):
            session.add(
                PushResult(
                    run_id=run.id,
                    tenant_id=tenant.id,
                    company_pk=pk,
                    outcome="awaiting",
                    quantity_before=before,
                    quantity_after=after,
                )
            )
        return run.id


def test_schedule_form_and_next_push_in_local_time(app_client: TestClient, world: World) -> None:
    csrf = form_login(app_client, "admin@a.test")
    page = app_client.get("/integrations").text
    assert "day 1 of each month at 00:00, the previous month" in page  # Gradient's default
    assert "2026-11-01 00:00 UTC" in page  # the injected clock is 2026-10-15
    r = app_client.post(
        "/integrations/schedule",
        data={
            "csrf_token": csrf,
            "target": "connectwise",
            "day": "last",
            "at": "18:30",
            "period": "current",
            "approve_above": "20",
            "approve_above_seats": "",
        },
    )
    assert r.status_code == 200, r.text
    assert "connectwise: the last day of each month at 18:30, the current month; approval: more than 20%." in r.text
    assert "2026-10-31 18:30 UTC" in r.text
    bad = app_client.post(
        "/integrations/schedule",
        data={"csrf_token": csrf, "target": "connectwise", "day": "30", "at": "18:30", "period": "current"},
    )
    assert bad.status_code == 422 and "“Day” must be 1 to 28" in bad.text
    off = app_client.post("/integrations/schedule/gradient/off", data={"csrf_token": csrf})
    assert "gradient: no scheduled push." in off.text
    api = app_client.get("/api/v1/schedules").json()
    by_target = {s["target"]: s for s in api}
    assert by_target["gradient"]["scheduled"] is False
    assert by_target["connectwise"] | {"next_push": None} == {
        "target": "connectwise",
        "scheduled": True,
        "day": "last",
        "at": "18:30",
        "period": "current",
        "next_push": None,
        "approve_above_percent": 20.0,
        "approve_above_seats": None,
        "skip_invoiced": False,
    }
    assert by_target["connectwise"]["next_push"].startswith("2026-10-31T18:30:00")


def test_schedule_api(app_client: TestClient, world: World) -> None:
    login(app_client, "admin@a.test")
    r = app_client.put(
        "/api/v1/schedules/halopsa", json={"day": "5", "at": "06:00", "period": "previous", "approve_above_seats": 3}
    )
    assert r.status_code == 200, r.text
    halo = next(s for s in r.json() if s["target"] == "halopsa")
    assert (halo["day"], halo["approve_above_seats"], halo["next_push"][:16]) == ("5", 3, "2026-11-05T06:00")
    assert (
        app_client.put("/api/v1/schedules/halopsa", json={"day": "0", "at": "06:00", "period": "previous"}).status_code
        == 422
    )
    assert (
        next(s for s in app_client.delete("/api/v1/schedules/halopsa").json() if s["target"] == "halopsa")["scheduled"]
        is False
    )


def test_approvals_page_lists_and_rejects(app_client: TestClient, world: World) -> None:
    run_id = held(world)
    held(world, "b")  # the other tenant's: never shown here
    csrf = form_login(app_client, "admin@a.test")
    page = app_client.get("/approvals").text
    assert page.count('class="waiting-row"') == 2
    assert "10 → 25" in page and "+15" in page and "+150%" in page
    assert "40 → 20" in page and "-20" in page and "-50%" in page
    api = app_client.get("/api/v1/approvals").json()
    assert [(w["run_id"], len(w["rows"])) for w in api] == [(run_id, 2)]
    none = app_client.post(f"/approvals/{run_id}", data={"csrf_token": csrf, "action": "reject"})
    assert none.status_code == 422 and "Choose the rows first" in none.text
    first = api[0]["rows"][0]["company_id"]
    r = app_client.post(f"/approvals/{run_id}", data={"csrf_token": csrf, "action": "reject", "company": first})
    assert "Rejected 1 row: not sent." in r.text and r.text.count('class="waiting-row"') == 1
    r = app_client.post(f"/approvals/{run_id}", data={"csrf_token": csrf, "action": "reject-all"})
    assert "Rejected 1 row: not sent." in r.text and 'id="nothing-waiting"' in r.text


def test_viewers_see_but_cannot_decide(app_client: TestClient, world: World) -> None:
    run_id = held(world)
    login(app_client, "viewer@a.test")
    page = app_client.get("/approvals").text
    assert page.count('class="waiting-row"') == 2 and "Reject all" not in page
    assert app_client.post(f"/api/v1/approvals/{run_id}/reject", json={}).status_code == 403


def flash_of(html: str) -> str:
    found = re.search(r'<div class="notice notice-error" role="status">(.*?)</div>', html, re.S)
    assert found, html[:500]
    return found.group(1)


@pytest.mark.parametrize(
    ("path", "form", "label"),
    [
        ("/integrations/schedule", {"target": "autotask", "day": "0", "at": "00:00", "period": "previous"}, "“Day”"),
        ("/integrations/schedule", {"target": "autotask", "day": "1", "at": "25:00", "period": "previous"}, "“At”"),
        ("/integrations/schedule", {"target": "autotask", "day": "1", "at": "00:00", "period": "next"}, "“Period”"),
        (
            "/integrations/schedule",
            {"target": "halopsa", "day": "1", "at": "00:00", "period": "current", "approve_above": "lots"},
            "“Approve above %”",
        ),
        (
            "/integrations/schedule",
            {"target": "halopsa", "day": "1", "at": "00:00", "period": "current", "approve_above": "-5"},
            "“Approve above %”",
        ),
        (
            "/integrations/schedule",
            {"target": "gradient", "day": "1", "at": "00:00", "period": "current", "approve_above_seats": "2.5"},
            "“or seats”",
        ),
        ("/integrations/notifications/add", {"kind": "email", "address": "not an address"}, "e-mail address"),
        ("/integrations/notifications/add", {"kind": "webhook", "address": "ftp://x.example/h"}, "webhook URL"),
        (
            "/integrations/notifications/add",
            {"kind": "webhook", "address": "https://hooks.example/h", "format": "xml"},
            "webhook format",
        ),
        ("/integrations/notifications/999/remove", {}, "notification channel 999"),
    ],
)
def test_form_errors_speak_the_pages_words_not_the_cli(
    app_client: TestClient, world: World, path: str, form: dict[str, str], label: str
) -> None:
    csrf = form_login(app_client, "admin@a.test")
    r = app_client.post(path, data={"csrf_token": csrf, **form})
    assert r.status_code in (404, 422), r.text[:300]
    said = flash_of(r.text)
    assert label in said
    assert "--" not in said and "seatsync " not in said and "`" not in said, said


def test_api_schedule_errors_name_the_request_field(app_client: TestClient, world: World) -> None:
    login(app_client, "admin@a.test")
    r = app_client.put("/api/v1/schedules/autotask", json={"day": "29", "at": "00:00", "period": "previous"})
    assert r.status_code == 422
    assert r.json() == {"detail": "day must be 1 to 28 or 'last' (every month has it), not '29'", "field": "day"}
