"""#13.5: a template that cannot be rendered is a step failure that the step's ``on_error``
decides (continue / goto / fail), recorded in the action log with a clear message — never a failed
Temporal run — in every step type: ``set_property`` values, ``delay`` dates, ``branch``
conditions, the goal and suppression filters checked before each step, and the webinar id of
``add_contact_to_zoom_webinar`` (whose outcome is then ``INVALID_WEBINAR_ID``, R-ADD-2).

Store-only steps run as local activities, whose failures reach the workflow unwrapped (no
ActivityError): before the ``local-step-failures`` patch they failed the run.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from engine.crm.contacts import create_contact, get_contact, update_contact
from engine.crm.enrollments import get_enrollment, step_history
from engine.enrollment.service import ContactIn, EnrollmentService

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions

pytestmark = pytest.mark.timeout(120)

HEADER = """
key: "{key}"
name: Render errors
enrollment:
  triggers: [{type: api}]
"""

RENDER_ERRORS = {
    # the case: the contact has no "company" property
    "set_property": """
steps:
  - id: copy_company
    type: set_property
    property: company_copy
    value: "{{ contact.properties.company }}"
    on_error: continue
  - id: after
    type: set_property
    property: reached
    value: after
""",
    "delay": """
steps:
  - id: wait
    type: delay
    until: "{{ contact.properties.renewal_date }}"
    on_error: continue
  - id: after
    type: set_property
    property: reached
    value: after
""",
    "branch": """
steps:
  - id: route
    type: branch
    cases:
      - if: {type: condition, field: properties.plan, op: eq, value: "{{ contact.properties.wanted_plan }}"}
        then: never
    on_error: {goto: after}
  - id: never
    type: set_property
    property: never
    value: reached
  - id: after
    type: set_property
    property: reached
    value: after
""",
}

MESSAGES = {
    "set_property": (
        "copy_company",
        "set_property 'copy_company': template '{{ contact.properties.company }}' cannot be rendered: "
        "'dict object' has no attribute 'company'",
    ),
    "delay": (
        "wait",
        "delay 'wait': template '{{ contact.properties.renewal_date }}' cannot be rendered: "
        "'dict object' has no attribute 'renewal_date'",
    ),
    "branch": (
        "route",
        "branch 'route', case 1: template '{{ contact.properties.wanted_plan }}' cannot be rendered: "
        "'dict object' has no attribute 'wanted_plan'",
    ),
}


def new_contact(db_engine: Engine, email: str, **properties: Any) -> int:
    with Session(db_engine) as session:
        contact = create_contact(session, email=email, properties=properties)
        session.commit()
        assert contact.id is not None
        return contact.id


async def run_to_end(service: EnrollmentService, client: Client, key: str, contact_id: int) -> tuple[int, Any]:
    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    handle = client.get_workflow_handle(started.workflow_id, run_id=started.run_id)
    result = await asyncio.wait_for(handle.result(), timeout=60)
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    return started.enrollment_id, result


def action_log(db_engine: Engine, enrollment_id: int) -> list[tuple[str, str, str | None]]:
    with Session(db_engine) as session:
        return [(row.step_id, row.outcome, row.message) for row in step_history(session, enrollment_id)]


@pytest.mark.parametrize("step_type", RENDER_ERRORS)
async def test_a_render_error_is_a_step_failure_that_on_error_handles(
    step_type: str,
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    """The run completes; the action log shows the failure, with its message, then the step
    ``on_error`` led to (``continue`` for set_property and delay, ``goto`` for the branch)."""
    definitions.put("render", HEADER + RENDER_ERRORS[step_type])
    contact_id = new_contact(db_engine, f"{step_type}@example.com", plan="pro")

    enrollment_id, result = await run_to_end(service, temporal_client, definitions.key("render"), contact_id)

    step_id, message = MESSAGES[step_type]
    assert (result["status"], result["reason"]) == ("completed", "completed")
    assert action_log(db_engine, enrollment_id) == [(step_id, "FAILED", message), ("after", "COMPLETED", None)]
    with Session(db_engine) as session:
        assert get_contact(session, contact_id).properties == {"plan": "pro", "reached": "after"}
        assert (get_enrollment(session, enrollment_id).status, get_enrollment(session, enrollment_id).ended_reason) == (
            "completed",
            "completed",
        )


async def test_on_error_fail_ends_the_enrollment_as_failed_and_then_the_run(
    worker: Any, service: EnrollmentService, definitions: Definitions, db_engine: Engine, temporal_client: Client
) -> None:
    """The store is written first (the enrollment ``failed`` with its action log); then the run
    fails too, with the step's code (#14.1) — not the crash of #13.5, where nothing was written."""
    definitions.put("render", HEADER + RENDER_ERRORS["set_property"].replace("on_error: continue", "on_error: fail"))
    contact_id = new_contact(db_engine, "fail@example.com")

    started = await service.enroll(definitions.key("render"), ContactIn(contact_id=contact_id))
    handle = temporal_client.get_workflow_handle(started.workflow_id, run_id=started.run_id)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), timeout=60)
    error = failed.value.cause
    assert isinstance(error, ApplicationError) and error.type == "TEMPLATE_ERROR"
    assert error.message == "failed at step 1 copy_company: " + MESSAGES["set_property"][1].removeprefix(
        "set_property 'copy_company': "
    )
    result = error.details[0]
    enrollment_id = started.enrollment_id
    assert (result["status"], result["reason"]) == ("failed", "step_failed")
    assert action_log(db_engine, enrollment_id) == [("copy_company", "FAILED", MESSAGES["set_property"][1])]
    with Session(db_engine) as session:
        row = get_enrollment(session, enrollment_id)
    assert (row.status, row.ended_reason) == ("failed", "step_failed")


