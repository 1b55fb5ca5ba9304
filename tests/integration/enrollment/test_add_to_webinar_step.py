"""The ``add_contact_to_zoom_webinar`` step inside enrollments: the interpreter starts the
``AddContactToWebinarWorkflow`` saga as a child, writes its typed outcome to the action log, and
later steps branch on it and read its outputs. Real dev server (and the time-skipping server for
the canonical webinar-invite flow), the loopback Zoom emulator over real HTTP, real webhooks, the
CRM store on every configured backend.

The saga's own behaviour (every outcome, retries, compensation, crash) is tested on its own in
``tests/integration/zoom/test_add_to_webinar.py``; here it is seen from the enrollment's side.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from sqlmodel import Session
from support.emulator import seeded_admin
from support.history import readable
from support.http import allow_entry, serve
from support.waiting import eventually
from support.zoom import emulator_connection
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import failpoints
from engine.config import Settings
from engine.crm.accounts import create_business_unit, create_zoom_connection
from engine.crm.contacts import create_contact
from engine.crm.enrollments import get_enrollment, step_history
from engine.crm.participations import (
    AttendanceSessionIn,
    MarketingEventUpsert,
    recompute_rollups,
    upsert_attendance_sessions,
    upsert_marketing_events,
)
from engine.crm.tables import Contact, EnrollmentStepOutcome, Participation, table_of
from engine.demo.inbox import DEMO_SECRETS, Inbox, create_inbox_app
from engine.enrollment.contracts import EnrollmentProgress, enrollment_workflow_id
from engine.enrollment.registration import HOST_CANNOT_REGISTER_MESSAGE
from engine.enrollment.service import ContactIn, EnrollmentService
from engine.temporal import SearchAttribute
from engine.zoom.settings import ZoomPlan, ZoomSettings
from worker import build_worker
from zoom_emulator import EmulatorAdmin, EmulatorServer, FaultKind, FaultRule, SeedDocument
from zoom_emulator.core.seeds import AccountSeed, UserSeed, WebinarSeed

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions, WebhookReceiver

pytestmark = pytest.mark.timeout(90)

REPO_ROOT = Path(__file__).resolve().parents[3]
WEBINAR_INVITE = REPO_ROOT / "definitions" / "webinar-invite.yaml"

MAIN = "acct-main"  # Zoom account of the primary business unit ("Account")
OTHER = "acct-europe"  # Zoom account of the second business unit ("Europe")
PRIMARY_CONNECTION = "account"
OTHER_CONNECTION = "europe"
HOST_EMAIL = "host@rollcall.example"
CONNECTOR_EMAIL = "connector@rollcall.example"
W_OPEN = 95000000001  # upcoming, approval 0, on the primary BU's account
W_OPEN_DASHED = "950-0000-0001"
W_EUROPE = 96000000001  # upcoming, on the second BU's account
HOOK_TOKEN = "marketing-s3cret"


# --- the Zoom world --------------------------------------------------------------------------------


def zoom_seed(now: datetime) -> SeedDocument:
    """Two Zoom accounts, one upcoming webinar each; the emulator's clock frozen at ``now``."""
    upcoming = now + timedelta(days=7)
    return SeedDocument(
        clock=now,
        clock_frozen=True,
        accounts=[
            AccountSeed(
                id=MAIN, plan=ZoomPlan.BUSINESS, client_id="main-client", client_secret="main-secret",
                users=[UserSeed(id="u-host", email=HOST_EMAIL, first_name="Hana", last_name="Host")],
                webinars=[WebinarSeed(id=W_OPEN, host_id="u-host", topic="Open webinar", start_time=upcoming)],
            ),
            AccountSeed(
                id=OTHER, plan=ZoomPlan.BUSINESS, client_id="eu-client", client_secret="eu-secret",
                users=[UserSeed(id="u-eu", email="eu.host@rollcall.example")],
                webinars=[WebinarSeed(id=W_EUROPE, host_id="u-eu", topic="Europe only", start_time=upcoming)],
            ),
        ],
    )  # fmt: skip


@pytest.fixture
async def zoom_admin(emulator_server: EmulatorServer) -> AsyncIterator[EmulatorAdmin]:
    """The emulator, reset and re-seeded for the test (clock frozen at the current time)."""
    async with seeded_admin(emulator_server, zoom_seed(datetime.now(UTC).replace(microsecond=0))) as admin:
        yield admin


def connect_business_units(db_engine: Engine) -> None:
    """BU ``Account`` (id 1, primary) owns the main Zoom account; BU ``Europe`` owns the other."""
    with Session(db_engine) as session:
        europe = create_business_unit(session, "Europe")
        assert europe.id is not None
        create_zoom_connection(
            session,
            business_unit_id=1,
            name=PRIMARY_CONNECTION,
            zoom_account_id=MAIN,
            connected_by_email=CONNECTOR_EMAIL,
            credentials_ref="env:ZOOM_ACCOUNT",
        )
        create_zoom_connection(
            session,
            business_unit_id=europe.id,
            name=OTHER_CONNECTION,
            zoom_account_id=OTHER,
            connected_by_email="eu.connector@rollcall.example",
            credentials_ref="env:ZOOM_EUROPE",
        )
        session.commit()


def zoom_worker(
    client: Client,
    db_engine: Engine,
    task_queue: str,
    executor: ThreadPoolExecutor,
    emulator_server: EmulatorServer,
    secrets_file: Path,
    webhook_url: str,
    *,
    workflow_sandbox: bool = True,
    quick_path: bool = True,
) -> Worker:
    """The production worker (``build_worker``) with both Zoom connections pointed at the emulator,
    its webhooks allowed to reach ``webhook_url``'s loopback server."""
    zoom = ZoomSettings(
        connections=[
            emulator_connection(emulator_server, MAIN, name=PRIMARY_CONNECTION),
            emulator_connection(emulator_server, OTHER, name=OTHER_CONNECTION),
        ]
    )
    settings = Settings(
        secrets_file=secrets_file,
        database_url="sqlite://",
        webhook_allow=[allow_entry(webhook_url)],
        workflow_sandbox=workflow_sandbox,
        registration_quick_path=quick_path,
    )
    return build_worker(
        client, db_engine, task_queue=task_queue, executor=executor, settings=settings, zoom_settings=zoom
    )


def write_secrets(tmp_path: Path, receiver: WebhookReceiver) -> Path:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(
        f"MARKETING_HOOK_TOKEN: {HOOK_TOKEN}\nOPS_ALERTS_URL: {receiver.url}/ops/registration-failed\n"
        f"MARKETING_HOOKS_URL: {receiver.url}/marketing\n"
    )
    return secrets


