"""#14.2 Enrollments as a first-class list: ``GET /v1/workflows/{key}/stats`` agrees with a count
from scratch over the action log after a mixed run of 500+ enrollments (written through the store
functions, plus real runs through Temporal), on SQLite and PostgreSQL; the enrollment list's
filters and keyset pages; e-mails only when asked for and allowed (operator and above); a contact's
enrollments and the workflow actions on its timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowFailureError

from engine.api.app import create_app
from engine.config import Settings
from engine.crm.enrollments import StepOutcomeRecord, finish_enrollment, record_step_outcomes
from engine.crm.participations import list_timeline
from engine.crm.tables import Enrollment, EnrollmentStatus, EnrollmentStepOutcome, table_of
from engine.enrollment.admission import Admission, ContactIn, admit_many
from engine.enrollment.service import EnrollmentService

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions, WebhookReceiver

pytestmark = pytest.mark.timeout(300)

ENROLLMENTS = table_of(Enrollment)
OUTCOMES = table_of(EnrollmentStepOutcome)
SUCCESS = {"COMPLETED", "DELIVERED", "REGISTERED"}
KEYS = {"viewer": "lists-viewer-key", "operator": "lists-operator-key"}

DEFINITION = """
key: "{key}"
name: Lists and stats
enrollment:
  triggers: [{type: api}, {type: manual}]
  re_enrollment: true
steps:
  - id: tag
    type: set_property
    property: listed
    value: "yes"
  - id: alert
    type: webhook
    url: "RECEIVER/hook"
    retry: {max_attempts: 1}
    on_error: continue
  - id: hold
    type: delay
    for: 1s
  - id: invite
    type: add_contact_to_zoom_webinar
    webinar_id: "81000000001"
  - id: done
    type: end
"""

#: Outcomes the fixed scenario draws from, per step (what each step type can end with).
CODES = {
    "tag": ["COMPLETED", "COMPLETED", "FAILED"],
    "alert": ["DELIVERED", "DELIVERED", "FAILED"],
    "hold": ["COMPLETED"],
    "invite": ["REGISTERED", "REGISTERED", "HOST_CANNOT_REGISTER", "WEBINAR_ENDED", "FAILED"],
    "done": ["COMPLETED"],
}
STEPS = list(CODES)


@pytest.fixture
async def lists_api(
    temporal_client: Client, db_engine: Engine, database_url: str, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a viewer and an operator key (``headers`` picks one per request)."""
    settings = Settings(
        api_keys=[f"lists-{role}:{role}:{key}" for role, key in KEYS.items()],
        database_url=database_url,
        temporal_task_queue=task_queue,
        definitions_dir=None,
    )
    app = create_app(settings, db_engine=db_engine, temporal_client=temporal_client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://rollcall.test", timeout=60
    ) as client:
        yield client


