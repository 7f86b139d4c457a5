"""company rule: a company's own billing rule (``companies.billing_rule``; NULL = the tenant's)

Revision ID: 0012_company_rule
Revises: 0011_automation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_company_rule"
down_revision = "0011_automation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN on both databases (no table rebuild on SQLite)
    op.add_column("companies", sa.Column("billing_rule", sa.String(length=32), nullable=True))
    # the few companies with their own rule, read by every count (and the mapper's cache check)
    op.create_index(
        "ix_companies_own_rule",
        "companies",
        ["tenant_id", "id", "billing_rule"],
        sqlite_where=sa.text("billing_rule IS NOT NULL"),
        postgresql_where=sa.text("billing_rule IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_companies_own_rule", table_name="companies")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_column("billing_rule")
