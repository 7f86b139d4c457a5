"""schedule_skip_invoiced: a target's schedule may push with ``skip_invoiced`` (``target_automation``; ConnectWise:
the items whose period the agreement has already invoiced are left out), as a push by hand can

Revision ID: 0025_schedule_skip_invoiced
Revises: 0024_users_without_tenant_key
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025_schedule_skip_invoiced"
down_revision = "0024_users_without_tenant_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("target_automation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("schedule_skip_invoiced", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("target_automation", schema=None) as batch_op:
        batch_op.drop_column("schedule_skip_invoiced")
