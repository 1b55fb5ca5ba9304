"""The "Add Contact to Zoom Webinar" action (R-ADD-1…8) as a Temporal child workflow, end to end: the
real dev server, the loopback Zoom emulator over real HTTP, and the CRM store on every configured
backend. One test per outcome code, plus the behaviours of issue #6's acceptance list.

Crash test: ``test_add_to_webinar_crash.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from integration.zoom.zoom_world import (
    ALT_HOST_EMAIL,
    FREE,
    HOST_EMAIL,
    MAIN,
    NOW,
    W_FREE,
    W_MANUAL,
    W_NO_REGISTRATION,
    W_OPEN,
    W_PAST,
    W_QUESTIONS,
    W_ZOOM_EVENT,
)
from sqlalchemy import Engine
from sqlmodel import Session
from support.history import readable
from support.waiting import eventually
from support.zoom import emulator_connection
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.failures import FailureType, zoom_failure
from activities.zoom_registration import WEBINAR_CACHE_TTL, ZoomRegistrationActivities
from engine import failpoints
from engine.crm.accounts import create_business_unit, create_zoom_connection
from engine.crm.contacts import create_contact
from engine.crm.tables import Contact, Participation, TimelineEvent, ZoomConnection, table_of
from engine.dsl.models import StepRetry
from engine.dsl.outcomes import StepOutcomeCode
from engine.enrollment.registration import HOST_CANNOT_REGISTER_MESSAGE, registration_refusal
from engine.temporal import SearchAttribute
from engine.zoom import (
    FieldError,
    RateLimitType,
    ZoomApiError,
    ZoomClient,
    ZoomHostCannotRegister,
    ZoomRateLimited,
    ZoomRegistrationDisabled,
    ZoomServerError,
    ZoomValidationError,
)
from engine.zoom.models import NewRegistrant
from engine.zoom.settings import ZoomSettings
from workflows.add_to_webinar import (
    AddContactToWebinarWorkflow,
    AddToWebinarInput,
    AddToWebinarResult,
    add_to_webinar_summary,
    add_to_webinar_workflow_id,
    result_from_failure,
)
from zoom_emulator import EmulatorAdmin, EmulatorServer, FaultKind, FaultRule
from zoom_emulator.core.seeds import StandardQuestionSeed, WebinarSeed

pytestmark = pytest.mark.timeout(90)

PRIMARY = "account"
SECOND = "europe"
CONNECTOR_EMAIL = "connector@rollcall.example"
#: Fast retries, enough attempts for five 503s in a row.
FAST_RETRY = StepRetry.model_validate(
    {"max_attempts": 10, "initial_interval": "1s", "backoff": 1.0, "maximum_interval": "1s"}
)


@dataclass
class Harness:
    client: Client
    task_queue: str
    engine: Engine
    admin: EmulatorAdmin
    server: EmulatorServer
    activities: ZoomRegistrationActivities

    def contact(self, email: str, first_name: str | None = "Ada", last_name: str | None = "Lovelace") -> int:
        with Session(self.engine) as session:
            contact = create_contact(session, email=email, first_name=first_name, last_name=last_name)
            session.commit()
            assert contact.id is not None
            return contact.id

    async def start(
        self, contact_id: int, webinar_id: str | int, retry: StepRetry | None = None
    ) -> WorkflowHandle[Any, AddToWebinarResult]:
        text = str(webinar_id)
        return await self.client.start_workflow(
            AddContactToWebinarWorkflow.run,
            AddToWebinarInput(contact_id=contact_id, webinar_id=text, retry=retry or FAST_RETRY),
            # A suffix keeps runs of different tests on the shared dev server apart.
            id=f"{add_to_webinar_workflow_id(text, contact_id)}:{uuid.uuid4().hex[:8]}",
            task_queue=self.task_queue,
            static_summary=add_to_webinar_summary(text, contact_id),
            execution_timeout=timedelta(seconds=80),
        )

    async def run(self, contact_id: int, webinar_id: str | int, retry: StepRetry | None = None) -> AddToWebinarResult:
        handle = await self.start(contact_id, webinar_id, retry)
        return await handle.result()

    def participations(self, contact_id: int) -> list[Participation]:
        with Session(self.engine) as session:
            rows = session.scalars(
                sa.select(Participation).where(table_of(Participation).c.contact_id == contact_id)
            ).all()
            return list(rows)

    def timeline(self, contact_id: int) -> list[TimelineEvent]:
        with Session(self.engine) as session:
            rows = session.scalars(
                sa.select(TimelineEvent).where(table_of(TimelineEvent).c.contact_id == contact_id)
            ).all()
            return list(rows)

    def stored_contact(self, contact_id: int) -> Contact:
        with Session(self.engine) as session:
            contact = session.get(Contact, contact_id)
            assert contact is not None
            session.expunge(contact)
            return contact

    async def add_calls(self) -> int:
        stats = await self.admin.stats()
        return int(stats["requests"].get("add_registrant", 0))

    async def registrants(self, webinar_id: int, email: str) -> list[dict[str, Any]]:
        return [r for r in await self.admin.registrants(webinar_id) if r["email"].lower() == email.lower()]


def _crm_with_two_business_units(engine: Engine, primary: str = PRIMARY, second: str = SECOND) -> None:
    """BU ``Account`` (id 1) owns the main Zoom account; BU ``Europe`` owns the Free-plan one."""
    with Session(engine) as session:
        europe = create_business_unit(session, "Europe")
        assert europe.id is not None
        create_zoom_connection(
            session,
            business_unit_id=1,
            name=primary,
            zoom_account_id=MAIN,
            connected_by_email=CONNECTOR_EMAIL,
            credentials_ref="env:ZOOM_ACCOUNT",
        )
        create_zoom_connection(
            session,
            business_unit_id=europe.id,
            name=second,
            zoom_account_id=FREE,
            connected_by_email="free@rollcall.example",
            credentials_ref="env:ZOOM_EUROPE",
        )
        session.commit()


@pytest.fixture
def connection_names() -> tuple[str, str]:
    """Names of the primary BU's and the second BU's Zoom connections (a test may override them)."""
    return PRIMARY, SECOND


@pytest.fixture
def activity_options() -> dict[str, Any]:
    """Keyword arguments of ``ZoomRegistrationActivities`` (a test may override them): by default
    no webinar cache, so every run asks Zoom."""
    return {}


@pytest.fixture
async def harness(
    temporal_client: Client,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    db_engine: Engine,
    emulator_server: EmulatorServer,
    admin: EmulatorAdmin,
    connection_names: tuple[str, str],
    activity_options: dict[str, Any],
) -> AsyncIterator[Harness]:
    primary, second = connection_names
    _crm_with_two_business_units(db_engine, primary, second)
    settings = ZoomSettings(
        connections=[
            emulator_connection(emulator_server, MAIN, name=primary),
            emulator_connection(emulator_server, FREE, name=second),
        ]
    )
    activities = ZoomRegistrationActivities(db_engine, settings, **activity_options)
    worker = Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[AddContactToWebinarWorkflow],
        activities=activities.activities(),
        activity_executor=activity_executor,
        # A bug in workflow code fails the run at once instead of retrying the task forever.
        workflow_failure_exception_types=[Exception],
    )
    try:
        async with worker:
            yield Harness(temporal_client, task_queue, db_engine, admin, emulator_server, activities)
    finally:
        failpoints.disarm_all()
        await activities.aclose()


# --- REGISTERED ----------------------------------------------------------------------------------


async def test_registers_the_contact_and_records_every_effect(harness: Harness) -> None:
    """R-ADD-1 and R-ADD-7: Zoom gets first name, last name and primary email; the store gets the
    participation with the personal join link, the timeline event and the rollups (R-PROP-2/3)."""
    contact_id = harness.contact("ada@customers.example", "Ada", "Lovelace")
    handle = await harness.start(contact_id, W_OPEN)
    result = await handle.result()

    assert result.code == StepOutcomeCode.REGISTERED
    assert result.webinar_id == str(W_OPEN)
    assert result.approval == "approved"
    assert result.connection == PRIMARY
    [registrant] = await harness.registrants(W_OPEN, "ada@customers.example")
    assert registrant["id"] == result.registrant_id
    assert "tk=" in registrant["join_url"]
    # #17.5: the personal join link is in the store (below), not in the run's result.
    assert result.join_url is None
    assert registrant["status"] == "approved"
    assert result.webinar_start_time == NOW + timedelta(days=7)
    assert result.webinar_end_time == NOW + timedelta(days=7, minutes=60)
    outputs = result.outputs()
    assert outputs["webinar_end_time"] == "2025-06-09T10:00:00Z"
    assert "join_url" not in outputs
    json.dumps(outputs)  # templates read plain JSON

    [participation] = harness.participations(contact_id)
    assert participation.state == "registered"
    assert participation.join_link == registrant["join_url"]
    assert participation.registrant_id == result.registrant_id
    [event] = harness.timeline(contact_id)
    assert event.kind == "webinar_registration"
    assert event.data["webinar_id"] == str(W_OPEN)
    contact = harness.stored_contact(contact_id)
    assert contact.zoom_webinar_joinlink == registrant["join_url"]
    assert contact.zoom_webinar_registration_count == 1

    # Readable in the Web UI, and no contact PII in search attributes or history.
    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes[SearchAttribute.WEBINAR_ID] == str(W_OPEN)
    assert attributes[SearchAttribute.CONTACT_ID] == str(contact_id)
    assert attributes[SearchAttribute.ZOOM_CONNECTION] == PRIMARY
    assert attributes[SearchAttribute.ZOOM_ACCOUNT] == MAIN
    assert attributes[SearchAttribute.BUSINESS_UNIT] == "Account"
    assert attributes[SearchAttribute.STATUS] == "REGISTERED"
    assert await description.static_summary() == f"register contact {contact_id} → webinar {W_OPEN}"
    history = readable(await handle.fetch_history())
    assert "ada@customers.example" not in history
    assert "Lovelace" not in history
    # #17.5: no staff e-mail (the webinar's host, the connecting user) and no personal join link either.
    assert HOST_EMAIL not in history and CONNECTOR_EMAIL not in history
    assert registrant["join_url"] not in history


async def test_manual_approval_webinar_gives_a_pending_registration(harness: Harness) -> None:
    contact_id = harness.contact("pat@customers.example")
    result = await harness.run(contact_id, W_MANUAL)
    assert (result.code, result.approval) == (StepOutcomeCode.REGISTERED, "pending")
    [registrant] = await harness.registrants(W_MANUAL, "pat@customers.example")
    assert registrant["status"] == "pending"


async def test_dashed_webinar_id_is_normalised(harness: Harness) -> None:
    """R-ADD-2: ``123-4567-8901`` style ids (and spaces) are normalised before anything else."""
    contact_id = harness.contact("dash@customers.example")
    result = await harness.run(contact_id, "910-0000-0001")
    assert (result.code, result.webinar_id) == (StepOutcomeCode.REGISTERED, str(W_OPEN))
    assert add_to_webinar_workflow_id("910 0000 0001", 7) == f"add-to-webinar:{W_OPEN}:7"


async def test_the_same_contact_twice_is_one_registrant_counted_once(harness: Harness) -> None:
    """R-ADD-7: Zoom answers the same email with the same registrant; the store counts it once."""
    contact_id = harness.contact("twice@customers.example")
    first = await harness.run(contact_id, W_OPEN)
    second = await harness.run(contact_id, W_OPEN)

    assert first.code == second.code == StepOutcomeCode.REGISTERED
    assert second.registrant_id == first.registrant_id
    assert (first.details["repeat"], second.details["repeat"]) == (False, True)
    assert len(await harness.registrants(W_OPEN, "twice@customers.example")) == 1
    assert await harness.add_calls() == 2
    assert len(harness.participations(contact_id)) == 1
    assert len(harness.timeline(contact_id)) == 1
    assert harness.stored_contact(contact_id).zoom_webinar_registration_count == 1


@pytest.mark.parametrize("connection_names", [("zz-main", "aa-europe")])
async def test_the_store_remembers_which_connection_owns_a_webinar(harness: Harness) -> None:
    """The first resolution asks every connection in turn; once the registration is recorded, the
    marketing event's connection is asked first (no call to the other Zoom account)."""

    async def webinar_lookups() -> int:
        return int((await harness.admin.stats())["requests"].get("get_webinar", 0))

    first = await harness.run(harness.contact("one@customers.example"), W_OPEN)
    assert (first.code, first.connection) == (StepOutcomeCode.REGISTERED, "zz-main")
    assert await webinar_lookups() == 2  # aa-europe: not found, then zz-main
    second = await harness.run(harness.contact("two@customers.example"), W_OPEN)
    assert second.code == StepOutcomeCode.REGISTERED
    assert await webinar_lookups() == 3


