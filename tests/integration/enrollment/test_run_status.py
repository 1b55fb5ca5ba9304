"""#14.1 Honest run status: one enrollment per end state — completed, goal met, failed with
``on_error: fail``, unenrolled, suppressed, contact deleted — asserting the Temporal run's status,
its search attributes, its current details in words and the store; a failed enrollment fails its
run (``ExecutionStatus="Failed"`` finds exactly it), and the enrollment repair leaves it alone.
A refused ``enroll`` step is recorded with its refusal code (#14.1).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from support.waiting import eventually
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from engine.cli.ui import list_query
from engine.crm.contacts import create_contact, delete_contact, update_contact
from engine.crm.enrollments import step_history
from engine.crm.participations import list_timeline
from engine.crm.tables import Enrollment
from engine.enrollment.repair import RepairRequest, repair_enrollments
from engine.enrollment.service import ContactIn, EnrollmentService
from engine.temporal import SearchAttribute

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions, WebhookReceiver

pytestmark = pytest.mark.timeout(180)

END_STATES = """
key: "{key}"
name: End states
enrollment:
  triggers: [{type: api}]
  goal: {type: condition, field: properties.goal_reached, op: eq, value: true}
  suppression: {type: condition, field: properties.unsubscribed, op: eq, value: true}
steps:
  - id: route
    type: branch
    cases:
      - if: {type: condition, field: properties.path, op: eq, value: fail}
        then: alert_ops
      - if: {type: condition, field: properties.path, op: eq, value: wait}
        then: hold
    else: tag
  - id: alert_ops
    type: webhook
    url: "RECEIVER/fails"
    retry: {max_attempts: 2, initial_interval: 1s}
    on_error: fail
  - id: hold
    type: delay
    until: "{{ contact.properties.wake_at }}"
  - id: tag
    type: set_property
    property: tagged
    value: "yes"
"""


@dataclass
class Run:
    name: str
    contact_id: int
    enrollment_id: int
    handle: WorkflowHandle[Any, Any]


async def _details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata: WorkflowMetadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def _waiting(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the run waits in its delay (the progress query says until when)."""

    async def waiting_until() -> object:
        return (await handle.query("progress")).get("waiting_until")

    await eventually(waiting_until, "the run to reach its delay", within=30)


async def _count(client: Client, query: str, expected: int) -> int:
    """The number of runs the list query finds, once visibility has caught up with ``expected``."""
    found = -1
    for _ in range(200):
        found = (await client.count_workflows(query)).count
        if found == expected:
            return found
        await asyncio.sleep(0.1)
    return found


