"""Fixtures of the sync tests: the emulator seeded with ``sync_world``, the store set up with two
BUs and their Zoom connections, and a worker whose Zoom connections point at the emulator."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine
from support.zoom import emulator_connection
from temporalio.client import Client

from engine.zoom.settings import ZoomSettings
from worker import build_worker
from zoom_emulator import EmulatorAdmin, EmulatorServer, RateLimitMode

sys.path.insert(0, str(Path(__file__).parent))

import sync_world as world
from sync_kit import SyncWorld, prepare_store


@pytest.fixture(scope="session")
def sync_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
async def sync_world(
    sync_emulator: EmulatorServer,
    temporal_client: Client,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
) -> AsyncIterator[SyncWorld]:
    suffix = uuid.uuid4().hex[:8]
    main_account, emea_account = f"acct-main-{suffix}", f"acct-emea-{suffix}"
    async with EmulatorAdmin(sync_emulator.base_url) as admin:
        await admin.reset()
        await admin.set_rate_limit_mode(RateLimitMode.ENFORCED)
        await admin.seed(world.seed(main_account, emea_account))
        prepare_store(db_engine, main_account, emea_account)
        zoom = ZoomSettings(
            connections=[
                emulator_connection(sync_emulator, main_account, name="sync-main"),
                emulator_connection(sync_emulator, emea_account, name="sync-emea"),
            ]
        )
        worker = build_worker(
            temporal_client, db_engine, task_queue=task_queue, executor=activity_executor, zoom_settings=zoom
        )
        async with worker:
            yield SyncWorld(temporal_client, db_engine, task_queue, admin, main_account, emea_account)
