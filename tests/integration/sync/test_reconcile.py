"""The reconciliation Schedule: discovers webinars to sync, starts only those the settings allow."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import pytest
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld
from sqlalchemy import Engine
from temporalio.service import RPCError

from activities.reconcile import ReconcileRequest, ReconcileResult
from engine.sync.contracts import sync_workflow_id
from engine.sync.schedule import ensure_reconcile_schedule
from workflows.reconcile import SCHEDULE_ID, ReconcileWebinarsWorkflow

pytestmark = pytest.mark.timeout(120)


async def reconcile(sync_world: SyncWorld) -> ReconcileResult:
    return await sync_world.client.execute_workflow(
        ReconcileWebinarsWorkflow.run,
        ReconcileRequest(as_of=world.NOW),  # the emulator's clock
        id=f"reconcile-test-{uuid.uuid4().hex[:8]}",
        task_queue=sync_world.task_queue,
        execution_timeout=timedelta(seconds=60),
    )


async def test_reconciliation_starts_the_syncs_the_settings_allow(sync_world: SyncWorld, db_engine: Engine) -> None:
    sync_world.settings(host_exclusion_domains=["partner.example"])
    await sync_world.sync(world.W_ENDED)  # known to the store, ended two hours ago

    result = await reconcile(sync_world)

    assert {world.W_UPCOMING, world.W_EMEA, world.W_ENDED} <= set(result.started)
    assert world.W_ZOOM_EVENT not in result.started and world.W_PARTNER not in result.started
    assert result.errors == []
    for webinar_id in (world.W_UPCOMING, world.W_EMEA):
        account = sync_world.emea_account if webinar_id == world.W_EMEA else sync_world.main_account
        outcome = await sync_world.client.get_workflow_handle(sync_workflow_id(account, webinar_id)).result()
        assert outcome["status"] == "succeeded"
        assert view.audit(db_engine, webinar_id)[0]["trigger"] == "schedule"


async def test_nothing_is_started_while_global_sync_is_off(sync_world: SyncWorld, db_engine: Engine) -> None:
    sync_world.settings(sync_enabled=False)
    result = await reconcile(sync_world)
    assert result.started == [] and result.skipped_by_settings == 0
    await asyncio.sleep(0.2)
    assert view.audit(db_engine, world.W_UPCOMING) == []


async def test_the_schedule_is_created_once_and_updated(sync_world: SyncWorld) -> None:
    client = sync_world.client
    # Workers started by the end-to-end tests create it on the shared dev server too.
    with contextlib.suppress(RPCError):
        await client.get_schedule_handle(SCHEDULE_ID).delete()
    try:
        assert await ensure_reconcile_schedule(client, sync_world.task_queue, timedelta(minutes=15)) == "created"
        assert await ensure_reconcile_schedule(client, sync_world.task_queue, timedelta(minutes=5)) == "updated"
        description = await client.get_schedule_handle(SCHEDULE_ID).describe()
        assert description.schedule.spec.intervals[0].every == timedelta(minutes=5)
    finally:
        await client.get_schedule_handle(SCHEDULE_ID).delete()
