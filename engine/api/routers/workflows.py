"""Workflow definitions (versioned) and enrollments: enroll one or many, unenroll, action log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from engine.api.auth import Role, RoleRequired
from engine.api.deps import CallerDep, SessionDep
from engine.api.schemas.crm import Cursor, Limit
from engine.api.schemas.enrollments import EnrollmentPageOut, EnrollmentSummaryOut, StepStatsOut, WorkflowStatsOut
from engine.crm.enrollments import (
    get_definition,
    list_definition_revisions,
    list_definitions,
    set_definition_enabled,
)
from engine.crm.segments import SegmentFilter, search_contacts
from engine.crm.sqlite_transactions import read_only
from engine.crm.tables import WorkflowDefinition
from engine.dsl.validation import MAX_DEFINITION_CHARS
from engine.enrollment.definitions import load_revision_hashed, put_definition_text
from engine.enrollment.reports import EnrollmentFilter, list_enrollments, workflow_stats
from engine.enrollment.service import MAX_BULK_ITEMS, ContactIn, EnrollmentService, EnrollmentView, EnrollResult
from engine.errors import InvalidInput
from engine.schema_hints import exactly_one_of

router = APIRouter(prefix="/workflows", tags=["workflows"])

Key = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
ContactId = Annotated[int, Path(ge=1, le=2_147_483_647)]
StepQuery = Annotated[str | None, Query(min_length=1, max_length=200)]
OutcomeQuery = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Z_]+$")]
StatusQuery = Annotated[str | None, Query(pattern="^(active|completed|failed|cancelled)$")]
TriggerQuery = Annotated[str | None, Query(pattern="^(api|manual|event|workflow)$")]
#: ``include=email``: the contacts' e-mails, for operator keys and above.
IncludeQuery = Annotated[str | None, Query(pattern="^email$")]
#: E-mails in a list are personal data: viewers see contact ids only.
EMAIL_ROLE = Role.OPERATOR

_YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string", "minLength": 1, "maxLength": MAX_DEFINITION_CHARS}},
            "text/plain": {"schema": {"type": "string", "minLength": 1, "maxLength": MAX_DEFINITION_CHARS}},
        },
    }
}


class WorkflowOut(BaseModel):
    key: str
    name: str
    business_unit: str
    enabled: bool
    current_version: int
    source: str
    updated_at: datetime


class RevisionOut(BaseModel):
    version: int
    content_hash: str
    created_at: datetime


class WorkflowDetail(WorkflowOut):
    yaml: str
    revisions: list[RevisionOut]


class WorkflowSaved(WorkflowOut):
    changed: bool


class EnrollmentOut(BaseModel):
    result: EnrollResult = Field(
        description="enrolled (202: a new enrollment, its run started) or already_enrolled (200: the running one); "
        "the same words as a bulk item's result"
    )
    enrollment_id: int
    workflow_key: str
    contact_id: int
    version: int
    workflow_id: str
    run_id: str | None
    status: str = Field(description="the enrollment's status (active)")
    created: bool = Field(description="true when result is enrolled (kept for older clients)")


class StepOutcomeOut(BaseModel):
    sequence: int
    step_id: str
    outcome: str
    message: str | None
    data: dict[str, Any]
    started_at: datetime | None
    finished_at: datetime


class EnrollmentDetail(BaseModel):
    enrollment_id: int
    workflow_key: str
    version: int
    contact_id: int
    workflow_id: str
    run_id: str | None
    trigger: str
    status: str
    ended_reason: str | None
    current_step: str | None
    waiting_until: datetime | None
    enrolled_at: datetime
    ended_at: datetime | None
    history: list[StepOutcomeOut]


class BulkEnrollmentRequest(BaseModel):
    """Contacts to enroll, listed (at most 10,000) or as a segment (the first ``limit`` matches from ``cursor``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=exactly_one_of({"contacts": {"type": "array"}}, {"segment": {"type": "object"}}),
    )

    contacts: list[ContactIn] | None = Field(default=None, max_length=MAX_BULK_ITEMS)
    segment: SegmentFilter | None = None
    limit: int = Field(default=MAX_BULK_ITEMS, ge=1, le=MAX_BULK_ITEMS)
    cursor: str | None = Field(default=None, max_length=500)
    trigger: str = Field(default="api", pattern="^(api|manual)$")


class BulkItemOut(BaseModel):
    index: int
    result: EnrollResult = Field(description="enrolled, already_enrolled, refused or error, as for a single enrollment")
    status: EnrollResult = Field(description="the same as result (kept for older clients)")
    contact_id: int | None
    enrollment_id: int | None
    workflow_id: str | None
    code: str | None = Field(
        description="the refusal or error code a single enrollment would answer with (one of ErrorCode; "
        "null when enrolled or already enrolled)"
    )
    message: str | None
    reason: str | None = Field(
        default=None,
        description="why, where a single enrollment's error details give a reason (CONTACT_EXCLUDED: invalid_email, "
        "missing_email, account_user, excluded_domain, secondary_email, deleted_contact)",
    )
    details: dict[str, Any] | None = Field(default=None, description="the details of that single enrollment's error")


