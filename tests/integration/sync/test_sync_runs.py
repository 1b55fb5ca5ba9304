"""Re-runs, cancellations in Zoom, late transcripts and event-triggered enrollments (R-SYNC-5,
R-SYNC-6, R-PROP: rollups derived, never incremented; the DSL's event triggers)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld, prepare_store
from sqlalchemy import Engine
from sqlmodel import Session, col
from support.zoom import emulator_connection
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from engine.crm.enrollments import list_definitions
from engine.crm.participations import recompute_rollups
from engine.crm.tables import Contact, Enrollment
from engine.enrollment.definitions import put_definition_text
from engine.sync.contracts import SyncResult
from engine.sync.triggers import request_sync
from engine.zoom import ZoomClient
from engine.zoom.client import RegistrantRef
from engine.zoom.models import RegistrantAction
from engine.zoom.settings import ZoomSettings
from worker import build_worker
from zoom_emulator import EmulatorAdmin, EmulatorServer, RateLimitMode

pytestmark = pytest.mark.timeout(120)


def snapshot(db_engine: Engine, webinar_id: str) -> dict[str, Any]:
    people = view.contacts(db_engine)
    return {
        "contacts": {email: view.rollups(contact) for email, contact in people.items()},
        "participations": view.participations(db_engine, webinar_id),
        "sessions": view.sessions(db_engine, webinar_id),
        "timeline": view.timeline(db_engine),
        "recordings": view.recordings(db_engine),
    }


def recomputed(db_engine: Engine) -> dict[str, Any]:
    """Rollups recomputed from scratch from the stored participations."""
    with Session(db_engine) as session:
        ids = list(session.scalars(sa.select(col(Contact.id))))
        recompute_rollups(session, [i for i in ids if i is not None])
        session.commit()
    return {email: view.rollups(contact) for email, contact in view.contacts(db_engine).items()}


async def test_syncing_three_times_changes_nothing(sync_world: SyncWorld, db_engine: Engine) -> None:
    """R-SYNC-6: no duplicate contacts, participations, timeline events or recordings."""
    await sync_world.sync(world.W_ENDED)
    first = snapshot(db_engine, world.W_ENDED)
    await sync_world.sync(world.W_ENDED, trigger="schedule")
    await sync_world.sync(world.W_ENDED, trigger="webhook")

    assert snapshot(db_engine, world.W_ENDED) == first
    assert recomputed(db_engine) == first["contacts"]
    entries = view.audit(db_engine, world.W_ENDED)
    assert [entry["trigger"] for entry in entries] == ["webhook", "schedule", "manual"]
    assert entries[0]["counts"].get("contacts_created", 0) == 0 and entries[2]["counts"]["contacts_created"] == 4


async def test_a_cancellation_in_zoom_is_synced(
    sync_world: SyncWorld, sync_emulator: EmulatorServer, db_engine: Engine
) -> None:
    """R-SYNC-3: a registration cancelled in Zoom becomes a cancelled participation; rollups follow."""
    await sync_world.sync(world.W_UPCOMING)
    early = view.contacts(db_engine)["early@customers.example"]
    assert view.rollups(early)[0] == 1 and view.rollups(early)[3] is not None

    config = emulator_connection(sync_emulator, sync_world.main_account)
    async with ZoomClient(config) as zoom:
        await zoom.update_registrant_status(
            world.W_UPCOMING, RegistrantAction.CANCEL, [RegistrantRef(email="early@customers.example")]
        )
    await sync_world.sync(world.W_UPCOMING)
    await sync_world.sync(world.W_UPCOMING)

    assert view.participations(db_engine, world.W_UPCOMING) == {"early@customers.example": ("cancelled", 0, None)}
    early = view.contacts(db_engine)["early@customers.example"]
    assert view.rollups(early) == (0, 0, None, None)
    assert view.timeline(db_engine)["early@customers.example"] == ["webinar_cancellation", "webinar_registration"]
    before = {email: view.rollups(contact) for email, contact in view.contacts(db_engine).items()}
    assert recomputed(db_engine) == before


EVENT_TRIGGERED = """
key: thanks-attendees
name: Thank attendees who stayed
enrollment:
  triggers:
    - type: event
      event: webinar_attendance
      where:
        - {type: condition, field: duration_percent, op: gte, value: 50}
steps:
  - id: tag
    type: set_property
    property: thanked
    value: true
