"""The directory revision is raised by the database itself: Core statements, raw SQL and bulk writes move it on
SQLite and PostgreSQL, only for the tenant written and only when a shown column changed."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, inspect, select, text, update

from seatsync.db.engine import transaction
from seatsync.db.models import Company, CWMapping, PSAMapping, Tenant
from seatsync.db.triggers import DIRECTORY_TABLES
from seatsync.services.tenants import create_tenant


def _revisions(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(select(Tenant.id, Tenant.directory_revision))}


def _tenants(engine: Engine) -> tuple[int, int]:
    with transaction(engine) as session:
        a = create_tenant(session, name="Alpha").id
        b = create_tenant(session, name="Beta").id
    return a, b


def test_core_writes_to_every_directory_table_raise_only_that_tenants_revision(engine: Engine) -> None:
    a, b = _tenants(engine)
    steps: list[tuple[str, bool]] = []

    def step(name: str, *statements: object) -> None:
        before = _revisions(engine)
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[call-overload]
        after = _revisions(engine)
        assert after[b] == before[b], f"{name}: the other tenant's revision moved"
        steps.append((name, after[a] > before[a]))

    companies = Company.__table__
    step(
        "bulk insert companies",
        insert(companies).values(
            [
                {"tenant_id": a, "company_id": f"c{i}", "name": f"C{i}", "products": "sat", "archived": False}
                for i in range(50)
            ]
        ),
    )
    with engine.connect() as conn:
        pk = conn.scalar(select(Company.id).where(Company.tenant_id == a, Company.company_id == "c1"))
    step("rename", update(companies).where(companies.c.id == pk).values(name="Renamed"))
    step("same name again", update(companies).where(companies.c.id == pk).values(name="Renamed"))
    step("not shown column", update(companies).where(companies.c.id == pk).values(name="Renamed", products="sat"))
    step(
        "cw mapping",
        insert(CWMapping.__table__).values(tenant_id=a, company_pk=pk, cw_company_id=7, saved_by="t", product=""),
    )
    step("push records a quantity", update(CWMapping.__table__).values(last_pushed_quantity=3.0))
    step("cw mapping addition", update(CWMapping.__table__).values(addition_id=11))
    step(
        "psa mapping",
        insert(PSAMapping.__table__).values(
            tenant_id=a, company_pk=pk, target="autotask", product="", item_id="5", saved_by="t"
        ),
    )
    step("psa item", update(PSAMapping.__table__).values(item_id="6"))
    step("psa delete", delete(PSAMapping.__table__))
    step(
        "raw SQL archive",
        text(
            f"UPDATE companies SET archived = {'true' if engine.dialect.name == 'postgresql' else '1'} WHERE id = {pk}"
        ),
    )
    step(
        "delete mappings and companies",
        delete(CWMapping.__table__),
        delete(companies).where(companies.c.tenant_id == a),
    )
    assert steps == [
        ("bulk insert companies", True),
        ("rename", True),
        ("same name again", False),
        ("not shown column", False),
        ("cw mapping", True),
        ("push records a quantity", False),
        ("cw mapping addition", True),
        ("psa mapping", True),
        ("psa item", True),
        ("psa delete", True),
        ("raw SQL archive", True),
        ("delete mappings and companies", True),
    ]


def test_a_bulk_statement_raises_the_revision_for_each_tenant_it_touches(engine: Engine) -> None:
    a, b = _tenants(engine)
    rows = [{"tenant_id": t, "company_id": "x", "name": "X", "products": "", "archived": False} for t in (a, b)]
    before = _revisions(engine)
    with engine.begin() as conn:
        conn.execute(insert(Company.__table__).values(rows))
    after = _revisions(engine)
    assert after[a] > before[a] and after[b] > before[b]


def test_the_head_schema_has_every_trigger(engine: Engine) -> None:
    # a migration that rebuilds one of these tables on SQLite (batch_alter_table) drops its triggers
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        names = set(conn.execute(text(query)).scalars())
    expected = {f"{table}_directory_{kind}" for table in DIRECTORY_TABLES for kind in ("insert", "update", "delete")}
    assert expected <= names
    columns = {table: {c["name"] for c in inspect(engine).get_columns(table)} for table in DIRECTORY_TABLES}
    for table, shown in DIRECTORY_TABLES.items():
        assert set(shown) <= columns[table], table
