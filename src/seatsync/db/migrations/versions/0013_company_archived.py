"""company_archived: when a company was archived (the client left): it is pushed for that period, with its count,
and skipped from the next period on

Revision ID: 0013_company_archived
Revises: 0012_company_rule
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import seatsync.db.types

revision = "0013_company_archived"
down_revision = "0012_company_rule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", seatsync.db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_column("archived_at")
