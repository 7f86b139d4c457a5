"""directory: each tenant's directory revision (``tenants.directory_revision``), raised with every change to its
companies or ConnectWise mappings, so that a cached copy of them knows at once when it is out of date

Revision ID: 0007_directory
Revises: 0006_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_directory"
down_revision = "0006_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN on both databases (no table rebuild on SQLite)
    op.add_column("tenants", sa.Column("directory_revision", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("directory_revision")
