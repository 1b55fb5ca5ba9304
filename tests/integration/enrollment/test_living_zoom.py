"""A living Zoom, end to end on the accelerated clock (issue #15, acceptance 2; #15.1–#15.4, R-SYNC-3,
R-SYNC-5, R-PROP-1): two contacts enrolled through the API into ``definitions/webinar-invite.yaml``
as shipped are registered by the Zoom saga; the emulator runs the webinar by itself (×60) from a
scenario — one attendee leaves and rejoins and is on a second device for a while, the other stays
ten minutes, a guest joins without an e-mail — and sends Zoom's webhooks to the API over real HTTP;
the sync they start writes sessions, rollups, timeline, recording files and the transcript's cues;
the enrollments' delay (an hour after the end, skipped on the time-skipping server) ends and the
branch sends "thanks" to the one who stayed and "the recording" to the other.

Temporal runs on the time-skipping server, whose clock the emulator's starts from; the emulator
then runs ahead of the wall clock, so its webhooks are signed with the wall clock (the API checks
``x-zm-request-timestamp`` against its own).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col
from support.http import allow_entry, serve
from support.waiting import eventually
from support.zoom import served_transcript, zoom_cues
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from engine.api.app import create_app
from engine.config import Settings
from engine.crm.accounts import create_zoom_connection
from engine.crm.audit import list_audit_entries
from engine.crm.enrollments import step_history
from engine.crm.participations import list_timeline
from engine.crm.sync_settings import SyncSettingsValues, put_sync_settings
from engine.crm.tables import (
    AttendanceSession,
    Contact,
    Enrollment,
    MarketingEvent,
    Participation,
    Recording,
    Transcript,
    TranscriptCue,
    ZoomWebhookEvent,
)
from engine.enrollment.contracts import EnrollmentProgress
from engine.zoom.settings import ZoomConnectionConfig, ZoomPlan, ZoomSettings
from worker import build_worker
from zoom_emulator import EmulatorAdmin, EmulatorServer, RateLimitMode, Scenario, ScriptedAttendee, SeedDocument
from zoom_emulator.core.seeds import AccountSeed, GenerateRegistrants, UserSeed, WebinarSeed

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions, WebhookReceiver

pytestmark = [pytest.mark.timeskipping, pytest.mark.timeout(300)]

REPO_ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "acct-living"
CONNECTION = "living"
SECRET_TOKEN = "living-webhook-secret-token"
API_KEY = "living-zoom-operator-key"
W_LIVE = 95000000077
STAYS, LEAVES = "stella@customers.example", "lee@customers.example"
DURATION = 60
TRANSCRIPT_BYTES = 40_000
#: Stella: 0–20, then 25–50 with a second device 30–40 (union 45 of 60 minutes); Lee: 5–15.
SCENARIO = Scenario(
    attendance=0.0,  # of the generated registrants, nobody: only the scripted people and a guest come
    guests=1,
    host_joins=False,
    speakers=0,
    attendees=[
        ScriptedAttendee(email=STAYS, name="Stella Stay", sessions=[(0, 20), (25, 50), (30, 40)], speaks=True),
        ScriptedAttendee(email=LEAVES, name="Lee Leave", sessions=[(5, 15)]),
    ],
    recording_delay_minutes=5,
    transcript_delay_minutes=10,
    transcript_bytes=TRANSCRIPT_BYTES,
    seed=15,
)


def _seed(now: datetime, start: datetime) -> SeedDocument:
    webinar = WebinarSeed(
        id=W_LIVE, host_id="u-host", topic="Living launch", start_time=start, duration=DURATION, approval_type=0,
        generate_registrants=GenerateRegistrants(count=5, domain="others.example", seed=3), scenario=SCENARIO,
    )  # fmt: skip
    account = AccountSeed(
        id=ACCOUNT, plan=ZoomPlan.BUSINESS, client_id="living-client", client_secret="living-secret",
        users=[UserSeed(id="u-host", email="hana.host@rollcall.example", first_name="Hana", last_name="Host")],
        webinars=[webinar],
    )  # fmt: skip
    return SeedDocument(clock=now, clock_frozen=True, accounts=[account])


def _connection(server: EmulatorServer) -> ZoomConnectionConfig:
    fields = {**server.connection_fields(ACCOUNT), "name": CONNECTION, "webhook_secret_token": SECRET_TOKEN}
    return ZoomConnectionConfig.model_validate(fields)


def _prepare_store(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        create_zoom_connection(
            session, business_unit_id=1, name=CONNECTION, zoom_account_id=ACCOUNT,
            connected_by_email="hana.host@rollcall.example", credentials_ref="env:ROLLCALL_ZOOM_CONNECTIONS",
        )  # fmt: skip
        put_sync_settings(session, SyncSettingsValues(sync_enabled=True), admin=True)
        session.commit()


# The whole story on the embedded store (80 s of the emulator's accelerated clock); each store
# path it takes runs on PostgreSQL in the crm, sync and enrollment tests.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# long: the living-emulator story in the order it happens: enroll, register, run the webinar, sync, branch
async def test_enroll_register_run_the_webinar_sync_and_branch(
    time_skipping_env: WorkflowEnvironment,
    database_url: str,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    tmp_path: Path,
    definitions: Definitions,
    receiver: WebhookReceiver,
) -> None:
    client = time_skipping_env.client
    now = (await time_skipping_env.get_current_time()).replace(microsecond=0)
    start = now + timedelta(minutes=10)
    end = start + timedelta(minutes=DURATION)
    _prepare_store(db_engine)
    invite = (REPO_ROOT / "definitions" / "webinar-invite.yaml").read_text()
    definitions.put("invite", invite.replace("key: webinar-invite\n", 'key: "{key}"\n'))
    key = definitions.key("invite")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(
        f"MARKETING_HOOK_TOKEN: t0ken\nOPS_ALERTS_URL: {receiver.url}/ops\n"
        f"MARKETING_HOOKS_URL: {receiver.url}/marketing\n"
    )

    with EmulatorServer() as zoom:
        async with EmulatorAdmin(zoom.base_url) as admin:
            await admin.set_rate_limit_mode(RateLimitMode.ENFORCED)
            await admin.seed(_seed(now, start))
            await admin.set_webhook_timestamp_clock("wall")
        zoom_settings = ZoomSettings(connections=[_connection(zoom)])
        settings = Settings(
            api_keys=[f"living:operator:{API_KEY}"], database_url=database_url, definitions_dir=None,
            temporal_task_queue=task_queue, secrets_file=secrets, webhook_allow=[allow_entry(receiver.url)],
        )  # fmt: skip
        app = create_app(settings, db_engine=db_engine, temporal_client=client, zoom_settings=zoom_settings)
        worker = build_worker(
            client, db_engine, task_queue=task_queue, executor=activity_executor, settings=settings,
            zoom_settings=zoom_settings,
        )  # fmt: skip
        async with EmulatorAdmin(zoom.base_url) as admin, worker:
            with serve(app, name="living-api") as api:
                hook = f"{api}/v1/zoom/webhooks/{CONNECTION}"
                subscribed = await admin.subscribe_webhooks(ACCOUNT, hook, SECRET_TOKEN)
                assert subscribed["validated"], subscribed
                ids = await _enroll(api, key)
                handles = {who: client.get_workflow_handle(f"enroll:{key}:{cid}") for who, cid in ids.items()}
                waiting = {who: await _waiting_until(handle) for who, handle in handles.items()}
                assert waiting == {"stays": end + timedelta(hours=1), "leaves": end + timedelta(hours=1)}

                # The webinar happens: Zoom's clock runs a minute per second past the transcript.
                await admin.set_clock_speed(60, frozen=False)
                transcript = await eventually(
                    lambda: _stored_transcript(db_engine), "the transcript's sync", within=180, every=0.2
                )
                await admin.set_clock_speed(1, frozen=True)
                assert transcript is not None
                served = await served_transcript(zoom, ACCOUNT, transcript["download_url"])

                for _ in range(12):  # the enrollments' delay: an hour after the end, on Temporal's clock
                    statuses = [(await handle.describe()).status for handle in handles.values()]
                    if WorkflowExecutionStatus.RUNNING not in statuses:
                        break
                    await time_skipping_env.sleep(timedelta(minutes=30))
                results = {who: await asyncio.wait_for(h.result(), timeout=30) for who, h in handles.items()}

    assert {who: result["status"] for who, result in results.items()} == {"stays": "completed", "leaves": "completed"}
    _assert_branches(db_engine, ids, receiver)
    _assert_attendance(db_engine, ids)
    _assert_webhooks_and_recording(db_engine)
    _assert_transcript(db_engine, served, start)


async def _enroll(api: str, key: str) -> dict[str, int]:
    ids = {}
    async with httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        for who, email, first, last in (("stays", STAYS, "Stella", "Stay"), ("leaves", LEAVES, "Lee", "Leave")):
            properties = {"webinar_id": "950 0000 0077"}  # as people write it (R-ADD-2)
            body = {"email": email, "first_name": first, "last_name": last, "properties": properties}
            answer = await http.post(f"/v1/workflows/{key}/enrollments", json=body)
            assert answer.status_code == 202, answer.text
            ids[who] = answer.json()["contact_id"]
    return ids


async def _waiting_until(handle: WorkflowHandle[Any, Any]) -> datetime:
    async def check() -> datetime | None:
        progress: EnrollmentProgress = await handle.query("progress", result_type=EnrollmentProgress)
        return progress.waiting_until

    found = await eventually(check, "the enrollment's delay", within=120, every=0.2)
    assert found is not None
    return found


def _stored_transcript(db_engine: Engine) -> dict[str, Any] | None:
    with Session(db_engine) as session:
        row = session.execute(
            sa.select(col(Transcript.status), col(Recording.download_url))
            .join(Recording, col(Recording.id) == col(Transcript.recording_id))
            .where(col(Transcript.zoom_webinar_id) == str(W_LIVE))
        ).first()
    return {"status": row[0], "download_url": row[1]} if row else None


def _assert_branches(db_engine: Engine, ids: dict[str, int], receiver: WebhookReceiver) -> None:
    """The branch the scenario implies: Stella stayed 75 % → thanks; Lee 17 % → the recording."""
    with Session(db_engine) as session:
        logs = {
            who: [(row.step_id, row.outcome) for row in step_history(session, _enrollment_id(session, cid))]
            for who, cid in ids.items()
        }
    common = [("register", "REGISTERED"), ("check_registration", "COMPLETED"), ("wait_for_webinar_end", "COMPLETED")]
    assert logs == {
        "stays": [*common, ("check_attendance", "COMPLETED"), ("send_thanks", "DELIVERED"), ("done", "COMPLETED")],
        "leaves": [*common, ("check_attendance", "COMPLETED"), ("send_recording", "DELIVERED"), ("done", "COMPLETED")],
    }
    sent = sorted((request.path, request.body["email"], request.body["template"]) for request in receiver.requests)
    assert sent == [
        ("/marketing/webinar-recording", LEAVES, "sorry-we-missed-you"),
        ("/marketing/webinar-thanks", STAYS, "thanks-for-attending"),
    ]


def _enrollment_id(session: Session, contact_id: int) -> int:
    found = session.scalars(sa.select(col(Enrollment.id)).where(col(Enrollment.contact_id) == contact_id)).one()
    assert found is not None
    return int(found)


def _assert_attendance(db_engine: Engine, ids: dict[str, int]) -> None:
    """R-SYNC-3, R-PROP-1: Stella's three sessions (a rejoin, a second device) are one union of 45
    minutes; Lee's one session 10; the guest is counted, not a contact; timelines and rollups."""
    with Session(db_engine) as session:
        participations = {
            who: session.scalars(sa.select(Participation).where(col(Participation.contact_id) == cid)).one()
            for who, cid in ids.items()
        }
        sessions = {
            who: session.scalar(
                sa.select(sa.func.count())
                .select_from(AttendanceSession)
                .where(col(AttendanceSession.contact_id) == cid)
            )
            for who, cid in ids.items()
        }
        contacts = {who: session.get(Contact, cid) for who, cid in ids.items()}
        timeline = {who: [e.kind for e in list_timeline(session, cid).events] for who, cid in ids.items()}
        emails = sorted(session.scalars(sa.select(col(Contact.email))))
    assert {w: (p.state, p.attended, p.attendance_seconds, round(p.attendance_percent or 0, 2))
            for w, p in participations.items()} == {
        "stays": ("attended", True, 45 * 60, 75.0), "leaves": ("attended", True, 10 * 60, 16.67)}  # fmt: skip
    assert sessions == {"stays": 3, "leaves": 1}
    assert {w: (c.zoom_webinar_attendance_count, round(c.zoom_webinar_attendance_average_duration or 0, 2))
            for w, c in contacts.items() if c is not None} == {"stays": (1, 75.0), "leaves": (1, 16.67)}  # fmt: skip
    # #14.2: the enrollment's own events share the timeline with Zoom's; both were enrolled.
    zoom_kinds = {who: sorted(k for k in kinds if not k.startswith("workflow_")) for who, kinds in timeline.items()}
    assert zoom_kinds["stays"] == [
        "recording_available",
        "webinar_attendance",
        "webinar_attendance",
        "webinar_attendance",
        "webinar_registration",
    ]
    assert zoom_kinds["leaves"] == ["recording_available", "webinar_attendance", "webinar_registration"]
    assert all("workflow_enrolled" in kinds for kinds in timeline.values()), timeline
    # Contacts: the two enrolled and the five other registrants (none came); the guest is none.
    assert len(emails) == 7 and {STAYS, LEAVES} <= set(emails)
    assert sum(email.endswith("@others.example") for email in emails) == 5


