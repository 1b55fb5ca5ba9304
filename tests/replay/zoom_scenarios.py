"""The saga and sync scenarios of ``record_histories.py`` (issue #18 point 1, #16 acceptance).

``AddContactToWebinar`` runs as the child of an enrollment, as in production: registered,
refused by the host check (R-ADD-4), refused by the business-unit check (R-ADD-3), and
compensated (R-ADD-8: Zoom accepted, the store refused for good through the failpoint
``zoom_registration.before_commit``, the registrant is cancelled); the enrollment that started the
registered one is recorded too (``enrollment-register-step``). ``WebinarSync`` runs a plain
completed sync of an ended webinar, and one that waits for a transcript (R-SYNC-5): a 30-minute
timer, a registration webhook meanwhile (registrants and attendees refreshed in the same run),
then the recording webhook's signal once the transcript is ready in Zoom.

Each recorder checks that its run ended as its name says, so a recorded file is what it claims.
The Zoom side is the project's emulator over loopback HTTP, its clock frozen at ``NOW``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session
from support.zoom import emulator_connection
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from engine import failpoints
from engine.crm.accounts import create_business_unit, create_zoom_connection
from engine.crm.contacts import create_contact
from engine.crm.enrollments import step_history
from engine.crm.sync_settings import SyncSettingsValues, put_sync_settings
from engine.enrollment.definitions import put_definition_text
from engine.enrollment.service import ContactIn, EnrollmentService
from engine.sync.contracts import RECORDING_SIGNAL, TRIGGER_SIGNAL, SyncResult
from engine.sync.triggers import request_sync
from engine.zoom.settings import ZoomPlan, ZoomSettings
from workflows.add_to_webinar import AddToWebinarResult, add_to_webinar_workflow_id
from zoom_emulator import EmulatorAdmin, EmulatorServer, SeedDocument
from zoom_emulator.core.seeds import (
    AccountSeed,
    GenerateRegistrants,
    GenerateSessions,
    InstanceSeed,
    RecordingFileSeed,
    RecordingSeed,
    RegistrantSeed,
    SessionSeed,
    UserSeed,
    WebinarSeed,
)

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
MAIN, OTHER = "acct-replay-main", "acct-replay-other"
#: Connections: the primary BU's (``Account``) and a second BU's.
PRIMARY, SECOND = "replay-main", "replay-europe"
HOST = "host@rollcall.example"
ALT_HOST = "alt.host@rollcall.example"
CONNECTOR = "connector@rollcall.example"
W_OPEN = 94000000001  # next week, registration open (approval 0)
W_ENDED = 94000000002  # ended 2 h ago: registrants, sessions (one a guest), a ready recording and transcript
W_LATE = 94000000003  # ended 30 min ago: the video is ready, the transcript comes 150 min after the end
W_OTHER = 94100000001  # on the second BU's Zoom account
W_LARGE = 94000000004  # ended 4 h ago: 700 registrants, 750 sessions, a recording; its pass spans three runs

REGISTER = """
key: replay-register
name: Register to a webinar
enrollment:
  triggers: [{type: api}]
steps:
  - id: register
    type: add_contact_to_zoom_webinar
    webinar_id: "{{ contact.properties.webinar_id }}"
    retry: {max_attempts: 3, initial_interval: 1s}
    on_error: continue
"""
#: Register, branch on the outcome, wait (``registration-look-ahead``, #16.1: the registration's
#: local activity plans the delay too).
REGISTER_WAIT = """
key: replay-register-wait
name: Register to a webinar, then wait
enrollment:
  triggers: [{type: api}]
steps:
  - id: register
    type: add_contact_to_zoom_webinar
    webinar_id: "{{ contact.properties.webinar_id }}"
    retry: {max_attempts: 3, initial_interval: 1s}
    on_error: continue
  - id: check
    type: branch
    cases:
      - if: {outcome_of: register, is: REGISTERED}
        then: wait
    else: done
  - id: wait
    type: delay
    for: 1s
  - id: done
    type: end