@dataclass
class World:
    client: Client
    db_engine: Engine
    admin: EmulatorAdmin
    service: EnrollmentService
    definitions: Definitions
    receiver: WebhookReceiver

    def contact(self, email: str, first_name: str = "Ada", last_name: str = "Lovelace", **properties: Any) -> int:
        with Session(self.db_engine) as session:
            contact = create_contact(
                session, email=email, first_name=first_name, last_name=last_name, properties=properties
            )
            session.commit()
            assert contact.id is not None
            return contact.id

    async def enroll_and_finish(self, key: str, contact_id: int) -> tuple[int, Any]:
        started = await self.service.enroll(key, ContactIn(contact_id=contact_id))
        handle = self.client.get_workflow_handle(started.workflow_id, run_id=started.run_id)
        result = await asyncio.wait_for(handle.result(), timeout=60)
        return started.enrollment_id, result

    def log(self, enrollment_id: int) -> list[EnrollmentStepOutcome]:
        with Session(self.db_engine) as session:
            return step_history(session, enrollment_id)

    async def zoom_requests(self) -> dict[str, int]:
        requests: dict[str, int] = (await self.admin.stats())["requests"]
        return requests

    async def registrants(self, email: str) -> list[dict[str, Any]]:
        return [r for r in await self.admin.registrants(W_OPEN) if r["email"].lower() == email.lower()]

    def participations(self, contact_id: int) -> list[Participation]:
        with Session(self.db_engine) as session:
            query = sa.select(Participation).where(table_of(Participation).c.contact_id == contact_id)
            return list(session.scalars(query).all())


@pytest.fixture
def workflow_sandbox(request: pytest.FixtureRequest) -> bool:
    """``ROLLCALL_WORKFLOW_SANDBOX`` of the world's worker: on unless a test parametrises it."""
    return bool(getattr(request, "param", True))


@pytest.fixture
def quick_path(request: pytest.FixtureRequest) -> bool:
    """``ROLLCALL_REGISTRATION_QUICK_PATH`` of the world's worker: on unless a test parametrises it."""
    return bool(getattr(request, "param", True))


@pytest.fixture
async def world(
    workflow_sandbox: bool,
    quick_path: bool,
    temporal_client: Client,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    tmp_path: Path,
    emulator_server: EmulatorServer,
    zoom_admin: EmulatorAdmin,
    definitions: Definitions,
    receiver: WebhookReceiver,
) -> AsyncIterator[World]:
    connect_business_units(db_engine)
    secrets = write_secrets(tmp_path, receiver)
    service = EnrollmentService(db_engine, temporal_client, task_queue=task_queue)
    try:
        async with zoom_worker(
            temporal_client,
            db_engine,
            task_queue,
            activity_executor,
            emulator_server,
            secrets,
            receiver.url,
            workflow_sandbox=workflow_sandbox,
            quick_path=quick_path,
        ):
            yield World(temporal_client, db_engine, zoom_admin, service, definitions, receiver)
    finally:
        failpoints.disarm_all()


def outcomes(rows: list[EnrollmentStepOutcome]) -> list[tuple[str, str]]:
    return [(row.step_id, row.outcome) for row in rows]


def row_of(rows: list[EnrollmentStepOutcome], step_id: str) -> EnrollmentStepOutcome:
    [row] = [row for row in rows if row.step_id == step_id]
    return row


# --- a register step, a branch on its outcome --------------------------------------------------------

REGISTER_THEN_BRANCH = """
key: "{key}"
name: Register, then branch on the outcome
enrollment:
  triggers: [{type: api}]
steps:
  - id: register
    type: add_contact_to_zoom_webinar
    webinar_id: "WEBINAR"
    retry: {max_attempts: 3, initial_interval: 1s, maximum_interval: 1s}
    on_error: continue
  - id: check
    type: branch
    cases:
      - if: {outcome_of: register, is: REGISTERED}
        then: welcome
    else: not_registered
  - id: welcome
    type: webhook
    url: "RECEIVER/registered/{{ contact.id }}"
    body:
      registrant_id: "{{ steps.register.registrant_id }}"
      join_url: "{{ contact.zoom_webinar_joinlink }}"
      webinar_id: "{{ steps.register.webinar_id }}"
      webinar_end_time: "{{ steps.register.webinar_end_time }}"
    next: done
  - id: not_registered
    type: webhook
    url: "RECEIVER/not-registered/{{ contact.id }}"
    body:
      contact_id: "{{ contact.id }}"
  - id: done
    type: end
"""


def register_then_branch(world: World, webinar_id: str) -> str:
    text = REGISTER_THEN_BRANCH.replace("WEBINAR", webinar_id).replace("RECEIVER", world.receiver.url)
    world.definitions.put("register", text)
    return world.definitions.key("register")


@pytest.mark.parametrize(
    ("webinar_id", "property_value"),
    [
        pytest.param(W_OPEN_DASHED, None, id="literal-dashed"),
        pytest.param("{{ contact.properties.webinar_id }}", "950 0000 0001", id="contact-token"),
    ],
)
@pytest.mark.parametrize("workflow_sandbox", [True, False], ids=["sandboxed", "unsandboxed"], indirect=True)
# long: one scenario told in order: set-up, registration, the logged outcome and the branch that reads it
async def test_registered_is_logged_and_the_branch_reads_it(
    world: World, webinar_id: str, property_value: str | None
) -> None:
    """R-ADD-1/2: a literal ``950-0000-0001`` and a contact token (property ``950 0000 0001``) are
    both normalised; the action log holds REGISTERED with the registrant id Zoom gave;
    ``{outcome_of: register, is: REGISTERED}`` is taken and the next step's templates read the
    registration's outputs, and the personal join link from the store (``contact.zoom_webinar_joinlink``,
    R-PROP-2): it is in no step output (issue #17 point 5)."""
    key = register_then_branch(world, webinar_id)
    properties = {"webinar_id": property_value} if property_value is not None else {}
    contact_id = world.contact("ada@customers.example", **properties)

    enrollment_id, result = await world.enroll_and_finish(key, contact_id)

    assert (result["status"], result["reason"]) == ("completed", "end_step")
    rows = world.log(enrollment_id)
    assert outcomes(rows) == [
        ("register", "REGISTERED"),
        ("check", "COMPLETED"),
        ("welcome", "DELIVERED"),
        ("done", "COMPLETED"),
    ]
    [registrant] = await world.registrants("ada@customers.example")
    register = row_of(rows, "register")
    assert register.data["code"] == "REGISTERED"
    assert register.data["webinar_id"] == str(W_OPEN)
    assert register.data["registrant_id"] == registrant["id"]
    assert "join_url" not in register.data
    assert registrant["join_url"].startswith("https://") and "tk=" in registrant["join_url"]
    assert register.data["approval"] == "approved"
    assert register.data["connection"] == PRIMARY_CONNECTION
    assert register.data["details"]["repeat"] is False
    assert f"registered to webinar {W_OPEN}" in (register.message or "")
    assert row_of(rows, "check").data == {"case": 0, "next": "welcome"}
    # The webhook rendered the child's outputs (steps.register.*).
    [request] = world.receiver.requests
    assert request.path == f"/registered/{contact_id}"
    assert request.body == {
        "registrant_id": registrant["id"],
        "join_url": registrant["join_url"],
        "webinar_id": str(W_OPEN),
        "webinar_end_time": register.data["webinar_end_time"],
    }
    # The saga's store effects happened (R-ADD-7), once, with the personal join link.
    [participation] = world.participations(contact_id)
    assert (participation.state, participation.registrant_id) == ("registered", registrant["id"])
    assert participation.join_link == registrant["join_url"]
    # #16.1: a first registration too is one local activity: the worker asked Zoom about the
    # webinar itself (no saga ran), and Zoom was asked about the webinar and its form once each.
    assert await started_children(world, key, contact_id) == []
    asked = await world.zoom_requests()
    assert (asked["get_webinar"], asked["get_registration_questions"], asked["add_registrant"]) == (1, 1, 1)
    # The enrollment's history holds neither the join link nor an e-mail (#17.5).
    history = await world.client.get_workflow_handle(enrollment_workflow_id(key, contact_id)).fetch_history()
    text = readable(history)
    assert registrant["join_url"] not in text and "tk=" not in text
    assert "ada@customers.example" not in text and HOST_EMAIL not in text and CONNECTOR_EMAIL not in text


