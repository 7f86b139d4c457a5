"""gradient: the schedule's claims on periods (one per tenant, target and period)

Revision ID: 0004_gradient
Revises: 0003_push
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import seatsync.db.types

revision = "0004_gradient"
down_revision = "0003_push"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("claimed_at", seatsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["push_runs.id"], name=op.f("fk_scheduled_pushes_run_id_push_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduled_pushes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_pushes")),
        sa.UniqueConstraint("tenant_id", "target", "period", name=op.f("uq_scheduled_pushes_tenant_id")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_pushes")