"""

#: (history name, contact email, webinar, failpoint armed once, how the saga must end)
SAGAS = (
    ("add-to-webinar-registered", "ada@customers.example", W_OPEN, None, "REGISTERED"),
    ("add-to-webinar-refused-host", HOST, W_OPEN, None, "HOST_CANNOT_REGISTER"),
    ("add-to-webinar-refused-business-unit", "bea@customers.example", W_OTHER, None, "BUSINESS_UNIT_MISMATCH"),
    (
        "add-to-webinar-compensated",
        "cy@customers.example",
        W_OPEN,
        "zoom_registration.before_commit",
        "ZOOM_REGISTRATION_COMPENSATED",
    ),
)
#: Enrollments whose add-to-webinar step takes the quick path (#16.1), once a first registration
#: (``QUICK_WARM_UP``, not recorded) taught the worker the webinar: (history name, contact email,
#: the step's outcome).
QUICK = (
    ("enrollment-quick-registered", "dee@customers.example", "REGISTERED"),
    ("enrollment-quick-refused-alternative-host", ALT_HOST, "HOST_CANNOT_REGISTER"),
)
QUICK_WARM_UP = "eve@customers.example"
#: Quick registrations into ``replay-register-wait`` (recorded since ``interpreter-generation-3``).
QUICK_WAITING = (("enrollment-quick-look-ahead", "fay@customers.example", "REGISTERED"),)
WAITED = [("check", "COMPLETED"), ("wait", "COMPLETED"), ("done", "COMPLETED")]
#: Saga scenarios whose parent enrollment's history is recorded too, under this name: the
#: interpreter's side of the ``add_contact_to_zoom_webinar`` step (prepare, child, action log).
PARENT_HISTORIES = {"add-to-webinar-registered": "enrollment-register-step"}


def _session(email: str, name: str, start: datetime, join: int, leave: int, guest: bool = False) -> SessionSeed:
    return SessionSeed(
        name=name,
        email=email,
        guest=guest,
        join_time=start + timedelta(minutes=join),
        leave_time=start + timedelta(minutes=leave),
    )


def _recording(transcript_after_minutes: float) -> RecordingSeed:
    return RecordingSeed(
        files=[
            RecordingFileSeed(file_type="MP4", file_extension="MP4"),
            RecordingFileSeed(
                file_type="TRANSCRIPT",
                file_extension="VTT",
                recording_type="audio_transcript",
                available_after_minutes=transcript_after_minutes,
            ),
        ]
    )


def _ended_webinar() -> WebinarSeed:
    start = NOW - timedelta(hours=3)
    return WebinarSeed(
        id=W_ENDED,
        host_id="host",
        topic="Quarterly update",
        start_time=start,
        registrants=[
            RegistrantSeed(email="alice@customers.example", first_name="Alice", last_name="Able"),
            RegistrantSeed(email="bob@customers.example", first_name="Bob", last_name="B", status="pending"),
            RegistrantSeed(email="carol@customers.example", first_name="Carol", last_name="C", status="cancelled"),
        ],
        instances=[
            InstanceSeed(
                uuid="/replay//Ended+1==",
                start_time=start,
                sessions=[
                    _session("alice@customers.example", "Alice Able", start, 0, 20),
                    _session("alice@customers.example", "Alice Able", start, 25, 55),
                    _session("dana@walkin.example", "Dana Walkin", start, 10, 40),
                    _session("", "Guest Person", start, 3, 33, guest=True),
                ],
                recording=_recording(30),
            )
        ],
    )


def _late_webinar() -> WebinarSeed:
    start = NOW - timedelta(minutes=90)
    return WebinarSeed(
        id=W_LATE,
        host_id="host",
        topic="Late transcript",
        start_time=start,
        registrants=[RegistrantSeed(email="lena@customers.example", first_name="Lena", last_name="L")],
        instances=[
            InstanceSeed(
                uuid="ReplayLateInstance0000==",
                start_time=start,
                sessions=[_session("lena@customers.example", "Lena L", start, 0, 60)],
                recording=_recording(150),
            )
        ],
    )


def _large_webinar() -> WebinarSeed:
    """Many people (3 pages of registrants, 3 of sessions) and a recording: read a page per activity
    under the lowest history limit, its pass continues as new twice (``sync-bounded-passes``)."""
    start = NOW - timedelta(hours=4)
    return WebinarSeed(
        id=W_LARGE,
        host_id="host",
        topic="Large all hands",
        start_time=start,
        generate_registrants=GenerateRegistrants(count=700, domain="large.example"),
        instances=[
            InstanceSeed(
                uuid="ReplayLargeInstance000==",
                start_time=start,
                generate_sessions=GenerateSessions(attendees=500, rejoin_every=2),
                recording=_recording(30),
            )
        ],
    )


def seed() -> SeedDocument:
    open_webinar = WebinarSeed(
        id=W_OPEN, host_id="host", topic="Product tour", start_time=NOW + timedelta(days=7), alternative_hosts=ALT_HOST
    )
    other = WebinarSeed(id=W_OTHER, host_id="emea", topic="EMEA tour", start_time=NOW + timedelta(days=3))
    return SeedDocument(
        clock=NOW,
        clock_frozen=True,
        accounts=[
            AccountSeed(
                id=MAIN,
                plan=ZoomPlan.BUSINESS,
                client_id="replay-main-client",
                client_secret="replay-main-secret",
                users=[UserSeed(id="host", email=HOST, first_name="Hana", last_name="Host")],
                webinars=[open_webinar, _ended_webinar(), _late_webinar(), _large_webinar()],
            ),
            AccountSeed(
                id=OTHER,
                client_id="replay-other-client",
                client_secret="replay-other-secret",
                users=[UserSeed(id="emea", email="host@emea.example", first_name="Emma")],
                webinars=[other],
            ),
        ],
    )


def zoom_settings(server: EmulatorServer) -> ZoomSettings:
    return ZoomSettings(
        connections=[emulator_connection(server, MAIN, name=PRIMARY), emulator_connection(server, OTHER, name=SECOND)]
    )


def prepare_store(db_engine: Engine) -> None:
    """Both Zoom connections (BU ``Account`` is the primary one, id 1), global sync on, and the
    definition whose one step is the action."""
    with Session(db_engine) as session:
        europe = create_business_unit(session, "Europe")
        assert europe.id is not None
        for unit, name, account, connector in (
            (1, PRIMARY, MAIN, CONNECTOR),
            (europe.id, SECOND, OTHER, "connector@emea.example"),
        ):
            create_zoom_connection(
                session,
                business_unit_id=unit,
                name=name,
                zoom_account_id=account,
                connected_by_email=connector,
                credentials_ref="env:ROLLCALL_ZOOM_CONNECTIONS",
            )
        put_sync_settings(session, SyncSettingsValues(sync_enabled=True), admin=True)
        put_definition_text(session, "replay-register", REGISTER)
        put_definition_text(session, "replay-register-wait", REGISTER_WAIT)
        session.commit()


def _expect(name: str, outcome: str, expected: str) -> None:
    if outcome != expected:
        raise RuntimeError(f"{name}: the run ended {outcome}, not {expected}; nothing is recorded")


async def _saga_outcome(client: Client, workflow_id: str) -> str:
    handle = client.get_workflow_handle(workflow_id, result_type=AddToWebinarResult)
    try:
        result: AddToWebinarResult = await handle.result()
        return result.code.value
    except WorkflowFailureError as error:
        cause = error.cause
        return str(cause.type) if isinstance(cause, ApplicationError) else repr(cause)


def _contact(db_engine: Engine, email: str, last_name: str, webinar: int) -> int:
    """A contact whose ``webinar_id`` property names ``webinar`` (``replay-register`` reads it)."""
    with Session(db_engine) as session:
        contact = create_contact(
            session, email=email, first_name="Replay", last_name=last_name, properties={"webinar_id": str(webinar)}
        )
        session.commit()
        assert contact.id is not None
        return contact.id


async def record_sagas(client: Client, db_engine: Engine, task_queue: str) -> dict[str, str]:
    """Each scenario enrolls one contact into ``replay-register``; the history is the child's (and,
    for the scenarios of ``PARENT_HISTORIES``, the enrollment's as well)."""
    service = EnrollmentService(db_engine, client, task_queue=task_queue)
    recorded: dict[str, str] = {}
    for name, email, webinar, failpoint, expected in SAGAS:
        contact_id = _contact(db_engine, email, "Saga", webinar)
        if failpoint:
            failpoints.arm(failpoint, failpoints.FailpointAction.PERMANENT_ERROR, times=1)
        started = await service.enroll("replay-register", ContactIn(contact_id=contact_id))
        await client.get_workflow_handle(started.workflow_id).result()
        failpoints.disarm_all()
        recorded[name] = add_to_webinar_workflow_id(str(webinar), contact_id)
        _expect(name, await _saga_outcome(client, recorded[name]), expected)
        if name in PARENT_HISTORIES:
            recorded[PARENT_HISTORIES[name]] = started.workflow_id
    return recorded