async def test_five_503s_then_201_is_registered(harness: Harness) -> None:
    """R-ADD-6: transient Zoom failures are retried durably by Temporal under the step's policy."""
    await harness.admin.add_fault(FaultRule(operation="add_registrant", kind=FaultKind.ERROR, status=503, times=5))
    contact_id = harness.contact("flaky@customers.example")
    result = await harness.run(contact_id, W_OPEN)
    assert result.code == StepOutcomeCode.REGISTERED
    stats = await harness.admin.stats()
    assert stats["faults_fired"] == [["add_registrant", "error"]] * 5
    assert stats["requests"]["add_registrant"] == 6
    assert len(await harness.registrants(W_OPEN, "flaky@customers.example")) == 1
    assert len(harness.participations(contact_id)) == 1


async def test_per_second_429s_are_retried(harness: Harness) -> None:
    """A 429 without Retry-After (Zoom's QPS limit) is retried with a jittered backoff."""
    await harness.admin.add_fault(FaultRule(operation="add_registrant", kind=FaultKind.RATE_LIMIT, times=2))
    contact_id = harness.contact("qps@customers.example")
    result = await harness.run(contact_id, W_OPEN)
    assert result.code == StepOutcomeCode.REGISTERED
    assert (await harness.admin.stats())["faults_fired"] == [["add_registrant", "rate_limit"]] * 2