@pytest.mark.parametrize(
    ("email", "webinar", "code"),
    [
        pytest.param(HOST_EMAIL.upper(), W_OPEN, "HOST_CANNOT_REGISTER", id="host"),
        pytest.param("eva@customers.example", W_EUROPE, "BUSINESS_UNIT_MISMATCH", id="second-business-unit"),
    ],
)
async def test_a_refusal_is_logged_with_its_message_and_the_else_branch_runs(
    world: World, email: str, webinar: int, code: str
) -> None:
    """R-ADD-3/4 seen from the enrollment: the refusal's code and message are in the action log,
    the REGISTERED case does not hold, ``else`` runs; nothing was sent to add-registrant."""
    key = register_then_branch(world, str(webinar))
    contact_id = world.contact(email)

    enrollment_id, result = await world.enroll_and_finish(key, contact_id)

    assert result["status"] == "completed"
    rows = world.log(enrollment_id)
    assert outcomes(rows) == [
        ("register", code),
        ("check", "COMPLETED"),
        ("not_registered", "DELIVERED"),
        ("done", "COMPLETED"),
    ]
    register = row_of(rows, "register")
    if code == "HOST_CANNOT_REGISTER":
        assert register.message == HOST_CANNOT_REGISTER_MESSAGE == "The webinar host cannot register for the webinar"
        assert register.data["details"] == {"role": "host", "detected_by": "rollcall"}
    else:
        assert "'Europe'" in (register.message or "") and "primary business unit" in (register.message or "")
        assert register.data["details"]["reason"] == "other_business_unit"
        assert register.data["details"]["business_unit"] == "Europe"
    assert register.data["registrant_id"] is None
    assert row_of(rows, "check").data == {"case": None, "next": "not_registered"}
    assert world.receiver.paths() == [f"/not-registered/{contact_id}"]
    assert "add_registrant" not in await world.zoom_requests()
    assert world.participations(contact_id) == []


async def test_an_invalid_webinar_id_from_a_contact_property_starts_no_child(world: World) -> None:
    """R-ADD-2: a contact token that renders to something other than digits is INVALID_WEBINAR_ID,
    decided before any child workflow or Zoom call; the enrollment goes on to ``else``."""
    key = register_then_branch(world, "{{ contact.properties.webinar_id }}")
    contact_id = world.contact("typo@customers.example", webinar_id="webinar 42")

    enrollment_id, result = await world.enroll_and_finish(key, contact_id)

    assert result["status"] == "completed"
    rows = world.log(enrollment_id)
    assert outcomes(rows) == [
        ("register", "INVALID_WEBINAR_ID"),
        ("check", "COMPLETED"),
        ("not_registered", "DELIVERED"),
        ("done", "COMPLETED"),
    ]
    register = row_of(rows, "register")
    assert "'webinar 42'" in (register.message or "") and "9 to 12 digits" in (register.message or "")
    history = await world.client.get_workflow_handle(enrollment_workflow_id(key, contact_id)).fetch_history()
    assert not any(e.HasField("start_child_workflow_execution_initiated_event_attributes") for e in history.events)
    assert await world.zoom_requests() == {}


async def test_store_failure_after_zoom_accepted_is_compensated_and_on_error_continues(world: World) -> None:
    """R-ADD-8 seen from the enrollment: the store refuses the registration permanently after Zoom's
    201; the saga cancels the registrant in Zoom and fails; ``on_error: continue`` logs the step
    FAILED with the compensation data and the enrollment carries on (to ``else``)."""
    failpoints.arm("zoom_registration.before_commit", "permanent-error")
    key = register_then_branch(world, str(W_OPEN))
    contact_id = world.contact("doomed@customers.example")

    enrollment_id, result = await world.enroll_and_finish(key, contact_id)

    assert (result["status"], result["reason"]) == ("completed", "end_step")
    rows = world.log(enrollment_id)
    assert outcomes(rows) == [
        ("register", "FAILED"),
        ("check", "COMPLETED"),
        ("not_registered", "DELIVERED"),
        ("done", "COMPLETED"),
    ]
    register = row_of(rows, "register")
    assert "cancelled (compensated)" in (register.message or "")
    assert register.data["on_error"] == "continue"
    assert register.data["code"] == "FAILED"
    details = register.data["details"]
    assert details["compensated"] is True
    assert details["registrant_cancelled"] is True
    assert "failpoint" in details["store_error"]
    [registrant] = await world.registrants("doomed@customers.example")
    assert registrant["cancelled"] is True
    assert registrant["id"] == details["registrant_id"]
    assert world.participations(contact_id) == []
    assert row_of(rows, "check").data == {"case": None, "next": "not_registered"}
    with Session(world.db_engine) as session:
        enrollment = get_enrollment(session, enrollment_id)
        assert (enrollment.status, enrollment.ended_reason) == ("completed", "end_step")


async def test_two_workflows_registering_the_same_contact_to_the_same_webinar_at_once(world: World) -> None:
    """A contact enrolled in two workflows whose register steps target the same webinar at the same
    time: both enrollments must end with a logged outcome for ``register`` (REGISTERED, the same
    registrant, or FAILED handled by ``on_error``), not a failed run and a store row left active."""
    text = REGISTER_THEN_BRANCH.replace("WEBINAR", str(W_OPEN)).replace("RECEIVER", world.receiver.url)
    world.definitions.put("first", text)
    world.definitions.put("second", text)
    contact_id = world.contact("both@customers.example")
    # Hold the first registration in Zoom long enough for the second enrollment to reach its step.
    await world.admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.LATENCY, latency_ms=3000, times=1))
    first = await world.service.enroll(world.definitions.key("first"), ContactIn(contact_id=contact_id))
    await asyncio.sleep(1.0)
    second = await world.service.enroll(world.definitions.key("second"), ContactIn(contact_id=contact_id))

    for started in (first, second):
        handle = world.client.get_workflow_handle(started.workflow_id, run_id=started.run_id)
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=30)
    for started in (first, second):
        rows = world.log(started.enrollment_id)
        with Session(world.db_engine) as session:
            status = get_enrollment(session, started.enrollment_id).status
        assert status == "completed", (started.workflow_id, status, outcomes(rows))
        assert rows and rows[0].step_id == "register" and rows[0].outcome in ("REGISTERED", "FAILED")
    assert len(await world.registrants("both@customers.example")) == 1


# --- the canonical flow, end to end on the time-skipping server ----------------------------------------


