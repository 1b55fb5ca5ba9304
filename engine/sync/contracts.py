"""What the webinar sync workflow and its activities exchange: ids, counts and cursors only —
never participant lists (they are paged inside activities and written to the store)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

WORKFLOW_TYPE = "WebinarSync"
#: Signal names: a new trigger (coalesced into one follow-up run), and "a recording is ready".
TRIGGER_SIGNAL = "trigger"
RECORDING_SIGNAL = "recording_ready"


def sync_workflow_id(zoom_account_id: str, webinar_id: str) -> str:
    """One sync at a time per webinar: a trigger during a run is a signal to that run."""
    return f"webinar-sync:{zoom_account_id}:{webinar_id}"


class SyncRequest(BaseModel):
    webinar_id: str
    connection: str
    zoom_account_id: str
    trigger: str = "manual"
    #: How long to wait for a recording or transcript that is not ready yet (R-SYNC-5).
    recording_wait_seconds: int = 6 * 3600
    recording_poll_seconds: int = 1800
    #: Follow-up runs already done by continue-as-new (coalesced triggers).
    generation: int = 0


class SyncPlan(BaseModel):
    """The decision and the facts of the webinar, made by the first activity."""

    run_key: str
    webinar_id: str
    connection: str
    trigger: str
    started_at: datetime
    business_unit_id: int | None = None
    business_unit: str | None = None
    sync: bool = False
    recordings: bool = False
    marketing_event_id: int | None = None
    topic: str = ""
    duration_minutes: int | None = None
    ended: bool = False
    instance_uuids: list[str] = Field(default_factory=list)
    host_email_domain: str | None = None


class StepCounts(BaseModel):
    counts: dict[str, int] = Field(default_factory=dict)


class RecordingState(StrEnum):
    SYNCED = "synced"  # video (and transcript, if Zoom made one) stored
    PROCESSING = "processing"  # nothing ready yet (404 3301 or files still processing)
    TRANSCRIPT_PENDING = "transcript_pending"  # the video is stored, the transcript is not there yet
    NONE = "none"  # no recording (deleted, never recorded)


class RecordingResult(BaseModel):
    state: RecordingState
    counts: dict[str, int] = Field(default_factory=dict)
    detail: str | None = None


class FinishInput(BaseModel):
    plan: SyncPlan
    counts: dict[str, int]
    recording: RecordingResult | None = None
    error: str | None = None
    waited_seconds: int = 0


class FinishResult(BaseModel):
    audit_entry_id: int
    status: str


class SyncResult(BaseModel):
    webinar_id: str
    status: str
    audit_entry_id: int
    counts: dict[str, int]
    follow_up: bool = False


class SyncProgress(BaseModel):
    phase: str
    done: int = 0
    total: int | None = None
    status: str = "running"


# --- reconciliation ---------------------------------------------------------------------------

RECONCILE_WORKFLOW_TYPE = "ReconcileWebinars"
RECONCILE_SCHEDULE_ID = "webinar-sync-reconcile"


class ReconcileRequest(BaseModel):
    horizon_hours: int = 24 * 30
    lookback_hours: int = 48
    #: Reconcile as of this moment instead of now (a backfill, or a Zoom whose clock is not ours).
    as_of: datetime | None = None


class ReconcileResult(BaseModel):
    started: list[str] = Field(default_factory=list)
    skipped_by_settings: int = 0
    errors: list[str] = Field(default_factory=list)
