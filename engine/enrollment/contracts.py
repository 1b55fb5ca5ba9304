"""What the enrollment interpreter and its activities exchange (and what its history holds).

Ids, step outputs and outcome codes only: contact data (emails, names, properties) is read by
activities when they need it and never travels through workflow history, so it is neither stored
there in clear nor frozen at enrollment time (branches see fresh data).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, Field, RootModel, SerializerFunctionWrapHandler, Tag, model_serializer

from engine.crm.segments import SegmentFilter
from engine.dsl.models import Definition
from engine.dsl.outcomes import StepOutcomeCode

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


class _WireResult(BaseModel):
    """A step result travels as the one JSON object it always had, whatever its kind: every field
    of every kind, those it does not use null (``output``: ``{}``) — so histories recorded before
    the kinds existed replay, and workers of either version read each other's results."""

    @model_serializer(mode="wrap")
    def _as_wire(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "exit": None,
            "outcome": None,
            "message": None,
            "output": {},
            "next_step": None,
            "deadline": None,
            "webinar_id": None,
        }
        wire.update(handler(self))
        return wire


class StepLeft(_WireResult):
    """The contact leaves before the step runs (goal met, suppressed, deleted): the run ends."""

    exit: ExitReason


class DelayPlanned(_WireResult):
    """A delay step: when it ends."""

    #: None: it has already passed.
    deadline: datetime | None = None


class StepDone(_WireResult):
    """The step ran (or was refused, e.g. ``INVALID_WEBINAR_ID``): its outcome, already in the action log."""

    outcome: StepOutcomeCode
    message: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    #: A branch's chosen step (None: the next one).
    next_step: str | None = None


class RegistrationPrepared(_WireResult):
    """``add_contact_to_zoom_webinar``'s first activity: the rendered, normalised webinar id."""

    webinar_id: str


def _result_kind(value: Any) -> str:
    """Which kind a step result is, by the fields it sets (recorded JSON has them all)."""

    def get(name: str) -> Any:
        return value.get(name) if isinstance(value, dict) else getattr(value, name, None)

    if get("exit") is not None:
        return "left"
    if get("outcome") is not None:
        return "done"
    if get("webinar_id") is not None:
        return "prepared"
    return "delay"


class StepResult(
    RootModel[
        Annotated[
            Annotated[StepLeft, Tag("left")]
            | Annotated[StepDone, Tag("done")]
            | Annotated[RegistrationPrepared, Tag("prepared")]
            | Annotated[DelayPlanned, Tag("delay")],
            Discriminator(_result_kind),
        ]
    ]
):
    """What a step activity answers, typed by kind (``root``): the contact left, a delay's end,
    the step's outcome, or a prepared registration. One model (not a bare union) so that the
    kind survives Temporal's reading of type hints, which drops ``Annotated`` discriminators."""

    @classmethod
    def left(cls, exit: ExitReason) -> StepResult:
        return cls(StepLeft(exit=exit))

    @classmethod
    def delay(cls, deadline: datetime | None) -> StepResult:
        return cls(DelayPlanned(deadline=deadline))

    @classmethod
    def done(
        cls,
        outcome: StepOutcomeCode,
        *,
        message: str | None = None,
        output: dict[str, Any] | None = None,
        next_step: str | None = None,
    ) -> StepResult:
        return cls(StepDone(outcome=outcome, message=message, output=output or {}, next_step=next_step))

    @classmethod
    def prepared(cls, webinar_id: str) -> StepResult:
        return cls(RegistrationPrepared(webinar_id=webinar_id))


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