def test_retry_after_drives_the_next_retry_delay() -> None:
    """Zoom's Retry-After becomes Temporal's next_retry_delay; 5xx follow the policy; 4xx are final."""
    limited = ZoomRateLimited("slow down", limit_type=RateLimitType.QPS, retry_after_seconds=7, http_status=429)
    error = zoom_failure(limited, jitter=StepRetry())
    assert (error.non_retryable, error.next_retry_delay) == (False, timedelta(seconds=7))
    error = zoom_failure(ZoomServerError("boom", http_status=503), jitter=StepRetry())
    assert (error.non_retryable, error.next_retry_delay) == (False, None)
    assert zoom_failure(ZoomApiError("no", http_status=400), jitter=StepRetry()).non_retryable


def test_zoom_answers_that_are_outcomes() -> None:
    """Zoom's own refusals map to the same outcomes as the pre-flight checks (R-ADD-4/5/6)."""
    host = registration_refusal(ZoomHostCannotRegister("Host cannot register.", zoom_code=3027), "1")
    assert host is not None
    assert (host.code, host.message) == (StepOutcomeCode.HOST_CANNOT_REGISTER, HOST_CANNOT_REGISTER_MESSAGE)
    form = registration_refusal(
        ZoomValidationError(
            "Validation Failed.",
            zoom_code=300,
            field_errors=(
                FieldError("job_title", "job_title is required."),
                FieldError("custom_questions", "Company size is required."),
            ),
        ),
        "1",
    )
    assert form is not None
    assert (form.code, form.details["fields"]) == (StepOutcomeCode.EXTRA_REQUIRED_FIELDS, ["job_title", "Company size"])
    names = registration_refusal(
        ZoomValidationError("Validation Failed.", zoom_code=300, field_errors=(FieldError("first_name", "x"),)), "1"
    )
    assert names is not None and names.code == StepOutcomeCode.MISSING_CONTACT_FIELDS
    disabled = registration_refusal(ZoomRegistrationDisabled("no registration", zoom_code=3000), "1")
    assert disabled is not None and disabled.code == StepOutcomeCode.REGISTRATION_DISABLED
    assert registration_refusal(ZoomServerError("boom", http_status=503), "1") is None


