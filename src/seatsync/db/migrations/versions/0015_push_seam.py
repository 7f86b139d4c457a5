"""push seam: at most one running push per tenant and target (a partial unique index, so two processes cannot both
start one), and push_results columns for every target's item (PSA company, contract and item ids as text)

Revision ID: 0015_push_seam
Revises: 0014_approvals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_push_seam"
down_revision = "0014_approvals"
branch_labels = None
depends_on = None

LIVE = sa.text("status = 'running'")


def upgrade() -> None:
    # a race before this index may have left two running runs of one tenant and target: keep the newest
    op.execute(
        "UPDATE push_runs SET status = 'interrupted', "
        "status_reason = 'another run of the same tenant and target was running at the same time' "
        "WHERE status = 'running' AND id NOT IN "
        "(SELECT max(id) FROM push_runs WHERE status = 'running' GROUP BY tenant_id, target)"
    )
    op.create_index(
        "uq_push_runs_live",
        "push_runs",
        ["tenant_id", "target"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    for column in ("psa_company_id", "contract_id", "item_id"):
        op.add_column("push_results", sa.Column(column, sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("push_results", schema=None) as batch_op:
        for column in ("item_id", "contract_id", "psa_company_id"):
            batch_op.drop_column(column)
    op.drop_index("uq_push_runs_live", table_name="push_runs")