def webinar_invite_copy(receiver: WebhookReceiver) -> str:
    """definitions/webinar-invite.yaml as shipped, its key made per-test (its hooks reach the
    receiver through the secrets ``write_secrets`` gives the worker)."""
    text = WEBINAR_INVITE.read_text()
    assert "key: webinar-invite\n" in text and "{{ secrets.MARKETING_HOOKS_URL }}/webinar-thanks" in text
    return text.replace("key: webinar-invite\n", 'key: "{key}"\n')


def record_attendance(
    db_engine: Engine, webinar_id: str, start: datetime, minutes: dict[int, list[tuple[int, int]]]
) -> None:
    """Write attendance the way the webinar sync does: marketing event, sessions, rollups."""
    with Session(db_engine) as session:
        event_id = upsert_marketing_events(
            session,
            [
                MarketingEventUpsert(
                    zoom_webinar_id=webinar_id,
                    business_unit_id=1,
                    topic="Invite flow",
                    start_time=start,
                    end_time=start + timedelta(minutes=60),
                    duration_minutes=60,
                    host_email=HOST_EMAIL,
                )
            ],
        )[webinar_id]
        sessions = [
            AttendanceSessionIn(
                contact_id=contact_id,
                join_time=start + timedelta(minutes=join),
                leave_time=start + timedelta(minutes=leave),
            )
            for contact_id, spans in minutes.items()
            for join, leave in spans
        ]
        touched = upsert_attendance_sessions(session, event_id, sessions)
        recompute_rollups(session, touched)
        session.commit()


@pytest.mark.timeskipping
@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    "property_value",
    [
        pytest.param("95000000042", id="digits"),
        pytest.param("950-0000-0042", id="dashed"),
    ],
)
# long: the shipped definition's whole story, step by step on the time-skipping clock
async def test_webinar_invite_end_to_end_thanks_attendees_and_sends_the_recording_to_the_others(
    property_value: str,
    time_skipping_env: WorkflowEnvironment,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    tmp_path: Path,
    emulator_server: EmulatorServer,
    zoom_admin: EmulatorAdmin,
    definitions: Definitions,
    receiver: WebhookReceiver,
) -> None:
    """definitions/webinar-invite.yaml end to end: register (contact token) → REGISTERED → durable
    delay until one hour after the webinar ends (days, skipped) → attendance (written as the sync
    does, before the delay ends) decides: ≥ 50% gets "thanks", the other gets "recording"."""
    client = time_skipping_env.client
    now = await time_skipping_env.get_current_time()
    start = (now + timedelta(days=2)).replace(second=0, microsecond=0)
    webinar_id = 95000000042
    await zoom_admin.add_webinar(
        MAIN, WebinarSeed(id=webinar_id, host_id="u-host", topic="Invite flow", start_time=start, duration=60)
    )
    connect_business_units(db_engine)
    definitions.put("invite", webinar_invite_copy(receiver))
    key = definitions.key("invite")
    with Session(db_engine) as session:
        attendee, absentee = (
            create_contact(
                session, email=email, first_name=first, last_name="Doe", properties={"webinar_id": property_value}
            )
            for email, first in (("stayed@customers.example", "Stella"), ("left@customers.example", "Lee"))
        )
        session.commit()
        ids = {"attendee": attendee.id, "absentee": absentee.id}
    assert ids["attendee"] is not None and ids["absentee"] is not None
    service = EnrollmentService(db_engine, client, task_queue=task_queue)
    secrets = write_secrets(tmp_path, receiver)

    async with zoom_worker(client, db_engine, task_queue, activity_executor, emulator_server, secrets, receiver.url):
        started = {who: await service.enroll(key, ContactIn(contact_id=cid)) for who, cid in ids.items()}
        handles = {who: client.get_workflow_handle(s.workflow_id, run_id=s.run_id) for who, s in started.items()}
        # Time stands still until we move it: wait (real time) until both wait in the delay.
        deadlines: dict[str, datetime] = {}
        for _ in range(600):
            for who, handle in handles.items():
                if who not in deadlines:
                    progress = await handle.query("progress", result_type=EnrollmentProgress)
                    if progress.waiting_until is not None:
                        deadlines[who] = progress.waiting_until
            if len(deadlines) == len(handles):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"the enrollments never reached the delay: {deadlines}")
        assert set(deadlines.values()) == {start + timedelta(minutes=60) + timedelta(hours=1)}

        # The webinar happens; the sync records who stayed how long (40 of 60 minutes vs 15).
        record_attendance(
            db_engine,
            str(webinar_id),
            start,
            {ids["attendee"]: [(0, 25), (30, 45)], ids["absentee"]: [(5, 20)]},
        )

        # Only handles made by start_workflow skip time on their own: move the clock by hand.
        for _ in range(20):
            statuses = [(await handle.describe()).status for handle in handles.values()]
            if all(status != WorkflowExecutionStatus.RUNNING for status in statuses):
                break
            await time_skipping_env.sleep(timedelta(hours=12))
        results = {who: await asyncio.wait_for(handle.result(), timeout=30) for who, handle in handles.items()}

    assert {who: (r["status"], r["reason"]) for who, r in results.items()} == {
        "attendee": ("completed", "end_step"),
        "absentee": ("completed", "end_step"),
    }
    logs = {who: world_log(db_engine, s.enrollment_id) for who, s in started.items()}
    assert outcomes(logs["attendee"]) == [
        ("register", "REGISTERED"),
        ("check_registration", "COMPLETED"),
        ("wait_for_webinar_end", "COMPLETED"),
        ("check_attendance", "COMPLETED"),
        ("send_thanks", "DELIVERED"),
        ("done", "COMPLETED"),
    ]
    assert outcomes(logs["absentee"]) == [
        ("register", "REGISTERED"),
        ("check_registration", "COMPLETED"),
        ("wait_for_webinar_end", "COMPLETED"),
        ("check_attendance", "COMPLETED"),
        ("send_recording", "DELIVERED"),
        ("done", "COMPLETED"),
    ]
    end = start + timedelta(minutes=60)
    for who, log in logs.items():
        register = row_of(log, "register")
        assert register.data["webinar_id"] == str(webinar_id)
        assert register.data["webinar_end_time"] == end.isoformat().replace("+00:00", "Z")
        assert register.data["registrant_id"]
        assert datetime.fromisoformat(row_of(log, "wait_for_webinar_end").data["until"]) == end + timedelta(hours=1)
        assert row_of(log, "check_registration").data == {"case": 0, "next": "wait_for_webinar_end"}
        expected = {"case": 0, "next": "send_thanks"} if who == "attendee" else {"case": None, "next": "send_recording"}
        assert row_of(log, "check_attendance").data == expected, who
    # The hooks: one each, rendered with the contact's data and the secret from the secrets file.
    by_path = {request.path: request for request in receiver.requests}
    assert sorted(by_path) == ["/marketing/webinar-recording", "/marketing/webinar-thanks"]
    thanks, recording = by_path["/marketing/webinar-thanks"], by_path["/marketing/webinar-recording"]
    assert thanks.body == {
        "email": "stayed@customers.example",
        "first_name": "Stella",
        "webinar_id": "95000000042",  # normalised: the body reads steps.register.webinar_id
        "template": "thanks-for-attending",
    }
    assert recording.body == {
        "email": "left@customers.example",
        "first_name": "Lee",
        "webinar_id": "95000000042",
        "template": "sorry-we-missed-you",
    }
    assert thanks.headers["Authorization"] == recording.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    # Both are registered in Zoom, and the store knows who attended.
    registrants = {r["email"] for r in await zoom_admin.registrants(webinar_id)}
    assert registrants == {"stayed@customers.example", "left@customers.example"}
    with Session(db_engine) as session:
        attended = session.get(Contact, ids["attendee"])
        assert attended is not None and attended.zoom_webinar_attendance_count == 1