async def test_a_retry_after_zoom_accepted_registers_nobody_twice(harness: Harness) -> None:
    """At-least-once activities: the register activity fails after Zoom's 201 (before reporting it);
    its retry gets the same registrant back, and the store records one participation."""
    failpoints.arm("zoom_registration.after_add_registrant", "error", times=1)
    contact_id = harness.contact("again@customers.example")
    result = await harness.run(contact_id, W_OPEN)
    assert result.code == StepOutcomeCode.REGISTERED
    assert await harness.add_calls() == 2
    [registrant] = await harness.registrants(W_OPEN, "again@customers.example")
    assert registrant["id"] == result.registrant_id
    assert len(harness.participations(contact_id)) == 1


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("webinar_id", ["webinar 42", "123-4567-890a", "12345"])
async def test_invalid_webinar_id(harness: Harness, webinar_id: str) -> None:
    contact_id = harness.contact("inv@customers.example")
    result = await harness.run(contact_id, webinar_id)
    assert result.code == StepOutcomeCode.INVALID_WEBINAR_ID
    assert "9 to 12 digits" in result.message
    assert (await harness.admin.stats())["requests"] == {}


async def test_webinar_not_found(harness: Harness) -> None:
    contact_id = harness.contact("nf@customers.example")
    result = await harness.run(contact_id, "99999999999")
    assert result.code == StepOutcomeCode.WEBINAR_NOT_FOUND
    assert result.details["asked"] == [PRIMARY, SECOND]
    assert await harness.add_calls() == 0


