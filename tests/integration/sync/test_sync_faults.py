"""The sync under crashes, a misbehaving Zoom and overlapping triggers (issue 7, acceptance:
"Crash and fault tests" and the coalescing of triggers; R-SYNC-6, R-PROP, R-AUD).

One webinar with 2,000 attendees (3,300 registrants in every status, every 4th attendee rejoins,
walk-ins, guests without email, and the exclusion cases of the rule tests) is synced

- by a real ``rollcall worker`` process that is SIGKILLed at 7 points (failpoints, and kills from
  the test once the store shows progress in the middle of registrants and of attendees), restarted
  each time;
- by an in-process worker while the emulator answers about 20 % of the sync's calls with a fault:
  5xx (500, 502, 503) and 429s (QPS with Zoom's headers and no ``Retry-After``, a 429 with no
  header at all, and the daily variant whose ``Retry-After`` is an ISO-8601 date-time);

and each time the store must hold exactly what the seed implies (derived here independently),
the same rows as a clean run into a fresh store, rollups equal to a from-scratch recomputation,
and one closed audit entry for the run.

After a SIGKILL, Temporal would notice the dead worker only when the activity's heartbeat timeout
(2 min) or start-to-close timeout (1–2 min) expires. To keep the test short, the test declares
the killed attempt dead itself (``RespondActivityTaskFailedById``), which is what that timeout
would do: the attempt fails, the retry policy schedules the next attempt, and the retry resumes
from the last heartbeat the server recorded.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld, prepare_store
from sqlalchemy import Engine
from sqlmodel import Session, col
from support.rollcall import RollcallProcess
from support.waiting import eventually
from support.zoom import emulator_connection
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest, RespondActivityTaskFailedByIdRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from engine.crm.audit import list_audit_entries
from engine.crm.db import create_db_engine
from engine.crm.participations import recompute_rollups
from engine.crm.tables import (
    AttendanceSession,
    AuditEntry,
    Contact,
    ContactBusinessUnit,
    MarketingEvent,
    Participation,
    Recording,
    TimelineEvent,
)
from engine.failpoints import ENV_VARIABLE as FAILPOINTS_VARIABLE
from engine.sync.contracts import SyncResult
from engine.sync.triggers import request_sync
from engine.zoom.settings import ZoomSettings
from worker import build_worker
from zoom_emulator import EmulatorServer
from zoom_emulator.core.faults import FaultKind, FaultRule
from zoom_emulator.core.seeds import (
    InstanceSeed,
    RecordingFileSeed,
    RecordingSeed,
    RegistrantSeed,
    SessionSeed,
    WebinarSeed,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

# --- the 2,000-attendee webinar and what the store must hold after its sync -----------------------

BIG = "93100000900"
BIG_INSTANCE = "/big//Crash+Instance=="  # needs double encoding in paths (docs/zoom.md, "Webinar instances and UUIDs")
START = world.NOW - timedelta(hours=3)
DURATION_MINUTES = 60
REGISTRANTS = 3_300
ATTENDEES = 2_000
WALK_INS = 20
GUESTS = 5
INVALID = "not-an-email"
#: Registrants that the exclusion rules keep out (R-EXC-1…5); all approved, the first three attend.
EXCLUDED = (world.STAFF, world.INTERN, world.SECOND, world.DELETED, INVALID)


def email(i: int) -> str:
    return f"p{i:05d}@crash.example"


def walk_in(j: int) -> str:
    return f"walkin{j:02d}@crash.example"


def status_of(i: int) -> str:
    if i % 25 == 3:
        return "cancelled"
    if i % 20 == 7:
        return "pending"
    return "approved"


def attendees() -> list[int]:
    """The first 2,000 registrants that did not cancel."""
    return [i for i in range(REGISTRANTS) if status_of(i) != "cancelled"][:ATTENDEES]


def sessions_of(i: int) -> list[tuple[datetime, datetime]]:
    """Whole minutes, so percents are exact; every 4th attendee leaves and rejoins (two rows)."""
    join = START + timedelta(minutes=i % 7, seconds=i % 60)
    leave = join + timedelta(minutes=15 + i % 40)
    found = [(join, leave)]
    if i % 4 == 0:
        again = leave + timedelta(minutes=5)
        found.append((again, again + timedelta(minutes=10 + i % 30)))
    return found


def big_webinar() -> WebinarSeed:
    registrants = [
        RegistrantSeed(email=email(i), first_name=f"P{i}", last_name="Crash", status=status_of(i))
        for i in range(REGISTRANTS)
    ]
    registrants += [RegistrantSeed(email=address, first_name="Ex", last_name="Cluded") for address in EXCLUDED]
    sessions = [
        SessionSeed(name=f"P{i} Crash", email=email(i), join_time=join, leave_time=leave)
        for i in attendees()
        for join, leave in sessions_of(i)
    ]
    sessions += [
        SessionSeed(
            name=f"Walk In{j}",
            email=walk_in(j),
            join_time=START + timedelta(minutes=j),
            leave_time=START + timedelta(minutes=j + 30),
        )
        for j in range(WALK_INS)
    ]
    sessions += [
        SessionSeed(name="Ex Cluded", email=address, join_time=START, leave_time=START + timedelta(minutes=30))
        for address in EXCLUDED[:3]
    ]
    sessions += [
        SessionSeed(
            name=f"Guest {j}",
            guest=True,
            join_time=START + timedelta(minutes=j),
            leave_time=START + timedelta(minutes=40),
        )
        for j in range(GUESTS)
    ]
    return WebinarSeed(
        id=int(BIG),
        host_id="host-1",
        topic="Crash-proof all hands",
        start_time=START,
        duration=DURATION_MINUTES,
        registrants=registrants,
        instances=[
            InstanceSeed(
                uuid=BIG_INSTANCE,
                start_time=START,
                sessions=sessions,
                recording=RecordingSeed(
                    files=[
                        RecordingFileSeed(file_type="MP4", file_extension="MP4"),
                        RecordingFileSeed(
                            file_type="TRANSCRIPT", file_extension="VTT", recording_type="audio_transcript"
                        ),
                    ]
                ),
            )
        ],
    )


def _percent(seconds: int) -> float:
    return round(min(100.0, seconds * 100.0 / (DURATION_MINUTES * 60)), 2)


@dataclass(frozen=True)
class Expected:
    contacts: set[str]
    participations: dict[str, tuple[str, int, float | None]]
    sessions: dict[str, int]
    timeline: dict[str, list[str]]
    rollups: dict[str, tuple[int, int, float | None, bool]]  # the join link as "is set"
    registrant_rows: int
    session_rows: int
    excluded: dict[str, str]


def expected() -> Expected:
    """What a correct sync of ``big_webinar()`` writes, derived from the seed alone."""
    attending = set(attendees())
    participations: dict[str, tuple[str, int, float | None]] = {}
    sessions: dict[str, int] = {}
    timeline: dict[str, list[str]] = {}
    rollups: dict[str, tuple[int, int, float | None, bool]] = {}
    for i in range(REGISTRANTS):
        address, status = email(i), status_of(i)
        kinds = ["webinar_registration"]
        if status == "cancelled":
            participations[address] = ("cancelled", 0, None)
            kinds.append("webinar_cancellation")
            rollups[address] = (0, 0, None, False)
        elif i in attending:
            seconds = sum(int((leave - join).total_seconds()) for join, leave in sessions_of(i))
            participations[address] = ("attended", seconds, _percent(seconds))
            sessions[address] = len(sessions_of(i))
            kinds += ["webinar_attendance"] * len(sessions_of(i)) + ["recording_available"]
            rollups[address] = (1, 1, _percent(seconds), True)
        else:
            participations[address] = ("registered", 0, None)
            kinds.append("recording_available")
            rollups[address] = (1, 0, None, True)
        timeline[address] = sorted(kinds)
    for j in range(WALK_INS):
        participations[walk_in(j)] = ("attended", 1800, 50.0)
        sessions[walk_in(j)] = 1
        timeline[walk_in(j)] = ["recording_available", "webinar_attendance"]
        rollups[walk_in(j)] = (0, 1, 50.0, False)
    # Pre-existing contacts of the store (conftest.prepare_store) get no activity (R-EXC-1, R-EXC-4).
    rollups[world.STAFF] = rollups[world.OWNER] = (0, 0, None, False)
    session_rows = sum(len(sessions_of(i)) for i in attending) + WALK_INS + 3 + GUESTS
    return Expected(
        contacts=set(rollups),
        participations=participations,
        sessions=sessions,
        timeline=timeline,
        rollups=rollups,
        registrant_rows=REGISTRANTS + len(EXCLUDED),
        session_rows=session_rows,
        excluded={
            world.STAFF: "account_user",
            world.INTERN: "excluded_domain",
            world.SECOND: "secondary_email",
            world.DELETED: "deleted_contact",
            INVALID: "invalid_email",
        },
    )


# --- reading the store ---------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


TABLES = (Contact, ContactBusinessUnit, MarketingEvent, Participation, AttendanceSession, TimelineEvent, Recording)
PARTS = ("event", "contacts", "units", "participations", "sessions", "timeline", "recordings", "rows")


# long: every table the sync writes, read into one comparable value, table after table
def snapshot(db_engine: Engine, webinar_id: str) -> dict[str, Any]:
    """Every row the sync writes, keyed by business values (no store ids, no wall-clock times)."""
    with Session(db_engine) as session:
        (event,) = session.scalars(sa.select(MarketingEvent).where(col(MarketingEvent.zoom_webinar_id) == webinar_id))
        contacts = {
            row.email: (
                row.first_name,
                row.last_name,
                row.zoom_webinar_registration_count,
                row.zoom_webinar_attendance_count,
                None
                if row.zoom_webinar_attendance_average_duration is None
                else round(row.zoom_webinar_attendance_average_duration, 6),
                row.zoom_webinar_joinlink,
            )
            for row in session.scalars(sa.select(Contact))
        }
        participations = sorted(
            (
                email_,
                p.state,
                _iso(p.registered_at),
                p.cancelled_at is not None,  # dated when the sync saw the cancellation (wall clock)
                p.attended,
                p.join_link,
                p.registrant_id,
                p.attendance_seconds,
                None if p.attendance_percent is None else round(p.attendance_percent, 6),
            )
            for email_, p in session.execute(
                sa.select(col(Contact.email), Participation).join(
                    Participation, col(Participation.contact_id) == col(Contact.id)
                )
            )
        )
        sessions = sorted(
            (email_, _iso(s.join_time), _iso(s.leave_time), s.seconds)
            for email_, s in session.execute(
                sa.select(col(Contact.email), AttendanceSession).join(
                    AttendanceSession, col(AttendanceSession.contact_id) == col(Contact.id)
                )
            )
        )
        timeline = sorted(
            (
                email_,
                t.kind,
                # a cancellation is dated when the sync saw it (wall clock)
                None if t.kind == "webinar_cancellation" else _iso(t.occurred_at),
                json.dumps(t.data, sort_keys=True),
                t.recording_id is not None,
            )
            for email_, t in session.execute(
                sa.select(col(Contact.email), TimelineEvent).join(
                    TimelineEvent, col(TimelineEvent.contact_id) == col(Contact.id)
                )
            )
        )
        units = sorted(
            (email_, unit)
            for email_, unit in session.execute(
                sa.select(col(Contact.email), col(ContactBusinessUnit.business_unit_id)).join(
                    ContactBusinessUnit, col(ContactBusinessUnit.contact_id) == col(Contact.id)
                )
            )
        )
        recordings = sorted(
            (r.zoom_file_id, r.file_type, r.status, r.play_url, _iso(r.start_time))
            for r in session.scalars(sa.select(Recording))
        )
        return {
            "event": (event.topic, _iso(event.start_time), event.duration_minutes, event.host_email),
            "contacts": contacts,
            "units": units,
            "participations": participations,
            "sessions": sessions,
            "timeline": timeline,
            "recordings": recordings,
            "rows": {
                table.__name__: session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in TABLES
            },
        }


def recomputed_rollups_unchanged(db_engine: Engine) -> None:
    """Rollups equal a from-scratch recomputation over every contact (R-PROP: derived, never incremented)."""
    before = {email_: view.rollups(contact) for email_, contact in view.contacts(db_engine).items()}
    with Session(db_engine) as session:
        ids = [i for i in session.scalars(sa.select(col(Contact.id))) if i is not None]
        recompute_rollups(session, ids)
        session.commit()
    after = {email_: view.rollups(contact) for email_, contact in view.contacts(db_engine).items()}
    assert after == before


def assert_exact(db_engine: Engine, want: Expected) -> None:
    """The store holds exactly what the seed implies."""
    people = view.contacts(db_engine)
    assert set(people) == want.contacts
    assert view.participations(db_engine, BIG) == want.participations
    assert view.sessions(db_engine, BIG) == want.sessions
    timeline = view.timeline(db_engine)
    assert {email_: kinds for email_, kinds in timeline.items() if email_ in want.timeline} == want.timeline
    assert set(timeline) == set(want.timeline)  # nothing for staff, the owner of the secondary email…
    rollups = {
        email_: (*view.rollups(contact)[:3], view.rollups(contact)[3] is not None) for email_, contact in people.items()
    }
    assert rollups == want.rollups
    assert view.recordings(db_engine) == ["MP4", "TRANSCRIPT"]
    rows = snapshot(db_engine, BIG)["rows"]
    assert rows == {
        "Contact": len(want.contacts),
        "ContactBusinessUnit": len(want.contacts),
        "MarketingEvent": 1,
        "Participation": len(want.participations),
        "AttendanceSession": sum(want.sessions.values()),
        "TimelineEvent": sum(len(kinds) for kinds in want.timeline.values()),
        "Recording": 2,
    }
    recomputed_rollups_unchanged(db_engine)


def audit_entries(db_engine: Engine) -> list[AuditEntry]:
    with Session(db_engine, expire_on_commit=False) as session:
        return list(list_audit_entries(session, BIG).entries)


def assert_one_closed_entry(db_engine: Engine, want: Expected, reference: AuditEntry | None = None) -> AuditEntry:
    (entry,) = audit_entries(db_engine)
    assert (entry.status, entry.trigger, entry.business_unit_id) == ("partial", "manual", 1)
    assert entry.finished_at is not None
    warnings = {warning["code"]: warning for warning in entry.warnings}
    assert set(warnings) == {"EMAILS_EXCLUDED", "PARTICIPANTS_NOT_SYNCED"}
    excluded = {item["email"]: item["reason"] for item in warnings["EMAILS_EXCLUDED"]["items"]}
    assert excluded == want.excluded
    assert warnings["PARTICIPANTS_NOT_SYNCED"]["items"] == [{"guests_without_email": GUESTS}]
    assert entry.counts["registrants_rows"] == want.registrant_rows
    assert entry.counts["attendees_rows"] == want.session_rows
    assert entry.counts["guests_without_email"] == GUESTS
    assert entry.counts["recording_files"] == 2
    if reference is not None:
        assert entry.warnings == reference.warnings
    return entry


# --- a clean run into a fresh store: the reference ------------------------------------------------


@pytest.fixture
def reference_engine(
    database_url: str, tmp_path: Path, _sqlite_template: Path, _postgres_templates: Any
) -> Iterator[Engine]:
    """A second, empty store on the same backend as ``db_engine``."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "reference.db"
        shutil.copyfile(_sqlite_template, path)
        engine = create_db_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    name, url = _postgres_templates.fresh()
    engine = create_db_engine(url)
    yield engine
    engine.dispose()
    _postgres_templates._drop(name)


