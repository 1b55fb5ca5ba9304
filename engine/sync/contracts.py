"""What the webinar sync workflow and its activities exchange: ids, counts and cursors only —
never participant lists (they are paged inside activities and written to the store)."""

from __future__ import annotations

from collections.abc import Mapping
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
    #: Zoom's "no recording" (404 3301) this long after an occurrence ended — or twice the
    #: webinar's duration, if longer — means there is none (issue #13 point 6); before, it is
    #: still processing and the run waits.
    no_recording_grace_seconds: int = 2 * 3600
    #: While the run waits for a recording, a trigger asks for a refresh of registrants and
    #: attendees; the refresh starts this long after the first such trigger, so a burst of
    #: webhooks is one refresh (issue #13 point 12).
    refresh_settle_seconds: int = 30
    #: While it waits, the run continues as new (same audit entry) once its history is this long.
    history_limit: int = 1000
    #: While it reads registrants and attendees, the run continues as new (same audit entry, the
    #: pass going on from its cursor) once its history is this long, so that a run of a
    #: 100,000-attendee webinar stays under 200 events (issue #16 point 4; ``sync-bounded-passes``).
    pass_history_limit: int = 160
    #: Zoom pages each ``sync_registrants``/``sync_attendees`` activity reads at most (300 rows each).
    pages_per_chunk: int = 10
    #: Follow-up runs already done by continue-as-new (coalesced triggers).
    generation: int = 0
    #: Set when a run that waits for a recording continues as new to keep its history short:
    #: the new run goes on waiting with the same plan, audit entry and counts.
    resume: SyncResume | None = None


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
    #: When each instance ended (its start plus the webinar's duration), in ``instance_uuids``' order.
    instance_ends: list[datetime | None] = Field(default_factory=list)


class RecordingState(StrEnum):
    SYNCED = "synced"  # video (and transcript, if Zoom made one) stored
    PROCESSING = "processing"  # nothing ready yet (404 3301 or files still processing)
    TRANSCRIPT_PENDING = "transcript_pending"  # the video is stored, the transcript is not there yet
    NONE = "none"  # no recording (deleted, never recorded)


class RecordingResult(BaseModel):
    state: RecordingState
    counts: dict[str, int] = Field(default_factory=dict)
    detail: str | None = None
    #: Occurrences Zoom still has no recording for, past the grace period after their end:
    #: ``{"occurrence": uuid, "started_at": iso}`` (``RECORDING_NOT_SYNCED`` lists them).
    absent: list[dict[str, str]] = Field(default_factory=list)
    #: The audit entry's counts after this check (the store's, exact; None from older workers).
    run_counts: dict[str, int] | None = None


class RecordingCheck(BaseModel):
    """How ``sync_recordings`` judges a "no recording" answer: as of the workflow's clock."""

    as_of: datetime
    grace_seconds: int = 2 * 3600


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
    """What the run does now (the ``progress`` query; current details say the same in words)."""

    phase: str
    done: int = 0
    total: int | None = None
    status: str = "running"
    #: Rows read so far in this pass over Zoom's listings, and the totals Zoom reported.
    registrants: int = 0
    registrants_total: int | None = None
    attendees: int = 0
    attendees_total: int | None = None
    recording_files: int = 0
    #: "the recording" or "the transcript" while the run waits for it, and when it looks next.
    waiting_for: str | None = None
    next_check_at: datetime | None = None
    refresh_pending: bool = False
    #: The audit entry this run writes (``{workflow id}:{run id}`` of the run that opened it).
    run_key: str | None = None


#: Every count of a sync's audit entry, always present (zero included) — issue #13 point 11:
#: ``*_total`` what Zoom reports, ``*_rows`` the rows read, ``*_written`` participations and
#: sessions written (of the latest pass over each listing); contacts created and matched, each
#: contact once per run; new timeline events (of every kind); guest sessions without email;
#: distinct emails excluded; recording files stored and the new "recording available" events
#: among the timeline events; transcripts newly downloaded and stored, and their cues (#15.4);
#: enrollments started.
AUDIT_COUNTS = (
    "registrants_total",
    "registrants_rows",
    "registrants_written",
    "attendees_total",
    "attendees_rows",
    "attendees_written",
    "contacts_created",
    "contacts_matched",
    "timeline_events",
    "guests_without_email",
    "emails_excluded",
    "recording_files",
    "recording_events",
    "transcripts",
    "transcript_cues",
    "enrollments_started",
)


def all_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """``counts`` with every audit count present (zero when absent), in ``AUDIT_COUNTS`` order."""
    complete = {name: int(counts.get(name, 0)) for name in AUDIT_COUNTS}
    complete.update({name: value for name, value in counts.items() if name not in complete})
    return complete


class Listing(BaseModel):
    """The counts of one pass over a paged Zoom listing (registrants of each status, or the
    participants report of each occurrence), by phase: a retried page or a restarted listing
    replaces what its phase counted instead of adding to it, so the audit entry's row counts,
    written as each page commits, stay exact."""

    phases: dict[str, dict[str, int]] = Field(default_factory=dict)

    def with_page(self, phase: int, *, rows: int, written: int, guests: int, total: int | None) -> Listing:
        counted = dict(self.phases.get(str(phase), {}))
        counted["rows"] = counted.get("rows", 0) + rows
        counted["written"] = counted.get("written", 0) + written
        counted["guests"] = counted.get("guests", 0) + guests
        counted["total"] = total if total is not None else counted.get("total", 0)
        return Listing(phases={**self.phases, str(phase): counted})

    def restarted(self, phase: int) -> Listing:
        return Listing(phases={key: value for key, value in self.phases.items() if key != str(phase)})

    def counts(self, label: str) -> dict[str, int]:
        def total(name: str) -> int:
            return sum(counted.get(name, 0) for counted in self.phases.values())

        counts = {
            f"{label}_rows": total("rows"),
            f"{label}_written": total("written"),
            f"{label}_total": total("total"),
        }
        if label == "attendees":
            counts["guests_without_email"] = total("guests")
        return counts


class PassCursor(BaseModel):
    """Where a pass over registrants and attendees stood when its run continued as new: the
    listing (``registrants`` or ``attendees``) and the chunk to read next."""

    label: str
    phase: int = 0
    token: str | None = None
    listing: Listing = Field(default_factory=Listing)


class SyncResume(BaseModel):
    """The state a run hands to its continuation (``SyncRequest.resume``): a run that waits for a
    recording, or one in the middle of a pass over registrants and attendees (``data``)."""

    plan: SyncPlan
    counts: dict[str, int]
    waited_seconds: int = 0
    #: The first trigger not covered yet: the continued run refreshes registrants and attendees.
    pending_trigger: str | None = None
    #: The pass to go on with before anything else (``sync-bounded-passes``); None: the run waited.
    data: PassCursor | None = None


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


SyncRequest.model_rebuild()
