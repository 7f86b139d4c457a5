"""directory triggers: ``tenants.directory_revision`` raised by the database with every shown change to
``companies``, ``cw_mappings`` and ``psa_mappings`` (``seatsync.db.triggers``), replacing the ORM flush hook that
Core writes had to remember

Revision ID: 0017_directory_triggers
Revises: 0016_psa_billed_together
"""

from __future__ import annotations

from alembic import op

from seatsync.db.triggers import create_directory_triggers, drop_directory_triggers

revision = "0017_directory_triggers"
down_revision = "0016_psa_billed_together"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_directory_triggers(op.get_bind())


def downgrade() -> None:
    drop_directory_triggers(op.get_bind())
