"""The enrollment repair on the real dev server (engine/enrollment/repair.py): an admission whose
start was lost (the state a crash between the store's commit and ``start_workflow`` leaves) gets
its run; a run that exists is left alone; a run ended outside the interpreter (terminated in the
Web UI) closes its enrollment so the contact can be enrolled again; the schedule does it unattended."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session
from support.ports import free_port
from support.rollcall import RollcallProcess
from support.waiting import eventually
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from engine.crm.contacts import create_contact
from engine.crm.enrollments import get_enrollment, step_history
from engine.crm.tables import Enrollment, table_of
from engine.enrollment.admission import admit
from engine.enrollment.repair import (
    REPAIR_SCHEDULE_ID,
    REPAIR_WORKFLOW_TYPE,
    RepairRequest,
    RepairResult,
    ensure_repair_schedule,
    repair_enrollments,
)
from engine.enrollment.service import ContactIn, EnrollmentService
from engine.failpoints import ENV_VARIABLE as FAILPOINTS_VARIABLE
from engine.temporal import SearchAttribute

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions

pytestmark = pytest.mark.timeout(120)

ENROLLMENTS = table_of(Enrollment)

DEFINITION = """
key: "{key}"
name: Repair target
enrollment:
  triggers: [{type: api}]
  re_enrollment: true
steps:
  - id: mark
    type: set_property
    property: marked
    value: "yes"
  - id: wait
    type: delay
    for: DELAY
  - id: after
    type: set_property
    property: after
    value: "yes"
"""


def definition(delay: str) -> str:
    return DEFINITION.replace("DELAY", delay)


def new_contact(db_engine: Engine, email: str, **fields: Any) -> int:
    with Session(db_engine) as session:
        contact = create_contact(session, email=email, **fields)
        session.commit()
        assert contact.id is not None
        return contact.id


def admitted_without_a_run(db_engine: Engine, key: str, contact_id: int, *, age: timedelta) -> int:
    """What a crash between the admission's commit and the start leaves: an active enrollment
    that no run works on, admitted ``age`` ago."""
    with Session(db_engine) as session:
        admission = admit(session, key, ContactIn(contact_id=contact_id), "api")
        enrollment_id = admission.enrollment.id
        assert enrollment_id is not None and admission.created
        session.execute(
            sa.update(ENROLLMENTS).where(ENROLLMENTS.c.id == enrollment_id).values(created_at=datetime.now(UTC) - age)
        )
        session.commit()
        return enrollment_id


def row(db_engine: Engine, enrollment_id: int) -> tuple[str, str | None, str | None]:
    with Session(db_engine) as session:
        enrollment = get_enrollment(session, enrollment_id)
        return enrollment.status, enrollment.ended_reason, enrollment.run_id


def steps(db_engine: Engine, enrollment_id: int) -> list[tuple[str, str]]:
    with Session(db_engine) as session:
        return [(r.step_id, r.outcome) for r in step_history(session, enrollment_id)]


async def repair_pass(client: Client, task_queue: str, **request: Any) -> RepairResult:
    """One pass, run as the schedule runs it: the RepairEnrollments workflow on the worker."""
    result: RepairResult = await client.execute_workflow(
        REPAIR_WORKFLOW_TYPE,
        RepairRequest(**request),
        id=f"repair-test-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=RepairResult,
        execution_timeout=timedelta(seconds=60),
    )
    return result


async def visible(client: Client, query: str) -> None:
    """Wait for Temporal's visibility (eventually consistent) to list a run for ``query``."""

    async def count() -> int:
        return (await client.count_workflows(query)).count

    await eventually(count, f"a run for {query} in visibility", every=0.1)


