"""Business units, with the primary BU ``Account``.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    business_units = op.create_table(
        "business_units",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("is_primary", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_business_units"),
        sa.UniqueConstraint("name", name="uq_business_units_name"),
    )
    # The spec's primary business unit always exists.
    op.bulk_insert(business_units, [{"id": 1, "name": "Account", "is_primary": True}])
    if op.get_bind().dialect.name == "postgresql":
        # An explicit id does not advance the serial sequence; without this the next BU would get id 1.
        op.execute("SELECT setval(pg_get_serial_sequence('business_units', 'id'), 1)")


def downgrade() -> None:
    op.drop_table("business_units")
