"""Every API route: without credentials 401; as a viewer, every write 403; with another tenant's ids 404, never data.

The route tables below must list every route of the app (a test checks it), so a new route needs its entry here.
"""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seatsync.db.engine import transaction
from seatsync.db.models import ApiToken, Company, Operator, PushResult, PushRun
from seatsync.services.tenants import get_tenant
from tests.web.conftest import World

B_COMPANY = "b-001"
MAPPING = {"cw_company_id": 250}
ACCEPT = {"company_id": B_COMPANY, "cw_company_id": 250}


def seed_tenant_b(world: World) -> dict[str, int]:
    """A finished push run (with a result and report) and an API token, all of tenant B."""
    with transaction(world.engine) as session:
        tenant = get_tenant(session, slug=world.tenants["b"])
        run = PushRun(tenant_id=tenant.id, target="connectwise", period="2026-10", started_by="b", status="succeeded")
        session.add(run)
        session.flush()
        company = session.scalar(select(Company).where(Company.tenant_id == tenant.id, Company.company_id == B_COMPANY))
        assert company is not None
        session.add(
            PushResult(
                run_id=run.id, tenant_id=tenant.id, company_pk=company.id, outcome="succeeded", report_sha256="0" * 64
            )
        )
        operator = session.scalar(select(Operator).where(Operator.tenant_id == tenant.id))
        assert operator is not None
        token = ApiToken(
            tenant_id=tenant.id, operator_id=operator.id, name="b", role="admin", prefix="ss_x", token_hash="f" * 64
        )
        session.add(token)
        session.flush()
        return {"run": run.id, "token": token.id}


def routes_with_ids(ids: dict[str, int]) -> list[tuple[str, str, dict[str, object]]]:
    """(method, url with tenant B's ids, request kwargs) for every route that names a record."""
    run, token = ids["run"], ids["token"]
    return [
        ("GET", f"/api/v1/companies/{B_COMPANY}", {}),
        ("PUT", f"/api/v1/mappings/{B_COMPANY}", {"json": MAPPING}),
        ("GET", f"/api/v1/mappings/{B_COMPANY}", {}),
        ("DELETE", f"/api/v1/mappings/{B_COMPANY}", {}),
        ("POST", "/api/v1/automap/accept", {"json": ACCEPT}),
        ("GET", f"/api/v1/pushes/{run}", {}),
        ("GET", f"/api/v1/pushes/{run}/results.csv", {}),
        ("GET", f"/api/v1/pushes/{run}/reports/{B_COMPANY}", {}),
        ("DELETE", f"/api/v1/tokens/{token}", {}),
    ]


#: every other route, with a valid request (method, url, kwargs, writes?)
OTHER_ROUTES: list[tuple[str, str, dict[str, object], bool]] = [
    ("GET", "/api/v1/auth/me", {}, False),
    ("GET", "/api/v1/tokens", {}, True),  # tokens are credentials: admin only, even to list
    ("POST", "/api/v1/tokens", {"json": {"name": "t"}}, True),
    ("GET", "/api/v1/companies", {}, False),
    ("PUT", "/api/v1/companies/a-001", {"json": {"name": "x"}}, True),
    ("POST", "/api/v1/companies/batch", {"json": {"records": []}}, True),
    ("POST", "/api/v1/users/events", {"json": {"records": []}}, True),
    ("POST", "/api/v1/activity", {"json": {"records": []}}, True),
    (
        "POST",
        "/api/v1/imports/companies",
        {"files": {"file": ("c.csv", io.BytesIO(b"company_id,name\n"), "text/csv")}},
        True,
    ),
    ("GET", "/api/v1/billable?period=2026-10", {}, False),
    ("GET", "/api/v1/connectwise", {}, False),
    (
        "POST",
        "/api/v1/connectwise/connect",
        {"json": {"site": "x", "company_id": "x", "public_key": "x", "private_key": "x"}},
        True,
    ),
    ("POST", "/api/v1/connectwise/check", {}, True),
    ("POST", "/api/v1/connectwise/disconnect", {}, True),
    ("GET", "/api/v1/connectwise/companies", {}, False),
    ("POST", "/api/v1/connectwise/companies/refresh", {}, True),
    ("GET", "/api/v1/connectwise/companies/250/agreements", {}, False),
    ("GET", "/api/v1/connectwise/agreements/100/additions", {}, False),
    ("GET", "/api/v1/gradient", {}, False),
    ("POST", "/api/v1/gradient/connect", {"json": {"token": "t"}}, True),
    ("POST", "/api/v1/gradient/disconnect", {}, True),
    ("POST", "/api/v1/gradient/sync-accounts", {}, True),
    ("GET", "/api/v1/mappings", {}, False),
    ("GET", "/api/v1/automap/suggestions", {}, False),
    ("POST", "/api/v1/automap/accept-all", {"json": {"above": 0.9}}, True),
    ("POST", "/api/v1/pushes/preview", {"json": {}}, False),
    ("POST", "/api/v1/pushes", {"json": {}}, True),
    ("GET", "/api/v1/pushes", {}, False),
    ("GET", "/api/v1/pushes/export.csv", {}, False),
    ("POST", "/api/v1/auth/logout", {}, False),  # last: it ends the session
]
WRITES_WITH_IDS = {"PUT", "DELETE", "POST"}


