"""The sync tests' world: a handle on the emulator, the store and the worker's task queue, and the
store's starting state (two BUs and their Zoom connections, an account user, settings on)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from integration.sync import sync_world as world
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from engine.crm.accounts import create_account_user, create_business_unit, create_zoom_connection
from engine.crm.contacts import create_contact, delete_contact
from engine.crm.sync_settings import SyncSettingsValues, put_sync_settings
from engine.sync.contracts import SyncResult
from engine.sync.triggers import request_sync
from zoom_emulator import EmulatorAdmin


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
