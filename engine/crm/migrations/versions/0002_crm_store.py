"""The CRM store: people, Zoom connections and settings, marketing events, timeline, audit, enrollments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Hand-written to stay portable: only types and constraints that SQLite and PostgreSQL both have,
every constraint named (tables.py sets the same naming convention), enumerations as strings.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(table: str) -> tuple[sa.Column[int], sa.PrimaryKeyConstraint]:
    return sa.Column("id", sa.Integer, nullable=False), sa.PrimaryKeyConstraint("id", name=f"pk_{table}")


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete)


# long: a migration is the schema of its revision, one table after another, and never changes once released
def upgrade() -> None:
    op.create_table(
        "account_users",
        *_id("account_users"),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200)),
        _ts("created_at"),
        sa.UniqueConstraint("email", name="uq_account_users_email"),
    )
    op.create_table(
        "contacts",
        *_id("contacts"),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("first_name", sa.String(200)),
        sa.Column("last_name", sa.String(200)),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("zoom_webinar_attendance_average_duration", sa.Float),
        sa.Column("zoom_webinar_joinlink", sa.String(2048)),
        sa.Column("zoom_webinar_registration_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("zoom_webinar_attendance_count", sa.Integer, nullable=False, server_default="0"),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("email", name="uq_contacts_email"),
        # Contact ids outlive contacts (tombstones, workflow histories): SQLite must never reuse one.
        sqlite_autoincrement=True,
    )
    op.create_table(
        "contact_business_units",
        sa.Column("contact_id", sa.Integer, nullable=False),
        sa.Column("business_unit_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "business_unit_id", name="pk_contact_business_units"),
        _fk("contact_business_units", "contact_id", "contacts", "CASCADE"),
        _fk("contact_business_units", "business_unit_id", "business_units", "CASCADE"),
    )
    op.create_table(
        "contact_secondary_emails",
        *_id("contact_secondary_emails"),
        sa.Column("contact_id", sa.Integer, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        _fk("contact_secondary_emails", "contact_id", "contacts", "CASCADE"),
        sa.UniqueConstraint("email", name="uq_contact_secondary_emails_email"),
    )
    op.create_index("ix_contact_secondary_emails_contact_id", "contact_secondary_emails", ["contact_id"])
    op.create_table(
        "contact_tombstones",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("former_contact_id", sa.Integer, nullable=False),
        _ts("deleted_at"),
        sa.PrimaryKeyConstraint("email", name="pk_contact_tombstones"),
    )

    op.create_table(
        "zoom_connections",
        *_id("zoom_connections"),
        sa.Column("business_unit_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("zoom_account_id", sa.String(100), nullable=False),
        sa.Column("connected_by_email", sa.String(320), nullable=False),
        sa.Column("credentials_ref", sa.String(500), nullable=False),
        _ts("created_at"),
        _fk("zoom_connections", "business_unit_id", "business_units"),
        sa.UniqueConstraint("business_unit_id", name="uq_zoom_connections_business_unit_id"),
        sa.UniqueConstraint("name", name="uq_zoom_connections_name"),
        sa.UniqueConstraint("zoom_account_id", name="uq_zoom_connections_zoom_account_id"),
    )
    op.create_table(
        "zoom_users",
        *_id("zoom_users"),
        sa.Column("connection_id", sa.Integer, nullable=False),
        sa.Column("zoom_user_id", sa.String(100), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("sync_new_webinars_by_default", sa.Boolean, nullable=False),
        sa.Column("sync_recordings", sa.Boolean, nullable=False),
        _ts("updated_at"),
        _fk("zoom_users", "connection_id", "zoom_connections", "CASCADE"),
        sa.UniqueConstraint("connection_id", "zoom_user_id", name="uq_zoom_users_connection_id_zoom_user_id"),
    )
    op.create_index("ix_zoom_users_email", "zoom_users", ["email"])
    op.create_table(
        "zoom_webinar_overrides",
        *_id("zoom_webinar_overrides"),
        sa.Column("zoom_user_id", sa.Integer, nullable=False),
        sa.Column("zoom_webinar_id", sa.String(32), nullable=False),
        sa.Column("sync_enabled", sa.Boolean, nullable=False),
        _ts("updated_at"),
        _fk("zoom_webinar_overrides", "zoom_user_id", "zoom_users", "CASCADE"),
        sa.UniqueConstraint(
            "zoom_user_id", "zoom_webinar_id", name="uq_zoom_webinar_overrides_zoom_user_id_zoom_webinar_id"
        ),
    )
    sync_settings = op.create_table(
        "sync_settings",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("sync_enabled", sa.Boolean, nullable=False),
        sa.Column("webinar_sync", sa.String(16), nullable=False),
        sa.Column("webinar_sync_users", sa.JSON, nullable=False),
        sa.Column("recording_sync", sa.String(16), nullable=False),
        sa.Column("recording_sync_users", sa.JSON, nullable=False),
        sa.Column("host_exclusion_domains", sa.JSON, nullable=False),
        sa.Column("recording_exclusion_domains", sa.JSON, nullable=False),
        sa.Column("recording_exclusion_users", sa.JSON, nullable=False),
        sa.Column("contact_exclusion_domains", sa.JSON, nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sync_settings"),
        sa.CheckConstraint("id = 1", name="ck_sync_settings_single_row"),
    )
    # R-SET-1: global sync starts off; only an admin turns it on.
    op.bulk_insert(
        sync_settings,
        [
            {
                "id": 1,
                "sync_enabled": False,
                "webinar_sync": "all",
                "webinar_sync_users": [],
                "recording_sync": "all",
                "recording_sync_users": [],
                "host_exclusion_domains": [],
                "recording_exclusion_domains": [],
                "recording_exclusion_users": [],
                "contact_exclusion_domains": [],
                "updated_at": sa.func.now(),
            }
        ],
        multiinsert=False,
    )

    op.create_table(
        "marketing_events",
        *_id("marketing_events"),
        sa.Column("business_unit_id", sa.Integer, nullable=False),
        sa.Column("connection_id", sa.Integer),
        sa.Column("zoom_webinar_id", sa.String(32), nullable=False),
        sa.Column("topic", sa.String(500), nullable=False),
        _ts("start_time", nullable=True),
        _ts("end_time", nullable=True),
        sa.Column("duration_minutes", sa.Integer),
        sa.Column("host_email", sa.String(320)),
        sa.Column("join_url", sa.String(2048)),
        sa.Column("is_zoom_event", sa.Boolean, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _fk("marketing_events", "business_unit_id", "business_units"),
        _fk("marketing_events", "connection_id", "zoom_connections", "SET NULL"),
        sa.UniqueConstraint("zoom_webinar_id", name="uq_marketing_events_zoom_webinar_id"),
    )
    op.create_table(
        "participations",
        *_id("participations"),
        sa.Column("marketing_event_id", sa.Integer, nullable=False),
        sa.Column("contact_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _ts("registered_at", nullable=True),
        sa.Column("attended", sa.Boolean, nullable=False),
        _ts("cancelled_at", nullable=True),
        sa.Column("join_link", sa.String(2048)),
        sa.Column("registrant_id", sa.String(100)),
        sa.Column("attendance_seconds", sa.Integer, nullable=False),
        sa.Column("attendance_percent", sa.Float),
        _ts("updated_at"),
        _fk("participations", "marketing_event_id", "marketing_events", "CASCADE"),
        _fk("participations", "contact_id", "contacts", "CASCADE"),
        sa.UniqueConstraint("marketing_event_id", "contact_id", name="uq_participations_marketing_event_id_contact_id"),
    )
    op.create_index("ix_participations_contact_id", "participations", ["contact_id"])
    op.create_table(
        "attendance_sessions",
        *_id("attendance_sessions"),
        sa.Column("marketing_event_id", sa.Integer, nullable=False),
        sa.Column("contact_id", sa.Integer, nullable=False),
        _ts("join_time"),
        _ts("leave_time", nullable=True),
        sa.Column("seconds", sa.Integer, nullable=False),
        _fk("attendance_sessions", "marketing_event_id", "marketing_events", "CASCADE"),
        _fk("attendance_sessions", "contact_id", "contacts", "CASCADE"),
        sa.UniqueConstraint(
            "marketing_event_id",
            "contact_id",
            "join_time",
            name="uq_attendance_sessions_marketing_event_id_contact_id_join_time",
        ),
    )
    op.create_index("ix_attendance_sessions_contact_id", "attendance_sessions", ["contact_id"])
    op.create_table(
        "recordings",
        *_id("recordings"),
        sa.Column("zoom_file_id", sa.String(100), nullable=False),
        sa.Column("marketing_event_id", sa.Integer, nullable=False),
        sa.Column("file_type", sa.String(32), nullable=False),
        sa.Column("topic", sa.String(500)),
        sa.Column("play_url", sa.String(2048)),
        sa.Column("download_url", sa.String(2048)),
        _ts("start_time", nullable=True),
        _ts("end_time", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("updated_at"),
        _fk("recordings", "marketing_event_id", "marketing_events", "CASCADE"),
        sa.UniqueConstraint("zoom_file_id", name="uq_recordings_zoom_file_id"),
    )
    op.create_index("ix_recordings_marketing_event_id", "recordings", ["marketing_event_id"])
    op.create_table(
        "timeline_events",
        *_id("timeline_events"),
        sa.Column("contact_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("marketing_event_id", sa.Integer),
        sa.Column("recording_id", sa.Integer),
        _ts("occurred_at"),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        _ts("created_at"),
        _fk("timeline_events", "contact_id", "contacts", "CASCADE"),
        _fk("timeline_events", "marketing_event_id", "marketing_events", "CASCADE"),
        _fk("timeline_events", "recording_id", "recordings", "CASCADE"),
        sa.UniqueConstraint("idempotency_key", name="uq_timeline_events_idempotency_key"),
    )
    op.create_index("ix_timeline_events_contact_occurred", "timeline_events", ["contact_id", "occurred_at"])

    op.create_table(
        "audit_entries",
        *_id("audit_entries"),
        sa.Column("run_key", sa.String(200), nullable=False),
        sa.Column("zoom_webinar_id", sa.String(32), nullable=False),
        sa.Column("business_unit_id", sa.Integer),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("warnings", sa.JSON, nullable=False),
        _fk("audit_entries", "business_unit_id", "business_units"),
        sa.UniqueConstraint("run_key", name="uq_audit_entries_run_key"),
    )
    op.create_index("ix_audit_entries_webinar_started", "audit_entries", ["zoom_webinar_id", "started_at", "id"])

    op.create_table(
        "definition_revisions",
        *_id("definition_revisions"),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("yaml_source", sa.Text, nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("key", "version", name="uq_definition_revisions_key_version"),
        sa.UniqueConstraint("key", "content_hash", name="uq_definition_revisions_key_content_hash"),
    )
    op.create_table(
        "enrollments",
        *_id("enrollments"),
        sa.Column("definition_key", sa.String(200), nullable=False),
        sa.Column("definition_version", sa.Integer, nullable=False),
        sa.Column("contact_id", sa.Integer, nullable=False),
        sa.Column("workflow_id", sa.String(300), nullable=False),
        sa.Column("run_id", sa.String(100)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_step", sa.String(200)),
        _ts("created_at"),
        _ts("updated_at"),
        _fk("enrollments", "contact_id", "contacts", "CASCADE"),
        sa.UniqueConstraint("workflow_id", name="uq_enrollments_workflow_id"),
    )
    op.create_index("ix_enrollments_contact_id", "enrollments", ["contact_id"])
    # A partial unique index: both backends have them, and it is the guard for "one active
    # enrollment per (definition, contact)" that concurrent starts cannot race past.
    op.create_index(
        "uq_enrollments_one_active",
        "enrollments",
        ["definition_key", "contact_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "enrollment_step_outcomes",
        *_id("enrollment_step_outcomes"),
        sa.Column("enrollment_id", sa.Integer, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("step_id", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("data", sa.JSON, nullable=False),
        _ts("started_at", nullable=True),
        _ts("finished_at"),
        _fk("enrollment_step_outcomes", "enrollment_id", "enrollments", "CASCADE"),
        sa.UniqueConstraint("enrollment_id", "sequence", name="uq_enrollment_step_outcomes_enrollment_id_sequence"),
    )


def downgrade() -> None:
    for table in (
        "enrollment_step_outcomes",
        "enrollments",
        "definition_revisions",
        "audit_entries",
        "timeline_events",
        "recordings",
        "attendance_sessions",
        "participations",
        "marketing_events",
        "sync_settings",
        "zoom_webinar_overrides",
        "zoom_users",
        "zoom_connections",
        "contact_tombstones",
        "contact_secondary_emails",
        "contact_business_units",
        "contacts",
        "account_users",
    ):
        op.drop_table(table)
