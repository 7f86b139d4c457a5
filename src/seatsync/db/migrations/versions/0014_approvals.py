"""approvals: an admin's decision on each row a push held back for approval; a target's schedule may be unset
(``target_automation.schedule_enabled`` NULL: the target's default)

Revision ID: 0014_approvals
Revises: 0013_company_archived
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import seatsync.db.types

revision = "0014_approvals"
down_revision = "0013_company_archived"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("company_pk", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("before", sa.Float(), nullable=True),
        sa.Column("proposed", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=320), nullable=False),
        sa.Column("decided_at", seatsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("sent_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_approvals_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["push_runs.id"], name=op.f("fk_approvals_run_id_push_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["company_pk"], ["companies.id"], name=op.f("fk_approvals_company_pk_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sent_run_id"], ["push_runs.id"], name=op.f("fk_approvals_sent_run_id_push_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("run_id", "company_pk", "product", name=op.f("uq_approvals_run_id")),
    )
    op.create_index("ix_approvals_tenant", "approvals", ["tenant_id", "decided_at"])
    with op.batch_alter_table("target_automation") as batch:
        batch.alter_column("schedule_enabled", existing_type=sa.Boolean(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE target_automation SET schedule_enabled = false WHERE schedule_enabled IS NULL")
    with op.batch_alter_table("target_automation") as batch:
        batch.alter_column("schedule_enabled", existing_type=sa.Boolean(), nullable=False)
    op.drop_table("approvals")
