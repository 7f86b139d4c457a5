"""interval_span_class: each closed status interval's length class (``status_events.span_class``; issue 18), and
the count index led by it, so that a month's count reads the intervals near the month (one range of start instants
per class) instead of every interval ending after the month's start, the history after the month included

Revision ID: 0023_interval_span_class
Revises: 0022_events_without_tenant_key
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_interval_span_class"
down_revision = "0022_events_without_tenant_key"
branch_labels = None
depends_on = None

#: the classes' widths in days as of this revision (``seatsync.services.intervals.SPAN_DAYS``)
_SPAN_DAYS = (1, 4, 16, 64, 256, 1024, 4096, 16384)


def _span_class(dialect: str) -> str:
    if dialect == "postgresql":
        days = "(EXTRACT(EPOCH FROM (valid_to - at)) / 86400.0)"
    else:
        days = "(julianday(valid_to) - julianday(at))"
    steps = " ".join(f"WHEN {days} < {width - 1 / 86400!r} THEN {k}" for k, width in enumerate(_SPAN_DAYS))
    return f"CASE {steps} ELSE {len(_SPAN_DAYS)} END"


def upgrade() -> None:
    op.add_column("status_events", sa.Column("span_class", sa.SmallInteger(), nullable=True))
    dialect = op.get_bind().dialect.name
    op.execute(f"UPDATE status_events SET span_class = {_span_class(dialect)} WHERE valid_to IS NOT NULL")
    op.drop_index("ix_status_events_count", table_name="status_events")
    op.create_index(
        "ix_status_events_span",
        "status_events",
        ["tenant_id", "status", "span_class", "at", "valid_to", "company_pk", "user_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_status_events_span", table_name="status_events")
    op.create_index(
        "ix_status_events_count",
        "status_events",
        ["tenant_id", "status", "valid_to", "at", "company_pk", "user_id"],
        unique=False,
    )
    with op.batch_alter_table("status_events", schema=None) as batch_op:
        batch_op.drop_column("span_class")
