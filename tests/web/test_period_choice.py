"""The web's period choice: never a period that has not started; the current month says it is in progress."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def _options(html: str) -> list[str]:
    select = html.split('<select id="period"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="(\d{4}-\d{2})"', select)


def test_a_future_period_is_not_offered_and_cannot_be_pushed(admin: TestClient) -> None:
    html = admin.get("/connectwise/billing?period=2031-05").text  # the test clock is in 2026-10
    assert "2031-05" not in _options(html)
    assert _options(html)[0] == "2026-10"
    assert "2031-05 has not started yet: it cannot be pushed" in html
    push = re.search(r'<button type="button" id="push-open"[^>]*>', html)
    assert push is not None
    assert "disabled" in push.group(0)


def test_the_current_month_is_in_progress(admin: TestClient) -> None:
    html = admin.get("/connectwise/billing").text
    assert "2026-10 is in progress: counts may still rise." in html
    confirm = html.split('<dialog id="push-confirm"', 1)[1].split("</dialog>", 1)[0]
    assert "counts may still rise" in confirm
    older = admin.get("/connectwise/billing?period=2026-09").text
    assert "in progress" not in older
    assert "2026-09" in _options(older)
