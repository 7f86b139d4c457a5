"""A schedule's ``skip_invoiced`` through the API (``PUT /api/v1/schedules/{target}``) and the Integrations page's
schedule form (a checkbox offered for ConnectWise only): kept and shown for ConnectWise; refused, naming the
target, by the others, which keep the schedule they had."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import World, login
from tests.web.test_pages import form_login

WHEN = {"day": "5", "at": "06:00", "period": "previous"}


def by_target(listed: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(s["target"]): s for s in listed}


def test_the_api_keeps_it_for_connectwise(app_client: TestClient, world: World) -> None:
    login(app_client, "admin@a.test")
    r = app_client.put("/api/v1/schedules/connectwise", json=WHEN | {"skip_invoiced": True})
    assert r.status_code == 200, r.text
    assert by_target(r.json())["connectwise"]["skip_invoiced"] is True
    assert by_target(app_client.get("/api/v1/schedules").json())["connectwise"]["skip_invoiced"] is True
    again = app_client.put("/api/v1/schedules/connectwise", json=WHEN)  # set without it: a plain schedule
    assert by_target(again.json())["connectwise"]["skip_invoiced"] is False


@pytest.mark.parametrize("target", ["autotask", "halopsa", "gradient"])
def test_the_api_refuses_it_for_a_target_that_cannot_tell(app_client: TestClient, world: World, target: str) -> None:
    login(app_client, "admin@a.test")
    assert app_client.put(f"/api/v1/schedules/{target}", json=WHEN).status_code == 200
    refused = app_client.put(
        f"/api/v1/schedules/{target}", json={"day": "1", "at": "00:00", "period": "current", "skip_invoiced": True}
    )
    assert refused.status_code == 422, refused.text
    assert f"a push to {target} cannot honour skip invoiced" in refused.json()["detail"]
    kept = by_target(app_client.get("/api/v1/schedules").json())[target]
    assert (kept["day"], kept["at"], kept["period"], kept["skip_invoiced"]) == ("5", "06:00", "previous", False)


def test_the_schedule_form_offers_it_for_connectwise_only(app_client: TestClient, world: World) -> None:
    csrf = form_login(app_client, "admin@a.test")
    page = app_client.get("/integrations").text
    label = re.search(r'<label for="sc-skip-invoiced"[^>]*data-targets="([^"]*)"', page)
    assert label is not None and label.group(1) == "connectwise"  # app.js shows it for these only
    assert 'name="skip_invoiced"' in page

    form = {"csrf_token": csrf, "target": "connectwise", **WHEN, "skip_invoiced": "1"}
    saved = app_client.post("/integrations/schedule", data=form)
    assert saved.status_code == 200, saved.text
    said = "connectwise: day 5 of each month at 06:00, the previous month, skipping rows whose period is already"
    assert said in saved.text
    row = re.search(r'<tr data-target="connectwise">.*?</tr>', saved.text, re.S)
    assert row is not None and "skipping rows whose period is already invoiced" in row.group(0)
    assert by_target(app_client.get("/api/v1/schedules").json())["connectwise"]["skip_invoiced"] is True

    refused = app_client.post("/integrations/schedule", data=form | {"target": "halopsa"})
    assert refused.status_code == 422 and "a push to halopsa cannot honour skip invoiced" in refused.text
    assert by_target(app_client.get("/api/v1/schedules").json())["halopsa"]["scheduled"] is False

    plain = app_client.post("/integrations/schedule", data={k: v for k, v in form.items() if k != "skip_invoiced"})
    assert plain.status_code == 200 and "already invoiced" not in plain.text.split("</tbody>")[0].split("<tbody>")[-1]
    assert by_target(app_client.get("/api/v1/schedules").json())["connectwise"]["skip_invoiced"] is False
