"""The interpreter on the real dev server: every step type, on_error modes, branches, goal and
suppression, re-enrollment, duplicates, unenroll mid-delay and definitions edited while running."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from support.history import readable
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from engine.crm.contacts import create_contact, get_contact, update_contact
from engine.crm.enrollments import get_enrollment, step_history
from engine.enrollment.contracts import enrollment_workflow_id
from engine.enrollment.service import ContactIn, EnrollmentService
from engine.temporal import SearchAttribute

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions, WebhookReceiver

pytestmark = pytest.mark.timeout(90)


def new_contact(db_engine: Engine, email: str, **fields: Any) -> int:
    with Session(db_engine) as session:
        contact = create_contact(session, email=email, **fields)
        session.commit()
        assert contact.id is not None
        return contact.id


async def finished(client: Client, key: str, contact_id: int) -> Any:
    """The run's result; an enrollment that ended ``failed`` fails its run (#14.1), whose error
    carries the same result as its details."""
    handle = client.get_workflow_handle(enrollment_workflow_id(key, contact_id))
    try:
        return await asyncio.wait_for(handle.result(), timeout=60)
    except WorkflowFailureError as exc:
        assert isinstance(exc.cause, ApplicationError) and exc.cause.non_retryable
        return exc.cause.details[0]


def history(db_engine: Engine, enrollment_id: int) -> list[tuple[str, str]]:
    with Session(db_engine) as session:
        return [(row.step_id, row.outcome) for row in step_history(session, enrollment_id)]


def enrollment_row(db_engine: Engine, enrollment_id: int) -> tuple[str, str | None]:
    with Session(db_engine) as session:
        row = get_enrollment(session, enrollment_id)
        return row.status, row.ended_reason


ALL_STEPS = """
key: "{key}"
name: Every step type
secrets: [HOOK_TOKEN]
enrollment:
  triggers: [{type: api}]
steps:
  - id: tag
    type: set_property
    property: stage
    value: "lead-{{ contact.first_name }}"
  - id: pause
    type: delay
    for: 1s
  - id: route
    type: branch
    cases:
      - if: {type: condition, field: properties.stage, op: eq, value: "lead-Jane"}
        then: notify
    else: done
  - id: notify
    type: webhook
    url: "RECEIVER/hook/{{ contact.id }}"
    headers:
      Authorization: "Bearer {{ secrets.HOOK_TOKEN }}"
    body:
      email: "{{ contact.email }}"
      stage: "{{ contact.properties.stage }}"
      tagged: "{{ steps.tag.value }}"
  - id: after_notify
    type: branch
    cases:
      - if: {outcome_of: notify, is: DELIVERED}
        then: follow
    else: done
  - id: follow
    type: enroll
    workflow: "follow-{suffix}"
  - id: done
    type: end
  - id: never
    type: set_property
    property: never
    value: reached
"""

FOLLOW = """
key: "{key}"
name: Follow-up
enrollment:
  triggers: [{type: api}]
steps:
  - id: mark
    type: set_property
    property: followed
    value: true
"""


async def test_every_step_type_runs_in_order(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    receiver: WebhookReceiver,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    definitions.put("follow", FOLLOW)
    definitions.put("all", ALL_STEPS.replace("RECEIVER", receiver.url))
    key = definitions.key("all")
    contact_id = new_contact(db_engine, "jane@example.com", first_name="Jane", last_name="Doe")

    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    result = await finished(temporal_client, key, contact_id)

    assert started.created and started.workflow_id == f"enroll:{key}:{contact_id}"
    assert result["status"] == "completed" and result["reason"] == "end_step"
    assert history(db_engine, started.enrollment_id) == [
        ("tag", "COMPLETED"),
        ("pause", "COMPLETED"),
        ("route", "COMPLETED"),
        ("notify", "DELIVERED"),
        ("after_notify", "COMPLETED"),
        ("follow", "COMPLETED"),
        ("done", "COMPLETED"),
    ]
    assert enrollment_row(db_engine, started.enrollment_id) == ("completed", "end_step")
    # The webhook got the rendered request, the secret from the secrets file, an idempotency key.
    (request,) = receiver.requests
    assert request.path == f"/hook/{contact_id}"
    assert request.headers["Authorization"] == "Bearer s3cret-token"
    assert request.headers["Idempotency-Key"] == f"enrollment-{started.enrollment_id}-4"
    assert request.body == {"email": "jane@example.com", "stage": "lead-Jane", "tagged": "lead-Jane"}
    # The enroll step started the other workflow, which ran.
    follow_key = definitions.key("follow")
    await finished(temporal_client, follow_key, contact_id)
    with Session(db_engine) as session:
        properties = get_contact(session, contact_id).properties
    assert properties == {"stage": "lead-Jane", "followed": True}
    # Readable in the Web UI: summary and search attributes, no email or name in them.
    description = await temporal_client.get_workflow_handle(started.workflow_id).describe()
    attributes = description.typed_search_attributes
    assert attributes[SearchAttribute.WORKFLOW_KEY] == key
    assert attributes[SearchAttribute.CONTACT_ID] == str(contact_id)
    assert attributes[SearchAttribute.DEFINITION_VERSION] == 1
    assert attributes[SearchAttribute.BUSINESS_UNIT] == "Account"
    assert attributes[SearchAttribute.STATUS] == "completed"
    assert "jane@example.com" not in str([pair.value for pair in attributes])
    assert await description.static_summary() == f"Jane D. → {key} v1"


ON_ERROR = """
key: "{key}"
name: On error
enrollment:
  triggers: [{type: api}]