def _assert_webhooks_and_recording(db_engine: Engine) -> None:
    """Zoom's own webhooks reached the API (each once); the recording files are stored with their
    sizes; the audit entry of the run that waited for the transcript counts it all."""
    with Session(db_engine) as session:
        events = [row.event for row in session.scalars(sa.select(ZoomWebhookEvent))]
        event_id = session.scalars(
            sa.select(col(MarketingEvent.id)).where(col(MarketingEvent.zoom_webinar_id) == str(W_LIVE))
        ).one()
        files = {
            row.file_type: row.file_size
            for row in session.scalars(sa.select(Recording).where(col(Recording.marketing_event_id) == event_id))
        }
        entries = list_audit_entries(session, str(W_LIVE)).entries
    counted = {name: events.count(name) for name in set(events)}
    assert counted == {
        "webinar.registration_created": 2,
        "webinar.started": 1,
        "webinar.participant_joined": 5,  # Stella 3, Lee 1, the guest 1
        "webinar.participant_left": 5,
        "webinar.ended": 1,
        "recording.completed": 1,
        "recording.transcript_completed": 1,
    }
    assert files == {"MP4": 3_500_000 * DURATION, "M4A": 480_000 * DURATION, "TRANSCRIPT": TRANSCRIPT_BYTES}
    [after_the_end] = [e for e in entries if e.counts.get("attendees_rows")]
    assert after_the_end.status == "partial"  # the guest: PARTICIPANTS_NOT_SYNCED (R-AUD-3)
    assert {name: after_the_end.counts[name] for name in
            ("attendees_rows", "guests_without_email", "recording_files", "transcripts")} == {
        "attendees_rows": 5, "guests_without_email": 1, "recording_files": 3, "transcripts": 1}  # fmt: skip


def _assert_transcript(db_engine: Engine, served: str, start: datetime) -> None:
    """The stored cues are the served WebVTT's; only those present speak — the host throughout,
    Stella (``speaks``) only while she is there."""
    with Session(db_engine) as session:
        [transcript] = session.scalars(sa.select(Transcript).where(col(Transcript.zoom_webinar_id) == str(W_LIVE)))
        cues = list(
            session.scalars(
                sa.select(TranscriptCue)
                .where(col(TranscriptCue.transcript_id) == transcript.id)
                .order_by(col(TranscriptCue.sequence))
            )
        )
    assert (transcript.status, transcript.byte_size, transcript.occurrence_start) == ("stored", TRANSCRIPT_BYTES, start)
    assert [(cue.speaker, cue.text) for cue in cues] == zoom_cues(served)
    assert {cue.speaker for cue in cues} == {"Hana Host", "Stella Stay"}
    present = [(0, 20 * 60_000), (25 * 60_000, 50 * 60_000)]
    stella = [cue.start_ms for cue in cues if cue.speaker == "Stella Stay"]
    assert stella and all(any(a <= ms < b for a, b in present) for ms in stella)
