"""Attendance per occurrence, and the contacts a running sync has written to.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

- ``attendance_sessions.occurrence``: the Zoom UUID of the webinar instance a session belongs to,
  so a recurring webinar's attendance is computed per occurrence (R-SYNC-3, R-PROP-1). Rows
  stored before are NULL and count as one occurrence until the next sync fills them in.
- ``sync_run_contacts``: per audit entry, each contact the run wrote to once, and whether the run
  created it — the exact ``contacts_created``/``contacts_matched`` of the entry across retried
  pages (issue #13 point 11). Emptied when the entry is closed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("attendance_sessions", sa.Column("occurrence", sa.String(100), nullable=True))
    op.create_table(
        "sync_run_contacts",
        sa.Column("audit_entry_id", sa.Integer, nullable=False),
        sa.Column("contact_id", sa.Integer, nullable=False),
        sa.Column("created", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("audit_entry_id", "contact_id", name="pk_sync_run_contacts"),
        sa.ForeignKeyConstraint(
            ["audit_entry_id"],
            ["audit_entries.id"],
            name="fk_sync_run_contacts_audit_entry_id_audit_entries",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("sync_run_contacts")
    with op.batch_alter_table("attendance_sessions") as batch:
        batch.drop_column("occurrence")