def world_log(db_engine: Engine, enrollment_id: int) -> list[EnrollmentStepOutcome]:
    with Session(db_engine) as session:
        return step_history(session, enrollment_id)


# --- the other shipped examples, end to end with the demo's webhook inbox --------------------------


def example_copy(name: str, renamed: dict[str, str] | None = None) -> str:
    """definitions/<name>.yaml as shipped: its key made per-test, the workflows it enrolls into renamed."""
    text = (REPO_ROOT / "definitions" / f"{name}.yaml").read_text()
    assert f"key: {name}\n" in text
    text = text.replace(f"key: {name}\n", 'key: "{key}"\n')
    for original, replacement in (renamed or {}).items():
        assert f"workflow: {original}\n" in text
        text = text.replace(f"workflow: {original}\n", f"workflow: {replacement}\n")
    return text


@contextlib.contextmanager
def demo_inbox(tmp_path: Path) -> Iterator[tuple[Inbox, Path, str]]:
    """The demo's webhook inbox over real HTTP, a secrets file giving every secret of the
    examples the stand-in ``rollcall up`` gives it (``DEMO_SECRETS``), and the inbox's URL."""
    inbox = Inbox()
    with serve(create_inbox_app(inbox), name="demo-inbox") as url:
        secrets = tmp_path / "demo-secrets.yaml"
        secrets.write_text("".join(f"{name}: {value.format(inbox=url)}\n" for name, value in DEMO_SECRETS.items()))
        yield inbox, secrets, url


async def skip_until_closed(env: WorkflowEnvironment, handles: list[Any], step: timedelta) -> None:
    """Move the time-skipping server's clock until every run has closed."""
    for _ in range(40):
        statuses = [(await handle.describe()).status for handle in handles]
        if all(status != WorkflowExecutionStatus.RUNNING for status in statuses):
            return
        await env.sleep(step)
    pytest.fail("the runs did not close")


@pytest.mark.timeskipping
@pytest.mark.timeout(150)
# long: the shipped definition run as shipped, each contact's path checked in order
async def test_vip_follow_up_as_shipped_runs_to_its_end_in_the_demo_setup(
    time_skipping_env: WorkflowEnvironment,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    tmp_path: Path,
    emulator_server: EmulatorServer,
    zoom_admin: EmulatorAdmin,
    definitions: Definitions,
) -> None:
    """definitions/vip-follow-up.yaml (and the webinar-invite it enrolls into) with the demo's
    secrets: criteria and suppression refuse the wrong contacts; a VIP is tagged, registered to
    its webinar through webinar-invite, its account manager alerted through the inbox, and after
    2½ days (skipped) the branch on the alert's outcome ends it; when the alert keeps failing
    (5 attempts), the ops channel is alerted instead."""
    from engine.enrollment.errors import CriteriaNotMet, NotEnrolled, Suppressed

    client = time_skipping_env.client
    connect_business_units(db_engine)
    definitions.put("invite", example_copy("webinar-invite"))
    definitions.put("vip", example_copy("vip-follow-up", {"webinar-invite": definitions.key("invite")}))
    key = definitions.key("vip")
    service = EnrollmentService(db_engine, client, task_queue=task_queue)
    with Session(db_engine) as session:
        people = {
            name: create_contact(
                session, email=f"{name}@customers.example", first_name=name.title(), last_name="Doe", properties=props
            ).id
            for name, props in {
                "vera": {"plan": "enterprise", "account_manager": "am@rollcall.example", "webinar_id": str(W_OPEN)},
                "otto": {"plan": "enterprise", "account_manager": "am@rollcall.example", "webinar_id": str(W_OPEN)},
                "fred": {"plan": "free", "account_manager": "am@rollcall.example"},
                "nora": {"plan": "enterprise"},
            }.items()
        }
        session.commit()
    with pytest.raises(CriteriaNotMet):
        await service.enroll(key, ContactIn(contact_id=people["fred"]))
    with pytest.raises(Suppressed):
        await service.enroll(key, ContactIn(contact_id=people["nora"]))

    with demo_inbox(tmp_path) as (inbox, secrets, inbox_url):
        async with zoom_worker(client, db_engine, task_queue, activity_executor, emulator_server, secrets, inbox_url):
            vera = await service.enroll(key, ContactIn(contact_id=people["vera"]))
            await skip_until_closed(
                time_skipping_env, [client.get_workflow_handle(vera.workflow_id)], timedelta(hours=12)
            )
            inbox.queue_statuses("/hooks/crm/vip-alert", [503] * 5)
            otto = await service.enroll(key, ContactIn(contact_id=people["otto"]))
            await skip_until_closed(
                time_skipping_env, [client.get_workflow_handle(otto.workflow_id)], timedelta(hours=1)
            )
            results = [await client.get_workflow_handle(started.workflow_id).result() for started in (vera, otto)]
            for who in ("vera", "otto"):
                # webinar-invite waits for the webinar's end, unless the shared test clock is past it.
                contact_id = people[who]
                assert contact_id is not None
                with contextlib.suppress(NotEnrolled):
                    await service.unenroll(definitions.key("invite"), contact_id)

    assert [(r["status"], r["reason"]) for r in results] == [("completed", "end_step")] * 2
    assert outcomes(world_log(db_engine, vera.enrollment_id)) == [
        ("tag_vip", "COMPLETED"),
        ("remember_source", "COMPLETED"),
        ("invite", "COMPLETED"),
        ("alert_account_manager", "DELIVERED"),
        ("wait_for_reply", "COMPLETED"),
        ("check_alert", "COMPLETED"),
        ("done", "COMPLETED"),
    ]
    assert outcomes(world_log(db_engine, otto.enrollment_id)) == [
        ("tag_vip", "COMPLETED"),
        ("remember_source", "COMPLETED"),
        ("invite", "COMPLETED"),
        ("alert_account_manager", "FAILED"),
        ("alert_ops", "DELIVERED"),
        ("done", "COMPLETED"),
    ]
    alerts = inbox.listing("/hooks/crm/vip-alert")
    assert [a["body"]["contact"]["email"] for a in alerts] == ["vera@customers.example"] + [
        "otto@customers.example"
    ] * 5
    first = alerts[0]
    assert first["headers"]["authorization"] == "Bearer …"  # the inbox masks credentials
    assert first["headers"]["x-rollcall-enrollment"] == str(vera.enrollment_id)
    assert first["body"]["contact"]["account_manager"] == "am@rollcall.example"
    [ops] = inbox.listing("/hooks/ops-alerts")
    assert ops["body"] == {"text": "VIP follow-up needs a human for otto@customers.example"}
    # Both were registered to their webinar by webinar-invite, and tagged.
    assert {r["email"] for r in await zoom_admin.registrants(W_OPEN)} >= {
        "vera@customers.example",
        "otto@customers.example",
    }
    with Session(db_engine) as session:
        for who in ("vera", "otto"):
            contact = session.get(Contact, people[who])
            assert contact is not None and contact.properties["vip"] is True


