"""``POST``/``GET /v1/webinars/{id}/sync`` with a busy Zoom (issue #13 point 7; R-SYNC-7).

A transient Zoom error is never "webinar not found": a webinar the store knows is started without
asking Zoom (the sync's activities retry), one it does not know answers 429/503 with
``Retry-After``; and a status request reads Temporal and the store only — polling it costs Zoom
nothing, whatever Zoom answers meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld
from integration.sync.sync_live import API_KEY, api_app, ended_webinar, requests_to_zoom
from sqlalchemy import Engine
from support.http import serve
from temporalio.client import Client

from zoom_emulator import EmulatorServer
from zoom_emulator.core.faults import FaultKind, FaultRule

pytestmark = pytest.mark.timeout(120)

W_WAITING = "93100000501"


@asynccontextmanager
async def api(
    sync_world: SyncWorld, emulator: EmulatorServer, database_url: str, db_engine: Engine, temporal_client: Client
) -> AsyncIterator[httpx.AsyncClient]:
    """The real API on loopback, with the test world's Zoom connections and worker."""
    app = api_app(sync_world, emulator, database_url, db_engine, temporal_client)
    with serve(app) as url:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            yield client


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (FaultRule(operation="get_webinar", kind=FaultKind.RATE_LIMIT, probability=1.0), 429, "ZOOM_RATE_LIMITED"),
        (
            FaultRule(operation="get_webinar", kind=FaultKind.RATE_LIMIT, omit_headers=True, probability=1.0),
            429,
            "ZOOM_RATE_LIMITED",
        ),
        (
            FaultRule(operation="get_webinar", kind=FaultKind.ERROR, status=503, probability=1.0),
            503,
            "ZOOM_UNAVAILABLE",
        ),
    ],
    ids=["429-with-headers", "429-without-headers", "503"],
)
async def test_a_busy_zoom_is_not_webinar_not_found(
    fault: FaultRule,
    status: int,
    code: str,
    sync_world: SyncWorld,
    sync_emulator: EmulatorServer,
    database_url: str,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    """#13.7: Sync now of a webinar the store does not know yet, while Zoom answers 429 (with or
    without its rate-limit headers) or 503 → 429/503 with ``Retry-After``, never 404; once Zoom
    answers again, the same request starts the sync."""
    async with api(sync_world, sync_emulator, database_url, db_engine, temporal_client) as client:
        await sync_world.admin.add_fault(fault)
        busy = await client.post(f"/v1/webinars/{world.W_ENDED}/sync")
        status_busy = await client.get(f"/v1/webinars/{world.W_ENDED}/sync")
        await sync_world.admin.clear_faults()
        started = await client.post(f"/v1/webinars/{world.W_ENDED}/sync")

    assert busy.status_code == status, busy.text
    error = busy.json()["error"]
    assert (error["code"], error["details"]["webinar_id"]) == (code, world.W_ENDED)
    assert int(busy.headers["Retry-After"]) >= 1
    assert status_busy.status_code == 404  # never synced: nothing to report, and Zoom was not asked
    assert started.status_code == 202, started.text
    assert started.json()["connection"] == "sync-main"


async def test_sync_now_of_a_known_webinar_needs_no_zoom_and_the_sync_retries(
    sync_world: SyncWorld,
    sync_emulator: EmulatorServer,
    database_url: str,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    """#13.7: a webinar already synced is started while every ``get_webinar`` answers 503 (202, not
    404 or 503); its run retries the lookup and completes once Zoom answers again."""
    await sync_world.sync(world.W_ENDED)
    async with api(sync_world, sync_emulator, database_url, db_engine, temporal_client) as client:
        await sync_world.admin.add_fault(
            FaultRule(operation="get_webinar", kind=FaultKind.ERROR, status=503, probability=1.0)
        )
        started = await client.post(f"/v1/webinars/{world.W_ENDED}/sync")
        assert started.status_code == 202, started.text
        running = await client.get(f"/v1/webinars/{world.W_ENDED}/sync")
        assert (running.status_code, running.json()["status"]) == (200, "running")
        await sync_world.admin.clear_faults()
        result = await asyncio.wait_for(
            temporal_client.get_workflow_handle(started.json()["workflow_id"]).result(), timeout=60
        )
    assert result["status"] == "partial"
    assert [entry["status"] for entry in view.audit(db_engine, world.W_ENDED)] == ["partial", "partial"]


async def test_status_polls_never_call_zoom(
    sync_world: SyncWorld,
    sync_emulator: EmulatorServer,
    database_url: str,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    """#13.7, #14.4: while a sync waits for its recording, 30 status polls make no Zoom request —
    even while Zoom fails every call — and each says what the run counted and when it looks next."""
    zoom_now = datetime.now(UTC).replace(microsecond=0)
    await sync_world.admin.set_clock(zoom_now, frozen=True)
    await sync_world.admin.add_webinar(
        sync_world.main_account,
        ended_webinar(W_WAITING, start=zoom_now - timedelta(minutes=90), recording_after_minutes=90),
    )
    states: list[dict[str, Any]] = []
    async with api(sync_world, sync_emulator, database_url, db_engine, temporal_client) as client:
        started = (await client.post(f"/v1/webinars/{W_WAITING}/sync")).json()
        for _ in range(400):
            state = (await client.get(f"/v1/webinars/{W_WAITING}/sync")).json()
            if state["progress"]["waiting_for"]:
                break
            await asyncio.sleep(0.05)
        before = requests_to_zoom(await sync_world.admin.stats())
        await sync_world.admin.add_fault(FaultRule(operation="*", kind=FaultKind.ERROR, status=503, probability=1.0))
        for _ in range(30):
            answer = await client.get(f"/v1/webinars/{W_WAITING}/sync")
            assert answer.status_code == 200, answer.text
            states.append(answer.json())
        after = requests_to_zoom(await sync_world.admin.stats())
        await sync_world.admin.clear_faults()
        await temporal_client.get_workflow_handle(started["workflow_id"]).terminate("test over")

    assert after == before
    last = states[-1]
    assert last["status"] == "running"
    assert (last["progress"]["registrants"], last["progress"]["registrants_total"]) == (1, 1)
    assert (last["progress"]["attendees"], last["progress"]["attendees_total"]) == (1, 1)
    next_check = datetime.fromisoformat(last["progress"]["next_check_at"])
    assert timedelta(minutes=29) <= next_check - zoom_now <= timedelta(minutes=31)
    assert (
        last["details"]
        == f"registrants 1/1 · attendees 1/1 · waiting for the recording, next check {next_check:%H:%M} UTC"
    )
    entry = last["audit_entry"]
    assert entry["status"] == "running" and entry["counts"]["registrants_rows"] == 1