async def test_admissions_whose_start_was_lost_get_their_runs(
    worker: Any, definitions: Definitions, db_engine: Engine, temporal_client: Client, task_queue: str
) -> None:
    definitions.put("lost", definition("1s"))
    key = definitions.key("lost")
    jane = new_contact(db_engine, "jane@example.com", first_name="Jane", last_name="Doe")
    other = new_contact(db_engine, "other@example.com")
    young = new_contact(db_engine, "young@example.com")
    lost = [admitted_without_a_run(db_engine, key, c, age=timedelta(minutes=10)) for c in (jane, other)]
    just_admitted = admitted_without_a_run(db_engine, key, young, age=timedelta(seconds=0))

    result = await repair_pass(temporal_client, task_queue)  # min age: 120 s

    assert sorted(result.started) == sorted(lost) and (result.checked, result.ended, result.errors) == (2, [], [])
    # The runs are the enrollments' own: their revision, their ids, their summary; they run to the end.
    for enrollment_id, contact_id in zip(lost, (jane, other), strict=True):
        handle = temporal_client.get_workflow_handle(f"enroll:{key}:{contact_id}")
        outcome = await asyncio.wait_for(handle.result(), timeout=60)
        assert (outcome["enrollment_id"], outcome["status"]) == (enrollment_id, "completed")
        assert steps(db_engine, enrollment_id) == [("mark", "COMPLETED"), ("wait", "COMPLETED"), ("after", "COMPLETED")]
        assert row(db_engine, enrollment_id)[:2] == ("completed", "completed")
    description = await temporal_client.get_workflow_handle(f"enroll:{key}:{jane}").describe()
    assert await description.static_summary() == f"Jane D. → {key} v1"
    assert description.typed_search_attributes[SearchAttribute.CONTACT_ID] == str(jane)
    # The one admitted a moment ago is its request's to start: untouched.
    assert row(db_engine, just_admitted) == ("active", None, None)

    again = await repair_pass(temporal_client, task_queue)
    assert (again.checked, again.started, again.ended) == (0, [], [])


async def test_a_run_that_has_not_reported_is_left_alone_and_a_terminated_one_is_not_restarted(
    definitions: Definitions, db_engine: Engine, temporal_client: Client, task_queue: str
) -> None:
    """No worker here: the run is started (by the service) but never reaches its first activity."""
    definitions.put("quiet", definition("30d"))
    key = definitions.key("quiet")
    contact_id = new_contact(db_engine, "quiet@example.com")
    service = EnrollmentService(db_engine, temporal_client, task_queue=task_queue)
    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    later = datetime.now(UTC) + timedelta(minutes=10)

    waiting = await repair_enrollments(service, RepairRequest(as_of=later))
    assert (waiting.checked, waiting.started, waiting.waiting, waiting.ended) == (1, [], 1, [])

    # Terminated (say, in the Web UI) before it ever ran: the enrollment is closed, not restarted.
    await temporal_client.get_workflow_handle(started.workflow_id).terminate(reason="operator")
    closed = await repair_enrollments(service, RepairRequest(as_of=later))
    assert (closed.started, closed.ended, closed.errors) == ([], [started.enrollment_id], [])
    assert row(db_engine, started.enrollment_id) == ("failed", "run_terminated", started.run_id)
    description = await temporal_client.get_workflow_handle(started.workflow_id).describe()
    assert (description.status, description.run_id) == (WorkflowExecutionStatus.TERMINATED, started.run_id)

    quiet = await repair_enrollments(service, RepairRequest(as_of=later))
    assert (quiet.checked, quiet.started, quiet.ended) == (0, [], [])


async def test_a_run_terminated_midway_closes_its_enrollment_and_the_contact_can_enroll_again(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    db_engine: Engine,
    temporal_client: Client,
    task_queue: str,
) -> None:
    definitions.put("midway", definition("30d"))
    key = definitions.key("midway")
    contact_id = new_contact(db_engine, "midway@example.com")
    first = await service.enroll(key, ContactIn(contact_id=contact_id))
    await eventually(
        lambda: steps(db_engine, first.enrollment_id) == [("mark", "COMPLETED")], "the first step", within=30
    )
    await temporal_client.get_workflow_handle(first.workflow_id).terminate(reason="stopped by an operator")
    await visible(temporal_client, f"WorkflowId = '{first.workflow_id}' AND ExecutionStatus = 'Terminated'")
    assert row(db_engine, first.enrollment_id)[0] == "active"  # nothing told the store

    result = await repair_pass(temporal_client, task_queue)

    assert (result.ended, result.started, result.errors) == ([first.enrollment_id], [], [])
    assert row(db_engine, first.enrollment_id) == ("failed", "run_terminated", first.run_id)
    assert steps(db_engine, first.enrollment_id) == [("mark", "COMPLETED")]  # the action log is kept
    second = await service.enroll(key, ContactIn(contact_id=contact_id))
    assert second.created and second.enrollment_id != first.enrollment_id
    again = await repair_pass(temporal_client, task_queue)
    assert again.ended == [] and row(db_engine, first.enrollment_id)[1] == "run_terminated"
    await service.unenroll(key, contact_id)