class BulkEnrollmentResult(BaseModel):
    counts: dict[str, int]
    results: list[BulkItemOut]
    #: For a segment: where the next request continues (None when every match was handled).
    next_cursor: str | None = None


def _service(request: Request) -> EnrollmentService:
    service: EnrollmentService = request.app.state.enrollments
    return service


def _workflow_out(row: WorkflowDefinition) -> dict[str, Any]:
    return {
        "key": row.key,
        "name": row.name,
        "business_unit": row.business_unit,
        "enabled": row.enabled,
        "current_version": row.current_version,
        "source": row.source,
        "updated_at": row.updated_at,
    }


# --- definitions -----------------------------------------------------------------------------------


@router.get("")
def list_workflows(session: SessionDep) -> list[WorkflowOut]:
    return [WorkflowOut.model_validate(_workflow_out(row)) for row in list_definitions(session)]


@router.get("/{key}")
def get_workflow(key: Key, session: SessionDep) -> WorkflowDetail:
    row = get_definition(session, key)
    revisions = list_definition_revisions(session, key)
    current = next(revision for revision in revisions if revision.version == row.current_version)
    return WorkflowDetail.model_validate(
        {
            **_workflow_out(row),
            "yaml": current.yaml_source,
            "revisions": [
                {"version": r.version, "content_hash": r.content_hash, "created_at": r.created_at} for r in revisions
            ],
        }
    )


@router.put("/{key}", openapi_extra=_YAML_BODY, responses={201: {"model": WorkflowSaved}})
async def put_workflow(key: Key, request: Request, response: Response, caller: CallerDep) -> WorkflowSaved:
    """Save a definition (YAML body) as the workflow's new revision; unchanged content keeps its version.
    The workflow's ``source`` names the key that saved it (``api:<key name>``)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the definition must be UTF-8 text") from None

    def save() -> WorkflowSaved:
        with Session(request.app.state.db_engine) as session:
            saved = put_definition_text(session, key, text, source=f"api:{caller.key_name}")
            session.commit()
            return WorkflowSaved.model_validate({**_workflow_out(saved.definition), "changed": saved.changed})

    result = await asyncio.to_thread(save)
    response.status_code = status.HTTP_201_CREATED if result.changed else status.HTTP_200_OK
    return result


def _set_enabled(key: str, enabled: bool, session: SessionDep) -> WorkflowOut:
    row = set_definition_enabled(session, key, enabled)
    session.commit()
    return WorkflowOut.model_validate(_workflow_out(row))


@router.post("/{key}/enable")
def enable_workflow(key: Key, session: SessionDep) -> WorkflowOut:
    return _set_enabled(key, True, session)


@router.post("/{key}/disable")
def disable_workflow(key: Key, session: SessionDep) -> WorkflowOut:
    """New enrollments are refused (WORKFLOW_DISABLED); running ones go on."""
    return _set_enabled(key, False, session)


# --- enrollments -----------------------------------------------------------------------------------


@router.post(
    "/{key}/enrollments",
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"model": EnrollmentOut, "description": "the contact is already enrolled: the running one"}},
)
async def enroll(key: Key, body: Annotated[ContactIn, Body()], request: Request, response: Response) -> EnrollmentOut:
    """Enroll one contact (by id, or by email: created or updated). 202: started; 200: already running."""
    started = await _service(request).enroll(key, body, trigger="api")
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return EnrollmentOut(
        result=started.result,
        enrollment_id=started.enrollment_id,
        workflow_key=key,
        contact_id=started.contact_id,
        version=started.version,
        workflow_id=started.workflow_id,
        run_id=started.run_id,
        status=started.status,
        created=started.created,
    )


@router.post("/{key}/enrollments:bulk")
async def enroll_bulk(key: Key, body: BulkEnrollmentRequest, request: Request) -> BulkEnrollmentResult:
    """Enroll up to 10,000 contacts, started with bounded concurrency; one result per item."""
    if (body.contacts is None) == (body.segment is None):
        raise InvalidInput("give either contacts or segment", details={"fields": ["contacts", "segment"]})
    next_cursor: str | None = None
    contacts = body.contacts
    if body.segment is not None:
        segment = body.segment

        def page() -> tuple[list[ContactIn], str | None]:
            with Session(read_only(request.app.state.db_engine)) as session:
                found = search_contacts(session, segment, limit=body.limit, cursor=body.cursor)
                return [ContactIn(contact_id=c.id) for c in found.contacts], found.next_cursor

        contacts, next_cursor = await asyncio.to_thread(page)
    assert contacts is not None
    results = await _service(request).enroll_many(key, contacts, trigger=body.trigger)
    counts: dict[str, int] = {}
    for item in results:
        counts[item.status] = counts.get(item.status, 0) + 1
    return BulkEnrollmentResult(
        counts=counts,
        results=[BulkItemOut.model_validate({**vars(item), "result": item.status}) for item in results],
        next_cursor=next_cursor,
    )


def _detail(key: str, view: EnrollmentView) -> EnrollmentDetail:
    enrollment = view.enrollment
    assert enrollment.id is not None
    return EnrollmentDetail(
        enrollment_id=enrollment.id,
        workflow_key=key,
        version=enrollment.definition_version,
        contact_id=enrollment.contact_id,
        workflow_id=enrollment.workflow_id,
        run_id=enrollment.run_id,
        trigger=enrollment.trigger,
        status=enrollment.status,
        ended_reason=enrollment.ended_reason,
        current_step=(view.progress.step_id if view.progress else None) or enrollment.current_step,
        waiting_until=view.progress.waiting_until if view.progress else None,
        enrolled_at=enrollment.created_at,
        ended_at=enrollment.ended_at,
        history=[StepOutcomeOut.model_validate(row, from_attributes=True) for row in view.history],
    )


def _utc(moment: datetime | None) -> datetime | None:
    """A date without an offset is read as UTC (the store compares aware datetimes)."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@router.get("/{key}/enrollments")
