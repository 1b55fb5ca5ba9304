"""Fixtures of the sync tests: the emulator seeded with ``sync_world``, the store set up with two
BUs and their Zoom connections, and a worker whose Zoom connections point at the emulator."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from engine.crm.accounts import create_account_user, create_business_unit, create_zoom_connection
from engine.crm.contacts import create_contact, delete_contact
from engine.crm.sync_settings import SyncSettingsValues, put_sync_settings
from engine.sync.contracts import SyncResult
from engine.sync.triggers import request_sync
from engine.zoom.emulator import EmulatorAdmin, EmulatorServer, RateLimitMode
from engine.zoom.settings import ZoomSettings
from worker import build_worker

sys.path.insert(0, str(Path(__file__).parent))

import sync_world as world
from support.http import serve  # noqa: F401  (re-exported for the tests here)


@pytest.fixture(scope="session")
def sync_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@dataclass
class SyncWorld:
    client: Client
    db_engine: Engine
    task_queue: str
    admin: EmulatorAdmin
    main_account: str
    emea_account: str

    def account(self, connection: str) -> str:
        return self.main_account if connection == "sync-main" else self.emea_account

    async def sync(
        self, webinar_id: str, connection: str = "sync-main", trigger: str = "manual", **options: Any
    ) -> SyncResult:
        workflow_id = await request_sync(
            self.client,
            webinar_id=webinar_id,
            connection=connection,
            zoom_account_id=self.account(connection),
            trigger=trigger,
            task_queue=self.task_queue,
            recording_wait_seconds=options.pop("recording_wait_seconds", 0),
            recording_poll_seconds=options.pop("recording_poll_seconds", 60),
        )
        handle = self.client.get_workflow_handle(workflow_id, result_type=SyncResult)
        return await asyncio.wait_for(handle.result(), timeout=60)

    def settings(self, **values: Any) -> None:
        with Session(self.db_engine) as session:
            base = {"sync_enabled": True, "contact_exclusion_domains": ["ourco.example"]}
            put_sync_settings(session, SyncSettingsValues(**{**base, **values}), admin=True)
            session.commit()


def prepare_store(db_engine: Engine, main_account: str, emea_account: str) -> None:
    with Session(db_engine) as session:
        emea = create_business_unit(session, "EMEA")
        assert emea.id is not None
        create_zoom_connection(
            session,
            business_unit_id=1,
            name="sync-main",
            zoom_account_id=main_account,
            connected_by_email=world.HOST,
            credentials_ref="env:ROLLCALL_ZOOM_CONNECTIONS",
        )
        create_zoom_connection(
            session,
            business_unit_id=emea.id,
            name="sync-emea",
            zoom_account_id=emea_account,
            connected_by_email=world.EMEA_HOST,
            credentials_ref="env:ROLLCALL_ZOOM_CONNECTIONS",
        )
        create_account_user(session, email=world.STAFF, name="Sam Staff")
        create_contact(session, email=world.STAFF, first_name="Sam")  # an account user who is also a contact
        create_contact(session, email=world.OWNER, first_name="Owen", secondary_emails=[world.SECOND])
        deleted = create_contact(session, email=world.DELETED)
        session.commit()
        assert deleted.id is not None
        delete_contact(session, deleted.id)
        put_sync_settings(
            session,
            SyncSettingsValues(sync_enabled=True, contact_exclusion_domains=["ourco.example"]),
            admin=True,
        )
        session.commit()


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
                sync_emulator.connection(main_account, name="sync-main"),
                sync_emulator.connection(emea_account, name="sync-emea"),
            ]
        )
        worker = build_worker(
            temporal_client, db_engine, task_queue=task_queue, executor=activity_executor, zoom_settings=zoom
        )
        async with worker:
            yield SyncWorld(temporal_client, db_engine, task_queue, admin, main_account, emea_account)
