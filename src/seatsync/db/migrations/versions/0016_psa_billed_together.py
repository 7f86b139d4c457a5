"""psa_billed_together: an Autotask or HaloPSA item shared by several companies' mappings on purpose (billed
together: the item gets their sum); without it a second mapping to one item is refused

Revision ID: 0016_psa_billed_together
Revises: 0015_push_seam
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_psa_billed_together"
down_revision = "0015_push_seam"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("psa_mappings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("billed_together", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index("ix_psa_mappings_item", ["tenant_id", "target", "item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("psa_mappings", schema=None) as batch_op:
        batch_op.drop_index("ix_psa_mappings_item")
        batch_op.drop_column("billed_together")