def _as(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def _play(session: Session, admission: Admission, chance: random.Random) -> None:
    """A fixed, varied path through the steps for one enrollment, written as the interpreter does."""
    enrollment_id = admission.enrollment.id
    assert enrollment_id is not None
    sequence = 0
    position = 0
    looped = False
    while position < len(STEPS):
        step = STEPS[position]
        if chance.random() < 0.12:  # still at this step: active, waiting in it
            record_step_outcomes(session, enrollment_id, [], current_step=step)
            return
        if step == "alert" and chance.random() < 0.1:  # a branch jumped over it
            sequence += 1
            record_step_outcomes(session, enrollment_id, [StepOutcomeRecord(sequence, step, "SKIPPED")])
            position += 1
            continue
        sequence += 1
        outcome = chance.choice(CODES[step])
        record_step_outcomes(
            session, enrollment_id, [StepOutcomeRecord(sequence, step, outcome, message="m")], current_step=step
        )
        if outcome == "FAILED":
            if chance.random() < 0.5:  # on_error: fail
                finish_enrollment(session, enrollment_id, EnrollmentStatus.FAILED, "step_failed")
                return
            if step == "invite" and not looped:  # on_error: {goto: tag}: the steps again, once
                position, looped = 0, True
                continue
        if chance.random() < 0.05:
            finish_enrollment(
                session, enrollment_id, EnrollmentStatus.CANCELLED, chance.choice(["unenrolled", "suppressed"])
            )
            return
        position += 1
    finish_enrollment(session, enrollment_id, EnrollmentStatus.COMPLETED, "end_step")


def _from_scratch(db_engine: Engine, key: str) -> dict[str, Any]:
    """The stats, counted in Python from every row of the workflow's enrollments and action log."""
    with db_engine.connect() as connection:
        enrollments = connection.execute(sa.select(ENROLLMENTS).where(ENROLLMENTS.c.definition_key == key)).all()
        ids = {row.id for row in enrollments}
        rows = [row for row in connection.execute(sa.select(OUTCOMES)).all() if row.enrollment_id in ids]
    totals = {status.value: 0 for status in EnrollmentStatus}
    for row in enrollments:
        totals[row.status] += 1
    reached: dict[str, set[int]] = defaultdict(set)
    succeeded: dict[str, set[int]] = defaultdict(set)
    failed: dict[str, set[int]] = defaultdict(set)
    outcomes: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    waiting: dict[str, int] = defaultdict(int)
    for row in rows:
        outcomes[row.step_id][row.outcome].add(row.enrollment_id)
        if row.outcome != "SKIPPED":
            reached[row.step_id].add(row.enrollment_id)
        if row.outcome in SUCCESS:
            succeeded[row.step_id].add(row.enrollment_id)
        if row.outcome == "FAILED":
            failed[row.step_id].add(row.enrollment_id)
    for row in enrollments:
        if row.status == "active" and row.current_step is not None:
            waiting[row.current_step] += 1
            reached[row.current_step].add(row.id)
    return {
        "enrolled": len(enrollments),
        **totals,
        "steps": {
            step: {
                "reached": len(reached[step]),
                "succeeded": len(succeeded[step]),
                "failed": len(failed[step]),
                "waiting": waiting[step],
                "outcomes": {code: len(members) for code, members in outcomes[step].items()},
            }
            for step in STEPS
        },
    }


async def test_stats_agree_with_a_count_from_scratch_over_the_action_log(
    db_engine: Engine,
    definitions: Definitions,
    receiver: WebhookReceiver,
    service: EnrollmentService,
    temporal_client: Client,
    lists_api: httpx.AsyncClient,
    worker: Any,
) -> None:
    """#14.2 acceptance: 520 enrollments on a fixed scenario through the store functions, plus three
    real runs (one to its end, one failing its webhook, one waiting in its delay)."""
    definitions.put("lists", DEFINITION.replace("RECEIVER", receiver.url))
    key = definitions.key("lists")
    chance = random.Random(14_2)
    with Session(db_engine) as session:
        contacts = [ContactIn(email=f"lists-{n}@stats.example") for n in range(520)]
        admitted = admit_many(session, key, contacts, "manual")
        session.commit()
        for admission in admitted:
            assert isinstance(admission, Admission)
            _play(session, admission, chance)
            session.commit()

    # Real runs through Temporal: the action log they write is counted like the rest.
    real = [ContactIn(email=f"real-{n}@stats.example") for n in range(2)]
    receiver.statuses = [200, 503]
    for contact in real:
        started = await service.enroll(key, contact)
        with contextlib.suppress(WorkflowFailureError):  # however its Zoom step ends, the log counts it
            await asyncio.wait_for(temporal_client.get_workflow_handle(started.workflow_id).result(), 60)

    answer = await lists_api.get(f"/v1/workflows/{key}/stats", headers=_as("viewer"))
    assert answer.status_code == 200, answer.text
    stats = answer.json()
    expected = _from_scratch(db_engine, key)
    assert expected["enrolled"] == 522
    assert {name: stats[name] for name in ("enrolled", *[s.value for s in EnrollmentStatus])} == {
        name: expected[name] for name in ("enrolled", *[s.value for s in EnrollmentStatus])
    }
    by_step = {step["step_id"]: step for step in stats["steps"]}
    assert [step["step_id"] for step in stats["steps"]][: len(STEPS)] == STEPS
    for step in STEPS:
        got = {name: by_step[step][name] for name in ("reached", "succeeded", "failed", "waiting", "outcomes")}
        assert got == expected["steps"][step], step
    assert by_step["hold"]["type"] == "delay"
    # The scenario has every kind of count somewhere (else the comparison would prove little).
    assert all(expected[s.value] > 0 for s in EnrollmentStatus)
    assert all(expected["steps"][step]["waiting"] > 0 for step in ("tag", "alert", "invite"))
    assert expected["steps"]["alert"]["outcomes"].get("SKIPPED", 0) > 0
    assert expected["steps"]["invite"]["failed"] > 0


# long: one population of enrollments, then every filter and page of the list checked against it
async def test_the_enrollment_list_filters_pages_and_keeps_emails_for_operators(
    db_engine: Engine, definitions: Definitions, receiver: WebhookReceiver, lists_api: httpx.AsyncClient
) -> None:
    """#14.2: filters (status, current step, outcome of a step, trigger, since/until), keyset pages
    that cover each enrollment once, and ``include=email`` refused to viewers (403 ROLE_REQUIRED)."""
    definitions.put("listing", DEFINITION.replace("RECEIVER", receiver.url))
    key = definitions.key("listing")
    chance = random.Random(7)
    with Session(db_engine) as session:
        admitted = admit_many(session, key, [ContactIn(email=f"page-{n}@list.example") for n in range(120)], "api")
        session.commit()
        for admission in admitted:
            assert isinstance(admission, Admission)
            _play(session, admission, chance)
            session.commit()
        everything: dict[int, Enrollment] = {}
        for row in session.scalars(sa.select(Enrollment).where(ENROLLMENTS.c.definition_key == key)):
            assert row.id is not None
            everything[row.id] = row
        failed_alert = {
            row.enrollment_id
            for row in session.scalars(
                sa.select(EnrollmentStepOutcome).where(
                    OUTCOMES.c.step_id == "alert",
                    OUTCOMES.c.outcome == "FAILED",
                    OUTCOMES.c.enrollment_id.in_(list(everything)),
                )
            )
        }

    async def collect(query: str, role: str = "viewer", limit: int = 17) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = await lists_api.get(
                f"/v1/workflows/{key}/enrollments?limit={limit}{query}{cursor}", headers=_as(role)
            )
            assert page.status_code == 200, page.text
            found += page.json()["enrollments"]
            if page.json()["next_cursor"] is None:
                return found
            cursor = f"&cursor={page.json()['next_cursor']}"

    listed = await collect("")
    assert [item["enrollment_id"] for item in listed] == sorted(everything, reverse=True)
    assert all(item["email"] is None for item in listed)
    failed = await collect("&status=failed")
    assert {item["enrollment_id"] for item in failed} == {i for i, e in everything.items() if e.status == "failed"}
    waiting = await collect("&status=active&current_step=invite")
    assert {item["enrollment_id"] for item in waiting} == {
        i for i, e in everything.items() if e.status == "active" and e.current_step == "invite"
    }
    assert {item["enrollment_id"] for item in await collect("&step=alert&outcome=FAILED")} == failed_alert
    assert await collect("&trigger=manual") == []
    newest = max(e.created_at for e in everything.values())
    since = newest.isoformat().replace("+00:00", "Z")
    assert len(await collect(f"&since={since}")) == sum(1 for e in everything.values() if e.created_at >= newest)
    assert await collect(f"&until={since.replace('Z', '')}") == await collect(f"&until={since}")

    refused = await lists_api.get(f"/v1/workflows/{key}/enrollments?include=email", headers=_as("viewer"))
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["required_role"] == "operator"
    with_emails = await collect("&include=email", role="operator", limit=500)
    assert {item["email"] for item in with_emails} == {f"page-{n}@list.example" for n in range(120)}
    for bad in ("cursor=nope", "status=done", "outcome=failed%20x", "limit=0"):
        answer = await lists_api.get(f"/v1/workflows/{key}/enrollments?{bad}", headers=_as("viewer"))
        assert 400 <= answer.status_code < 500 and "error" in answer.json(), bad
    missing = await lists_api.get("/v1/workflows/no-such-workflow/enrollments", headers=_as("viewer"))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "WORKFLOW_NOT_FOUND")


