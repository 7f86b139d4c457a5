"""A mapper page past the end (an old link, a shorter list since) shows the last page, on every PSA's mapper."""

# ruff: noqa: F811 (the web app's fixtures, imported)

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import admin, app_client, login, world  # noqa: F401


def _names(html: str) -> list[str]:
    return re.findall(r'<tr[^>]*data-company="([^"]+)"', html)


@pytest.mark.parametrize("target", ["connectwise", "autotask", "halopsa"])
def test_a_page_past_the_end_shows_the_last_page(admin: TestClient, target: str) -> None:
    first = admin.get(f"/{target}/billing", params={"period": "2026-10"})
    assert first.status_code == 200
    assert _names(first.text), "the seeded tenant's companies are on the first page"
    past = admin.get(f"/{target}/billing", params={"period": "2026-10", "page": 9})
    assert past.status_code == 200
    assert _names(past.text) == _names(first.text)
    assert "No companies." not in past.text
