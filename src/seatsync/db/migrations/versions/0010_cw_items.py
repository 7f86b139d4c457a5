"""cw_items: a ConnectWise mapping names one addition for all of a company's products or one per product
(``cw_mappings.product``, unique per company and product), and may share its addition with other companies
billed together (``billed_together``); mapping changes say which product they were for

Revision ID: 0010_cw_items
Revises: 0009_notifications
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_cw_items"
down_revision = "0009_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cw_mappings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("billed_together", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_constraint("uq_cw_mappings_company_pk", type_="unique")
        batch_op.create_unique_constraint("uq_cw_mappings_company_pk", ["company_pk", "product"])
        batch_op.create_index("ix_cw_mappings_item", ["tenant_id", "agreement_id", "addition_id"], unique=False)
    with op.batch_alter_table("cw_mapping_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product", sa.String(length=16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("cw_mapping_changes", schema=None) as batch_op:
        batch_op.drop_column("product")
    # per-product rows cannot fold back into one row per company: keep the one for all products, else the first
    op.execute("DELETE FROM cw_mappings WHERE id NOT IN (SELECT min(id) FROM cw_mappings GROUP BY company_pk)")
    with op.batch_alter_table("cw_mappings", schema=None) as batch_op:
        batch_op.drop_index("ix_cw_mappings_item")
        batch_op.drop_constraint("uq_cw_mappings_company_pk", type_="unique")
        batch_op.create_unique_constraint("uq_cw_mappings_company_pk", ["company_pk"])
        batch_op.drop_column("billed_together")
        batch_op.drop_column("product")