@pytest.mark.timeskipping
@pytest.mark.timeout(150)
# long: the shipped definition run as shipped, each contact's path checked in order
async def test_nurture_after_webinar_as_shipped_runs_to_its_end_in_the_demo_setup(
    time_skipping_env: WorkflowEnvironment,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    tmp_path: Path,
    emulator_server: EmulatorServer,
    zoom_admin: EmulatorAdmin,
    definitions: Definitions,
) -> None:
    """definitions/nurture-after-webinar.yaml with the demo's secrets: only the event trigger may
    enroll; the first delay ends on a weekday at 09:00 Paris time at least a day later; the
    resources e-mail goes to the inbox, the contact is marked, and a week later (Tue/Thu 10:30)
    a contact with fewer than two registrations gets the case study."""
    from zoneinfo import ZoneInfo

    from engine.enrollment.errors import TriggerNotAllowed

    client = time_skipping_env.client
    connect_business_units(db_engine)
    definitions.put("invite", example_copy("webinar-invite"))
    definitions.put("nurture", example_copy("nurture-after-webinar", {"webinar-invite": definitions.key("invite")}))
    key = definitions.key("nurture")
    service = EnrollmentService(db_engine, client, task_queue=task_queue)
    with Session(db_engine) as session:
        contact = create_contact(
            session, email="nina@customers.example", first_name="Nina", last_name="Doe", properties={"company": "Acme"}
        )
        session.commit()
        assert contact.id is not None
        contact_id = contact.id
    with pytest.raises(TriggerNotAllowed):
        await service.enroll(key, ContactIn(contact_id=contact_id), trigger="api")

    with demo_inbox(tmp_path) as (inbox, secrets, inbox_url):
        async with zoom_worker(client, db_engine, task_queue, activity_executor, emulator_server, secrets, inbox_url):
            enrolled_at = await time_skipping_env.get_current_time()
            started = await service.enroll(key, ContactIn(contact_id=contact_id), trigger="event")
            handle = client.get_workflow_handle(started.workflow_id)
            for _ in range(300):
                progress = await handle.query("progress", result_type=EnrollmentProgress)
                if progress.waiting_until is not None:
                    break
                await asyncio.sleep(0.1)
            first_wake = progress.waiting_until
            assert first_wake is not None and progress.step_id == "wait_a_day"
            await skip_until_closed(time_skipping_env, [handle], timedelta(hours=12))
            result = await handle.result()

    paris = first_wake.astimezone(ZoneInfo("Europe/Paris"))
    assert (paris.hour, paris.minute, paris.weekday() < 5) == (9, 0, True)
    assert timedelta(days=1) <= first_wake - enrolled_at < timedelta(days=4)
    assert (result["status"], result["reason"]) == ("completed", "end_step")
    log = world_log(db_engine, started.enrollment_id)
    assert outcomes(log) == [
        ("wait_a_day", "COMPLETED"),
        ("send_resources", "DELIVERED"),
        ("mark_nurtured", "COMPLETED"),
        ("wait_a_week", "COMPLETED"),
        ("engaged", "COMPLETED"),
        ("send_case_study", "DELIVERED"),
        ("finish", "COMPLETED"),
    ]
    second_wake = datetime.fromisoformat(row_of(log, "wait_a_week").data["until"]).astimezone(ZoneInfo("Europe/Paris"))
    assert (second_wake.hour, second_wake.minute, second_wake.strftime("%a")) in {(10, 30, "Tue"), (10, 30, "Thu")}
    sent = inbox.listing("/hooks/email/send")
    assert [(s["body"]["template"], s["headers"]["x-api-key"]) for s in sent] == [
        ("webinar-resources", "…"),
        ("case-study", "…"),
    ]
    assert sent[0]["body"]["data"] == {"first_name": "Nina", "company": "Acme"}
    with Session(db_engine) as session:
        nina = session.get(Contact, contact_id)
        assert nina is not None and nina.properties["nurture_stage"] == "resources_sent"


async def test_registration_runs_are_found_by_kind_webinar_and_contact(world: World) -> None:
    """#14.3: once the step has read its webinar id, the enrollment carries ``RollcallWebinarId``;
    its add-to-webinar child starts as a ``registration`` run (``RollcallKind``) with the contact
    and the webinar, so `RollcallWebinarId="…"` finds both and a saved view can tell them apart.
    (The quick path's lookup of the webinar fails once, so the saga decides this registration.)"""
    key = register_then_branch(world, W_OPEN_DASHED)
    contact_id = world.contact("kind@customers.example")
    await world.admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.ERROR, times=1))
    await world.enroll_and_finish(key, contact_id)
    parent = await world.client.get_workflow_handle(enrollment_workflow_id(key, contact_id)).describe()
    child = await world.client.get_workflow_handle(f"add-to-webinar:{W_OPEN}:{contact_id}").describe()
    kind, webinar = SearchAttribute.KIND, SearchAttribute.WEBINAR_ID
    assert (parent.typed_search_attributes.get(kind), parent.typed_search_attributes.get(webinar)) == (
        "enrollment",
        str(W_OPEN),
    )
    assert (child.typed_search_attributes.get(kind), child.typed_search_attributes.get(webinar)) == (
        "registration",
        str(W_OPEN),
    )
    assert child.typed_search_attributes.get(SearchAttribute.CONTACT_ID) == str(contact_id)


# --- the quick path (#16.1, ``quick-registration``) -------------------------------------------------------


async def started_children(world: World, key: str, contact_id: int) -> list[str]:
    history = await world.client.get_workflow_handle(enrollment_workflow_id(key, contact_id)).fetch_history()
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]


def _registrations_counted() -> float:
    """``rollcall_registrations_total{outcome="registered"}`` of this process (the test's worker)."""
    return REGISTRY.get_sample_value("rollcall_registrations_total", {"outcome": "registered", "code": ""}) or 0.0


async def registered_through_the_saga(world: World, key: str, email: str) -> EnrollmentStepOutcome:
    """A first registration the saga decides: Zoom fails the quick path's lookup of the webinar
    once, so the saga runs and asks again, durably (the worker's cache then knows the webinar and
    its form). The saga's outcome, its child run, its history are what the tests compare with."""
    await world.admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.ERROR, times=1))
    contact_id = world.contact(email)
    enrollment_id, result = await world.enroll_and_finish(key, contact_id)
    assert result["status"] == "completed"
    child_id = f"add-to-webinar:{W_OPEN}:{contact_id}"
    assert await started_children(world, key, contact_id) == [child_id]
    # Neither the saga's history nor the enrollment's holds the join link or an e-mail (#17.5).
    [registrant] = await world.registrants(email)
    for workflow_id in (child_id, enrollment_workflow_id(key, contact_id)):
        text = readable(await world.client.get_workflow_handle(workflow_id).fetch_history())
        assert registrant["join_url"] not in text and "tk=" not in text
        assert email not in text and HOST_EMAIL not in text and CONNECTOR_EMAIL not in text
    return row_of(world.log(enrollment_id), "register")