async def test_webinar_of_the_second_business_unit_is_not_registered(harness: Harness) -> None:
    """R-ADD-3: a webinar of the Zoom account connected to BU Europe; the result says why."""
    contact_id = harness.contact("bu@customers.example")
    result = await harness.run(contact_id, W_FREE)
    assert result.code == StepOutcomeCode.BUSINESS_UNIT_MISMATCH
    assert "'Europe'" in result.message and "primary business unit" in result.message
    assert result.details == {
        "reason": "other_business_unit",
        "connection": SECOND,
        "business_unit": "Europe",
        "business_unit_id": 2,
    }
    assert await harness.add_calls() == 0
    assert harness.participations(contact_id) == []


async def test_webinar_of_a_connection_with_no_business_unit_is_not_registered(harness: Harness) -> None:
    """R-ADD-3 "or of no connected account": configured for the worker, unknown to the store."""
    with Session(harness.engine) as session:
        session.execute(sa.delete(table_of(ZoomConnection)).where(table_of(ZoomConnection).c.name == SECOND))
        session.commit()
    contact_id = harness.contact("nobu@customers.example")
    result = await harness.run(contact_id, W_FREE)
    assert result.code == StepOutcomeCode.BUSINESS_UNIT_MISMATCH
    assert result.details["reason"] == "no_business_unit"
    assert await harness.add_calls() == 0


@pytest.mark.parametrize(
    ("email", "role"),
    [
        (HOST_EMAIL, "host"),
        (ALT_HOST_EMAIL.upper(), "alternative_host"),
        ("Alt.One@Rollcall.Example", "alternative_host"),
        (CONNECTOR_EMAIL, "connecting_user"),
    ],
)
async def test_hosts_and_the_connecting_user_cannot_register(harness: Harness, email: str, role: str) -> None:
    """R-ADD-4: refused before any add-registrant call, with the exact message."""
    contact_id = harness.contact(email)
    before = len(await harness.admin.registrants(W_OPEN))
    result = await harness.run(contact_id, W_OPEN)
    assert result.code == StepOutcomeCode.HOST_CANNOT_REGISTER
    assert result.message == HOST_CANNOT_REGISTER_MESSAGE == "The webinar host cannot register for the webinar"
    assert result.details == {"role": role, "detected_by": "rollcall"}
    assert await harness.add_calls() == 0
    assert len(await harness.admin.registrants(W_OPEN)) == before


async def test_registration_turned_off(harness: Harness) -> None:
    contact_id = harness.contact("off@customers.example")
    result = await harness.run(contact_id, W_NO_REGISTRATION)
    assert result.code == StepOutcomeCode.REGISTRATION_DISABLED
    assert "approval_type 2" in result.message
    assert await harness.add_calls() == 0


async def test_zoom_event_webinar_is_refused(harness: Harness) -> None:
    """R-SCOPE-2: Rollcall does not register contacts to Zoom Events."""
    contact_id = harness.contact("event@customers.example")
    result = await harness.run(contact_id, W_ZOOM_EVENT)
    assert result.code == StepOutcomeCode.REGISTRATION_DISABLED
    assert result.details == {"reason": "zoom_event"}
    assert await harness.add_calls() == 0


async def test_ended_webinar(harness: Harness) -> None:
    """R-ADD-6: Zoom's 3038 (webinar over) is an outcome, not retried."""
    contact_id = harness.contact("late@customers.example")
    result = await harness.run(contact_id, W_PAST)
    assert result.code == StepOutcomeCode.WEBINAR_ENDED
    assert await harness.add_calls() == 1
    assert harness.participations(contact_id) == []


async def test_required_standard_and_custom_questions_are_named(harness: Harness) -> None:
    """R-ADD-5: pre-flight of the questions endpoint; no add-registrant call."""
    contact_id = harness.contact("form@customers.example")
    result = await harness.run(contact_id, W_QUESTIONS)
    assert result.code == StepOutcomeCode.EXTRA_REQUIRED_FIELDS
    assert result.details["fields"] == ["city", "Company size"]
    assert "city, Company size" in result.message
    assert await harness.add_calls() == 0


async def test_a_form_requiring_job_title_is_refused_naming_it(harness: Harness) -> None:
    webinar_id = 91000000077
    await harness.admin.add_webinar(
        MAIN,
        WebinarSeed(
            id=webinar_id,
            host_id="u-host",
            topic="Job title required",
            start_time=NOW + timedelta(days=3),
            questions=[StandardQuestionSeed(field_name="job_title", required=True)],
        ),
    )
    contact_id = harness.contact("job@customers.example")
    result = await harness.run(contact_id, webinar_id)
    assert result.code == StepOutcomeCode.EXTRA_REQUIRED_FIELDS
    assert result.details["fields"] == ["job_title"]
    assert "job_title" in result.message
    assert await harness.add_calls() == 0