async def test_a_contacts_workflow_history_and_timeline(
    db_engine: Engine,
    definitions: Definitions,
    receiver: WebhookReceiver,
    service: EnrollmentService,
    temporal_client: Client,
    lists_api: httpx.AsyncClient,
    worker: Any,
) -> None:
    """#14.2: ``GET /v1/contacts/{id}/enrollments`` lists both enrollments of a contact, and its
    timeline says "enrolled in", "step failed" and "unenrolled" — written with the bookkeeping."""
    quick = """
key: "{key}"
name: Quick
enrollment:
  triggers: [{type: api}]
steps:
  - id: alert
    type: webhook
    url: "RECEIVER/hook"
    retry: {max_attempts: 1}
    on_error: continue
  - id: hold
    type: delay
    for: 30d
"""
    definitions.put("quick", quick.replace("RECEIVER", receiver.url))
    definitions.put("other", DEFINITION.replace("RECEIVER", receiver.url))
    receiver.statuses = [500]
    started = await service.enroll(definitions.key("quick"), ContactIn(email="history@timeline.example"))
    handle = temporal_client.get_workflow_handle(started.workflow_id)
    for _ in range(600):
        if (await handle.query("progress")).get("waiting_until"):
            break
        await asyncio.sleep(0.05)
    await service.unenroll(definitions.key("quick"), started.contact_id)
    with Session(db_engine) as session:
        (other,) = admit_many(session, definitions.key("other"), [ContactIn(contact_id=started.contact_id)], "api")
        session.commit()
    assert isinstance(other, Admission)

    answer = await lists_api.get(f"/v1/contacts/{started.contact_id}/enrollments", headers=_as("viewer"))
    assert answer.status_code == 200, answer.text
    assert [(item["workflow_key"], item["status"]) for item in answer.json()] == [
        (definitions.key("other"), "active"),
        (definitions.key("quick"), "cancelled"),
    ]
    with Session(db_engine) as session:
        events = list(reversed(list_timeline(session, started.contact_id).events))
    titles = [(event.kind, event.data.get("workflow_key"), event.data.get("reason")) for event in events]
    assert titles == [
        ("workflow_enrolled", definitions.key("quick"), None),
        ("workflow_step_failed", definitions.key("quick"), None),
        ("workflow_ended", definitions.key("quick"), "unenrolled"),
        ("workflow_enrolled", definitions.key("other"), None),
    ]
    assert events[2].data["title"] == f"Unenrolled from {definitions.key('quick')}"
    missing = await lists_api.get("/v1/contacts/999999/enrollments", headers=_as("viewer"))
    assert missing.status_code == 404
