"""Find active enrollments whose workflow run has not reported in, cheaply.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

``ix_enrollments_awaiting_run``: a partial index on ``created_at`` of the active enrollments
without a run id yet. The enrollment repair (``engine.enrollment.repair``) reads it every few
minutes; it stays small (a run records its id with its first activity) whatever the table's size.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = "status = 'active' AND run_id IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_enrollments_awaiting_run",
        "enrollments",
        ["created_at"],
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_enrollments_awaiting_run", table_name="enrollments")