async def test_contact_without_first_name(harness: Harness) -> None:
    contact_id = harness.contact("noname@customers.example", first_name=None, last_name=None)
    result = await harness.run(contact_id, W_OPEN)
    assert result.code == StepOutcomeCode.MISSING_CONTACT_FIELDS
    assert result.details["fields"] == ["first_name"]
    assert await harness.add_calls() == 0


async def test_contact_without_last_name_when_the_form_requires_it(harness: Harness) -> None:
    webinar_id = 91000000078
    await harness.admin.add_webinar(
        MAIN,
        WebinarSeed(
            id=webinar_id,
            host_id="u-host",
            topic="Last name required",
            start_time=NOW + timedelta(days=3),
            questions=[StandardQuestionSeed(field_name="last_name", required=True)],
        ),
    )
    contact_id = harness.contact("mono@customers.example", first_name="Mono", last_name=None)
    result = await harness.run(contact_id, webinar_id)
    assert result.code == StepOutcomeCode.MISSING_CONTACT_FIELDS
    assert result.details["fields"] == ["last_name"]
    # With a last name the same webinar accepts the contact.
    other = harness.contact("duo@customers.example", first_name="Duo", last_name="Two")
    assert (await harness.run(other, webinar_id)).code == StepOutcomeCode.REGISTERED


async def test_daily_add_limit_for_the_contact(harness: Harness) -> None:
    """Zoom allows 3 adds per email, webinar and UTC day: the 4th is DAILY_LIMIT_REACHED, not retried."""
    email = "busy@customers.example"
    contact_id = harness.contact(email)
    async with ZoomClient(emulator_connection(harness.server, MAIN), utcnow=lambda: NOW) as zoom:
        for _ in range(3):
            await zoom.add_registrant(W_OPEN, NewRegistrant(email=email, first_name="Busy"))
    result = await harness.run(contact_id, W_OPEN)
    assert result.code == StepOutcomeCode.DAILY_LIMIT_REACHED
    assert result.details["scope"] == "registrant"
    assert email not in result.message
    assert await harness.add_calls() == 4
    assert harness.participations(contact_id) == []


async def test_daily_limit_of_the_zoom_account(harness: Harness) -> None:
    """The account's daily API budget is spent (429 Daily-limit with an ISO Retry-After): an outcome."""
    await harness.admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.RATE_LIMIT, daily=True, times=1))
    contact_id = harness.contact("quota@customers.example")
    result = await harness.run(contact_id, W_OPEN)
    assert result.code == StepOutcomeCode.DAILY_LIMIT_REACHED
    assert result.details["scope"] == "account"
    assert await harness.add_calls() == 0


# --- compensation (R-ADD-8) ----------------------------------------------------------------------


async def test_permanent_store_failure_after_zoom_accepted_cancels_the_registrant(harness: Harness) -> None:
    """The store refuses the registration permanently: the registrant is cancelled in Zoom and the
    failure says so (raised, so the enrollment's on_error applies; the FAILED result is attached)."""
    failpoints.arm("zoom_registration.before_commit", "permanent-error")
    contact_id = harness.contact("doomed@customers.example")
    handle = await harness.start(contact_id, W_OPEN)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()

    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == FailureType.ZOOM_REGISTRATION_COMPENSATED
    assert cause.non_retryable
    assert "cancelled (compensated)" in cause.message
    result = result_from_failure(caught.value)
    assert result is not None
    assert result.code == StepOutcomeCode.FAILED
    assert result.details["compensated"] is True
    assert result.details["registrant_cancelled"] is True
    [registrant] = await harness.registrants(W_OPEN, "doomed@customers.example")
    assert registrant["cancelled"] is True
    assert registrant["id"] == result.details["registrant_id"]
    # The store wrote nothing: one transaction, rolled back.
    assert harness.participations(contact_id) == []
    assert harness.timeline(contact_id) == []
    assert harness.stored_contact(contact_id).zoom_webinar_registration_count == 0
    assert (await handle.describe()).typed_search_attributes[SearchAttribute.STATUS] == "FAILED"


async def test_compensation_survives_a_cancel_request(harness: Harness) -> None:
    """A cancel request arriving while the compensation waits on Zoom does not stop it."""
    failpoints.arm("zoom_registration.before_commit", "permanent-error")
    await harness.admin.add_fault(
        FaultRule(operation="update_registrant_status", kind=FaultKind.LATENCY, latency_ms=2500, times=1)
    )
    contact_id = harness.contact("cancelme@customers.example")
    handle = await harness.start(contact_id, W_OPEN)

    async def compensating() -> object:
        return (await harness.admin.stats())["requests"].get("update_registrant_status")

    await eventually(compensating, "the compensation to call Zoom", within=10)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert isinstance(caught.value.cause, ApplicationError)
    assert caught.value.cause.type == FailureType.ZOOM_REGISTRATION_COMPENSATED
    history = await handle.fetch_history()
    assert any(e.HasField("workflow_execution_cancel_requested_event_attributes") for e in history.events)
    [registrant] = await harness.registrants(W_OPEN, "cancelme@customers.example")
    assert registrant["cancelled"] is True
    assert harness.participations(contact_id) == []


