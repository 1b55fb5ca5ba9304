"""Workflow definitions as data, re-enrollment, and received Zoom webhook events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

- ``workflow_definitions``: one row per definition key (enabled, current version, where it came from).
- ``enrollments.workflow_id`` is no longer unique: a contact that re-enrolls after finishing reuses
  ``enroll:{key}:{contact_id}``; the enrollment row (its id) is the identity, the partial unique
  index stays the guard for "never twice at the same time". New columns: trigger, ended reason/time.
- ``zoom_webhook_events``: verified webhook deliveries, unique by their de-duplication key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "workflow_definitions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("business_unit", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_definitions"),
        sa.UniqueConstraint("key", name="uq_workflow_definitions_key"),
    )
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_constraint("uq_enrollments_workflow_id", type_="unique")
        batch.add_column(sa.Column("trigger", sa.String(16), nullable=False, server_default="api"))
        batch.add_column(sa.Column("ended_reason", sa.String(64)))
        batch.add_column(_ts("ended_at", nullable=True))
    op.create_index("ix_enrollments_workflow_id", "enrollments", ["workflow_id"])
    op.create_table(
        "zoom_webhook_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("dedup_key", sa.String(300), nullable=False),
        sa.Column("event_ts", sa.BigInteger),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
        _ts("received_at"),
        _ts("processed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_zoom_webhook_events"),
        sa.UniqueConstraint("dedup_key", name="uq_zoom_webhook_events_dedup_key"),
    )
    op.create_index("ix_zoom_webhook_events_received_at", "zoom_webhook_events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_zoom_webhook_events_received_at", table_name="zoom_webhook_events")
    op.drop_table("zoom_webhook_events")
    op.drop_index("ix_enrollments_workflow_id", table_name="enrollments")
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_column("ended_at")
        batch.drop_column("ended_reason")
        batch.drop_column("trigger")
        batch.create_unique_constraint("uq_enrollments_workflow_id", ["workflow_id"])
    op.drop_table("workflow_definitions")
