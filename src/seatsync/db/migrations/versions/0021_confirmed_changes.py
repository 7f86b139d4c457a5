"""confirmed_changes: a push started by hand records whether its operator confirmed the rows over the tenant's
approval threshold (``push_runs.approved_over_threshold``); without it the engine holds them for approval, as it
does for a scheduled push

Revision ID: 0021_confirmed_changes
Revises: 0020_push_intents
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_confirmed_changes"
down_revision = "0020_push_intents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("push_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approved_over_threshold", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("push_runs", schema=None) as batch_op:
        batch_op.drop_column("approved_over_threshold")