async def test_once_the_worker_knows_the_webinar_a_registration_is_one_local_activity_16(world: World) -> None:
    """#16.1 (R-ADD-1, R-ADD-7): the second registration to a webinar the worker knows runs no
    saga. The action log's row has the saga's outcome, message and outputs; Zoom has one
    registrant; the store has the participation with the personal join link, which the next step
    reads; the enrollment's history holds the registration as one local activity, with no e-mail
    and no join link."""
    key = register_then_branch(world, str(W_OPEN))
    by_saga = await registered_through_the_saga(world, key, "first@customers.example")
    contact_id = world.contact("quick@customers.example")
    counted_before = _registrations_counted()

    enrollment_id, result = await world.enroll_and_finish(key, contact_id)

    assert (result["status"], result["reason"]) == ("completed", "end_step")
    # #17.1: the quick path counts its registration, as the saga does (it used not to).
    assert _registrations_counted() == counted_before + 1
    rows = world.log(enrollment_id)
    assert outcomes(rows) == [
        ("register", "REGISTERED"),
        ("check", "COMPLETED"),
        ("welcome", "DELIVERED"),
        ("done", "COMPLETED"),
    ]
    assert await started_children(world, key, contact_id) == []
    [registrant] = await world.registrants("quick@customers.example")
    register = row_of(rows, "register")
    assert set(register.data) == set(by_saga.data)
    assert (register.data["code"], register.data["registrant_id"]) == ("REGISTERED", registrant["id"])
    assert (register.data["webinar_id"], register.data["connection"]) == (str(W_OPEN), PRIMARY_CONNECTION)
    assert register.data["approval"] == "approved" and register.data["details"]["repeat"] is False
    assert register.data["webinar_end_time"] == by_saga.data["webinar_end_time"]
    assert register.message == f"Contact {contact_id} is registered to webinar {W_OPEN} (approved)"
    [participation] = world.participations(contact_id)
    assert (participation.state, participation.registrant_id) == ("registered", registrant["id"])
    assert participation.join_link == registrant["join_url"]
    request = world.receiver.requests[-1]
    assert request.path == f"/registered/{contact_id}"
    assert request.body["join_url"] == registrant["join_url"]
    history = await world.client.get_workflow_handle(enrollment_workflow_id(key, contact_id)).fetch_history()
    text = readable(history)
    assert "register_to_webinar" in text and "interpreter-generation-3" in text
    assert registrant["join_url"] not in text and "tk=" not in text
    assert "quick@customers.example" not in text and HOST_EMAIL not in text and CONNECTOR_EMAIL not in text


async def test_registrations_that_find_the_webinar_unknown_together_ask_zoom_once_and_run_no_saga_16(
    world: World,
) -> None:
    """#16.1: six first registrations to a webinar the worker does not know yet, at once (the
    start of a bulk enrollment, or the moment its cached answers expired after a pause): Zoom is
    asked about the webinar and its form once, for all of them, and each registration is one
    local activity. Before, each went to the saga until one saga's pre-flight filled the cache
    (``bench/add_to_webinar.py``: 150 saga runs in 14 s)."""
    key = register_then_branch(world, str(W_OPEN))
    contacts = [world.contact(f"together{number}@customers.example") for number in range(6)]
    await world.admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.LATENCY, latency_ms=500, times=1))

    finished = await asyncio.gather(*(world.enroll_and_finish(key, contact_id) for contact_id in contacts))

    for (enrollment_id, result), contact_id in zip(finished, contacts, strict=True):
        assert result["status"] == "completed"
        assert row_of(world.log(enrollment_id), "register").outcome == "REGISTERED"
        assert await started_children(world, key, contact_id) == []
    asked = await world.zoom_requests()
    assert (asked["get_webinar"], asked["get_registration_questions"], asked["add_registrant"]) == (1, 1, 6)


async def test_a_refusal_on_the_quick_path_is_the_sagas_and_sends_nothing_to_zoom_16(world: World) -> None:
    """R-ADD-4 on the quick path: the host is refused before any call to add-registrant, with the
    saga's code, message and details; no saga runs."""
    key = register_then_branch(world, str(W_OPEN))
    await registered_through_the_saga(world, key, "first@customers.example")
    adds_before = (await world.zoom_requests()).get("add_registrant", 0)
    host = world.contact(HOST_EMAIL.upper())

    enrollment_id, _ = await world.enroll_and_finish(key, host)

    register = row_of(world.log(enrollment_id), "register")
    assert register.outcome == "HOST_CANNOT_REGISTER"
    assert register.message == HOST_CANNOT_REGISTER_MESSAGE
    assert register.data["details"] == {"role": "host", "detected_by": "rollcall"}
    assert await started_children(world, key, host) == []
    assert (await world.zoom_requests()).get("add_registrant", 0) == adds_before


async def test_a_zoom_failure_on_the_quick_path_hands_the_registration_to_the_saga_16(world: World) -> None:
    """R-ADD-6: add-registrant answers 503 once: the quick path does not retry — the saga does,
    durably, and registers the contact once."""
    key = register_then_branch(world, str(W_OPEN))
    await registered_through_the_saga(world, key, "first@customers.example")
    await world.admin.add_fault(FaultRule(operation="add_registrant", kind=FaultKind.ERROR, times=1))
    contact_id = world.contact("retried@customers.example")

    enrollment_id, _ = await world.enroll_and_finish(key, contact_id)

    assert row_of(world.log(enrollment_id), "register").outcome == "REGISTERED"
    assert await started_children(world, key, contact_id) == [f"add-to-webinar:{W_OPEN}:{contact_id}"]
    assert len(await world.registrants("retried@customers.example")) == 1
    assert len(world.participations(contact_id)) == 1


async def test_a_store_refusal_on_the_quick_path_is_compensated_by_the_saga_16(world: World) -> None:
    """R-ADD-8 on the quick path: Zoom accepted and the store refused for good. The quick path
    leaves it to the saga, which asks Zoom again (the same registrant), meets the same refusal and
    cancels the registrant: Zoom and the store agree, and the step is FAILED, compensated."""
    key = register_then_branch(world, str(W_OPEN))
    await registered_through_the_saga(world, key, "first@customers.example")
    failpoints.arm("zoom_registration.before_commit", "permanent-error")
    contact_id = world.contact("refused@customers.example")

    enrollment_id, _ = await world.enroll_and_finish(key, contact_id)

    register = row_of(world.log(enrollment_id), "register")
    assert register.outcome == "FAILED"
    assert register.data["details"]["compensated"] is True
    assert await started_children(world, key, contact_id) == [f"add-to-webinar:{W_OPEN}:{contact_id}"]
    [registrant] = await world.registrants("refused@customers.example")
    assert registrant["cancelled"] is True and registrant["id"] == register.data["details"]["registrant_id"]
    assert world.participations(contact_id) == []