steps:
  - id: call
    type: webhook
    url: "RECEIVER/fails"
    retry: {max_attempts: 2, initial_interval: 1s}
    on_error: MODE
  - id: next_step
    type: set_property
    property: reached
    value: next
  - id: jumped
    type: set_property
    property: jumped
    value: true
"""


@pytest.mark.parametrize(
    ("mode", "status", "steps"),
    [
        ("fail", "failed", [("call", "FAILED")]),
        ("continue", "completed", [("call", "FAILED"), ("next_step", "COMPLETED"), ("jumped", "COMPLETED")]),
        ("{goto: jumped}", "completed", [("call", "FAILED"), ("jumped", "COMPLETED")]),
    ],
)
async def test_on_error_modes(
    mode: str,
    status: str,
    steps: list[tuple[str, str]],
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    receiver: WebhookReceiver,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    receiver.statuses = [500, 503]  # both attempts fail
    definitions.put("onerror", ON_ERROR.replace("RECEIVER", receiver.url).replace("MODE", mode))
    key = definitions.key("onerror")
    contact_id = new_contact(db_engine, "err@example.com")

    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    result = await finished(temporal_client, key, contact_id)

    assert result["status"] == status
    assert history(db_engine, started.enrollment_id) == steps
    assert len(receiver.requests) == 2  # retried once, by the step's policy
    with Session(db_engine) as session:
        rows = step_history(session, started.enrollment_id)
    assert rows[0].message == "webhook 'call': HTTP 503"


async def test_a_rejected_webhook_is_not_retried(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    receiver: WebhookReceiver,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    receiver.statuses = [400]
    definitions.put("onerror", ON_ERROR.replace("RECEIVER", receiver.url).replace("MODE", "fail"))
    key = definitions.key("onerror")
    contact_id = new_contact(db_engine, "rejected@example.com")
    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    result = await finished(temporal_client, key, contact_id)
    assert result["status"] == "failed"
    assert len(receiver.requests) == 1
    assert enrollment_row(db_engine, started.enrollment_id) == ("failed", "step_failed")


async def waiting_in_the_delay(service: EnrollmentService, key: str, contact_id: int) -> None:
    """Until the enrollment waits in its delay: a change made then comes after the delay's own check."""
    for _ in range(100):
        view = await service.view(key, contact_id)
        if view.progress is not None and view.progress.waiting_until is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the enrollment of contact {contact_id} in {key} never waited in its delay")


GOAL = """
key: "{key}"
name: Goal and suppression
enrollment:
  triggers: [{type: api}]
  goal: {type: condition, field: properties.customer, op: eq, value: true}
  suppression: {type: condition, field: properties.unsubscribed, op: eq, value: true}
steps:
  - id: first
    type: set_property
    property: step
    value: first
  - id: wait
    type: delay
    for: 2s
  - id: second
    type: set_property
    property: step
    value: second
"""