def zoom_settings(sync_world: SyncWorld, emulator: EmulatorServer) -> ZoomSettings:
    return ZoomSettings(
        connections=[
            emulator_connection(emulator, sync_world.main_account, name="sync-main"),
            emulator_connection(emulator, sync_world.emea_account, name="sync-emea"),
        ]
    )


async def sync_big(client: Client, sync_world: SyncWorld, task_queue: str) -> str:
    return await request_sync(
        client,
        webinar_id=BIG,
        connection="sync-main",
        zoom_account_id=sync_world.main_account,
        trigger="manual",
        task_queue=task_queue,
        recording_wait_seconds=0,
    )


async def reference_run(
    sync_world: SyncWorld, emulator: EmulatorServer, engine: Engine, executor: ThreadPoolExecutor
) -> tuple[dict[str, Any], AuditEntry]:
    """The same webinar synced once, without faults, into a fresh store."""
    prepare_store(engine, sync_world.main_account, sync_world.emea_account)
    queue = f"reference-{uuid.uuid4().hex[:8]}"
    async with build_worker(
        sync_world.client,
        engine,
        task_queue=queue,
        executor=executor,
        zoom_settings=zoom_settings(sync_world, emulator),
    ):
        workflow_id = await sync_big(sync_world.client, sync_world, queue)
        handle = sync_world.client.get_workflow_handle(workflow_id, result_type=SyncResult)
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.status == "partial"
    (entry,) = audit_entries(engine)
    return snapshot(engine, BIG), entry


