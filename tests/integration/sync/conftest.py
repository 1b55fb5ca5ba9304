"""Fixtures of the sync tests: the emulator seeded with ``sync_world``, the store set up with two
BUs and their Zoom connections, and a worker whose Zoom connections point at the emulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld, prepare_store
from sqlalchemy import Engine
from support.emulator import seeded_admin
from support.zoom import emulator_connection
from temporalio.client import Client

from engine.zoom.settings import ZoomSettings
from worker import build_worker
from zoom_emulator import EmulatorServer


@pytest.fixture
def sync_emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    """The session's emulator (``tests/integration/conftest.py``), by the name the sync tests use."""
    return emulator_server


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
    async with seeded_admin(sync_emulator, world.seed(main_account, emea_account)) as admin:
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