async def record_quick_registrations(client: Client, db_engine: Engine, task_queue: str) -> dict[str, str]:
    """Each scenario of ``QUICK`` enrolls one contact into ``replay-register`` for ``W_OPEN``, and
    of ``QUICK_WAITING`` into ``replay-register-wait`` (its action log checked), after a first
    registration (``warm-up``, not kept): the step decides in one local activity, no saga runs
    (since the worker asks Zoom about a webinar it does not know itself, the warm-up runs none either)."""
    service = EnrollmentService(db_engine, client, task_queue=task_queue)
    recorded: dict[str, str] = {}
    scenarios = [(*scenario, "replay-register") for scenario in (("warm-up", QUICK_WARM_UP, "REGISTERED"), *QUICK)]
    scenarios += [(*scenario, "replay-register-wait") for scenario in QUICK_WAITING]
    for name, email, expected, key in scenarios:
        contact_id = _contact(db_engine, email, "Quick", W_OPEN)
        started = await service.enroll(key, ContactIn(contact_id=contact_id))
        await client.get_workflow_handle(started.workflow_id).result()
        with Session(db_engine) as session:
            log = step_history(session, started.enrollment_id)
        [row] = [row for row in log if row.step_id == "register"]
        _expect(name, row.outcome, expected)
        if key == "replay-register-wait":
            steps = [(row.step_id, row.outcome) for row in log]
            _expect(name, str(steps), str([("register", expected), *WAITED]))
        history = await client.get_workflow_handle(started.workflow_id).fetch_history()
        children = [
            e for e in history.events if e.HasField("start_child_workflow_execution_initiated_event_attributes")
        ]
        _expect(name, "a saga run" if children else "no saga run", "no saga run")
        if name != "warm-up":
            recorded[name] = started.workflow_id
    return recorded