GOAL_WITH_A_TEMPLATE = """
key: "{key}"
name: A goal that stops rendering
enrollment:
  triggers: [{type: api}]
  goal: {type: condition, field: properties.plan, op: eq, value: "{{ contact.properties.target_plan }}"}
steps:
  - id: wait
    type: delay
    for: 2s
  - id: first
    type: set_property
    property: first
    value: done
    on_error: continue
  - id: second
    type: set_property
    property: second
    value: done
"""


async def test_a_goal_that_cannot_be_rendered_fails_the_step_it_is_checked_before(
    worker: Any, service: EnrollmentService, definitions: Definitions, db_engine: Engine, temporal_client: Client
) -> None:
    """The goal is checked before each step; once the property its template reads is gone, the
    render error is that step's failure (``continue`` on the first, the default ``fail`` on the
    second)."""
    definitions.put("goal", GOAL_WITH_A_TEMPLATE)
    key = definitions.key("goal")
    contact_id = new_contact(db_engine, "goal@example.com", plan="free", target_plan="pro")
    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    for _ in range(100):  # until it waits in the delay
        view = await service.view(key, contact_id)
        if view.progress is not None and view.progress.waiting_until is not None:
            break
        await asyncio.sleep(0.1)
    with Session(db_engine) as session:
        update_contact(session, contact_id, properties={"target_plan": None})
        session.commit()

    with pytest.raises(WorkflowFailureError) as failed:  # the enrollment failed, so does its run (#14.1)
        await asyncio.wait_for(temporal_client.get_workflow_handle(started.workflow_id).result(), timeout=60)
    assert isinstance(failed.value.cause, ApplicationError)
    result = failed.value.cause.details[0]

    goal_error = (
        "the goal: template '{{ contact.properties.target_plan }}' cannot be rendered: "
        "'dict object' has no attribute 'target_plan'"
    )
    assert (result["status"], result["reason"]) == ("failed", "step_failed")
    assert action_log(db_engine, started.enrollment_id) == [
        ("wait", "COMPLETED", None),
        ("first", "FAILED", goal_error),
        ("second", "FAILED", goal_error),
    ]
