"""Database triggers that raise ``tenants.directory_revision`` with every change a cached company directory shows.

Any write — ORM, Core, a migration, ``psql`` — to ``companies``, ``cw_mappings`` or ``psa_mappings`` that inserts
a row, deletes one, or changes one of the shown columns raises the revision of the row's tenant in the same
transaction, so ``services.directory`` never serves a copy older than a committed change, and no code path has to
remember to say so. An UPDATE that leaves every shown column as it was (a push recording the quantity it set) does
not move it.

- PostgreSQL: statement-level AFTER triggers with transition tables, so an import of 10,000 companies raises the
  revision once per statement, not once per row.
- SQLite: row-level AFTER triggers (SQLite has no statement-level ones); the tenant's row is in cache, so each is
  an in-memory page update.

SQLite's ``batch_alter_table`` (a table rebuilt by a migration) drops the table's triggers: a migration that
rebuilds one of these tables calls ``create_directory_triggers`` again after it (``tests/db/test_triggers.py``
checks that the head schema has them all).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

#: the shown columns of each table (what ``services.directory`` reads and the mapper and company list display)
DIRECTORY_TABLES: dict[str, tuple[str, ...]] = {
    "companies": ("tenant_id", "company_id", "name", "products", "archived", "billing_rule"),
    "cw_mappings": (
        "tenant_id",
        "company_pk",
        "product",
        "billed_together",
        "cw_company_id",
        "cw_company_name",
        "agreement_id",
        "agreement_name",
        "addition_id",
        "addition_name",
    ),
    "psa_mappings": (
        "tenant_id",
        "company_pk",
        "target",
        "product",
        "billed_together",
        "psa_company_id",
        "psa_company_name",
        "contract_id",
        "contract_name",
        "item_id",
        "item_name",
    ),
}

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION seatsync_raise_directory_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE tenants SET directory_revision = directory_revision + 1
         WHERE id IN (SELECT DISTINCT tenant_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE tenants SET directory_revision = directory_revision + 1
         WHERE id IN (SELECT DISTINCT tenant_id FROM old_rows);
    ELSE
        -- TG_ARGV[0]: "a shown column changed", comparing old row o with new row n (``postgresql_statements``)
        EXECUTE 'UPDATE tenants SET directory_revision = directory_revision + 1 WHERE id IN ('
            || ' SELECT unnest(ARRAY[n.tenant_id, o.tenant_id]) FROM new_rows n JOIN old_rows o ON o.id = n.id'
            || ' WHERE ' || TG_ARGV[0] || ')';
    END IF;
    RETURN NULL;
END
$$
"""


def _changed(columns: tuple[str, ...], old: str, new: str, *, distinct: str) -> str:
    return " OR ".join(f"{old}.{c} {distinct} {new}.{c}" for c in columns)


def postgresql_statements(table: str, columns: tuple[str, ...]) -> list[str]:
    changed = _changed(columns, "o", "n", distinct="IS DISTINCT FROM").replace("'", "''")
    name = f"{table}_directory"
    return [
        f"DROP TRIGGER IF EXISTS {name}_insert ON {table}",
        f"DROP TRIGGER IF EXISTS {name}_update ON {table}",
        f"DROP TRIGGER IF EXISTS {name}_delete ON {table}",
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION seatsync_raise_directory_revision()",
        f"CREATE TRIGGER {name}_update AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION seatsync_raise_directory_revision('{changed}')",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION seatsync_raise_directory_revision()",
    ]


def sqlite_statements(table: str, columns: tuple[str, ...]) -> list[str]:
    name = f"{table}_directory"
    bump = "UPDATE tenants SET directory_revision = directory_revision + 1 WHERE id"
    changed = _changed(columns, "OLD", "NEW", distinct="IS NOT")
    return [
        f"DROP TRIGGER IF EXISTS {name}_insert",
        f"DROP TRIGGER IF EXISTS {name}_update",
        f"DROP TRIGGER IF EXISTS {name}_delete",
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {bump} = NEW.tenant_id; END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE ON {table} WHEN {changed} "
        f"BEGIN {bump} IN (OLD.tenant_id, NEW.tenant_id); END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {bump} = OLD.tenant_id; END",
    ]


def create_directory_triggers(connection: Connection, tables: tuple[str, ...] = tuple(DIRECTORY_TABLES)) -> None:
    """(Re)create the triggers of ``tables`` on this connection's database (in its transaction)."""
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.exec_driver_sql(_PG_FUNCTION)
    for table in tables:
        columns = DIRECTORY_TABLES[table]
        for statement in (postgresql_statements if postgres else sqlite_statements)(table, columns):
            connection.exec_driver_sql(statement)


def drop_directory_triggers(connection: Connection) -> None:
    postgres = connection.dialect.name == "postgresql"
    for table in DIRECTORY_TABLES:
        for kind in ("insert", "update", "delete"):
            suffix = f" ON {table}" if postgres else ""
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_directory_{kind}{suffix}")
    if postgres:
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS seatsync_raise_directory_revision()")


__all__ = ["DIRECTORY_TABLES", "create_directory_triggers", "drop_directory_triggers"]
