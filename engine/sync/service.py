"""Sync requests from the API: "Sync now" (R-SYNC-7) and Zoom webhooks.

The owning connection of a webinar is known from the store once the webinar was synced or
registered to (its marketing event); otherwise each configured connection is asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from engine.crm.tables import BusinessUnit, MarketingEvent, ZoomConnection, ZoomWebhookEvent, table_of
from engine.crm.webhook_events import mark_processed
from engine.errors import NotFound
from engine.sync.triggers import SYNC_EVENTS, request_sync, webhook_target
from engine.zoom.errors import ZoomError, ZoomNotFound
from engine.zoom.pool import ZoomClientPool
from engine.zoom.settings import ZoomConfigError

log = structlog.get_logger("rollcall.sync")

EVENTS = table_of(MarketingEvent)
CONNECTIONS = table_of(ZoomConnection)


class WebinarNotFound(NotFound):
    code = "WEBINAR_NOT_FOUND"


@dataclass(frozen=True)
class Owner:
    connection: str
    zoom_account_id: str
    business_unit: str | None


class SyncService:
    def __init__(
        self,
        db_engine: Engine,
        pool: ZoomClientPool,
        client: Callable[[], Awaitable[Client]],
        *,
        task_queue: str,
    ) -> None:
        self._engine = db_engine
        self._pool = pool
        self._client = client
        self._task_queue = task_queue

    def _business_unit(self, connection: str) -> str | None:
        with Session(self._engine) as session:
            row = session.scalars(sa.select(ZoomConnection).where(CONNECTIONS.c.name == connection)).first()
            if row is None:
                return None
            unit = session.get(BusinessUnit, row.business_unit_id)
            return unit.name if unit else None

    def _known_connection(self, webinar_id: str) -> str | None:
        with Session(self._engine) as session:
            query = (
                sa.select(CONNECTIONS.c.name)
                .join(EVENTS, EVENTS.c.connection_id == CONNECTIONS.c.id)
                .where(EVENTS.c.zoom_webinar_id == webinar_id)
            )
            return session.execute(query).scalar()

    async def owner(self, webinar_id: str) -> Owner:
        """The connection whose Zoom account holds the webinar; WebinarNotFound when none does."""
        try:
            connections = self._pool.connections()
        except ZoomConfigError as exc:
            raise WebinarNotFound(f"webinar {webinar_id} cannot be looked up: {exc}") from None
        known = await asyncio.to_thread(self._known_connection, webinar_id)
        names = sorted(connections, key=lambda name: name != known)
        for name in names:
            try:
                await self._pool.client(name).get_webinar(webinar_id)
            except ZoomNotFound:
                continue
            except ZoomError as exc:
                log.warning("connection could not be asked for the webinar", connection=name, error=str(exc))
                continue
            return Owner(name, connections[name].account_id, await asyncio.to_thread(self._business_unit, name))
        raise WebinarNotFound(f"no connected Zoom account has webinar {webinar_id}", details={"webinar_id": webinar_id})

    async def sync_now(self, webinar_id: str, trigger: str = "manual") -> tuple[str, Owner]:
        owner = await self.owner(webinar_id)
        workflow_id = await request_sync(
            await self._client(),
            webinar_id=webinar_id,
            connection=owner.connection,
            zoom_account_id=owner.zoom_account_id,
            trigger=trigger,
            task_queue=self._task_queue,
            business_unit=owner.business_unit,
        )
        return workflow_id, owner

    async def dispatch_webhook(self, connection: str, row: ZoomWebhookEvent) -> None:
        """The API's ``webhook_dispatch``: a sync-relevant event signals (or starts) the webinar's sync."""
        signal = SYNC_EVENTS.get(row.event)
        webinar_id = webhook_target(row.payload)
        config = self._pool.connections().get(connection)
        if signal is not None and webinar_id is not None and config is not None:
            await request_sync(
                await self._client(),
                webinar_id=webinar_id,
                connection=connection,
                zoom_account_id=config.account_id,
                trigger="webhook",
                task_queue=self._task_queue,
                business_unit=await asyncio.to_thread(self._business_unit, connection),
                signal=signal,
            )
        assert row.id is not None
        event_id = row.id

        def processed() -> None:
            with Session(self._engine) as session:
                mark_processed(session, event_id)
                session.commit()

        await asyncio.to_thread(processed)
