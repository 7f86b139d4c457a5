"""Companies uploaded on the web become Gradient accounts, as the CLI's import makes them (issue 17.6): one import
service, one post-import hook, whatever the surface."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from seatsync.config import get_settings
from seatsync.db.engine import transaction
from seatsync.db.models import Operator
from seatsync.web.app import create_app
from tests.foundation.util import csv_bytes
from tests.gradient.gradient_helpers import Connected
from tests.web.conftest import FAST_HASH, FakeClock
from tests.web.test_pages import form_login

# Starlette's TestClient warns at import that it prefers httpx2 (see tests/web/__init__.py)
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.usefixtures("gradient_vendor_key")


def test_a_company_uploaded_on_the_web_becomes_a_gradient_account(gradient_world: Connected, gradient: Any) -> None:
    with transaction(gradient_world.engine) as session:
        session.add(
            Operator(tenant_id=gradient_world.tenant.id, email="admin@g.test", password_hash=FAST_HASH, role="admin")
        )
    assert "c-9" not in {a["id"] for a in gradient.sandbox.state()["accounts"]}
    app = create_app(settings=get_settings(), engine=gradient_world.engine, clock=FakeClock())
    with TestClient(app) as client:
        csrf = form_login(client, "admin@g.test")
        r = client.post(
            "/companies/upload",
            data={"csrf_token": csrf, "kind": "companies"},
            files={"file": ("companies.csv", csv_bytes("company_id,name", ["c-9,Wayne Enterprises"]), "text/csv")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    app.state.seatsync.dispatcher.wait(10)
    accounts = {a["id"]: a for a in gradient.sandbox.state()["accounts"]}
    assert "c-9" in accounts and accounts["c-9"]["name"] == "Wayne Enterprises"