# --- crash test: a real worker process, SIGKILLed 7 times -----------------------------------------


async def fail_killed_attempts(client: Client, handle: WorkflowHandle[Any, Any]) -> list[str]:
    """Fail the activity attempts the killed worker had started (what their timeout would do), and
    send the next workflow task to the normal queue rather than the dead worker's sticky queue
    (which the server would otherwise wait on for 10 s)."""
    description = await handle.describe()
    await client.workflow_service.reset_sticky_task_queue(
        ResetStickyTaskQueueRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id, run_id=description.run_id)
        )
    )
    failed = []
    for pending in description.raw_description.pending_activities:
        if pending.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            continue
        await client.workflow_service.respond_activity_task_failed_by_id(
            RespondActivityTaskFailedByIdRequest(
                namespace=client.namespace,
                workflow_id=handle.id,
                run_id=description.run_id,
                activity_id=pending.activity_id,
                failure=Failure(
                    message="the worker running this attempt was SIGKILLed",
                    application_failure_info=ApplicationFailureInfo(type="WorkerKilled"),
                ),
                identity="crash-test",
            )
        )
        failed.append(pending.activity_type.name)
    return failed


def _count(db_engine: Engine, table: type[Any]) -> int:
    """Rows of ``table`` for the big webinar. On SQLite the transaction takes the write lock, as
    another process's writer would: the kills by progress below also check that a pass, writing
    its pages back to back (the next one read ahead), leaves other processes their turn between
    them (the lock file of ``engine.crm.sqlite_transactions``). Under SQLite's busy handler alone
    this count waited until the pass had ended and the kill point was missed."""
    with Session(db_engine) as session:
        query = (
            sa.select(sa.func.count())
            .select_from(table)
            .join(MarketingEvent, col(MarketingEvent.id) == table.marketing_event_id)
            .where(col(MarketingEvent.zoom_webinar_id) == BIG)
        )
        return int(session.execute(query).scalar_one())


