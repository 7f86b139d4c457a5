"""psa_mappings: company → PSA company, contract and item for the PSAs after ConnectWise (Autotask, HaloPSA),
one item for all of a company's products or one per product; their change history; cached PSA companies

Revision ID: 0008_psa_mappings
Revises: 0007_directory
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import seatsync.db.types

revision = "0008_psa_mappings"
down_revision = "0007_directory"
branch_labels = None
depends_on = None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def _company_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["company_pk"], ["companies.id"], name=op.f(f"fk_{table}_company_pk_companies"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "psa_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("company_pk", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("psa_company_id", sa.String(length=64), nullable=True),
        sa.Column("psa_company_name", sa.String(length=300), nullable=True),
        sa.Column("contract_id", sa.String(length=64), nullable=True),
        sa.Column("contract_name", sa.String(length=300), nullable=True),
        sa.Column("item_id", sa.String(length=64), nullable=True),
        sa.Column("item_name", sa.String(length=300), nullable=True),
        sa.Column("saved_at", seatsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("saved_by", sa.String(length=320), nullable=False),
        sa.Column("last_pushed_quantity", sa.Float(), nullable=True),
        sa.Column("last_pushed_at", seatsync.db.types.UTCDateTime(), nullable=True),
        _tenant_fk("psa_mappings"),
        _company_fk("psa_mappings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psa_mappings")),
        sa.UniqueConstraint("company_pk", "target", "product", name=op.f("uq_psa_mappings_company_pk")),
    )
    op.create_index("ix_psa_mappings_tenant_target", "psa_mappings", ["tenant_id", "target"])
    op.create_table(
        "psa_mapping_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("company_pk", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("changed_at", seatsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=320), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        _tenant_fk("psa_mapping_changes"),
        _company_fk("psa_mapping_changes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psa_mapping_changes")),
    )
    op.create_index("ix_psa_mapping_changes_company", "psa_mapping_changes", ["tenant_id", "company_pk", "changed_at"])
    op.create_table(
        "psa_companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("remote_id", sa.String(length=64), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("refreshed_at", seatsync.db.types.UTCDateTime(), nullable=False),
        _tenant_fk("psa_companies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psa_companies")),
        sa.UniqueConstraint("tenant_id", "target", "remote_id", name=op.f("uq_psa_companies_tenant_id")),
    )
    op.create_index("ix_psa_companies_name", "psa_companies", ["tenant_id", "target", "name"])


def downgrade() -> None:
    op.drop_table("psa_companies")
    op.drop_table("psa_mapping_changes")
    op.drop_table("psa_mappings")
