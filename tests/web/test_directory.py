"""The company directory and the mapper's caches: every change to companies or mappings moves the tenant's
directory revision (so no cached copy outlives it), searches fold case the Unicode way, and push-result filters are
read afresh while a run of the period is running."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from seatsync.db.engine import transaction
from seatsync.db.models import Company, CWMapping, PushResult, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push import runs
from seatsync.push.runs import Outcome
from seatsync.services.directory import DirectoryCache
from seatsync.services.imports import ImportKind, import_records
from seatsync.services.tenants import create_tenant
from seatsync.web.mapper import Filter, OutcomeCache, filter_counts, page_entries

NOW = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)


def _tenant(engine: Engine, name: str, companies: list[tuple[str, str]]) -> int:
    with transaction(engine) as session:
        tenant = create_tenant(session, name=name)
        records = [(i, {"company_id": cid, "name": n}) for i, (cid, n) in enumerate(companies, start=1)]
        import_records(session, tenant=tenant, kind=ImportKind.COMPANIES, records=records, source="test")
        return tenant.id


def _revision(engine: Engine, tenant_id: int) -> int:
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant.directory_revision


def _import(engine: Engine, tenant_id: int, kind: ImportKind, records: list[dict[str, str]]) -> None:
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        import_records(session, tenant=tenant, kind=kind, records=list(enumerate(records, start=1)), source="t")


def test_the_revision_moves_with_every_change_to_companies_or_mappings_and_only_then(engine: Engine) -> None:
    a = _tenant(engine, "Alpha", [("c1", "Acme"), ("c2", "Globex")])
    b = _tenant(engine, "Beta", [("c1", "Other")])
    steps: list[tuple[str, bool]] = []

    def step(name: str, change: object) -> None:
        before = _revision(engine, a), _revision(engine, b)
        if callable(change):
            change()
        after = _revision(engine, a), _revision(engine, b)
        assert after[1] == before[1], f"{name}: another tenant's revision moved"
        steps.append((name, after[0] > before[0]))

    step(
        "same companies again", lambda: _import(engine, a, ImportKind.COMPANIES, [{"company_id": "c1", "name": "Acme"}])
    )
    step("new company", lambda: _import(engine, a, ImportKind.COMPANIES, [{"company_id": "c3", "name": "Initech"}]))
    step("rename", lambda: _import(engine, a, ImportKind.COMPANIES, [{"company_id": "c1", "name": "Acme Corp"}]))
    step(
        "products",
        lambda: _import(
            engine, a, ImportKind.COMPANIES, [{"company_id": "c1", "name": "Acme Corp", "products": "sat"}]
        ),
    )
    step(
        "user events",
        lambda: _import(
            engine,
            a,
            ImportKind.USERS,
            [
                {
                    "user_id": "u1",
                    "company_id": "c1",
                    "email": "u1@x.test",
                    "status": "active",
                    "at": "2026-10-01T00:00:00Z",
                }
            ],
        ),
    )

    def add_mapping() -> None:
        with transaction(engine) as session:
            pk = session.scalar(select(Company.id).where(Company.tenant_id == a, Company.company_id == "c2"))
            assert pk is not None
            session.add(
                CWMapping(tenant_id=a, company_pk=pk, cw_company_id=7, cw_company_name="Globex Inc", saved_by="t")
            )

    def confirm_quantity() -> None:  # what a push writes on a mapping: not shown by the directory
        with transaction(engine) as session:
            mapping = session.scalars(select(CWMapping).where(CWMapping.tenant_id == a)).one()
            mapping.last_pushed_quantity = 12.0

    def remove_mapping() -> None:
        with transaction(engine) as session:
            session.delete(session.scalars(select(CWMapping).where(CWMapping.tenant_id == a)).one())

    def archive() -> None:
        with transaction(engine) as session:
            company = session.scalars(select(Company).where(Company.tenant_id == a, Company.company_id == "c3")).one()
            company.archived = True

    def core_write() -> None:  # no ORM, no hook: the database's trigger raises the revision
        with transaction(engine) as session:
            session.execute(update(Company).where(Company.tenant_id == a, Company.company_id == "c2").values(name="G2"))

    step("add mapping", add_mapping)
    step("confirm pushed quantity", confirm_quantity)
    step("remove mapping", remove_mapping)
    step("archive", archive)
    step("Core rename", core_write)
    assert steps == [
        ("same companies again", False),
        ("new company", True),
        ("rename", True),
        ("products", True),
        ("user events", False),
        ("add mapping", True),
        ("confirm pushed quantity", False),
        ("remove mapping", True),
        ("archive", True),
        ("Core rename", True),
    ]


def test_the_cache_is_reused_until_the_revision_moves(engine: Engine) -> None:
    tenant_id = _tenant(engine, "Alpha", [("c1", "Zürich Dental"), ("c2", "acme"), ("c3", "Acme Law"), ("c4", "Beta")])
    cache = DirectoryCache()
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        first = cache.get(session, tenant=tenant)
        assert cache.get(session, tenant=tenant) is first
        # Unicode case folding, the same on every database; the mapper's order folds case first
        assert [e.company_id for e in first.mapper_rows("  zÜRICH ")] == ["c1"]
        assert [e.name for e in first.mapper_rows("")] == ["acme", "Acme Law", "Beta", "Zürich Dental"]
        assert [e.company_id for e in first.companies("C")] == ["c1", "c2", "c3", "c4"]  # each once
        assert [e.name for e in first.mapper_rows("acme")] == ["acme", "Acme Law"]
    _import(engine, tenant_id, ImportKind.COMPANIES, [{"company_id": "c4", "name": "Gamma"}])
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        second = cache.get(session, tenant=tenant)
        assert second is not first and second.revision > first.revision
        assert [e.name for e in second.mapper_rows("gam")] == ["Gamma"]


def test_push_result_filters_are_read_afresh_while_a_run_of_the_period_runs(engine: Engine) -> None:
    tenant_id = _tenant(engine, "Alpha", [("c1", "Acme"), ("c2", "Globex"), ("c3", "Initech")])
    period = BillingPeriod(2026, 10)
    cache, directories = OutcomeCache(), DirectoryCache()
    with transaction(engine) as session:
        pks = dict(session.execute(select(Company.company_id, Company.id).where(Company.tenant_id == tenant_id)).all())
        run = runs.start_run(session, tenant_id=tenant_id, target="connectwise", period=str(period), started_by="t")
        run_id = run.id

    def fail(company_id: str) -> None:
        with transaction(engine) as session:
            session.add(
                PushResult(
                    run_id=run_id,
                    tenant_id=tenant_id,
                    company_pk=pks[company_id],
                    outcome=Outcome.FAILED.value,
                    reason="refused",
                )
            )

    def failed() -> tuple[frozenset[int], object]:
        with transaction(engine) as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            directory = directories.get(session, tenant=tenant)
            outcomes = cache.get(session, directory=directory, period=period)
            shown = [e.company_id for e in page_entries(directory, outcomes, chosen=Filter.FAILED)]
            assert filter_counts(directory, outcomes)[Filter.FAILED] == len(shown)
            return outcomes.failed, outcomes

    fail("c1")
    assert failed()[0] == {pks["c1"]}
    fail("c2")  # the run still runs: not a stale answer
    assert failed()[0] == {pks["c1"], pks["c2"]}
    with transaction(engine) as session:
        runs.finish_run(session, run_id=run_id)
    done, outcomes = failed()
    assert done == {pks["c1"], pks["c2"]} and failed()[1] is outcomes  # finished: kept
    with transaction(engine) as session:  # a new run of the period: read again
        run_id = runs.start_run(
            session, tenant_id=tenant_id, target="connectwise", period=str(period), started_by="t"
        ).id
    fail("c3")
    assert failed()[0] == {pks["c1"], pks["c2"], pks["c3"]}


def test_the_mapper_and_the_company_search_see_a_rename_at_once(admin: TestClient) -> None:
    assert admin.get("/api/v1/mappings", params={"q": "northwind"}).json()["total"] == 1
    assert admin.get("/api/v1/companies", params={"q": "northwind"}).json()["total"] == 1
    assert admin.put("/api/v1/companies/a-002", json={"name": "Zürich Traders"}).status_code == 200
    assert admin.get("/api/v1/mappings", params={"q": "northwind"}).json()["total"] == 0
    rows = admin.get("/api/v1/mappings", params={"q": "ZÜRICH"}).json()["rows"]
    assert [r["company_id"] for r in rows] == ["a-002"]
    found = admin.get("/api/v1/companies", params={"q": "zürich"}).json()["companies"]
    assert [c["name"] for c in found] == ["Zürich Traders"]
    page = admin.get("/connectwise/billing", params={"q": "zürich"})
    assert page.status_code == 200 and "Zürich Traders" in page.text and "Northwind" not in page.text
    companies = admin.get("/companies", params={"q": "zürich"})
    assert companies.status_code == 200
    row = re.search(r"<tr><td><code>a-002</code></td>.*?</tr>", companies.text, re.S)
    assert row is not None and "Zürich Traders" in row.group(0)
    assert re.search(r"<td>\d{4}-\d{2}-\d{2}</td></tr>$", row.group(0))  # the day it was added
    # the other tenant's companies are never in this tenant's directory
    assert admin.get("/api/v1/companies", params={"q": "b-00"}).json()["total"] == 0
