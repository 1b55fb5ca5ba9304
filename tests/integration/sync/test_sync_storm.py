"""A storm of webhooks while a sync waits for its recording (issue #13 point 12).

Before: 500 signed events for one webinar made one run with 67 registrant refreshes and 1,559
history events. Now a trigger while the run waits asks for a refresh that starts a few seconds
later (``refresh_settle_seconds``), so the burst is one refresh (one more at most, for triggers
during it); and a run whose history passes ``history_limit`` continues as new with the same plan,
audit entry and counts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from integration.sync import store_view as view
from integration.sync.sync_kit import SyncWorld
from integration.sync.sync_live import ended_webinar
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from engine.sync.contracts import RECORDING_SIGNAL, SyncProgress, SyncResult
from engine.sync.triggers import request_sync

pytestmark = pytest.mark.timeout(180)

W_STORM = "93100000401"
SIGNALS = 150
HISTORY_LIMIT = 100
WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


async def _runs(client: Client, workflow_id: str, first_run: str) -> list[list[Any]]:
    """The histories of the run chain from ``first_run``, following continue-as-new."""
    runs = []
    run_id: str | None = first_run
    while run_id:
        events = list((await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()).events)
        runs.append(events)
        last = events[-1]
        continued = last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id if continued else None
    return runs


def _scheduled(events: list[Any], activity: str) -> int:
    return sum(
        1
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    )


async def _until(client: Client, workflow_id: str, condition: Any) -> SyncProgress:
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(600):
        try:
            progress: SyncProgress = await handle.query("progress", result_type=SyncProgress)
        except Exception:  # between two runs of the chain
            progress = SyncProgress(phase="starting")
        if condition(progress):
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run never reached the expected state; last progress: {progress}")


# long: one storm while a run waits, then the refresh and the history it left, in order
async def test_a_webhook_storm_while_waiting_is_one_refresh_and_a_bounded_history(
    sync_world: SyncWorld, db_engine: Engine
) -> None:
    """#13.12: 150 triggers in a burst while the run waits for its recording → at most 2 registrant
    refreshes; the run continues as new once its history passes the limit, so the run that goes on
    waiting is short; the chain writes one audit entry."""
    zoom_now = datetime.now(UTC).replace(microsecond=0)
    await sync_world.admin.set_clock(zoom_now, frozen=True)
    await sync_world.admin.add_webinar(
        sync_world.main_account,
        ended_webinar(W_STORM, start=zoom_now - timedelta(minutes=90), recording_after_minutes=60),
    )

    async def trigger(signal: str = "trigger") -> str:
        return await request_sync(
            sync_world.client,
            webinar_id=W_STORM,
            connection="sync-main",
            zoom_account_id=sync_world.main_account,
            trigger="webhook",
            task_queue=sync_world.task_queue,
            signal=signal,
            refresh_settle_seconds=5,
            history_limit=HISTORY_LIMIT,
        )

    workflow_id = await trigger()
    first_run = (await sync_world.client.get_workflow_handle(workflow_id).describe()).run_id
    assert first_run is not None
    await _until(sync_world.client, workflow_id, lambda p: p.waiting_for == "the recording")

    await asyncio.gather(*(trigger() for _ in range(SIGNALS)))  # the storm: signal-with-start, as webhooks do
    await _until(sync_world.client, workflow_id, lambda p: p.refresh_pending)
    settled = await _until(sync_world.client, workflow_id, lambda p: p.waiting_for and not p.refresh_pending)
    assert settled.registrants == 1  # the refresh's pass

    # The recording is ready an hour after the end; its webhook ends the wait.
    await sync_world.admin.advance_clock(3600)
    await trigger(RECORDING_SIGNAL)
    handle = sync_world.client.get_workflow_handle(workflow_id, result_type=SyncResult)
    result = await asyncio.wait_for(handle.result(), timeout=60)

    runs = await _runs(sync_world.client, workflow_id, first_run)
    refreshes = sum(_scheduled(events, "sync_registrants") for events in runs) - 1  # the first pass is no refresh
    signals = sum(
        1 for events in runs for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )
    lengths = [len(events) for events in runs]
    work = [sum(1 for e in events if e.event_type not in WORKFLOW_TASK_EVENTS) for events in runs]
    print(f"\nruns {len(runs)}, history lengths {lengths}, refreshes {refreshes}, signals {signals}")
    assert 1 <= refreshes <= 2, lengths
    assert signals == 1 + SIGNALS + 1  # the start, the storm and the recording webhook: none lost
    assert len(runs) >= 2 and lengths[-1] <= HISTORY_LIMIT  # continued as new; the last run stayed short
    # Apart from the signals themselves, each run's work (activities, timers) is small and bounded.
    per_run_signals = [
        sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) for events in runs
    ]
    assert all(count - received <= 60 for count, received in zip(work, per_run_signals, strict=True)), work
    assert result.status == "succeeded"
    (entry,) = view.audit(db_engine, W_STORM)  # one audit entry for the whole chain
    assert (entry["trigger"], entry["status"]) == ("webhook", "succeeded")
    assert view.recordings(db_engine) == ["MP4", "TRANSCRIPT"]
