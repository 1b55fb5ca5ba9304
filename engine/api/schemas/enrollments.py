"""Response models of the enrollment lists and stats (#14.2), shared by the workflow and contact routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from engine.crm.tables import Enrollment


class EnrollmentSummaryOut(BaseModel):
    """One enrollment, without its action log (``GET /v1/workflows/{key}/enrollments/{contact_id}`` has it)."""

    enrollment_id: int
    workflow_key: str
    version: int
    contact_id: int
    email: str | None = Field(default=None, description="only with include=email, for operator keys and above")
    status: str
    ended_reason: str | None
    current_step: str | None
    trigger: str
    workflow_id: str
    run_id: str | None
    enrolled_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, enrollment: Enrollment, email: str | None = None) -> EnrollmentSummaryOut:
        assert enrollment.id is not None
        return cls(
            enrollment_id=enrollment.id,
            workflow_key=enrollment.definition_key,
            version=enrollment.definition_version,
            contact_id=enrollment.contact_id,
            email=email,
            status=enrollment.status,
            ended_reason=enrollment.ended_reason,
            current_step=enrollment.current_step,
            trigger=enrollment.trigger,
            workflow_id=enrollment.workflow_id,
            run_id=enrollment.run_id,
            enrolled_at=enrollment.created_at,
            ended_at=enrollment.ended_at,
        )


class EnrollmentPageOut(BaseModel):
    enrollments: list[EnrollmentSummaryOut]
    #: Pass back as ``cursor`` for the next page; None on the last one.
    next_cursor: str | None


class StepStatsOut(BaseModel):
    step_id: str
    type: str | None = Field(description="the step's type in the current revision; None for a step it no longer has")
    reached: int = Field(description="enrollments that ran the step or are at it now")
    succeeded: int = Field(description="enrollments whose step ended COMPLETED, DELIVERED or REGISTERED")
    failed: int = Field(description="enrollments whose step ended FAILED")
    waiting: int = Field(description="active enrollments at this step now")
    outcomes: dict[str, int] = Field(description="enrollments per outcome code of the step")


class WorkflowStatsOut(BaseModel):
    key: str
    current_version: int
    enrolled: int
    active: int
    completed: int
    failed: int
    cancelled: int
    steps: list[StepStatsOut]