async def kill_when(process: RollcallProcess, reached: Callable[[], bool], within: float = 60) -> None:
    """SIGKILL the worker as soon as ``reached()`` holds (polled every 20 ms)."""

    async def reached_while_running() -> bool:
        if await asyncio.to_thread(reached):
            return True
        assert process.process.poll() is None, "the worker ended before the kill point"
        return False

    await eventually(reached_while_running, "the kill point", within=within, every=0.02)
    process.kill()


@pytest.mark.timeout(240)
# long: seven kill points in order, each with its check, then the exact results
async def test_a_sync_killed_seven_times_ends_with_exact_results(
    sync_world: SyncWorld,
    sync_emulator: EmulatorServer,
    database_url: str,
    db_engine: Engine,
    reference_engine: Engine,
    activity_executor: ThreadPoolExecutor,
    worker_processes: list[RollcallProcess],
    tmp_path: Path,
) -> None:
    await sync_world.admin.add_webinar(sync_world.main_account, big_webinar())
    want = expected()
    reference, reference_entry = await reference_run(sync_world, sync_emulator, reference_engine, activity_executor)

    connections = []
    for name, account, secret in (
        ("sync-main", sync_world.main_account, "main-secret"),
        ("sync-emea", sync_world.emea_account, "emea-secret"),
    ):
        config = emulator_connection(sync_emulator, account, name=name).model_dump(mode="json")
        config["client_secret"] = secret
        connections.append(config)
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    env = {
        "ROLLCALL_TEMPORAL_ADDRESS": sync_world.client.service_client.config.target_host,
        "ROLLCALL_TEMPORAL_TASK_QUEUE": queue,
        "ROLLCALL_DATABASE_URL": database_url,
        "ROLLCALL_ZOOM_CONNECTIONS": json.dumps(connections),
        "ROLLCALL_SYNC_RECONCILE_MINUTES": "0",
        "ROLLCALL_LOG_FORMAT": "json",
    }
    log = tmp_path / "workers.log"
    workflow_id = await sync_big(sync_world.client, sync_world, queue)
    handle = sync_world.client.get_workflow_handle(workflow_id, result_type=SyncResult)

    def registrations() -> int:
        return _count(db_engine, Participation)

    def joins() -> int:
        return _count(db_engine, AttendanceSession)

    def by_failpoint(name: str) -> Callable[[RollcallProcess], Awaitable[None]]:
        async def wait(process: RollcallProcess) -> None:
            try:
                returncode = await process.exited(within=60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"failpoint {name} did not fire; the workers' log:\n{log.read_text()}")
            assert returncode == -signal.SIGKILL, log.read_text()

        return wait

    def by_progress(reached: Callable[[], bool]) -> Callable[[RollcallProcess], Awaitable[None]]:
        async def wait(process: RollcallProcess) -> None:
            await kill_when(process, reached)
            await process.exited(within=10)

        return wait

    # (failpoint armed in the worker, how the test waits for the kill, the activity that was killed)
    kills: list[tuple[str, Callable[[RollcallProcess], Awaitable[None]], str]] = [
        # 1. the plan is committed (marketing event, open audit entry) but not returned
        ("webinar_sync.plan.after_commit", by_failpoint("plan.after_commit"), "plan_sync"),
        # 2. the first registrant page is committed, its cursor never heartbeated
        ("webinar_sync.registrants.page_written", by_failpoint("registrants.page_written"), "sync_registrants"),
        # 3. in the middle of registrants: killed by the test after ≥ 1,500 registrations
        ("", by_progress(lambda: registrations() >= 1_500), "sync_registrants"),
        # 4. registrants done; the first attendee page is committed, not heartbeated
        ("webinar_sync.attendees.page_written", by_failpoint("attendees.page_written"), "sync_attendees"),
        # 5. in the middle of attendees: killed by the test after ≥ 1,300 join sessions
        ("", by_progress(lambda: joins() >= 1_300), "sync_attendees"),
        # 6. recordings stored and their timeline events written, result not returned
        ("webinar_sync.recordings.after_write", by_failpoint("recordings.after_write"), "sync_recordings"),
        # 7. the audit entry is closed and committed, result not returned
        ("webinar_sync.finish.after_commit", by_failpoint("finish.after_commit"), "finish_sync"),
    ]
    progress = []
    for failpoint_spec, wait_for_kill, activity_type in kills:
        arm = {FAILPOINTS_VARIABLE: f"{failpoint_spec}=kill"} if failpoint_spec else {}
        process = RollcallProcess("worker", {**env, **arm}, cwd=REPO_ROOT, log=log)
        worker_processes.append(process)
        await wait_for_kill(process)
        killed = await fail_killed_attempts(sync_world.client, handle)
        assert killed == [activity_type], (failpoint_spec, killed, log.read_text()[-5000:])
        progress.append((activity_type, registrations(), joins()))
        if activity_type == "plan_sync":
            (entry,) = audit_entries(db_engine)
            assert entry.status == "running"  # the entry is open; nothing else is written yet
            assert registrations() == 0
    # Progress is real: registrants were written across kills, then attendees.
    assert 0 < progress[1][1] <= 300 and progress[2][1] >= 1_500 and progress[4][2] >= 1_300, progress

    worker_processes.append(RollcallProcess("worker", env, cwd=REPO_ROOT, log=log))  # the last worker has no failpoint
    result = await asyncio.wait_for(handle.result(), timeout=90)

    assert result.status == "partial", log.read_text()[-5000:]
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert_exact(db_engine, want)
    mine = snapshot(db_engine, BIG)
    for part in PARTS:
        assert mine[part] == reference[part], part
    entry = assert_one_closed_entry(db_engine, want, reference_entry)
    assert result.audit_entry_id == entry.id


