"""open_intervals_index: the count indexes hold active intervals only (issue 18): the closed ones by length class
(``ix_status_events_span``, as 0023 but without the other statuses and the open intervals) and the open ones in
company order (``ix_status_events_open``), so that a count per company reads most of its rows (the users active
now) in the order it groups them, with no sort; an import writes each event into at most one of the two

Revision ID: 0027_open_intervals_index
Revises: 0026_engaged_lookup_covering
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027_open_intervals_index"
down_revision = "0026_engaged_lookup_covering"
branch_labels = None
depends_on = None

_CLOSED = "status = 'active' AND span_class IS NOT NULL"
_OPEN = "status = 'active' AND valid_to IS NULL"
# (each index ends with the columns of its predicate: SQLite reads an index alone only when it holds every column
# the query names, those of a partial index's predicate included)


def _index(name: str, columns: list[str], where: str | None) -> None:
    predicate = sa.text(where) if where else None
    op.create_index(name, "status_events", columns, unique=False, sqlite_where=predicate, postgresql_where=predicate)


def upgrade() -> None:
    op.drop_index("ix_status_events_span", table_name="status_events")
    _index(
        "ix_status_events_span",
        ["tenant_id", "span_class", "at", "valid_to", "company_pk", "user_id", "status"],
        _CLOSED,
    )
    _index("ix_status_events_open", ["tenant_id", "company_pk", "user_id", "at", "status", "valid_to"], _OPEN)


def downgrade() -> None:
    op.drop_index("ix_status_events_open", table_name="status_events")
    op.drop_index("ix_status_events_span", table_name="status_events")
    _index(
        "ix_status_events_span", ["tenant_id", "status", "span_class", "at", "valid_to", "company_pk", "user_id"], None
    )
