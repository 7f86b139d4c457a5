"""push intents: what a run was about to change on an item (before, intended, report hash, the item's ids),
committed before the request is sent, so that a write whose answer never reached the database (a killed process,
an unreadable answer) is read back and recorded with its true before → after (issue 19)

Revision ID: 0020_push_intents
Revises: 0019_skip_invoiced
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import seatsync.db.types

revision = "0020_push_intents"
down_revision = "0019_skip_invoiced"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_intents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("company_pk", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("quantity_before", sa.Float(), nullable=True),
        sa.Column("quantity_intended", sa.Float(), nullable=True),
        sa.Column("billable", sa.Integer(), nullable=True),
        sa.Column("report_sha256", sa.String(length=64), nullable=True),
        sa.Column("item", sa.JSON(), nullable=False),
        sa.Column("created_at", seatsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_pk"], ["companies.id"], name=op.f("fk_push_intents_company_pk_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["push_runs.id"], name=op.f("fk_push_intents_run_id_push_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_push_intents_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_intents")),
    )
    op.create_index("ix_push_intents_run_item", "push_intents", ["run_id", "company_pk", "product"], unique=False)
    op.create_index(op.f("ix_push_intents_tenant_id"), "push_intents", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_push_intents_tenant_id"), table_name="push_intents")
    op.drop_index("ix_push_intents_run_item", table_name="push_intents")
    op.drop_table("push_intents")
