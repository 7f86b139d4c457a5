"""users_without_tenant_key: ``users`` without its foreign key to tenants (issue 18). On PostgreSQL the key cost a
trigger per user upserted, which locked the one tenant row again for each (about a third of an import's users
upsert); only the importer writes users, for the tenant it imports for, and tenants are never deleted (as
0022_events_without_tenant_key did for ``status_events``)

Revision ID: 0024_users_without_tenant_key
Revises: 0023_interval_span_class
"""

from __future__ import annotations

from alembic import op

revision = "0024_users_without_tenant_key"
down_revision = "0023_interval_span_class"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite rebuilds the table (a copy); PostgreSQL drops the constraint in place
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("fk_users_tenant_id_tenants", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_users_tenant_id_tenants", "tenants", ["tenant_id"], ["id"], ondelete="CASCADE")
