"""Who is in which workflow (#14.2): the indexes of the enrollment list and the workflow stats.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

``ix_enrollments_key_created`` (definition key, enrolled at, id) serves
``GET /v1/workflows/{key}/enrollments`` newest first with its keyset cursor, and the stats' joins
from a workflow's enrollments to their action log; ``ix_enrollments_key_status_step``
(definition key, status, current step) the counts by status and the "waiting now" per step.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_enrollments_key_created", "enrollments", ["definition_key", "created_at", "id"])
    op.create_index("ix_enrollments_key_status_step", "enrollments", ["definition_key", "status", "current_step"])


def downgrade() -> None:
    op.drop_index("ix_enrollments_key_status_step", table_name="enrollments")
    op.drop_index("ix_enrollments_key_created", table_name="enrollments")
