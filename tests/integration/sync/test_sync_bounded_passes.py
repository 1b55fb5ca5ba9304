"""A pass over registrants and attendees that outgrows its history continues as new (issue #16
point 4, ``sync-bounded-passes``): a 100,000-attendee webinar is several runs of a bounded
history, each reading on from its predecessor's cursor, with one audit entry and the counts of
one run. Here the pass is made long with one Zoom page per activity and a low limit."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from engine.sync.contracts import SyncResult
from engine.sync.triggers import request_sync
from workflows.webinar_sync import MIN_PASS_HISTORY_LIMIT
from zoom_emulator.core.seeds import (
    GenerateRegistrants,
    GenerateSessions,
    InstanceSeed,
    RecordingFileSeed,
    RecordingSeed,
    WebinarSeed,
)

pytestmark = pytest.mark.timeout(240)

W_BOUNDED = "93100000501"
#: Registrants of three statuses (each its own listing: 3 pages approved, 1 pending, 1 denied); every 2nd
#: attendee rejoins: 900 sessions, 3 pages.
REGISTRANTS, ATTENDEES = 1000, 600
#: Events a run may add past the limit: the chunk that crossed it (activity and workflow task) and
#: the continue-as-new.
PAST_THE_LIMIT = 8


def _webinar(webinar_id: str, domain: str) -> WebinarSeed:
    start = world.NOW - timedelta(hours=4)
    return WebinarSeed(
        id=int(webinar_id),
        host_id="host-1",
        topic="A large webinar",
        start_time=start,
        duration=60,
        generate_registrants=GenerateRegistrants(count=REGISTRANTS, domain=domain, pending=0.2, denied=0.1),
        instances=[
            InstanceSeed(
                uuid=f"Large{webinar_id}Instance==",
                start_time=start,
                generate_sessions=GenerateSessions(attendees=ATTENDEES, rejoin_every=2),
                recording=RecordingSeed(files=[RecordingFileSeed(file_type="MP4", file_extension="MP4")]),
            )
        ],
    )


async def _runs(client: Client, workflow_id: str) -> list[list[Any]]:
    """Every run of the sync, first to last, following continue-as-new backwards from the last."""
    runs: list[list[Any]] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.insert(0, list(history.events))
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id or None
        if run_id is None:
            return runs


async def _sync(
    sync_world: SyncWorld, webinar_id: str, *, pass_history_limit: int | None = None, pages_per_chunk: int | None = None
) -> tuple[str, SyncResult]:
    workflow_id = await request_sync(
        sync_world.client,
        webinar_id=webinar_id,
        connection="sync-main",
        zoom_account_id=sync_world.main_account,
        trigger="manual",
        task_queue=sync_world.task_queue,
        recording_wait_seconds=0,
        pass_history_limit=pass_history_limit,
        pages_per_chunk=pages_per_chunk,
    )
    handle = sync_world.client.get_workflow_handle(workflow_id, result_type=SyncResult)
    return workflow_id, await asyncio.wait_for(handle.result(), timeout=150)


async def test_a_long_pass_continues_as_new_and_counts_as_one_run(sync_world: SyncWorld, db_engine: Engine) -> None:
    """A page per activity and the lowest limit: several runs, none past the limit by more than a
    chunk; every registrant of every status and every join session written once; one audit entry
    whose counts are the store's; and no participant in any run's history."""
    await sync_world.admin.add_webinar(sync_world.main_account, _webinar(W_BOUNDED, "bounded.example"))

    workflow_id, result = await _sync(
        sync_world, W_BOUNDED, pages_per_chunk=1, pass_history_limit=MIN_PASS_HISTORY_LIMIT
    )

    runs = await _runs(sync_world.client, workflow_id)
    lengths = [len(events) for events in runs]
    print(f"\nruns {len(runs)}, history lengths {lengths}")
    assert len(runs) >= 3, lengths
    assert all(length <= MIN_PASS_HISTORY_LIMIT + PAST_THE_LIMIT for length in lengths[:-1]), lengths
    continued = [events[-1].event_type for events in runs[:-1]]
    assert set(continued) == {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW}

    counts = result.counts
    sessions = ATTENDEES + ATTENDEES // 2
    assert (counts["registrants_total"], counts["registrants_rows"], counts["registrants_written"]) == (
        REGISTRANTS,
        REGISTRANTS,
        REGISTRANTS,
    )
    assert (counts["attendees_total"], counts["attendees_rows"], counts["attendees_written"]) == (
        sessions,
        sessions,
        sessions,
    )
    assert (counts["contacts_created"], counts["contacts_matched"]) == (REGISTRANTS, 0)
    states = Counter(state for state, _seconds, _percent in view.participations(db_engine, W_BOUNDED).values())
    assert states.total() == REGISTRANTS and {"attended", "registered", "cancelled"} <= set(states)
    assert counts["recording_events"] == states.total() - states["cancelled"]  # one per participant still in
    assert sum(view.sessions(db_engine, W_BOUNDED).values()) == sessions
    assert counts["timeline_events"] == sum(len(kinds) for kinds in view.timeline(db_engine).values())
    (entry,) = view.audit(db_engine, W_BOUNDED)  # one audit entry for the whole chain
    assert entry["counts"] == counts and entry["status"] == result.status

    # Lists never enter history: no run carries a registrant's or attendee's address.
    for events in runs:
        assert "@bounded.example" not in str(events)