async def test_cancel_before_zoom_is_called_just_cancels(harness: Harness) -> None:
    """Before the registration is sent nothing needs undoing: a cancel request cancels the run."""
    await harness.admin.add_fault(
        FaultRule(operation="get_registration_questions", kind=FaultKind.LATENCY, latency_ms=3000, times=1)
    )
    contact_id = harness.contact("early@customers.example")
    handle = await harness.start(contact_id, W_OPEN)
    for _ in range(200):
        if (await harness.admin.stats())["requests"].get("get_registration_questions"):
            break
        await asyncio.sleep(0.05)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert await harness.add_calls() == 0


# --- few round trips (#16.1) and no staff e-mail in history (#17.5) -----------------------------------

WORKER_CACHE = {"webinar_cache_ttl": WEBINAR_CACHE_TTL}


def _scheduled(history: WorkflowHistory) -> list[str]:
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]


async def test_a_registration_is_one_pre_flight_and_one_register_and_record(harness: Harness) -> None:
    """#16.1 with a cold cache: the run schedules two activities (the pre-flight that asks Zoom, then
    add-registrant and the store write), and Zoom is asked about the webinar and its form once each
    (the register step reuses the pre-flight's answer) before the one add-registrant call."""
    contact_id = harness.contact("quick@customers.example")
    handle = await harness.start(contact_id, W_OPEN)
    assert (await handle.result()).code == StepOutcomeCode.REGISTERED
    assert _scheduled(await handle.fetch_history()) == ["preflight_registration", "register_and_record"]
    requests = (await harness.admin.stats())["requests"]
    assert (requests["get_webinar"], requests["get_registration_questions"], requests["add_registrant"]) == (1, 1, 1)
    assert len(harness.participations(contact_id)) == 1


@pytest.mark.parametrize("activity_options", [WORKER_CACHE])
async def test_with_the_worker_cache_the_next_registration_is_one_activity_and_one_zoom_call(
    harness: Harness,
) -> None:
    """#16.1: the worker keeps Zoom's answers about the webinar (owner, host, form) for a short
    while, so the next contact's pre-flight only reads the store, as a local activity: the run
    schedules one activity, and Zoom gets one add-registrant call. The same rules apply (R-ADD-4:
    an alternative host is still refused, before add-registrant)."""
    assert (await harness.run(harness.contact("first@customers.example"), W_OPEN)).code == StepOutcomeCode.REGISTERED
    before = (await harness.admin.stats())["requests"]
    handle = await harness.start(harness.contact("second@customers.example"), W_OPEN)
    assert (await handle.result()).code == StepOutcomeCode.REGISTERED
    assert _scheduled(await handle.fetch_history()) == ["register_and_record"]
    after = (await harness.admin.stats())["requests"]
    assert {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)} == {
        "add_registrant": 1
    }
    host = await harness.run(harness.contact(ALT_HOST_EMAIL), W_OPEN)
    assert (host.code, host.details) == (
        StepOutcomeCode.HOST_CANNOT_REGISTER,
        {"role": "alternative_host", "detected_by": "rollcall"},
    )
    assert (await harness.admin.stats())["requests"] == after


SHORT_CACHE = {"webinar_cache_ttl": timedelta(seconds=9)}


