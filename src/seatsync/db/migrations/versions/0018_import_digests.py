"""import digests: the SHA-256 of each tenant's last users and activity import (``import_digests``), so that an
import equal to it is found out without reading it into the database

Revision ID: 0018_import_digests
Revises: 0017_directory_triggers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import seatsync.db.types

revision = "0018_import_digests"
down_revision = "0017_directory_triggers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_digests",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported_at", seatsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_import_digests_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "kind", name=op.f("pk_import_digests")),
    )


def downgrade() -> None:
    op.drop_table("import_digests")
