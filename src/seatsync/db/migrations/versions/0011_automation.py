"""automation: per tenant and target the service board for tickets, the approval threshold and the schedule;
the tickets seatsync opened

Revision ID: 0011_automation
Revises: 0010_cw_items
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import seatsync.db.types

revision = "0011_automation"
down_revision = "0010_cw_items"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, other: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{other}.id"], name=op.f(f"fk_{table}_{column}_{other}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "target_automation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("ticket_board_id", sa.String(length=64), nullable=True),
        sa.Column("ticket_board_name", sa.String(length=300), nullable=True),
        sa.Column("approve_above_percent", sa.Float(), nullable=True),
        sa.Column("approve_above_seats", sa.Integer(), nullable=True),
        sa.Column("schedule_enabled", sa.Boolean(), nullable=False),
        sa.Column("schedule_day", sa.String(length=4), nullable=False),
        sa.Column("schedule_at", sa.String(length=5), nullable=False),
        sa.Column("schedule_period", sa.String(length=8), nullable=False),
        sa.Column("updated_at", seatsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        _fk("target_automation", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_automation")),
        sa.UniqueConstraint("tenant_id", "target", name=op.f("uq_target_automation_tenant_id")),
    )
    op.create_table(
        "service_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("company_pk", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=False),
        sa.Column("psa_company_id", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("opened_at", seatsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("opened_run_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", seatsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("updates", sa.Integer(), nullable=False),
        sa.Column("closed_at", seatsync.db.types.UTCDateTime(), nullable=True),
        sa.Column("closed_run_id", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _fk("service_tickets", "tenant_id", "tenants", "CASCADE"),
        _fk("service_tickets", "company_pk", "companies", "CASCADE"),
        _fk("service_tickets", "opened_run_id", "push_runs", "SET NULL"),
        _fk("service_tickets", "last_run_id", "push_runs", "SET NULL"),
        _fk("service_tickets", "closed_run_id", "push_runs", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_tickets")),
    )
    op.create_index("ix_service_tickets_company", "service_tickets", ["tenant_id", "target", "company_pk", "closed_at"])


def downgrade() -> None:
    op.drop_table("service_tickets")
    op.drop_table("target_automation")
