"""What the enrollment interpreter and its activities exchange (and what its history holds).

Ids, step outputs and outcome codes only: contact data (emails, names, properties) is read by
activities when they need it and never travels through workflow history, so it is neither stored
there in clear nor frozen at enrollment time (branches see fresh data).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from engine.crm.segments import SegmentFilter
from engine.dsl.models import Definition

WORKFLOW_TYPE = "Enrollment"


def enrollment_workflow_id(key: str, contact_id: int) -> str:
    """One id per (definition, contact): a duplicate start finds the running enrollment."""
    return f"enroll:{key}:{contact_id}"


class ExitReason(StrEnum):
    """Why an enrollment left before its last step (the ``ended_reason`` of the store)."""

    COMPLETED = "completed"  # ran to its end
    END_STEP = "end_step"
    GOAL_MET = "goal_met"
    SUPPRESSED = "suppressed"
    UNENROLLED = "unenrolled"
    STEP_FAILED = "step_failed"
    CONTACT_DELETED = "contact_deleted"


class InterpreterState(BaseModel):
    """Where an enrollment is; carried over by continue-as-new."""

    position: int = 0
    sequence: int = 0
    outcomes: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)


class EnrollmentInput(BaseModel):
    enrollment_id: int
    contact_id: int
    version: int
    definition_hash: str
    trigger: str
    #: The frozen revision: editing the YAML never changes a running enrollment.
    definition: Definition
    enrolled_at: datetime
    state: InterpreterState | None = None


class EnrollmentResult(BaseModel):
    enrollment_id: int
    status: str
    reason: ExitReason
    steps_run: int
    outcomes: dict[str, str]


class OutcomeNote(BaseModel):
    """A step outcome the workflow decided itself (delay done, failure handled, skip) for the store."""

    sequence: int
    step_id: str
    outcome: str
    message: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime | None = None


class StepContext(BaseModel):
    """What every step activity gets: who, which step, and what earlier steps produced."""

    enrollment_id: int
    contact_id: int
    definition_key: str
    version: int
    trigger: str
    enrolled_at: datetime
    sequence: int
    #: The workflow's clock when the step started (delays count from it, also under time skipping).
    now: datetime
    step_index: int
    step_count: int
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    outcomes: dict[str, str] = Field(default_factory=dict)
    #: Checked before the step runs (goal first, then suppression).
    goal: SegmentFilter | None = None
    suppression: SegmentFilter | None = None
    #: Outcomes decided by the workflow since the last activity, written first (same transaction).
    pending: list[OutcomeNote] = Field(default_factory=list)


class StepResult(BaseModel):
    """A step's outcome; ``exit`` set means the enrollment leaves before running the step."""

    exit: ExitReason | None = None
    outcome: str | None = None
    message: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    #: For a branch: the step chosen (None: the next one).
    next_step: str | None = None
    #: For a delay: when it ends (None: it has already passed).
    deadline: datetime | None = None
    #: For add_contact_to_zoom_webinar: the rendered, normalised webinar id.
    webinar_id: str | None = None


class FinishRequest(BaseModel):
    enrollment_id: int
    status: str
    reason: ExitReason
    notes: list[OutcomeNote] = Field(default_factory=list)


class RecordRequest(BaseModel):
    enrollment_id: int
    notes: list[OutcomeNote]
    current_step: str | None = None


class EnrollmentProgress(BaseModel):
    """The workflow's query answer: where it is now."""

    position: int
    step_id: str | None
    step_count: int
    waiting_until: datetime | None
    outcomes: dict[str, str]
