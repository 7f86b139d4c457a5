"""jobs: Procrastinate's schema, the shared rate-limit buckets and the schedule's fan-out claims (PostgreSQL only)

On SQLite this revision does nothing: pushes run in-process there and pacing stays in-process.

Procrastinate's own ``schema.sql`` (of the installed version) is applied as is. A later Procrastinate upgrade that
changes its schema gets its own revision here that applies the matching file of
``procrastinate.schema.SchemaManager.get_migrations_path()``.

Revision ID: 0006_jobs
Revises: 0005_web
Create Date: 2026-11-22 08:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0006_jobs"
down_revision = "0005_web"
branch_labels = None
depends_on = None

# kept out of the ORM model: they exist only on PostgreSQL and only seatsync.jobs reads them
TABLES = """
CREATE TABLE seatsync_rate_buckets (
    key text PRIMARY KEY,
    tokens double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE seatsync_fanout (
    target varchar(16) NOT NULL,
    period varchar(7) NOT NULL,
    tenant_id integer NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- the schedule's attempts on the period when this job was queued (0: first push; more: a failed run retried)
    attempt integer NOT NULL,
    job_id bigint,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_seatsync_fanout PRIMARY KEY (target, period, tenant_id, attempt)
);
"""

DROP = """
DROP TABLE IF EXISTS seatsync_fanout;
DROP TABLE IF EXISTS seatsync_rate_buckets;
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
    procrastinate_workers CASCADE;
DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type CASCADE;
"""


def _raw(sql: str) -> None:
    # the driver's own connection, inside Alembic's transaction: procrastinate's SQL holds ``%`` and ``:``
    # that a parameter-parsing layer would misread
    op.get_bind().connection.driver_connection.execute(sql)  # type: ignore[union-attr]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    _raw(SchemaManager.get_schema())
    _raw(TABLES)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _raw(DROP)
