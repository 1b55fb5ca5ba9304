"""The CRM store's tables (SQLModel), named in the product's words.

Business keys carry unique constraints because every sync write is an upsert keyed by them
(R-SYNC-6): a contact's primary email, (event, contact) for a participation, (event, contact,
join time) for an attendance session, the Zoom file id of a recording, the idempotency key of a
timeline event and the run key of an audit entry. Emails are stored normalised (see
``engine.crm.emails``), so plain unique constraints are case-insensitive in effect.

Timestamps are timezone-aware UTC on both backends (``UTCDateTime``). Enumerations are stored as
short strings rather than database enum types so that adding a value never needs a migration
that PostgreSQL and SQLite would spell differently.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index, Table, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

_NO_OFFSET = timedelta(0)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores UTC, returns aware UTC datetimes: SQLite would otherwise hand back naive values."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the CRM store only accepts timezone-aware datetimes")
        value = value.astimezone(UTC)
        # SQLite compares the stored text lexically, so it must not carry an offset suffix.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, ``process_bind_param`` and SQLAlchemy's text format in one step (the same text:
        ``tests/integration/crm/test_bulk.py`` compares them): a sync of 100,000 people binds a
        million timestamps (#16.4)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is UTC or value.utcoffset() == _NO_OFFSET:
                return value.isoformat(" ", "microseconds")[:26]  # without its "+00:00"
            if value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r}: the CRM store only accepts timezone-aware datetimes")
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process


# Named constraints let migrations (and SQLite's batch rebuilds) refer to them by name.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# --- enumerations ------------------------------------------------------------------------------


class ParticipationState(StrEnum):
    REGISTERED = "registered"
    ATTENDED = "attended"
    CANCELLED = "cancelled"


class TimelineEventKind(StrEnum):
    WEBINAR_REGISTRATION = "webinar_registration"
    WEBINAR_ATTENDANCE = "webinar_attendance"
    WEBINAR_CANCELLATION = "webinar_cancellation"
    RECORDING_AVAILABLE = "recording_available"
    # Workflow actions (#14.2), written with the enrollment bookkeeping in the same transaction.
    WORKFLOW_ENROLLED = "workflow_enrolled"
    WORKFLOW_STEP_FAILED = "workflow_step_failed"
    WORKFLOW_ENDED = "workflow_ended"


class WebinarSyncScope(StrEnum):
    """R-SET-2: whose webinars are synced."""

    NONE = "none"
    ALL = "all"
    SELECTED = "selected"


class RecordingSyncScope(StrEnum):
    """R-SET-3: whose recordings and transcripts are synced."""

    NONE = "none"
    SOME = "some"
    ALL = "all"


class SyncTrigger(StrEnum):
    WEBHOOK = "webhook"
    SCHEDULE = "schedule"
    MANUAL = "manual"
    ACTION = "action"


class SyncStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    SKIPPED = "skipped"
    FAILED = "failed"


class AuditWarningCode(StrEnum):
    SYNC_SETTING_OFF = "SYNC_SETTING_OFF"  # R-AUD-1
    RECORDING_NOT_SYNCED = "RECORDING_NOT_SYNCED"  # R-AUD-2
    PARTICIPANTS_NOT_SYNCED = "PARTICIPANTS_NOT_SYNCED"  # R-AUD-3
    WEBINAR_DATA_NOT_SYNCED = "WEBINAR_DATA_NOT_SYNCED"  # R-AUD-4
    EMAILS_EXCLUDED = "EMAILS_EXCLUDED"  # R-AUD-5
    SYNC_ERROR = "SYNC_ERROR"  # R-AUD-6


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    #: Left early: unenrolled through the API, goal met, or suppressed (``ended_reason`` says which).
    CANCELLED = "cancelled"


class EnrollmentTrigger(StrEnum):
    API = "api"
    MANUAL = "manual"
    EVENT = "event"
    WORKFLOW = "workflow"


# --- tenancy and people ------------------------------------------------------------------------


class BusinessUnit(SQLModel, table=True):
    __tablename__ = "business_units"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    is_primary: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"server_default": sa.func.now()}
    )


#: The spec's primary business unit, created by the first migration.
PRIMARY_BUSINESS_UNIT_ID = 1


class AccountUser(SQLModel, table=True):
    """A user of the CRM account itself (staff); never synced as a contact (R-EXC-1)."""

    __tablename__ = "account_users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created_at()


class ContactBusinessUnit(SQLModel, table=True):
    __tablename__ = "contact_business_units"

    contact_id: int = Field(foreign_key="contacts.id", primary_key=True, ondelete="CASCADE")
    business_unit_id: int = Field(foreign_key="business_units.id", primary_key=True, ondelete="CASCADE")


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    # Contact ids outlive contacts (tombstones, workflow histories): SQLite must never reuse one.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # R-PROP-1…4: derived from participations by engine.crm.participations.recompute_rollups.
    zoom_webinar_attendance_average_duration: float | None = Field(default=None)
    zoom_webinar_joinlink: str | None = Field(default=None, max_length=2048)
    zoom_webinar_registration_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    zoom_webinar_attendance_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class SecondaryEmail(SQLModel, table=True):
    """R-EXC-4: a secondary email never identifies a contact for the sync."""

    __tablename__ = "contact_secondary_emails"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=320, unique=True)


class ContactTombstone(SQLModel, table=True):
    """R-EXC-5: the primary email of a deleted contact, so neither sync nor action recreates it."""

    __tablename__ = "contact_tombstones"

    email: str = Field(max_length=320, primary_key=True)
    former_contact_id: int
    deleted_at: datetime = _created_at()


# --- Zoom accounts and sync settings ----------------------------------------------------------


class ZoomConnection(SQLModel, table=True):
    """One connected Zoom account. Credentials are a reference (``env:NAME`` or ``file:/path#name``)
    resolved at run time, so no secret is ever stored in the CRM store."""

    __tablename__ = "zoom_connections"

    id: int | None = Field(default=None, primary_key=True)
    # R-BU-1: each Zoom account belongs to one business unit, and each BU has at most one.
    business_unit_id: int = Field(foreign_key="business_units.id", unique=True)
    name: str = Field(max_length=100, unique=True)
    zoom_account_id: str = Field(max_length=100, unique=True)
    connected_by_email: str = Field(max_length=320)
    credentials_ref: str = Field(max_length=500)
    created_at: datetime = _created_at()


class ZoomUser(SQLModel, table=True):
    __tablename__ = "zoom_users"
    __table_args__ = (UniqueConstraint("connection_id", "zoom_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="zoom_connections.id", ondelete="CASCADE")
    zoom_user_id: str = Field(max_length=100)
    email: str = Field(max_length=320, index=True)
    # R-SET-7: the two per-user switches.
    sync_new_webinars_by_default: bool = Field(default=True)
    sync_recordings: bool = Field(default=True)
    updated_at: datetime = _created_at()


class ZoomWebinarOverride(SQLModel, table=True):
    """R-SET-7: "manage individual webinars for this user" — sync on/off for one webinar."""

    __tablename__ = "zoom_webinar_overrides"
    __table_args__ = (UniqueConstraint("zoom_user_id", "zoom_webinar_id"),)

    id: int | None = Field(default=None, primary_key=True)
    zoom_user_id: int = Field(foreign_key="zoom_users.id", ondelete="CASCADE")
    zoom_webinar_id: str = Field(max_length=32)
    sync_enabled: bool
    updated_at: datetime = _created_at()


#: The account-level settings live in one row with this id.
SYNC_SETTINGS_ID = 1


class SyncSettings(SQLModel, table=True):
    """R-SET-1…6, account level (one row). User lists hold normalised Zoom user emails."""

    __tablename__ = "sync_settings"
    __table_args__ = (sa.CheckConstraint(f"id = {SYNC_SETTINGS_ID}", name="single_row"),)

    id: int = Field(default=SYNC_SETTINGS_ID, primary_key=True)
    sync_enabled: bool = Field(default=False)
    webinar_sync: str = Field(default=WebinarSyncScope.ALL, sa_type=sa.String(16))
    webinar_sync_users: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recording_sync: str = Field(default=RecordingSyncScope.ALL, sa_type=sa.String(16))
    recording_sync_users: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    host_exclusion_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recording_exclusion_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recording_exclusion_users: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    contact_exclusion_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _created_at()


# --- webinars as marketing events -------------------------------------------------------------


class MarketingEvent(SQLModel, table=True):
    """The CRM record of one webinar (R-SYNC-3)."""

    __tablename__ = "marketing_events"

    id: int | None = Field(default=None, primary_key=True)
    business_unit_id: int = Field(foreign_key="business_units.id")
    connection_id: int | None = Field(default=None, foreign_key="zoom_connections.id", ondelete="SET NULL")
    zoom_webinar_id: str = Field(max_length=32, unique=True)
    topic: str = Field(max_length=500)
    start_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_minutes: int | None = None
    host_email: str | None = Field(default=None, max_length=320)
    join_url: str | None = Field(default=None, max_length=2048)
    # R-SCOPE-2: webinars of Zoom Events are recorded as skipped, never synced.
    is_zoom_event: bool = Field(default=False)
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class Participation(SQLModel, table=True):
    __tablename__ = "participations"
    __table_args__ = (UniqueConstraint("marketing_event_id", "contact_id"),)

    id: int | None = Field(default=None, primary_key=True)
    marketing_event_id: int = Field(foreign_key="marketing_events.id", ondelete="CASCADE")
    contact_id: int = Field(foreign_key="contacts.id", index=True, ondelete="CASCADE")
    state: str = Field(sa_type=sa.String(16))
    registered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attended: bool = Field(default=False)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    join_link: str | None = Field(default=None, max_length=2048)
    registrant_id: str | None = Field(default=None, max_length=100)
    attendance_seconds: int = Field(default=0)
    # Share of the webinar's duration, capped at 100 (R-PROP-1); None when the duration is unknown.
    attendance_percent: float | None = None
    updated_at: datetime = _created_at()


class AttendanceSession(SQLModel, table=True):
    """One join/leave of a participant (the participants report has one row per session).

    ``occurrence`` is the Zoom UUID of the webinar's instance the session belongs to (a recurring
    webinar has several): attendance is the union of a contact's sessions per occurrence (R-SYNC-3).
    NULL for sessions stored before occurrences were recorded: they count as one occurrence.
    """

    __tablename__ = "attendance_sessions"
    __table_args__ = (UniqueConstraint("marketing_event_id", "contact_id", "join_time"),)

    id: int | None = Field(default=None, primary_key=True)
    marketing_event_id: int = Field(foreign_key="marketing_events.id", ondelete="CASCADE")
    contact_id: int = Field(foreign_key="contacts.id", index=True, ondelete="CASCADE")
    join_time: datetime = Field(sa_type=UTCDateTime)
    leave_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    seconds: int = Field(default=0)
    occurrence: str | None = Field(default=None, max_length=100)


class Recording(SQLModel, table=True):
    """A webinar recording or transcript file (R-SYNC-5); ``file_type`` is Zoom's (MP4, TRANSCRIPT…)."""

    __tablename__ = "recordings"

    id: int | None = Field(default=None, primary_key=True)
    zoom_file_id: str = Field(max_length=100, unique=True)
    marketing_event_id: int = Field(foreign_key="marketing_events.id", index=True, ondelete="CASCADE")
    file_type: str = Field(max_length=32)
    topic: str | None = Field(default=None, max_length=500)
    play_url: str | None = Field(default=None, max_length=2048)
    download_url: str | None = Field(default=None, max_length=2048)
    start_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(sa_type=sa.String(16))
    #: Bytes, as Zoom announces them (video files are never downloaded, their size is recorded).
    file_size: int | None = Field(default=None, sa_type=sa.BigInteger)
    updated_at: datetime = _created_at()