@pytest.mark.parametrize(
    ("change", "reason", "status"), [("customer", "goal_met", "completed"), ("unsubscribed", "suppressed", "cancelled")]
)
async def test_goal_and_suppression_end_an_enrollment_midway(
    change: str,
    reason: str,
    status: str,
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    definitions.put("goal", GOAL)
    key = definitions.key("goal")
    contact_id = new_contact(db_engine, "goal@example.com")
    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    handle = temporal_client.get_workflow_handle(started.workflow_id)
    await waiting_in_the_delay(service, key, contact_id)
    with Session(db_engine) as session:
        update_contact(session, contact_id, properties={change: True})
        session.commit()

    result = await asyncio.wait_for(handle.result(), timeout=60)

    assert (result["status"], result["reason"]) == (status, reason)
    assert history(db_engine, started.enrollment_id) == [("first", "COMPLETED"), ("wait", "COMPLETED")]
    assert enrollment_row(db_engine, started.enrollment_id) == (status, reason)
    with Session(db_engine) as session:
        assert get_contact(session, contact_id).properties["step"] == "first"


OUTCOME_BRANCH = """
key: "{key}"
name: A branch on an earlier outcome after a delay
enrollment:
  triggers: [{type: api}]
  suppression: {type: condition, field: properties.unsubscribed, op: eq, value: true}
steps:
  - id: first
    type: set_property
    property: step
    value: first
  - id: wait
    type: delay
    for: 2s
  - id: route
    type: branch
    cases:
      - if: {outcome_of: wait, is: COMPLETED}
        then: second
    else: second
  - id: second
    type: set_property
    property: step
    value: second
"""


async def test_a_branch_on_outcomes_is_decided_by_the_workflow_and_the_next_step_checks_16(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    """#16.1 (``outcome-branches``): a branch that tests earlier outcomes only reads nothing from
    the store, so the workflow decides it (no local activity) and its row reaches the action log
    with the next step's activity — which checks the contact first: a contact unsubscribed during
    the delay leaves at ``second``, after the branch's row, and ``second`` changes nothing."""
    definitions.put("outcome-branch", OUTCOME_BRANCH)
    key = definitions.key("outcome-branch")
    contact_id = new_contact(db_engine, "branch@example.com")
    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    handle = temporal_client.get_workflow_handle(started.workflow_id)
    await waiting_in_the_delay(service, key, contact_id)
    with Session(db_engine) as session:
        update_contact(session, contact_id, properties={"unsubscribed": True})
        session.commit()

    result = await asyncio.wait_for(handle.result(), timeout=60)

    assert (result["status"], result["reason"]) == ("cancelled", "suppressed")
    assert history(db_engine, started.enrollment_id) == [
        ("first", "COMPLETED"),
        ("wait", "COMPLETED"),
        ("route", "COMPLETED"),
    ]
    with Session(db_engine) as session:
        assert get_contact(session, contact_id).properties["step"] == "first"
    text = readable(await handle.fetch_history())
    assert "evaluate_branch" not in text and "set_property" in text


LONG_DELAY = """
key: "{key}"
name: Long delay
enrollment:
  triggers: [{type: api}]
  re_enrollment: REENROLL
steps:
  - id: mark
    type: set_property
    property: version
    value: "VALUE"
  - id: wait
    type: delay
    for: DELAY
  - id: after
    type: set_property
    property: after
    value: "VALUE"
"""


def long_delay(value: str = "v1", delay: str = "30d", reenroll: str = "false") -> str:
    return LONG_DELAY.replace("VALUE", value).replace("DELAY", delay).replace("REENROLL", reenroll)


async def test_unenroll_during_a_30_day_delay_ends_at_once(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    definitions.put("long", long_delay())
    key = definitions.key("long")
    contact_id = new_contact(db_engine, "long@example.com")
    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    for _ in range(100):  # until it waits
        view = await service.view(key, contact_id)
        if view.progress is not None and view.progress.waiting_until is not None:
            break
        await asyncio.sleep(0.1)
    assert view.progress is not None and view.progress.step_id == "wait"

    view = await service.unenroll(key, contact_id)

    assert (view.enrollment.status, view.enrollment.ended_reason) == ("cancelled", "unenrolled")
    assert [(row.step_id, row.outcome) for row in view.history] == [("mark", "COMPLETED")]
    description = await temporal_client.get_workflow_handle(started.workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.typed_search_attributes[SearchAttribute.STATUS] == "cancelled"


async def test_duplicate_enrollment_returns_the_running_one(
    worker: Any, service: EnrollmentService, definitions: Definitions, db_engine: Engine
) -> None:
    definitions.put("long", long_delay())
    key = definitions.key("long")
    contact_id = new_contact(db_engine, "dup@example.com")

    results = await asyncio.gather(*(service.enroll(key, ContactIn(contact_id=contact_id)) for _ in range(8)))

    assert sorted(result.created for result in results) == [False] * 7 + [True]
    assert len({result.enrollment_id for result in results}) == 1
    assert len({result.run_id for result in results}) == 1
    await service.unenroll(key, contact_id)


@pytest.mark.parametrize("reenroll", ["false", "true"])
async def test_re_enrollment_off_and_on(
    reenroll: str,
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    from engine.enrollment.errors import ReEnrollmentOff

    definitions.put("again", long_delay(delay="1s", reenroll=reenroll))
    key = definitions.key("again")
    contact_id = new_contact(db_engine, "again@example.com")
    first = await service.enroll(key, ContactIn(contact_id=contact_id))
    await finished(temporal_client, key, contact_id)

    if reenroll == "false":
        with pytest.raises(ReEnrollmentOff):
            await service.enroll(key, ContactIn(contact_id=contact_id))
        return
    second = await service.enroll(key, ContactIn(contact_id=contact_id))
    assert second.created and second.enrollment_id != first.enrollment_id
    assert second.workflow_id == first.workflow_id and second.run_id != first.run_id
    result = await finished(temporal_client, key, contact_id)
    assert result["enrollment_id"] == second.enrollment_id
    assert history(db_engine, second.enrollment_id) == [
        ("mark", "COMPLETED"),
        ("wait", "COMPLETED"),
        ("after", "COMPLETED"),
    ]


async def test_a_running_enrollment_keeps_its_revision_when_the_definition_changes(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    assert definitions.put("edit", long_delay("v1", delay="3s")) == 1
    key = definitions.key("edit")
    old = new_contact(db_engine, "old@example.com")
    new = new_contact(db_engine, "new@example.com")
    first = await service.enroll(key, ContactIn(contact_id=old))

    assert definitions.put("edit", long_delay("v2", delay="1s")) == 2
    second = await service.enroll(key, ContactIn(contact_id=new))
    await finished(temporal_client, key, old)
    await finished(temporal_client, key, new)

    assert (first.version, second.version) == (1, 2)
    with Session(db_engine) as session:
        assert get_contact(session, old).properties == {"version": "v1", "after": "v1"}
        assert get_contact(session, new).properties == {"version": "v2", "after": "v2"}


async def test_the_api_round_trip(
    api: httpx.AsyncClient, definitions: Definitions, db_engine: Engine, temporal_client: Client
) -> None:
    key = definitions.key("apiflow")
    put = await api.put(f"/v1/workflows/{key}", content=long_delay().replace("{key}", key))
    assert put.status_code == 201, put.text
    assert (await api.put(f"/v1/workflows/{key}", content=long_delay().replace("{key}", key))).status_code == 200

    body = {"email": "Api.User@Example.com", "first_name": "Api", "last_name": "User", "properties": {"plan": "pro"}}
    created = await api.post(f"/v1/workflows/{key}/enrollments", json=body)
    duplicate = await api.post(f"/v1/workflows/{key}/enrollments", json=body)
    assert created.status_code == 202, created.text
    assert duplicate.status_code == 200
    assert duplicate.json()["enrollment_id"] == created.json()["enrollment_id"]
    contact_id = created.json()["contact_id"]

    for _ in range(100):
        detail = (await api.get(f"/v1/workflows/{key}/enrollments/{contact_id}")).json()
        if detail["waiting_until"]:
            break
        await asyncio.sleep(0.1)
    assert detail["status"] == "active" and detail["current_step"] == "wait"
    assert [row["step_id"] for row in detail["history"]] == ["mark"]

    deleted = await api.delete(f"/v1/workflows/{key}/enrollments/{contact_id}")
    assert deleted.status_code == 200
    assert (deleted.json()["status"], deleted.json()["ended_reason"]) == ("cancelled", "unenrolled")
    again = await api.post(f"/v1/workflows/{key}/enrollments", json={"contact_id": contact_id})
    assert again.status_code == 409 and again.json()["error"]["code"] == "RE_ENROLLMENT_OFF"
    gone = await api.delete(f"/v1/workflows/{key}/enrollments/{contact_id}")
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "NOT_ENROLLED"
