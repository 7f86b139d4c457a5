"""engaged_lookup_covering: ``engaged``'s look-up of each activity's interval (tenant, user, instants back from the
activity's) reads the interval's end and company from an index alone (issue 18). On PostgreSQL the natural key's
unique index carries ``valid_to`` too (``INCLUDE``: no second index); SQLite has no ``INCLUDE``, so it gets an index
of the natural key's lead with the end and the company

Revision ID: 0026_engaged_lookup_covering
Revises: 0025_schedule_skip_invoiced
"""

from __future__ import annotations

from alembic import op

revision = "0026_engaged_lookup_covering"
down_revision = "0025_schedule_skip_invoiced"
branch_labels = None
depends_on = None

_KEY = "tenant_id, user_id, at, status, company_pk"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE status_events DROP CONSTRAINT uq_status_events_event")
        op.execute(
            f"ALTER TABLE status_events ADD CONSTRAINT uq_status_events_event UNIQUE ({_KEY}) INCLUDE (valid_to)"
        )
        return
    op.create_index(
        "ix_status_events_lookup", "status_events", ["tenant_id", "user_id", "at", "valid_to", "company_pk"]
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE status_events DROP CONSTRAINT uq_status_events_event")
        op.execute(f"ALTER TABLE status_events ADD CONSTRAINT uq_status_events_event UNIQUE ({_KEY})")
        return
    op.drop_index("ix_status_events_lookup", table_name="status_events")