class TranscriptStatus(StrEnum):
    STORED = "stored"  # downloaded, parsed, its cues stored and searchable
    TOO_LARGE = "too_large"  # over the download cap: not downloaded
    INVALID = "invalid"  # downloaded, but not WebVTT Rollcall can read


class Transcript(SQLModel, table=True):
    """A webinar occurrence's transcript (#15.4, R-SYNC-5), downloaded from its recording file
    (``recording_id``, the TRANSCRIPT file) and stored as cues. One per file: a re-sync finds it
    and does not download it again."""

    __tablename__ = "transcripts"

    id: int | None = Field(default=None, primary_key=True)
    recording_id: int = Field(foreign_key="recordings.id", unique=True, ondelete="CASCADE")
    marketing_event_id: int = Field(foreign_key="marketing_events.id", index=True, ondelete="CASCADE")
    zoom_webinar_id: str = Field(max_length=32, index=True)
    #: The Zoom instance UUID of the occurrence (the webinar id when Zoom listed no instance).
    occurrence: str = Field(max_length=100)
    occurrence_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(sa_type=sa.String(16))
    detail: str | None = Field(default=None, max_length=500)
    byte_size: int = Field(sa_type=sa.BigInteger)
    sha256: str | None = Field(default=None, max_length=64)
    cue_count: int = 0
    downloaded_at: datetime = _created_at()