# --- fault test: 5xx and 429s from Zoom ------------------------------------------------------------

#: The operations a sync calls (zoom_emulator.core.faults.OPERATIONS).
SYNC_OPERATIONS = (
    "oauth_token",
    "get_webinar",
    "get_user",
    "list_past_instances",
    "list_registrants",
    "report_participants",
    "get_recordings",
)
#: The emulator draws faults from a seeded RNG and the sync calls Zoom in a fixed order, so a seed
#: fixes which calls fail. Seed 8 is a typical draw: 7 faults in 34 calls (21 %), both 5xx and
#: all three kinds of 429, and about 40 s of retry backoff. Backoff doubles with every failed
#: attempt of one activity, so over 200 seeds of these same rules the backoff of this sync has a
#: median of 32 s but a 90th percentile of ~150 s and a worst case of ~20 min: an unlucky seed
#: makes this test slow, never wrong.
FAULT_SEED = 8


def fault_rules() -> list[FaultRule]:
    """About 20 % of the sync's calls fail: ~14 % 5xx and ~6 % 429 (the first matching rule fires)."""
    rules = []
    for operation in SYNC_OPERATIONS:
        rules += [
            FaultRule(operation=operation, kind=FaultKind.ERROR, status=500, probability=0.05),
            FaultRule(operation=operation, kind=FaultKind.ERROR, status=502, probability=0.05),
            FaultRule(operation=operation, kind=FaultKind.ERROR, status=503, probability=0.05),
            # QPS with Zoom's headers (X-RateLimit-Type: QPS; Zoom sends no Retry-After for it)
            FaultRule(operation=operation, kind=FaultKind.RATE_LIMIT, probability=0.03),
            # a 429 without any rate-limit header (real answers sometimes lack them)
            FaultRule(operation=operation, kind=FaultKind.RATE_LIMIT, omit_headers=True, probability=0.02),
            # the daily variant: Retry-After is an ISO-8601 date-time, not seconds
            FaultRule(operation=operation, kind=FaultKind.RATE_LIMIT, daily=True, probability=0.015),
        ]
    return rules


