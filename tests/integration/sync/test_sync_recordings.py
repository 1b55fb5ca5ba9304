"""A webinar that was never recorded (issue #13 point 6; R-SYNC-5, R-AUD-2).

Zoom answers 404 code 3301 both while a recording is processed and when there is none. Until a
grace period after the end (two hours for these 60-minute webinars) the run waits, as before;
after it, the run completes at once with ``RECORDING_NOT_SYNCED`` saying there is no recording,
and a ``recording.completed`` webhook later starts a new sync that adds the recording.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld, prepare_store
from integration.sync.sync_live import ATTENDEE, ended_webinar
from sqlalchemy import Engine
from support.zoom import emulator_connection
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from engine.sync.contracts import RECORDING_SIGNAL, SyncProgress, SyncResult
from engine.sync.recordings import OccurrenceFiles, no_recording_grace, recording_outcome
from engine.sync.triggers import request_sync
from engine.zoom.settings import ZoomSettings
from worker import build_worker
from zoom_emulator import EmulatorAdmin, EmulatorServer, RateLimitMode

pytestmark = pytest.mark.timeout(120)

W_NEVER_RECORDED = "93100000101"
W_JUST_ENDED = "93100000102"


def test_what_the_sync_waits_for_occurrence_by_occurrence() -> None:
    """#13.6, R-SYNC-5 on the rule itself (``engine.sync.recordings``): "no recording" within the
    grace period, a recording still processing, or a video without its transcript are waited for;
    "no recording" past the grace period is listed as absent and not waited for."""
    ended = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    grace = no_recording_grace(60, 2 * 3600)
    assert grace == timedelta(hours=2) and no_recording_grace(180, 2 * 3600) == timedelta(hours=6)

    def outcome(*occurrences: OccurrenceFiles, hours_after: float) -> tuple[str, list[str]]:
        state, absent = recording_outcome(occurrences, as_of=ended + timedelta(hours=hours_after), grace=grace)
        return state.value, [item["occurrence"] for item in absent]

    nothing = OccurrenceFiles("a", ended)
    complete = OccurrenceFiles("b", ended, videos=1, transcripts=1)
    video_only = OccurrenceFiles("c", ended, videos=1)
    processing = OccurrenceFiles("d", ended, processing=True)
    assert outcome(nothing, hours_after=1) == ("processing", [])
    assert outcome(nothing, hours_after=3) == ("none", ["a"])
    assert outcome(processing, hours_after=30) == ("processing", [])  # Zoom lists it: it is coming
    assert outcome(complete, nothing, hours_after=3) == ("synced", ["a"])  # a recurring webinar, one unrecorded
    assert outcome(video_only, nothing, hours_after=3) == ("transcript_pending", ["a"])
    assert outcome(complete, nothing, hours_after=1) == ("processing", [])
    assert outcome(OccurrenceFiles("e", None), hours_after=99) == ("processing", [])  # end unknown: wait


async def test_no_recording_two_hours_after_the_end_completes_the_run_and_a_later_webhook_adds_it(
    sync_world: SyncWorld, db_engine: Engine
) -> None:
    """#13.6, R-AUD-2: 3301 three hours after the end → RECORDING_NOT_SYNCED "no recording", the
    run completes (it would have waited 6 hours before); the recording that Zoom makes available
    later comes with its webhook, whose new sync stores it (R-SYNC-5)."""
    admin = sync_world.admin
    zoom_now = datetime.now(UTC).replace(microsecond=0)  # the dev server's workflows run on the real clock
    await admin.set_clock(zoom_now, frozen=True)
    # Ended three hours ago; Zoom makes its recording available five hours after the end.
    start = zoom_now - timedelta(hours=4)
    await admin.add_webinar(
        sync_world.main_account, ended_webinar(W_NEVER_RECORDED, start=start, recording_after_minutes=300)
    )

    first = await sync_world.sync(W_NEVER_RECORDED, recording_wait_seconds=6 * 3600, recording_poll_seconds=1800)

    assert first.status == "partial"
    assert view.recordings(db_engine) == []
    (entry,) = view.audit(db_engine, W_NEVER_RECORDED)
    assert entry["status"] == "partial"
    warning = entry["warnings"]["RECORDING_NOT_SYNCED"]
    assert warning["message"].startswith("no recording in Zoom")
    assert warning["items"] == [
        {"occurrence": f"Recent{W_NEVER_RECORDED}Instance==", "ended_at": (start + timedelta(hours=1)).isoformat()}
    ]
    assert view.participations(db_engine, W_NEVER_RECORDED) == {ATTENDEE: ("attended", 40 * 60, 66.67)}

    # Two more hours: the recording is there, and Zoom's recording.completed webhook signals.
    await admin.advance_clock(3 * 3600)
    workflow_id = await request_sync(
        sync_world.client,
        webinar_id=W_NEVER_RECORDED,
        connection="sync-main",
        zoom_account_id=sync_world.main_account,
        trigger="webhook",
        task_queue=sync_world.task_queue,
        signal=RECORDING_SIGNAL,
    )
    handle = sync_world.client.get_workflow_handle(workflow_id, result_type=SyncResult)
    second = await asyncio.wait_for(handle.result(), timeout=60)

    assert second.status == "succeeded"
    assert view.recordings(db_engine) == ["MP4", "TRANSCRIPT"]
    assert [(e["trigger"], e["status"]) for e in view.audit(db_engine, W_NEVER_RECORDED)] == [
        ("webhook", "succeeded"),
        ("manual", "partial"),
    ]
    assert "recording_available" in view.timeline(db_engine)[ATTENDEE]


async def test_no_recording_within_the_grace_period_is_waited_for(
    time_skipping_env: WorkflowEnvironment,
    sync_emulator: EmulatorServer,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> None:
    """#13.6, R-SYNC-5 on the time-skipping server: 3301 thirty minutes after the end is "still
    processing" — the run waits (its details say until when), and stores the recording that Zoom
    makes available an hour after the end."""
    suffix = uuid.uuid4().hex[:8]
    main_account, emea_account = f"acct-main-{suffix}", f"acct-emea-{suffix}"
    client = time_skipping_env.client
    zoom_now = await time_skipping_env.get_current_time()
    async with EmulatorAdmin(sync_emulator.base_url) as admin:
        await admin.reset()
        await admin.set_rate_limit_mode(RateLimitMode.ENFORCED)
        await admin.seed(world.seed(main_account, emea_account))
        await admin.set_clock(zoom_now, frozen=True)
        start = zoom_now - timedelta(minutes=90)  # ended 30 minutes ago
        await admin.add_webinar(main_account, ended_webinar(W_JUST_ENDED, start=start, recording_after_minutes=60))
        prepare_store(db_engine, main_account, emea_account)
        zoom = ZoomSettings(connections=[emulator_connection(sync_emulator, main_account, name="sync-main")])
        async with build_worker(
            client, db_engine, task_queue=task_queue, executor=activity_executor, zoom_settings=zoom
        ):
            workflow_id = await request_sync(
                client,
                webinar_id=W_JUST_ENDED,
                connection="sync-main",
                zoom_account_id=main_account,
                trigger="webhook",
                task_queue=task_queue,
            )
            handle = client.get_workflow_handle(workflow_id, result_type=SyncResult)
            progress = SyncProgress(phase="starting")
            for _ in range(200):  # until the run waits for the recording
                progress = await handle.query("progress", result_type=SyncProgress)
                if progress.waiting_for:
                    break
                await asyncio.sleep(0.05)
            assert progress.waiting_for == "the recording"
            assert progress.next_check_at is not None
            assert progress.next_check_at - zoom_now >= timedelta(minutes=29)
            assert view.audit(db_engine, W_JUST_ENDED)[0]["status"] == "running"
            assert view.recordings(db_engine) == []
            # An hour passes in Zoom (the recording is ready), and for the workflow's timer.
            await admin.advance_clock(3600)
            for _ in range(20):
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    break
                await time_skipping_env.sleep(timedelta(minutes=30))
            result = await asyncio.wait_for(handle.result(), timeout=30)

    assert result.status == "succeeded"
    assert view.recordings(db_engine) == ["MP4", "TRANSCRIPT"]
    (entry,) = view.audit(db_engine, W_JUST_ENDED)
    assert "RECORDING_NOT_SYNCED" not in entry["warnings"]