class TranscriptCue(SQLModel, table=True):
    """One cue of a transcript: who spoke (Zoom's ``Name: text``), when (milliseconds from the
    start of the recording) and what. Full-text indexed (``engine.crm.transcripts``)."""

    __tablename__ = "transcript_cues"
    __table_args__ = (UniqueConstraint("transcript_id", "sequence"),)

    id: int | None = Field(default=None, primary_key=True)
    transcript_id: int = Field(foreign_key="transcripts.id", ondelete="CASCADE")
    sequence: int
    speaker: str | None = Field(default=None, max_length=200)
    start_ms: int = Field(sa_type=sa.BigInteger)
    end_ms: int = Field(sa_type=sa.BigInteger)
    text: str = Field(sa_type=sa.Text)


class TimelineEvent(SQLModel, table=True):
    """An entry on a contact's timeline (R-SYNC-4). ``idempotency_key`` makes re-syncs no-ops."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_events_contact_occurred", "contact_id", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", ondelete="CASCADE")
    kind: str = Field(sa_type=sa.String(32))
    marketing_event_id: int | None = Field(default=None, foreign_key="marketing_events.id", ondelete="CASCADE")
    recording_id: int | None = Field(default=None, foreign_key="recordings.id", ondelete="CASCADE")
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    idempotency_key: str = Field(max_length=300, unique=True)
    created_at: datetime = _created_at()


# --- audit --------------------------------------------------------------------------------------


class AuditEntry(SQLModel, table=True):
    """One sync run of one webinar (§7). ``run_key`` makes a retried write update, not duplicate.

    ``warnings`` is a list of ``{"code": AuditWarningCode, "message": str, "items": [...]}``.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_webinar_started", "zoom_webinar_id", "started_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_key: str = Field(max_length=200, unique=True)
    zoom_webinar_id: str = Field(max_length=32)
    business_unit_id: int | None = Field(default=None, foreign_key="business_units.id")
    trigger: str = Field(sa_type=sa.String(16))
    status: str = Field(sa_type=sa.String(16))
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    warnings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SyncRunContact(SQLModel, table=True):
    """The contacts a running sync has written to, each once, and whether that run created it: the
    audit entry's ``contacts_created``/``contacts_matched`` are counted here, exactly, however often
    a page is retried (a contact counts as created by the attempt that created it). Rows live
    while the run does; closing the audit entry deletes them."""

    __tablename__ = "sync_run_contacts"

    audit_entry_id: int = Field(foreign_key="audit_entries.id", primary_key=True, ondelete="CASCADE")
    contact_id: int = Field(primary_key=True)
    created: bool = Field(default=False)