@pytest.mark.timeout(200)
async def test_a_sync_through_5xx_and_429s_gives_the_exact_results_of_a_clean_run(
    sync_world: SyncWorld,
    sync_emulator: EmulatorServer,
    db_engine: Engine,
    reference_engine: Engine,
    activity_executor: ThreadPoolExecutor,
) -> None:
    await sync_world.admin.add_webinar(sync_world.main_account, big_webinar())
    want = expected()
    reference, reference_entry = await reference_run(sync_world, sync_emulator, reference_engine, activity_executor)
    calls_clean = dict((await sync_world.admin.stats())["requests"])

    admin = sync_world.admin
    await admin.clear_faults(seed=FAULT_SEED)
    for rule in fault_rules():
        await admin.add_fault(rule)
    try:
        workflow_id = await sync_big(sync_world.client, sync_world, sync_world.task_queue)
        handle = sync_world.client.get_workflow_handle(workflow_id, result_type=SyncResult)
        result = await asyncio.wait_for(handle.result(), timeout=170)
    finally:
        stats = await admin.stats()
        await admin.clear_faults()

    # The faults really happened, on the sync's paged endpoints among others…
    fired = stats["faults_fired"]
    calls = {op: n - calls_clean.get(op, 0) for op, n in stats["requests"].items()}
    sync_calls = sum(calls.get(op, 0) for op in SYNC_OPERATIONS)
    assert {kind for _operation, kind in fired} == {"error", "rate_limit"}, fired
    assert len(fired) >= 0.15 * sync_calls, (len(fired), calls)
    assert {op for op, _kind in fired} >= {"list_registrants", "report_participants"}, fired
    # … and were retried by Temporal (the history keeps the last attempt of each activity).
    history = list((await handle.fetch_history()).events)
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert max(attempts) > 1, attempts

    # Same exact results as the clean run.
    assert result.status == "partial"
    assert_exact(db_engine, want)
    mine = snapshot(db_engine, BIG)
    for part in PARTS:
        assert mine[part] == reference[part], part
    entry = assert_one_closed_entry(db_engine, want, reference_entry)
    assert result.audit_entry_id == entry.id
    took = history[-1].event_time.ToDatetime() - history[0].event_time.ToDatetime()
    print(
        f"\n{len(fired)} faults in {sync_calls} Zoom calls; activity attempts {attempts}; "
        f"{took.total_seconds():.0f} s on the workflow's clock"
    )