@pytest.mark.parametrize("activity_options", [SHORT_CACHE])
async def test_a_webinar_in_use_is_asked_again_before_its_cached_answers_expire_16(harness: Harness) -> None:
    """#16.1: a registration that finds the cached answers near their end (2 s of the 9 left, under
    a third) has Zoom asked again in the background, once; a registration after the first answers
    expired still takes the cache. Before, they all expired together and every registration of
    that moment asked Zoom through the saga's pre-flight (bench/add_to_webinar.py: 737 saga runs
    for 1,000 contacts instead of 26)."""
    assert (await harness.run(harness.contact("first@customers.example"), W_OPEN)).code == StepOutcomeCode.REGISTERED
    asked = (await harness.admin.stats())["requests"]
    assert (asked["get_webinar"], asked["get_registration_questions"]) == (1, 1)
    left = harness.activities._webinars.expires_in(str(W_OPEN))
    assert left is not None and left > 2
    first_expiry = time.monotonic() + left
    await asyncio.sleep(left - 2)
    handle = await harness.start(harness.contact("second@customers.example"), W_OPEN)
    assert (await handle.result()).code == StepOutcomeCode.REGISTERED
    assert _scheduled(await handle.fetch_history()) == ["register_and_record"]

    async def asked_again() -> bool:
        requests = (await harness.admin.stats())["requests"]
        return (requests["get_webinar"], requests["get_registration_questions"]) == (2, 2)

    await eventually(asked_again, "Zoom asked again about the webinar and its form", within=10)
    await asyncio.sleep(max(0.0, first_expiry + 0.5 - time.monotonic()))
    handle = await harness.start(harness.contact("third@customers.example"), W_OPEN)
    assert (await handle.result()).code == StepOutcomeCode.REGISTERED
    assert _scheduled(await handle.fetch_history()) == ["register_and_record"]
    requests = (await harness.admin.stats())["requests"]
    assert (requests["get_webinar"], requests["get_registration_questions"], requests["add_registrant"]) == (2, 2, 3)


@pytest.mark.parametrize("activity_options", [WORKER_CACHE])
async def test_a_webinar_that_ended_since_it_was_cached_is_refused_by_zoom(harness: Harness) -> None:
    """R-ADD-6 with a cached webinar: Zoom's answer to add-registrant (3038, webinar over) is the
    outcome WEBINAR_ENDED; nothing is recorded."""
    assert (await harness.run(harness.contact("early@customers.example"), W_OPEN)).code == StepOutcomeCode.REGISTERED
    await harness.admin.advance_clock(timedelta(days=8).total_seconds())
    late = harness.contact("late@customers.example")
    result = await harness.run(late, W_OPEN)
    assert result.code == StepOutcomeCode.WEBINAR_ENDED
    assert harness.participations(late) == []


async def test_a_store_failure_that_passes_is_retried_without_registering_again(harness: Harness) -> None:
    """R-ADD-7: the store write fails twice for a reason that may pass (after Zoom's 201): it is
    retried inside the activity, so Zoom gets one add-registrant call (not one per retry) and the
    store one participation."""
    failpoints.arm("zoom_registration.before_commit", "error", times=2)
    contact_id = harness.contact("patient@customers.example")
    result = await harness.run(contact_id, W_OPEN)
    assert result.code == StepOutcomeCode.REGISTERED
    assert await harness.add_calls() == 1
    [participation] = harness.participations(contact_id)
    assert participation.registrant_id == result.registrant_id


@pytest.mark.parametrize("activity_options", [{"store_patience": timedelta(seconds=2)}])
async def test_a_store_that_stays_unavailable_is_compensated(harness: Harness) -> None:
    """R-ADD-8: a store that keeps failing for longer than the activity's patience counts as a
    permanent refusal: the registrant is cancelled in Zoom and the run fails COMPENSATED."""
    failpoints.arm("zoom_registration.before_commit", "error")
    contact_id = harness.contact("unlucky@customers.example")
    handle = await harness.start(contact_id, W_OPEN)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert (
        isinstance(caught.value.cause, ApplicationError)
        and caught.value.cause.type == FailureType.ZOOM_REGISTRATION_COMPENSATED
    )
    result = result_from_failure(caught.value)
    assert result is not None
    assert "failed for 2 s" in result.details["store_error"]
    assert (result.details["compensated"], result.details["registrant_cancelled"]) == (True, True)
    [registrant] = await harness.registrants(W_OPEN, "unlucky@customers.example")
    assert registrant["cancelled"] is True
    assert harness.participations(contact_id) == []


@pytest.mark.parametrize("email", [HOST_EMAIL, ALT_HOST_EMAIL, CONNECTOR_EMAIL])
async def test_a_refused_host_leaves_no_e_mail_in_history(harness: Harness, email: str) -> None:
    """#17.5: hosts, alternative hosts and the connecting user are compared inside the pre-flight:
    the run's history names the host by Zoom user id and holds none of their e-mails — not even when
    the contact registering is one of them (R-ADD-4)."""
    handle = await harness.start(harness.contact(email), W_OPEN)
    assert (await handle.result()).code == StepOutcomeCode.HOST_CANNOT_REGISTER
    history = readable(await handle.fetch_history()).lower()
    assert not [staff for staff in (HOST_EMAIL, ALT_HOST_EMAIL, CONNECTOR_EMAIL) if staff.lower() in history]
    assert '"host_id":"u-host"' in history