# --- workflow definitions and enrollments ----------------------------------------------------


class WorkflowDefinition(SQLModel, table=True):
    """A definition key: whether it is enabled and which revision new enrollments run."""

    __tablename__ = "workflow_definitions"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    name: str = Field(max_length=200)
    business_unit: str = Field(max_length=200)
    enabled: bool
    current_version: int
    source: str = Field(max_length=500, description="'file:<path>' or 'api:<API key name>'")
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class DefinitionRevision(SQLModel, table=True):
    __tablename__ = "definition_revisions"
    __table_args__ = (UniqueConstraint("key", "version"), UniqueConstraint("key", "content_hash"))

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)
    version: int
    content_hash: str = Field(max_length=64)
    yaml_source: str = Field(sa_type=sa.Text)
    created_at: datetime = _created_at()


class Enrollment(SQLModel, table=True):
    __tablename__ = "enrollments"
    __table_args__ = (
        # One active enrollment per (definition, contact); finished ones may pile up.
        Index(
            "uq_enrollments_one_active",
            "definition_key",
            "contact_id",
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        ),
        # Active enrollments whose run has not recorded its id yet (the enrollment repair reads it).
        Index(
            "ix_enrollments_awaiting_run",
            "created_at",
            sqlite_where=sa.text("status = 'active' AND run_id IS NULL"),
            postgresql_where=sa.text("status = 'active' AND run_id IS NULL"),
        ),
        # A workflow's enrollments newest first, and its counts by status and step (#14.2).
        Index("ix_enrollments_key_created", "definition_key", "created_at", "id"),
        Index("ix_enrollments_key_status_step", "definition_key", "status", "current_step"),
    )

    id: int | None = Field(default=None, primary_key=True)
    definition_key: str = Field(max_length=200)
    definition_version: int
    contact_id: int = Field(foreign_key="contacts.id", index=True, ondelete="CASCADE")
    #: ``enroll:{key}:{contact_id}``, reused by a re-enrollment: not unique, the row id is.
    workflow_id: str = Field(max_length=300, index=True)
    run_id: str | None = Field(default=None, max_length=100)
    status: str = Field(sa_type=sa.String(16))
    trigger: str = Field(
        default=EnrollmentTrigger.API, sa_type=sa.String(16), sa_column_kwargs={"server_default": "api"}
    )
    current_step: str | None = Field(default=None, max_length=200)
    ended_reason: str | None = Field(default=None, max_length=64)
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EnrollmentStepOutcome(SQLModel, table=True):
    """One row of an enrollment's history; ``sequence`` (given by the interpreter) keeps retries idempotent."""

    __tablename__ = "enrollment_step_outcomes"
    __table_args__ = (UniqueConstraint("enrollment_id", "sequence"),)

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollments.id", ondelete="CASCADE")
    sequence: int
    step_id: str = Field(max_length=200)
    outcome: str = Field(max_length=64)
    message: str | None = Field(default=None, sa_type=sa.Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime = _created_at()


class ZoomWebhookEvent(SQLModel, table=True):
    """A verified Zoom webhook delivery; a redelivery (same de-duplication key) only counts up ``deliveries``."""

    __tablename__ = "zoom_webhook_events"

    id: int | None = Field(default=None, primary_key=True)
    connection: str = Field(max_length=100)
    event: str = Field(max_length=100)
    dedup_key: str = Field(max_length=300, unique=True)
    event_ts: int | None = Field(default=None, sa_type=sa.BigInteger)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    deliveries: int = 1
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ZoomRateBudget(SQLModel, table=True):
    """Where every worker and API takes its turn to call one Zoom account in one rate category
    (``engine.crm.zoom_rate_budgets``). Times are seconds since the epoch by the database's clock
    (PostgreSQL) or the host's (SQLite, one host)."""

    __tablename__ = "zoom_rate_budgets"

    zoom_account_id: str = Field(max_length=100, primary_key=True)
    #: Zoom's rate category: ``Light``, ``Medium``, ``Heavy``, ``Resource-intensive``.
    category: str = Field(max_length=32, primary_key=True)
    #: The earliest time the next call of the category may be sent.
    next_send_at: float = Field(sa_type=sa.Double)
    #: No call of the category before this time (a per-second 429's ``Retry-After``).
    backoff_until: float = Field(default=0.0, sa_type=sa.Double)
    #: Per-second 429s seen for the category, by every process.
    backoffs: int = 0


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for set-based statements."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table