def list_workflow_enrollments(
    key: Key,
    session: SessionDep,
    caller: CallerDep,
    status: StatusQuery = None,
    current_step: StepQuery = None,
    step: StepQuery = None,
    outcome: OutcomeQuery = None,
    trigger: TriggerQuery = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    include: IncludeQuery = None,
) -> EnrollmentPageOut:
    """The workflow's enrollments, newest first (pass back ``next_cursor``): filter by status, the
    step an enrollment is at (``current_step``), the outcome of a step (``step`` and/or ``outcome``:
    ``step=alert_ops&outcome=FAILED``), trigger, and when it was enrolled (``since`` inclusive,
    ``until`` exclusive). Contact ids only; ``include=email`` adds e-mails for operator keys and above."""
    with_email = include == "email"
    if with_email and not caller.role.includes(EMAIL_ROLE):
        raise RoleRequired(
            f"include=email needs an API key with role {EMAIL_ROLE.value} or above; key {caller.key_name!r} "
            f"is {caller.role.value}",
            details={"required_role": EMAIL_ROLE.value, "role": caller.role.value, "key_name": caller.key_name},
        )
    get_definition(session, key)
    filters = EnrollmentFilter(
        status=status,
        current_step=current_step,
        step=step,
        outcome=outcome,
        trigger=trigger,
        since=_utc(since),
        until=_utc(until),
    )
    page = list_enrollments(session, key, filters, cursor=cursor, limit=limit, with_email=with_email)
    return EnrollmentPageOut(
        enrollments=[EnrollmentSummaryOut.of(item.enrollment, item.email) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{key}/stats")
def get_workflow_stats(key: Key, session: SessionDep) -> WorkflowStatsOut:
    """How many contacts were enrolled and where they are: totals by status, and per step of the
    current revision how many reached it, succeeded, failed and wait at it now (action performance)."""
    row = get_definition(session, key)
    _version, definition, _digest = load_revision_hashed(session, key, row.current_version)
    types = {step.id: step.type for step in definition.steps}
    stats = workflow_stats(session, key, list(types))
    return WorkflowStatsOut(
        key=key,
        current_version=row.current_version,
        enrolled=stats.enrolled,
        active=stats.active,
        completed=stats.completed,
        failed=stats.failed,
        cancelled=stats.cancelled,
        steps=[
            StepStatsOut(
                step_id=step.step_id,
                type=types.get(step.step_id),
                reached=step.reached,
                succeeded=step.succeeded,
                failed=step.failed,
                waiting=step.waiting,
                outcomes=step.outcomes,
            )
            for step in stats.steps
        ],
    )


@router.get("/{key}/enrollments/{contact_id}")
async def get_enrollment(key: Key, contact_id: ContactId, request: Request) -> EnrollmentDetail:
    """The contact's active enrollment (else its latest): status, current step and the action log."""
    return _detail(key, await _service(request).view(key, contact_id))


@router.delete("/{key}/enrollments/{contact_id}")
async def unenroll(key: Key, contact_id: ContactId, request: Request) -> EnrollmentDetail:
    """End the contact's enrollment now (even mid-delay); the action log records "unenrolled"."""
    return _detail(key, await _service(request).unenroll(key, contact_id))
