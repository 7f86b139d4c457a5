"""skip_invoiced: a push run may leave out the items whose period is already invoiced (PushOptions.skip_invoiced;
ConnectWise: the agreement's next invoice is after the period's first day); the run remembers it, so a run carried
on after its process died, History and the API say it

Revision ID: 0019_skip_invoiced
Revises: 0018_import_speed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_skip_invoiced"
down_revision = "0018_import_speed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("push_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skip_invoiced", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("push_runs", schema=None) as batch_op:
        batch_op.drop_column("skip_invoiced")