"""


async def test_attendance_events_enroll_contacts_into_event_triggered_workflows(
    sync_world: SyncWorld, db_engine: Engine
) -> None:
    """Step 8: contacts whose attendance of this webinar matches an ``event`` trigger are enrolled, once."""
    with Session(db_engine) as session:
        put_definition_text(session, "thanks-attendees", EVENT_TRIGGERED)
        session.commit()
        assert [row.key for row in list_definitions(session)] == ["thanks-attendees"]

    result = await sync_world.sync(world.W_ENDED)
    again = await sync_world.sync(world.W_ENDED)

    assert result.counts["enrollments_started"] == 3  # alice 83 %, bob 100 %, dana 50 %
    assert again.counts["enrollments_started"] == 0  # every count is present, zeros too (#13.11)
    for _ in range(100):
        with Session(db_engine) as session:
            rows = list(session.scalars(sa.select(Enrollment)))
        if rows and all(row.status == "completed" for row in rows):
            break
        await asyncio.sleep(0.1)
    people = {contact.id: email for email, contact in view.contacts(db_engine).items()}
    assert sorted(people[row.contact_id] for row in rows) == [
        "alice@customers.example",
        "bob@customers.example",
        "dana@walkin.example",
    ]
    assert {(row.trigger, row.status) for row in rows} == {("event", "completed")}
    assert view.contacts(db_engine)["dana@walkin.example"].properties == {"thanked": True}


async def test_a_transcript_that_comes_two_hours_after_the_video_is_picked_up_by_the_same_run(
    time_skipping_env: WorkflowEnvironment,
    sync_emulator: EmulatorServer,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> None:
    """R-SYNC-5 on the time-skipping server: the run stores the video, waits durably, then the transcript."""
    import uuid

    suffix = uuid.uuid4().hex[:8]
    main_account, emea_account = f"acct-main-{suffix}", f"acct-emea-{suffix}"
    client = time_skipping_env.client
    async with EmulatorAdmin(sync_emulator.base_url) as admin:
        await admin.reset()
        await admin.set_rate_limit_mode(RateLimitMode.ENFORCED)
        await admin.seed(world.seed(main_account, emea_account))
        prepare_store(db_engine, main_account, emea_account)
        zoom = ZoomSettings(connections=[emulator_connection(sync_emulator, main_account, name="sync-main")])
        async with build_worker(
            client, db_engine, task_queue=task_queue, executor=activity_executor, zoom_settings=zoom
        ):
            workflow_id = await request_sync(
                client,
                webinar_id=world.W_LATE_TRANSCRIPT,
                connection="sync-main",
                zoom_account_id=main_account,
                trigger="webhook",
                task_queue=task_queue,
                recording_wait_seconds=6 * 3600,
                recording_poll_seconds=1800,
            )
            handle = client.get_workflow_handle(workflow_id, result_type=SyncResult)
            for _ in range(200):  # until the run waits for the transcript
                history = await handle.fetch_history()
                if any(event.HasField("timer_started_event_attributes") for event in history.events):
                    break
                await asyncio.sleep(0.05)
            assert view.recordings(db_engine) == ["MP4"]
            # Two hours pass in Zoom, and for the workflow's timer.
            await admin.advance_clock(2 * 3600)
            for _ in range(20):
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    break
                await time_skipping_env.sleep(timedelta(minutes=30))
            result = await asyncio.wait_for(handle.result(), timeout=30)

    assert result.status == "succeeded"
    assert view.recordings(db_engine) == ["MP4", "TRANSCRIPT"]
    (entry,) = view.audit(db_engine, world.W_LATE_TRANSCRIPT)
    assert "RECORDING_NOT_SYNCED" not in entry["warnings"]
    assert view.timeline(db_engine)["lena@customers.example"] == [
        "recording_available",
        "webinar_attendance",
        "webinar_registration",
    ]


async def test_a_permanent_failure_records_sync_error_and_leaves_the_store_consistent(
    sync_world: SyncWorld, db_engine: Engine
) -> None:
    """R-AUD-6 and the saga: Zoom refuses the participants report for good (HTTP 400) → the run
    records SYNC_ERROR with what was applied (registrants) and what was not (attendees); every
    participation written has its rollups (equal to a recomputation)."""
    from temporalio.client import WorkflowFailureError

    from zoom_emulator.core.faults import FaultKind, FaultRule

    await sync_world.admin.add_fault(
        FaultRule(operation="report_participants", kind=FaultKind.ERROR, status=400, probability=1.0)
    )
    with pytest.raises(WorkflowFailureError):
        await sync_world.sync(world.W_ENDED)

    (entry,) = view.audit(db_engine, world.W_ENDED)
    assert entry["status"] == "failed"
    assert "the sync stopped" in entry["warnings"]["SYNC_ERROR"]["message"]
    assert entry["counts"]["registrants_written"] == 3 and entry["counts"]["attendees_rows"] == 0
    assert view.participations(db_engine, world.W_ENDED) == {
        "alice@customers.example": ("registered", 0, None),
        "bob@customers.example": ("registered", 0, None),
        "carol@customers.example": ("cancelled", 0, None),
    }
    assert view.sessions(db_engine, world.W_ENDED) == {}
    before = {email: view.rollups(contact) for email, contact in view.contacts(db_engine).items()}
    assert before["alice@customers.example"][0] == 1
    assert recomputed(db_engine) == before

    await sync_world.admin.clear_faults()
    assert (await sync_world.sync(world.W_ENDED)).status == "partial"  # the next run completes the rest
    assert view.participations(db_engine, world.W_ENDED)["alice@customers.example"][0] == "attended"
