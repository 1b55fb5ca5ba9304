"""Zoom rate limits shared by every worker (issue #16 point 2).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

- ``zoom_rate_budgets``: per Zoom account and rate category, the next free send time and the
  shared backoff of a per-second 429 (``engine.crm.zoom_rate_budgets``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "zoom_rate_budgets",
        sa.Column("zoom_account_id", sa.String(100), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("next_send_at", sa.Double, nullable=False),
        sa.Column("backoff_until", sa.Double, nullable=False),
        sa.Column("backoffs", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("zoom_account_id", "category", name="pk_zoom_rate_budgets"),
    )


def downgrade() -> None:
    op.drop_table("zoom_rate_budgets")