def _template(path: str) -> str:
    return path.split("?")[0]


def test_the_tables_cover_every_api_route(app_client: TestClient) -> None:
    from fastapi.routing import APIRoute

    declared = {
        (method, route.path)
        for route in app_client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and route.path.startswith("/api/")
        for method in route.methods
    }
    declared.discard(("POST", "/api/v1/auth/login"))
    urls = [(m, _template(u)) for m, u, _k, _w in OTHER_ROUTES] + [
        (m, u) for m, u, _k in routes_with_ids({"run": 1, "token": 1})
    ]

    def covered(method: str, path: str) -> bool:
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        return any(m == method and pattern.match(u) for m, u in urls)

    missing = sorted((m, p) for m, p in declared if not covered(m, p))
    assert not missing, f"routes missing from the isolation/role tables: {missing}"


def test_another_tenants_ids_are_404(admin: TestClient, world: World) -> None:
    ids = seed_tenant_b(world)
    for method, url, kwargs in routes_with_ids(ids):
        r = admin.request(method, url, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 404, (method, url, r.status_code, r.text)
        assert "b-001" not in r.text.replace(B_COMPANY, "", 1) or method != "GET"


def test_lists_show_only_the_callers_tenant(admin: TestClient, world: World) -> None:
    seed_tenant_b(world)
    companies = admin.get("/api/v1/companies", params={"per_page": 1000}).json()["companies"]
    assert companies and all(c["company_id"].startswith("a-") for c in companies)
    assert admin.get("/api/v1/companies", params={"q": "b-0"}).json()["total"] == 0
    assert all(
        c["company_id"].startswith("a-") for c in admin.get("/api/v1/billable?period=2026-10").json()["companies"]
    )
    assert all(r["company_id"].startswith("a-") for r in admin.get("/api/v1/mappings").json()["rows"])
    assert admin.get("/api/v1/pushes").json() == []
    assert admin.get("/api/v1/tokens").json() == []
    assert admin.get("/api/v1/pushes/export.csv").text.count("\n") == 1


@pytest.mark.parametrize("as_role", ["anonymous", "viewer"])
def test_roles(app_client: TestClient, world: World, as_role: str) -> None:
    from tests.web.conftest import login

    ids = seed_tenant_b(world)
    if as_role == "viewer":
        login(app_client, "viewer@a.test")
    # the routes naming tenant B's records first: OTHER_ROUTES ends with logout
    every = [(m, u, k, m in WRITES_WITH_IDS) for m, u, k in routes_with_ids(ids)] + list(OTHER_ROUTES)
    for method, url, kwargs, writes in every:
        r = app_client.request(method, url, **kwargs)  # type: ignore[arg-type]
        if as_role == "anonymous":
            assert r.status_code == 401, (method, url, r.status_code)
        elif writes:
            assert r.status_code == 403, (method, url, r.status_code, r.text)
        else:
            assert r.status_code not in (401, 403), (method, url, r.status_code)