# --- triggers during a run coalesce into exactly one follow-up run ---------------------------------


async def _history_events(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    return list((await handle.fetch_history()).events)


# long: one run and its triggers, then the run chain and what it wrote, in order
async def test_triggers_during_a_run_coalesce_into_one_follow_up_run(sync_world: SyncWorld, db_engine: Engine) -> None:
    """Three triggers while a run syncs → one continue-as-new, one follow-up run, two audit entries."""
    # Slow the registrant listing down so the triggers surely arrive while the run works.
    await sync_world.admin.add_fault(
        FaultRule(operation="list_registrants", kind=FaultKind.LATENCY, latency_ms=1500, times=1)
    )

    async def trigger(kind: str) -> str:
        return await request_sync(
            sync_world.client,
            webinar_id=world.W_ENDED,
            connection="sync-main",
            zoom_account_id=sync_world.main_account,
            trigger=kind,
            task_queue=sync_world.task_queue,
            recording_wait_seconds=0,
        )

    workflow_id = await trigger("manual")
    first = sync_world.client.get_workflow_handle(workflow_id)
    first_run = (await first.describe()).run_id

    async def at_the_registrants() -> bool:
        pending = (await first.describe()).raw_description.pending_activities
        return any(activity.activity_type.name == "sync_registrants" for activity in pending)

    await eventually(at_the_registrants, "the run to reach the registrants", within=10, every=0.02)
    for kind in ("webhook", "schedule", "manual"):
        assert await trigger(kind) == workflow_id  # signal-with-start: the same workflow
    assert (await first.describe()).run_id == first_run  # ... and the same run: nothing new started

    result = await asyncio.wait_for(
        sync_world.client.get_workflow_handle(workflow_id, result_type=SyncResult).result(), timeout=60
    )
    assert result.status == "partial"

    # The run chain: run 1 got the start signal and the three triggers and continued as new once;
    # run 2 got none and completed.
    run1 = await _history_events(sync_world.client.get_workflow_handle(workflow_id, run_id=first_run))
    signals = [e for e in run1 if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
    assert len(signals) == 4
    assert run1[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    second_run = run1[-1].workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    run2 = await _history_events(sync_world.client.get_workflow_handle(workflow_id, run_id=second_run))
    assert run2[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    assert not [e for e in run2 if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
    assert run2[0].workflow_execution_started_event_attributes.continued_execution_run_id == first_run
    description = await sync_world.client.get_workflow_handle(workflow_id).describe()
    assert (description.run_id, description.status) == (second_run, WorkflowExecutionStatus.COMPLETED)

    # Two audit entries: the run and its one follow-up (with the first coalesced trigger).
    entries = view.audit(db_engine, world.W_ENDED)
    assert [(entry["trigger"], entry["status"]) for entry in entries] == [("webhook", "partial"), ("manual", "partial")]
    assert entries[0]["counts"].get("contacts_created", 0) == 0
    # The follow-up rewrote nothing: still the exact rows of one sync (test_sync.py's expectations).
    assert view.participations(db_engine, world.W_ENDED) == {
        "alice@customers.example": ("attended", 50 * 60, 83.33),
        "bob@customers.example": ("attended", 90 * 60, 100.0),
        "carol@customers.example": ("cancelled", 0, None),
        "dana@walkin.example": ("attended", 30 * 60, 50.0),
    }
    assert view.sessions(db_engine, world.W_ENDED) == {
        "alice@customers.example": 2,
        "bob@customers.example": 1,
        "dana@walkin.example": 1,
    }
    recomputed_rollups_unchanged(db_engine)