@pytest.mark.parametrize("reenroll", [True, False])
async def test_a_request_for_a_contact_whose_run_was_terminated_never_restarts_that_enrollment(
    reenroll: bool,
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    """The request closes the ended enrollment and is decided again: a new enrollment when
    re-enrollment is on, RE_ENROLLMENT_OFF when it is off; the old one's steps never run twice."""
    from engine.enrollment.errors import ReEnrollmentOff

    text = definition("30d").replace("re_enrollment: true", f"re_enrollment: {str(reenroll).lower()}")
    definitions.put("asked", text)
    key = definitions.key("asked")
    contact_id = new_contact(db_engine, "asked@example.com")
    first = await service.enroll(key, ContactIn(contact_id=contact_id))
    await eventually(
        lambda: steps(db_engine, first.enrollment_id) == [("mark", "COMPLETED")], "the first step", within=30
    )
    await temporal_client.get_workflow_handle(first.workflow_id).terminate(reason="stopped by an operator")

    if reenroll:
        second = await service.enroll(key, ContactIn(contact_id=contact_id))
        assert second.created and second.enrollment_id != first.enrollment_id and second.run_id != first.run_id
        await eventually(
            lambda: steps(db_engine, second.enrollment_id) == [("mark", "COMPLETED")],
            "the new enrollment",
            within=30,
        )
        await service.unenroll(key, contact_id)
    else:
        with pytest.raises(ReEnrollmentOff):
            await service.enroll(key, ContactIn(contact_id=contact_id))
    assert row(db_engine, first.enrollment_id) == ("failed", "run_terminated", first.run_id)
    assert steps(db_engine, first.enrollment_id) == [("mark", "COMPLETED")]


async def test_the_previous_enrollments_closed_run_does_not_count_as_the_new_ones(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    db_engine: Engine,
    temporal_client: Client,
    task_queue: str,
) -> None:
    definitions.put("again", definition("1s"))
    key = definitions.key("again")
    contact_id = new_contact(db_engine, "again@example.com")
    first = await service.enroll(key, ContactIn(contact_id=contact_id))
    await asyncio.wait_for(temporal_client.get_workflow_handle(first.workflow_id).result(), timeout=60)
    second = admitted_without_a_run(db_engine, key, contact_id, age=timedelta(minutes=5))

    result = await repair_pass(temporal_client, task_queue)

    assert (result.started, result.ended) == ([second], [])
    outcome = await asyncio.wait_for(temporal_client.get_workflow_handle(first.workflow_id).result(), timeout=60)
    assert outcome["enrollment_id"] == second
    assert row(db_engine, second)[:2] == ("completed", "completed")
    assert row(db_engine, first.enrollment_id)[:2] == ("completed", "completed")


async def test_the_schedule_repairs_unattended(
    worker: Any, definitions: Definitions, db_engine: Engine, temporal_client: Client, task_queue: str
) -> None:
    definitions.put("scheduled", definition("1s"))
    key = definitions.key("scheduled")
    contact_id = new_contact(db_engine, "scheduled@example.com")
    lost = admitted_without_a_run(db_engine, key, contact_id, age=timedelta(minutes=10))
    schedule = temporal_client.get_schedule_handle(REPAIR_SCHEDULE_ID)
    with contextlib.suppress(RPCError):  # a schedule left by an earlier run
        await schedule.delete()
    try:
        assert await ensure_repair_schedule(temporal_client, task_queue, timedelta(minutes=30)) == "created"
        assert await ensure_repair_schedule(temporal_client, task_queue, timedelta(minutes=5)) == "updated"
        described = await schedule.describe()
        assert described.schedule.spec.intervals[0].every == timedelta(minutes=5)
        await schedule.trigger()  # what the interval does every 5 minutes
        handle = temporal_client.get_workflow_handle(f"enroll:{key}:{contact_id}")
        await eventually(lambda: row(db_engine, lost)[0] == "completed", "the lost enrollment completed", within=60)
        outcome = await asyncio.wait_for(handle.result(), timeout=30)
        assert outcome["enrollment_id"] == lost
    finally:
        await schedule.delete()


# long: a crash scenario in order: the killed API, the store it left, the repair and its result
async def test_the_api_killed_after_admitting_a_bulk_loses_no_enrollment(
    worker: Any,
    definitions: Definitions,
    db_engine: Engine,
    database_url: str,
    temporal_client: Client,
    task_queue: str,
    tmp_path: Path,
) -> None:
    """``rollcall api`` (a real process) is SIGKILLed right after a bulk request's contacts are
    admitted, before any run starts: the client gets no answer, the store has 120 active
    enrollments and Temporal none of their runs. One repair pass starts all 120 and each runs to
    its end on the revision it was admitted with."""
    definitions.put("crash", definition("1s"))
    key = definitions.key("crash")
    port = free_port()
    (tmp_path / "definitions").mkdir()
    log = tmp_path / "api.log"
    env = {
        "ROLLCALL_DATABASE_URL": database_url,
        "ROLLCALL_TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "ROLLCALL_TEMPORAL_TASK_QUEUE": task_queue,
        "ROLLCALL_API_KEYS": "crash-test-key",
        "ROLLCALL_DEFINITIONS_DIR": str(tmp_path / "definitions"),
        FAILPOINTS_VARIABLE: "enrollment.after_admission=kill",
    }
    api = RollcallProcess("api", env, cwd=tmp_path, log=log, args=["--host", "127.0.0.1", "--port", str(port)])
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer crash-test-key"}, timeout=30
        ) as http:

            async def healthy() -> bool:
                assert api.process.poll() is None, log.read_text()
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get("/healthz")).status_code == 200
                return False

            await eventually(healthy, "rollcall api to answer /healthz", within=30)
            contacts = [{"email": f"bulk{i}@customers.example", "first_name": f"Bulk{i}"} for i in range(120)]
            with pytest.raises(httpx.TransportError):
                await http.post(f"/v1/workflows/{key}/enrollments:bulk", json={"contacts": contacts})
        assert api.wait_for_exit(timeout=30) == -signal.SIGKILL, log.read_text()
    finally:
        api.stop()

    with Session(db_engine) as session:
        admitted = session.execute(
            sa.select(ENROLLMENTS.c.id, ENROLLMENTS.c.status, ENROLLMENTS.c.run_id).where(
                ENROLLMENTS.c.definition_key == key
            )
        ).all()
    assert len(admitted) == 120 and {(status, run_id) for _, status, run_id in admitted} == {("active", None)}
    runs = f"WorkflowId STARTS_WITH 'enroll:{key}:'"
    assert (await temporal_client.count_workflows(runs)).count == 0

    result = await repair_pass(temporal_client, task_queue, as_of=datetime.now(UTC) + timedelta(minutes=5))

    assert sorted(result.started) == sorted(enrollment_id for enrollment_id, _, _ in admitted)
    assert (result.checked, result.ended, result.errors) == (120, [], [])

    def completed() -> int:
        with Session(db_engine) as session:
            return int(
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(ENROLLMENTS)
                    .where(ENROLLMENTS.c.definition_key == key, ENROLLMENTS.c.status == "completed")
                )
                or 0
            )

    await eventually(lambda: completed() == 120, "the 120 repaired enrollments completed", within=90)
    for enrollment_id, _, _ in admitted[:5]:
        assert steps(db_engine, enrollment_id) == [("mark", "COMPLETED"), ("wait", "COMPLETED"), ("after", "COMPLETED")]
    await visible(temporal_client, f"{runs} AND ExecutionStatus = 'Completed'")
    assert (await temporal_client.count_workflows(runs)).count == 120
