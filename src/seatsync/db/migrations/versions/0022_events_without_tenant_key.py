"""events_without_tenant_key: ``status_events`` without its foreign key to tenants (issue 18). On PostgreSQL the
key cost a trigger per row written, which locked the one tenant row again for every event (about 40 % of an
import's final insert); the importer takes ``tenant_id`` from the tenant it imports for, and tenants are never
deleted, as users and companies are not (0018_import_speed dropped those keys)

Revision ID: 0022_events_without_tenant_key
Revises: 0021_confirmed_changes
"""

from __future__ import annotations

from alembic import op

revision = "0022_events_without_tenant_key"
down_revision = "0021_confirmed_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite rebuilds the table (a copy); PostgreSQL drops the constraint in place
    with op.batch_alter_table("status_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_status_events_tenant_id_tenants", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("status_events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_status_events_tenant_id_tenants", "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
        )
