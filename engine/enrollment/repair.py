"""The enrollment repair: a safety net under "admitted in the store, then started in Temporal".

An enrollment is admitted in one store transaction and its run is started right after. If the
process that admitted it dies in between (a crash, a deploy, a bulk request cut off mid-way),
the store holds an active enrollment that no run is working on. The next request for the same
contact would start it, but nobody may send one. Likewise an operator may terminate a run in the
Web UI, or a run may time out: the interpreter never gets to close its enrollment, which stays
``active`` in the store and blocks the contact's next enrollment.

A Temporal Schedule (``REPAIR_SCHEDULE_ID``, every ``ROLLCALL_ENROLLMENT_REPAIR_MINUTES``) runs
``RepairEnrollments``, whose one activity calls ``repair_enrollments``:

1. Active enrollments without a run id admitted more than ``min_age_seconds`` ago (a run records
   its id with its first activity; the partial index ``ix_enrollments_awaiting_run`` keeps this
   read cheap). For each, the latest run of ``enroll:{key}:{contact_id}``:
   - none, or a closed run of an earlier enrollment of the contact → the run is started now,
     with the revision the enrollment was admitted on (``start_admitted``: idempotent, a run
     started meanwhile by a request is simply found);
   - a run of this enrollment still open → it has not reached its first activity yet (a busy
     worker): left alone;
   - a run of this enrollment closed without closing it (terminated, timed out) → step 2's rule.
2. Runs of this task queue closed in the last ``closed_lookback_hours`` as terminated, timed out,
   failed or cancelled whose ``RollcallStatus`` still says ``active`` (the interpreter upserts the
   final status as its last act, so these ended outside it): the enrollment named by their memo
   is closed in the store — ``failed`` (``cancelled`` for a cancelled run) with the reason
   ``run_terminated`` / ``run_timed_out`` / ``run_failed`` / ``run_canceled`` — so the contact
   may be enrolled again and the action log says what happened.

Nothing here guesses: a run's memo (``enrollment_id``) and its workflow id must both match the
store's row before anything is started or closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, Schedule
from temporalio.client import WorkflowExecutionStatus as RunStatus
from temporalio.service import RPCError, RPCStatusCode

from engine.crm.enrollments import enrollments_awaiting_run, get_enrollment
from engine.crm.tables import Enrollment, EnrollmentStatus
from engine.enrollment.admission import Admission, admission_of
from engine.enrollment.contracts import WORKFLOW_TYPE as ENROLLMENT_WORKFLOW_TYPE
from engine.enrollment.service import ENDED_OUTSIDE, EnrollmentService, RunEnded, close_ended_outside
from engine.errors import RollcallError
from engine.temporal import SearchAttribute, ensure_schedule, interval_schedule

log = structlog.get_logger("rollcall.enrollment.repair")

REPAIR_WORKFLOW_TYPE = "RepairEnrollments"
REPAIR_SCHEDULE_ID = "enrollment-repair"


class RepairRequest(BaseModel):
    #: An enrollment younger than this is being started by its request: left alone.
    min_age_seconds: int = Field(default=120, ge=0)
    #: Enrollments without a run looked at per pass (the next pass takes the rest).
    limit: int = Field(default=500, ge=1, le=10_000)
    #: How far back closed runs are looked at (the schedule runs every few minutes).
    closed_lookback_hours: int = Field(default=24, ge=1)
    #: Repair as of this moment instead of now (tests, a backfill).
    as_of: datetime | None = None


class RepairResult(BaseModel):
    #: Enrollments without a run id looked at.
    checked: int = 0
    #: Enrollment ids whose missing run was started.
    started: list[int] = Field(default_factory=list)
    #: Enrollments whose run exists but has not reported yet, or whose contact's previous run is still closing.
    waiting: int = 0
    #: Enrollment ids closed because their run ended outside the interpreter.
    ended: list[int] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


async def repair_enrollments(
    service: EnrollmentService,
    request: RepairRequest,
    *,
    heartbeat: Callable[[object], None] | None = None,
) -> RepairResult:
    """One repair pass (see the module's docstring) with ``service``'s store, Temporal client and
    task queue; safe to run concurrently with requests."""
    now = request.as_of or datetime.now(UTC)
    result = RepairResult()
    beat: Callable[[object], None] = heartbeat or (lambda _detail: None)
    client = await service.client()
    await _start_missing_runs(service, client, now - timedelta(seconds=request.min_age_seconds), request, result, beat)
    await _close_runs_ended_outside(service, client, now - timedelta(hours=request.closed_lookback_hours), result, beat)
    if result.started or result.ended or result.errors:
        log.info(
            "enrollment repair",
            started=result.started,
            ended=result.ended,
            waiting=result.waiting,
            errors=len(result.errors),
        )
    return result


async def _start_missing_runs(
    service: EnrollmentService,
    client: Client,
    admitted_before: datetime,
    request: RepairRequest,
    result: RepairResult,
    beat: Callable[[object], None],
) -> None:
    """1. Active enrollments without a run id: started, waited for, or closed."""
    engine = service.engine

    def candidates() -> list[Enrollment]:
        with Session(engine, expire_on_commit=False) as session:
            return enrollments_awaiting_run(session, admitted_before, request.limit)

    awaiting = await asyncio.to_thread(candidates)
    result.checked = len(awaiting)
    limit = asyncio.Semaphore(8)

    async def repair_one(enrollment: Enrollment) -> None:
        async with limit:
            try:
                await _repair_awaiting(engine, client, service, enrollment, result)
            except (RollcallError, RPCError) as exc:
                result.errors.append(f"enrollment {enrollment.id}: {exc}")
            beat(enrollment.id)

    await asyncio.gather(*(repair_one(enrollment) for enrollment in awaiting))


async def _close_runs_ended_outside(
    service: EnrollmentService, client: Client, since: datetime, result: RepairResult, beat: Callable[[object], None]
) -> None:
    """2. Runs closed since ``since`` outside the interpreter: their enrollments are closed."""
    query = (
        f"WorkflowType = '{ENROLLMENT_WORKFLOW_TYPE}' AND TaskQueue = '{_quoted(service.task_queue)}'"
        f" AND {SearchAttribute.STATUS.name} = '{EnrollmentStatus.ACTIVE.value}'"
        " AND (ExecutionStatus = 'Terminated' OR ExecutionStatus = 'TimedOut'"
        " OR ExecutionStatus = 'Failed' OR ExecutionStatus = 'Canceled')"
        f" AND CloseTime > '{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    )
    try:
        async for execution in client.list_workflows(query, page_size=200):
            enrollment_id = await execution.memo_value("enrollment_id", None)
            if isinstance(enrollment_id, int) and execution.status is not None:
                # Only the latest run of its workflow id speaks for the enrollment (a request may
                # have started the enrollment again since).
                latest = await client.get_workflow_handle(execution.id).describe()
                if latest.run_id == execution.run_id:
                    ended = await asyncio.to_thread(
                        close_ended_outside,
                        service.engine,
                        enrollment_id,
                        execution.id,
                        execution.run_id,
                        execution.status,
                    )
                    if ended and enrollment_id not in result.ended:
                        result.ended.append(enrollment_id)
            beat(execution.id)
    except RPCError as exc:
        result.errors.append(f"listing closed enrollment runs: {exc.message}")


async def _repair_awaiting(
    engine: Engine, client: Client, service: EnrollmentService, enrollment: Enrollment, result: RepairResult
) -> None:
    assert enrollment.id is not None
    try:
        description = await client.get_workflow_handle(enrollment.workflow_id).describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        description = None
    if description is not None:
        ours = await description.memo_value("enrollment_id", None) == enrollment.id
        status = description.status
        if status == RunStatus.RUNNING:
            # Ours: started, not reported yet. Another's: the contact's previous run is closing.
            result.waiting += 1
            return
        if ours:
            if status is not None and status in ENDED_OUTSIDE:
                closed = await asyncio.to_thread(
                    close_ended_outside, engine, enrollment.id, description.id, description.run_id, status
                )
                if closed:
                    result.ended.append(enrollment.id)
            return

    def admission() -> Admission | None:
        with Session(engine, expire_on_commit=False) as session:
            current = get_enrollment(session, enrollment.id or 0)
            if current.status != EnrollmentStatus.ACTIVE or current.run_id is not None:
                return None  # closed or reported meanwhile
            return admission_of(session, current)

    admitted = await asyncio.to_thread(admission)
    if admitted is None:
        return
    try:
        started = await service.start_admitted(admitted)
    except RunEnded:
        return  # its run ended just now, and the store knows
    log.warning(
        "started the missing run of an admitted enrollment",
        enrollment_id=enrollment.id,
        workflow_id=started.workflow_id,
        run_id=started.run_id,
    )
    result.started.append(enrollment.id)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


# --- the schedule ------------------------------------------------------------------------------


def repair_schedule(task_queue: str, interval: timedelta) -> Schedule:
    return interval_schedule(
        REPAIR_WORKFLOW_TYPE, RepairRequest(), run_id=f"{REPAIR_SCHEDULE_ID}-run", task_queue=task_queue, every=interval
    )


async def ensure_repair_schedule(client: Client, task_queue: str, interval: timedelta) -> str:
    """Create the repair schedule, or bring an existing one to this interval and task queue."""
    return await ensure_schedule(client, REPAIR_SCHEDULE_ID, repair_schedule(task_queue, interval))


__all__ = [
    "REPAIR_SCHEDULE_ID",
    "REPAIR_WORKFLOW_TYPE",
    "RepairRequest",
    "RepairResult",
    "ensure_repair_schedule",
    "repair_enrollments",
]
