"""Audit entries count as pages commit, always carry every count, and count what the names say
(issue #13 point 11, #14 point 4; R-AUD, §7).

How the counts stay exact across retries: a listing's rows are *set* from the pass's counts by
phase, which a retried page recomputes from its last heartbeat; new timeline and recording events
are *added* in the transaction that inserts them (a retry inserts none); contacts are counted
from the run's contact ledger, each once, as created or matched by the first write that met them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld
from sqlalchemy import Engine

from engine import failpoints
from engine.sync.contracts import AUDIT_COUNTS, SyncResult
from engine.sync.triggers import request_sync
from zoom_emulator.core.faults import FaultKind, FaultRule
from zoom_emulator.core.seeds import GenerateRegistrants, WebinarSeed

pytestmark = pytest.mark.timeout(120)

#: What one sync of ``W_ENDED`` (sync_world) writes, derived from its seed: 8 registrant rows, 3 of
#: them written (the others excluded); 7 session rows, 4 written (a guest, staff and a secondary
#: email are not); alice, bob, carol and the walk-in dana created; 11 timeline events; 2 files and
#: a "recording available" event for alice, bob and dana; its transcript (#15.4), whose cues depend
#: on the emulator's rendering and are counted from the store.
W_ENDED_COUNTS = {
    "registrants_total": 8,
    "registrants_rows": 8,
    "registrants_written": 3,
    "attendees_total": 7,
    "attendees_rows": 7,
    "attendees_written": 4,
    "contacts_created": 4,
    "contacts_matched": 0,
    "timeline_events": 11,
    "guests_without_email": 1,
    "emails_excluded": 5,
    "recording_files": 2,
    "recording_events": 3,
    "transcripts": 1,
    "transcript_cues": 0,
    "enrollments_started": 0,
}
W_MANY = "93100000301"


async def test_every_count_is_present_and_contacts_count_once(sync_world: SyncWorld, db_engine: Engine) -> None:
    """#13.11: a first sync, a re-sync and a skipped run each carry every count, zeros included;
    on the re-sync ``contacts_matched`` is the 4 contacts written to — alice and bob were both
    registrants and attendees, and count once."""
    first = await sync_world.sync(world.W_ENDED)
    again = await sync_world.sync(world.W_ENDED)
    sync_world.settings(sync_enabled=False)
    skipped = await sync_world.sync(world.W_ENDED)

    counts = {**W_ENDED_COUNTS, "transcript_cues": view.transcript_cues(db_engine, world.W_ENDED)}
    assert first.counts == counts and counts["transcript_cues"] > 0
    newest, middle, oldest = view.audit(db_engine, world.W_ENDED)
    assert (oldest["counts"], list(oldest["counts"])) == (counts, list(AUDIT_COUNTS))
    resynced = {**counts, "contacts_created": 0, "contacts_matched": 4, "timeline_events": 0, "recording_events": 0}
    assert middle["counts"] == again.counts == {**resynced, "transcripts": 0, "transcript_cues": 0}
    assert skipped.status == "skipped"
    assert newest["counts"] == dict.fromkeys(AUDIT_COUNTS, 0)


async def test_counts_stay_exact_when_committed_pages_are_retried(sync_world: SyncWorld, db_engine: Engine) -> None:
    """#13.11: the first registrant page and the first attendee page commit, then their activity
    fails before it heartbeats the cursor; the retries write those pages again — and the counts
    are those of a clean run (rows not doubled, created contacts not turned into matched ones)."""
    failpoints.arm("webinar_sync.registrants.page_written", failpoints.FailpointAction.ERROR, times=1)
    failpoints.arm("webinar_sync.attendees.page_written", failpoints.FailpointAction.ERROR, times=1)
    try:
        result = await sync_world.sync(world.W_ENDED)
    finally:
        failpoints.disarm_all()

    counts = {**W_ENDED_COUNTS, "transcript_cues": view.transcript_cues(db_engine, world.W_ENDED)}
    assert result.counts == counts
    (entry,) = view.audit(db_engine, world.W_ENDED)
    assert entry["counts"] == counts


async def test_a_running_sync_shows_counts_as_pages_commit(sync_world: SyncWorld, db_engine: Engine) -> None:
    """#13.11, #14.4: while a sync reads 1,000 registrants (4 pages, each slowed down by Zoom), its
    audit entry is ``running`` with the rows of the pages committed so far and Zoom's total."""
    await sync_world.admin.add_webinar(
        sync_world.main_account,
        WebinarSeed(
            id=int(W_MANY),
            host_id="host-1",
            topic="Many registrants",
            start_time=world.NOW + timedelta(days=30),
            generate_registrants=GenerateRegistrants(count=1000, domain="many.example"),
        ),
    )
    await sync_world.admin.add_fault(
        FaultRule(operation="list_registrants", kind=FaultKind.LATENCY, latency_ms=700, probability=1.0)
    )
    workflow_id = await request_sync(
        sync_world.client,
        webinar_id=W_MANY,
        connection="sync-main",
        zoom_account_id=sync_world.main_account,
        trigger="manual",
        task_queue=sync_world.task_queue,
    )
    seen: list[dict[str, Any]] = []
    while True:
        entries = view.audit(db_engine, W_MANY)
        if entries and entries[0]["status"] != "running":
            break
        if entries and 0 < entries[0]["counts"]["registrants_rows"] < 1000:
            seen.append(entries[0]["counts"])
        await asyncio.sleep(0.05)
    result = await asyncio.wait_for(
        sync_world.client.get_workflow_handle(workflow_id, result_type=SyncResult).result(), timeout=60
    )

    assert seen, "no running entry with partial counts was seen"
    assert all(list(counts) == list(AUDIT_COUNTS) for counts in seen)
    assert {counts["registrants_rows"] for counts in seen} <= {300, 600, 900}
    assert all(counts["registrants_total"] == 1000 for counts in seen)
    assert all(counts["contacts_created"] == counts["registrants_rows"] for counts in seen)
    assert result.counts["registrants_rows"] == result.counts["contacts_created"] == 1000