async def _request(client: Client, webinar: int, task_queue: str, signal: str = TRIGGER_SIGNAL, **tuning: int) -> str:
    return await request_sync(
        client,
        webinar_id=str(webinar),
        connection=PRIMARY,
        zoom_account_id=MAIN,
        trigger="webhook" if webinar == W_LATE else "manual",
        task_queue=task_queue,
        business_unit="Account",
        signal=signal,
        **tuning,
    )


async def _sync_status(client: Client, workflow_id: str) -> str:
    handle = client.get_workflow_handle(workflow_id, result_type=SyncResult)
    result: SyncResult = await asyncio.wait_for(handle.result(), timeout=60)
    return result.status


async def _until_timers(client: Client, workflow_id: str, count: int) -> None:
    """Until the run has started ``count`` timers (it waits for the transcript)."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(600):
        history = await handle.fetch_history()
        if sum(event.HasField("timer_started_event_attributes") for event in history.events) >= count:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{workflow_id}: timer {count} never started")


async def _runs(client: Client, workflow_id: str) -> list[str]:
    """The run ids of a sync, first to last (each run's first event names the run it continues)."""
    runs: list[str] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        runs.insert(0, run_id or (await client.get_workflow_handle(workflow_id).describe()).run_id)
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return runs


async def record_continued_pass(client: Client, task_queue: str) -> dict[str, str | tuple[str, str]]:
    """``sync-bounded-passes``: a page per activity and the lowest history limit spread the pass
    over three runs; the first (it continues as new mid-pass) and the last (it reads on from the
    cursor it was handed, then finishes) are recorded."""
    large = await _request(client, W_LARGE, task_queue, pages_per_chunk=1, pass_history_limit=20)
    _expect("webinar-sync-pass-first-run", await _sync_status(client, large), "succeeded")
    runs = await _runs(client, large)
    if len(runs) < 3:
        raise RuntimeError(f"webinar-sync-pass-*: {len(runs)} run(s), not three or more; nothing is recorded")
    return {"webinar-sync-pass-first-run": (large, runs[0]), "webinar-sync-pass-last-run": (large, runs[-1])}


async def record_syncs(client: Client, emulator_url: str, task_queue: str) -> dict[str, str | tuple[str, str]]:
    completed = await _request(client, W_ENDED, task_queue)
    # Completed, "partial" only because a guest has no email to sync (R-AUD-3).
    _expect("webinar-sync-completed", await _sync_status(client, completed), "partial")
    waiting = await _request(client, W_LATE, task_queue)
    await _until_timers(client, waiting, 1)
    async with EmulatorAdmin(emulator_url) as admin:
        # A registration webhook while the run waits: registrants and attendees refreshed in this run.
        await admin.add_registrants(W_LATE, [RegistrantSeed(email="late@customers.example", first_name="Late")])
        await _request(client, W_LATE, task_queue)
        await _until_timers(client, waiting, 2)
        # Three hours later in Zoom the transcript is ready, and its webhook signals the run.
        await admin.advance_clock(3 * 3600)
        await _request(client, W_LATE, task_queue, signal=RECORDING_SIGNAL)
    _expect("webinar-sync-waits-for-recording", await _sync_status(client, waiting), "succeeded")
    return {
        "webinar-sync-completed": completed,
        "webinar-sync-waits-for-recording": waiting,
        **await record_continued_pass(client, task_queue),
    }