@pytest.mark.parametrize("quick_path", [False], ids=["quick-path-off"], indirect=True)
async def test_with_the_quick_path_off_every_registration_is_a_saga_run_16(world: World) -> None:
    """``ROLLCALL_REGISTRATION_QUICK_PATH=false``: a webinar the worker knows still gets a saga run."""
    key = register_then_branch(world, str(W_OPEN))
    await registered_through_the_saga(world, key, "first@customers.example")
    contact_id = world.contact("second@customers.example")

    enrollment_id, _ = await world.enroll_and_finish(key, contact_id)

    assert row_of(world.log(enrollment_id), "register").outcome == "REGISTERED"
    assert await started_children(world, key, contact_id) == [f"add-to-webinar:{W_OPEN}:{contact_id}"]


async def test_a_cancel_during_a_quick_registration_lets_it_finish_first_16(world: World) -> None:
    """R-ADD-8 with a cancel: the enrollment is cancelled while Zoom holds its add-registrant call
    for 12 s — longer than the workflow task that runs the local activity lasts before the server
    delivers the cancel (its heartbeat, at 8 of its 10 s). The registration Zoom accepts is still
    recorded in the store before the run ends cancelled, so Zoom and the store agree (as the
    saga's shield does). Unshielded, the cancel interrupted the local activity and the run went
    on to the saga, not cancelled."""
    key = register_then_branch(world, str(W_OPEN))
    await registered_through_the_saga(world, key, "first@customers.example")
    adds_before = (await world.zoom_requests()).get("add_registrant", 0)
    await world.admin.add_fault(
        FaultRule(operation="add_registrant", kind=FaultKind.LATENCY, latency_ms=12000, times=1)
    )
    contact_id = world.contact("cancelled@customers.example")
    started = await world.service.enroll(key, ContactIn(contact_id=contact_id))

    async def zoom_holds_the_call() -> bool:
        return (await world.zoom_requests()).get("add_registrant", 0) > adds_before

    await eventually(zoom_holds_the_call, "add-registrant reached Zoom", within=30)
    handle = world.client.get_workflow_handle(started.workflow_id, run_id=started.run_id)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=60)

    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    [registrant] = await world.registrants("cancelled@customers.example")
    [participation] = world.participations(contact_id)
    assert (participation.state, participation.registrant_id) == ("registered", registrant["id"])
    assert await started_children(world, key, contact_id) == []


REGISTER_THEN_WAIT = """
key: "{key}"
name: Register, branch on the outcome, wait
enrollment:
  triggers: [{type: api}]
steps:
  - id: register
    type: add_contact_to_zoom_webinar
    webinar_id: "WEBINAR"
    on_error: continue
  - id: check
    type: branch
    cases:
      - if: {outcome_of: register, is: REGISTERED}
        then: wait
    else: not_registered
  - id: not_registered
    type: webhook
    url: "RECEIVER/not-registered/{{ contact.id }}"
    body: {contact_id: "{{ contact.id }}"}
    next: done
  - id: wait
    type: delay
    until: "{{ steps.register.webinar_start_time if contact.zoom_webinar_joinlink else 'no join link yet' }}"
    offset: -8d
  - id: done
    type: end
"""


async def test_the_delay_after_a_registration_is_planned_by_the_registration_itself_16(world: World) -> None:
    """#16.1 (``registration-look-ahead``): register → branch on REGISTERED → delay. The local
    activity that registers also writes the registration's and the branch's outcomes and plans the
    delay (its ``until`` reads the registration's output): the run's only local activities are
    ``register_to_webinar`` and the close, its deadline is the one ``plan_delay`` computes — from
    the contact as the registration left it (its join link, R-PROP-2), not as it was read before —
    the action log is complete and in order, and the delay's row says until when it waited."""
    key = register_then_branch(world, str(W_OPEN))
    await registered_through_the_saga(world, key, "first@customers.example")
    text = REGISTER_THEN_WAIT.replace("WEBINAR", str(W_OPEN)).replace("RECEIVER", world.receiver.url)
    world.definitions.put("register-wait", text)
    wait_key = world.definitions.key("register-wait")
    contact_id = world.contact("ahead@customers.example")

    enrollment_id, result = await world.enroll_and_finish(wait_key, contact_id)

    assert (result["status"], result["reason"]) == ("completed", "end_step")
    rows = world.log(enrollment_id)
    assert outcomes(rows) == [
        ("register", "REGISTERED"),
        ("check", "COMPLETED"),
        ("wait", "COMPLETED"),
        ("done", "COMPLETED"),
    ]
    assert [row.sequence for row in rows] == [1, 2, 3, 4]
    start = datetime.fromisoformat(row_of(rows, "register").data["webinar_start_time"])
    assert datetime.fromisoformat(row_of(rows, "wait").data["until"]) == start - timedelta(days=8)
    assert row_of(rows, "check").data == {"case": 0, "next": "wait"}
    history = await world.client.get_workflow_handle(enrollment_workflow_id(wait_key, contact_id)).fetch_history()
    names = readable(history)
    assert "interpreter-generation-3" in names and "registration-look-ahead" not in names
    assert "plan_delay" not in names and "register_to_webinar" in names
    assert await started_children(world, wait_key, contact_id) == []


async def test_a_delay_the_registration_cannot_plan_is_planned_by_the_workflow_and_the_registration_kept_16(
    world: World,
) -> None:
    """#16.1: the delay after the registration gives no date-time. The registration's planning is
    undone (its savepoint) and the registration kept — Zoom's registrant and the store's
    participation agree, nothing is compensated —; the workflow then plans the delay itself
    (``plan_delay``), which fails with INVALID_DATETIME for the delay's ``on_error``."""
    key = register_then_branch(world, str(W_OPEN))
    await registered_through_the_saga(world, key, "first@customers.example")
    text = REGISTER_THEN_WAIT.replace("WEBINAR", str(W_OPEN)).replace("RECEIVER", world.receiver.url)
    text = text.replace("    offset: -8d\n", "    offset: -8d\n    on_error: continue\n").replace(
        "steps.register.webinar_start_time if", "'next thursday' if"
    )
    world.definitions.put("register-bad-wait", text)
    bad_key = world.definitions.key("register-bad-wait")
    contact_id = world.contact("unplanned@customers.example")

    enrollment_id, result = await world.enroll_and_finish(bad_key, contact_id)

    assert (result["status"], result["reason"]) == ("completed", "end_step")
    rows = world.log(enrollment_id)
    assert outcomes(rows) == [
        ("register", "REGISTERED"),
        ("check", "COMPLETED"),
        ("wait", "FAILED"),
        ("done", "COMPLETED"),
    ]
    assert "not an ISO 8601 date-time" in (row_of(rows, "wait").message or "")
    [registrant] = await world.registrants("unplanned@customers.example")
    [participation] = world.participations(contact_id)
    assert (participation.state, participation.registrant_id) == ("registered", registrant["id"])
    history = await world.client.get_workflow_handle(enrollment_workflow_id(bad_key, contact_id)).fetch_history()
    names = readable(history)
    assert "plan_delay" in names and "register_to_webinar" in names
    assert await started_children(world, bad_key, contact_id) == []