# long: every end state side by side, each told three ways
async def test_each_end_state_is_told_by_the_run_the_attributes_and_the_store(
    temporal_client: Client,
    db_engine: Engine,
    service: EnrollmentService,
    definitions: Definitions,
    receiver: WebhookReceiver,
    task_queue: str,
    worker: Any,
) -> None:
    """#14.1 acceptance: completed, goal met, failed (on_error: fail), unenrolled, suppressed,
    contact deleted — run status, search attributes, current details, store."""
    definitions.put("end-states", END_STATES.replace("RECEIVER", receiver.url))
    key = definitions.key("end-states")
    receiver.statuses = [503, 503]
    soon = (datetime.now(UTC) + timedelta(seconds=6)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    paths = {
        "completed": {"path": "straight"},
        "failed": {"path": "fail"},
        "goal": {"path": "wait", "wake_at": soon},
        "suppressed": {"path": "wait", "wake_at": soon},
        "deleted": {"path": "wait", "wake_at": soon},
        "unenrolled": {"path": "wait", "wake_at": later},
    }
    runs: dict[str, Run] = {}
    for name, properties in paths.items():
        with Session(db_engine) as session:
            contact = create_contact(session, email=f"{name}@end-states.example", properties=properties)
            session.commit()
            assert contact.id is not None
        started = await service.enroll(key, ContactIn(contact_id=contact.id))
        handle = temporal_client.get_workflow_handle(started.workflow_id, run_id=started.run_id)
        runs[name] = Run(name, contact.id, started.enrollment_id, handle)

    for name in ("goal", "suppressed", "deleted", "unenrolled"):
        await _waiting(runs[name].handle)
    with Session(db_engine) as session:
        update_contact(session, runs["goal"].contact_id, properties={"goal_reached": True})
        update_contact(session, runs["suppressed"].contact_id, properties={"unsubscribed": True})
        delete_contact(session, runs["deleted"].contact_id)
        session.commit()
    await service.unenroll(key, runs["unenrolled"].contact_id)

    with pytest.raises(WorkflowFailureError) as failed:
        await runs["failed"].handle.result()
    error = failed.value.cause
    assert isinstance(error, ApplicationError)
    assert (error.type, error.non_retryable) == ("WEBHOOK_RETRYABLE_STATUS", True)
    assert error.message == "failed at step 2 alert_ops: HTTP 503 after 2 attempts"
    for name in ("completed", "goal", "suppressed", "deleted", "unenrolled"):
        await runs[name].handle.result()

    expected = {
        # name: (run status, RollcallStatus, current details, store status, ended reason)
        "completed": ("COMPLETED", "completed", "completed: 2 steps run", "completed", "completed"),
        "goal": ("COMPLETED", "completed", "completed: goal met at step 4 (tag)", "completed", "goal_met"),
        "failed": (
            "FAILED",
            "failed",
            "failed at step 2 alert_ops: HTTP 503 after 2 attempts",
            "failed",
            "step_failed",
        ),
        "unenrolled": ("COMPLETED", "cancelled", "cancelled: unenrolled at step 3 (hold)", "cancelled", "unenrolled"),
        "suppressed": ("COMPLETED", "cancelled", "cancelled: suppressed at step 4 (tag)", "cancelled", "suppressed"),
        "deleted": ("COMPLETED", "cancelled", "cancelled: contact deleted, found at step 4 (tag)", None, None),
    }
    for name, (run_status, attribute, details, store_status, reason) in expected.items():
        run = runs[name]
        description = await run.handle.describe()
        assert description.status == WorkflowExecutionStatus[run_status], name
        attributes = description.typed_search_attributes
        assert attributes.get(SearchAttribute.STATUS) == attribute, name
        assert attributes.get(SearchAttribute.KIND) == "enrollment", name
        assert attributes.get(SearchAttribute.WORKFLOW_KEY) == key, name
        assert attributes.get(SearchAttribute.CONTACT_ID) == str(run.contact_id), name
        assert await _details(run.handle) == details, name
        with Session(db_engine) as session:
            enrollment = session.get(Enrollment, run.enrollment_id)
            if store_status is None:  # deleted with its contact (ON DELETE CASCADE)
                assert enrollment is None
                continue
            assert enrollment is not None
            assert (enrollment.status, enrollment.ended_reason) == (store_status, reason), name
            history = {row.step_id: row for row in step_history(session, run.enrollment_id)}
            timeline = [event.kind for event in list_timeline(session, run.contact_id).events]
        assert "workflow_enrolled" in timeline and "workflow_ended" in timeline, name
        if name == "failed":
            assert history["alert_ops"].outcome == "FAILED"
            assert history["alert_ops"].message == "webhook 'alert_ops': HTTP 503"
            assert "workflow_step_failed" in timeline

    failed_query = f'ExecutionStatus="Failed" AND {SearchAttribute.WORKFLOW_KEY.name}="{key}"'
    assert await _count(temporal_client, failed_query, 1) == 1
    found = [execution async for execution in temporal_client.list_workflows(failed_query)]
    assert [execution.run_id for execution in found] == [runs["failed"].handle.run_id]
    completed_query = f'ExecutionStatus="Completed" AND {SearchAttribute.WORKFLOW_KEY.name}="{key}"'
    assert await _count(temporal_client, completed_query, 5) == 5
    # The saved view that hides housekeeping (`rollcall ui` with no filter) keeps every enrollment.
    visible = f'{list_query()} AND {SearchAttribute.WORKFLOW_KEY.name}="{key}"'
    assert await _count(temporal_client, visible, 6) == 6
    cancelled = f'{list_query(key)} AND {SearchAttribute.STATUS.name}="cancelled"'
    assert await _count(temporal_client, cancelled, 3) == 3

    # The repair reads a Failed run whose RollcallStatus says "failed": closed by the interpreter,
    # nothing to close; the store keeps the interpreter's reason.
    repaired = await repair_enrollments(service, RepairRequest(min_age_seconds=0))
    assert runs["failed"].enrollment_id not in repaired.ended
    # The API's view of the failed enrollment reads as before: the store's status and action log.
    view = await service.view(key, runs["failed"].contact_id)
    assert (view.enrollment.status, view.progress) == ("failed", None)
    assert [row.step_id for row in view.history] == ["route", "alert_ops"]
    with Session(db_engine) as session:
        enrollment = session.get(Enrollment, runs["failed"].enrollment_id)
        assert enrollment is not None and (enrollment.status, enrollment.ended_reason) == ("failed", "step_failed")


REFUSING = """
key: "{key}"
name: Enroll elsewhere
enrollment:
  triggers: [{type: api}]
steps:
  - id: follow
    type: enroll
    workflow: "closed-{suffix}"
  - id: route
    type: branch
    cases:
      - if: {outcome_of: follow, is: [WORKFLOW_DISABLED]}
        then: note
    else: done
  - id: note
    type: set_property
    property: follow_refused
    value: "yes"
  - id: done
    type: end
"""

CLOSED = """
key: "{key}"
name: Closed
enabled: false
enrollment:
  triggers: [{type: api}]
steps:
  - id: never
    type: end
"""


async def test_a_refused_enroll_step_records_its_refusal_code(
    temporal_client: Client, db_engine: Engine, service: EnrollmentService, definitions: Definitions, worker: Any
) -> None:
    """#14.1: an ``enroll`` step the other workflow refuses is recorded as WORKFLOW_DISABLED (not
    COMPLETED), and a branch can test that code."""
    definitions.put("closed", CLOSED)
    definitions.put("refusing", REFUSING)
    with Session(db_engine) as session:
        contact = create_contact(session, email="refused@end-states.example")
        session.commit()
        assert contact.id is not None
    started = await service.enroll(definitions.key("refusing"), ContactIn(contact_id=contact.id))
    await temporal_client.get_workflow_handle(started.workflow_id).result()
    with Session(db_engine) as session:
        history = {row.step_id: row for row in step_history(session, started.enrollment_id)}
    assert history["follow"].outcome == "WORKFLOW_DISABLED"
    assert history["follow"].data["code"] == "WORKFLOW_DISABLED"
    assert history["note"].outcome == "COMPLETED"
