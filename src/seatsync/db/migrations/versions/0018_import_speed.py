"""import speed: the SHA-256 of each tenant's last users and activity import (``import_digests``), so that an
import equal to it is found out without reading it into the database; ``status_events`` without the foreign keys
to users and companies and the index that served the second (only the importer writes the table, and neither users
nor companies are deleted); the activity period index covers the user (``engaged`` reads no table row)

Revision ID: 0018_import_speed
Revises: 0017_directory_triggers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import seatsync.db.types

revision = "0018_import_speed"
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
    # SQLite rebuilds the table (a copy); PostgreSQL drops the constraints in place
    with op.batch_alter_table("status_events", schema=None) as batch_op:
        batch_op.drop_index("ix_status_events_company_pk")
        batch_op.drop_constraint("fk_status_events_tenant_id_users", type_="foreignkey")
        batch_op.drop_constraint("fk_status_events_company_pk_companies", type_="foreignkey")
    with op.batch_alter_table("activity_events", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_events_period")
        batch_op.create_index("ix_activity_events_period", ["tenant_id", "at", "user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("activity_events", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_events_period")
        batch_op.create_index("ix_activity_events_period", ["tenant_id", "at"], unique=False)
    with op.batch_alter_table("status_events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_status_events_company_pk_companies", "companies", ["company_pk"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key(
            "fk_status_events_tenant_id_users",
            "users",
            ["tenant_id", "user_id"],
            ["tenant_id", "user_id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_status_events_company_pk", ["company_pk"], unique=False)
    op.drop_table("import_digests")
