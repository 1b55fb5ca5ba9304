"""Sync requests from the API: "Sync now" (R-SYNC-7), its status, and Zoom webhooks.

The owning connection of a webinar is known from the store once the webinar was synced or
registered to (its marketing event): "Sync now" then starts the sync without asking Zoom (the
sync's own activities retry a busy Zoom). Otherwise each configured connection is asked; a Zoom
that answers 429 or 5xx is not "not found" but ``ZoomUnavailable`` (the API answers 429/503 with
``Retry-After``). A sync's status comes from Temporal and the store only, never from Zoom.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from engine.crm.tables import (
    AuditEntry,
    BusinessUnit,
    MarketingEvent,
    ZoomConnection,
    ZoomWebhookEvent,
    table_of,
)
from engine.crm.webhook_events import mark_processed
from engine.errors import NotFound, RollcallError
from engine.sync.contracts import SyncProgress, sync_workflow_id
from engine.sync.progress import with_counts
from engine.sync.triggers import SYNC_EVENTS, request_sync, webhook_target
from engine.zoom.errors import ZoomError, ZoomNotFound, ZoomRateLimited
from engine.zoom.pool import ZoomClientPool
from engine.zoom.settings import ZoomConfigError

log = structlog.get_logger("rollcall.sync")

EVENTS = table_of(MarketingEvent)
CONNECTIONS = table_of(ZoomConnection)
AUDIT = table_of(AuditEntry)

#: Seconds a client should wait after a busy Zoom when Zoom did not say (429 without headers, 5xx).
RETRY_AFTER_RATE_LIMITED = 10
RETRY_AFTER_UNAVAILABLE = 30
#: How long a status request waits for the running sync to answer its progress query.
PROGRESS_QUERY_TIMEOUT = timedelta(seconds=3)


class WebinarNotFound(NotFound):
    code = "WEBINAR_NOT_FOUND"


class ZoomUnavailable(RollcallError):
    """Zoom could not be asked whether it has the webinar (429, 5xx, no answer): try again later."""

    code = "ZOOM_UNAVAILABLE"
    http_status = 503

    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ZoomRateLimitedNow(ZoomUnavailable):
    code = "ZOOM_RATE_LIMITED"
    http_status = 429


def _unavailable(webinar_id: str, error: ZoomError) -> ZoomUnavailable:
    limited = isinstance(error, ZoomRateLimited)
    default = RETRY_AFTER_RATE_LIMITED if limited else RETRY_AFTER_UNAVAILABLE
    retry_after = max(1, math.ceil(error.retry_after)) if error.retry_after else default
    kind = ZoomRateLimitedNow if limited else ZoomUnavailable
    reason = "Zoom is rate-limiting requests" if limited else "Zoom did not answer properly"
    return kind(
        f"webinar {webinar_id} cannot be looked up now: {reason}; try again in {retry_after} s",
        retry_after=retry_after,
        details={"webinar_id": webinar_id, "zoom_error": error.code},
    )


@dataclass(frozen=True)
class SyncRunState:
    """A webinar's latest sync as Temporal and the store know it."""

    workflow_id: str
    run_id: str | None
    status: str
    progress: SyncProgress
    audit_entry: AuditEntry | None


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

    def _configured(self) -> dict[str, Any]:
        try:
            return dict(self._pool.connections())
        except ZoomConfigError:
            return {}

    async def owner(self, webinar_id: str) -> Owner:
        """The connection whose Zoom account holds the webinar: the store's when it knows the webinar
        (no Zoom call), else the first connection whose Zoom has it. WebinarNotFound when none has
        it; ZoomUnavailable when a connection could not be asked (429, 5xx, no answer)."""
        try:
            connections = self._pool.connections()
        except ZoomConfigError as exc:
            raise WebinarNotFound(f"webinar {webinar_id} cannot be looked up: {exc}") from None
        known = await asyncio.to_thread(self._known_connection, webinar_id)
        if known is not None and known in connections:
            return await self._owner(known, connections[known].account_id)
        busy: ZoomError | None = None
        for name in sorted(connections):
            try:
                await self._pool.client(name).get_webinar(webinar_id)
            except ZoomNotFound:
                continue
            except ZoomError as exc:
                log.warning("connection could not be asked for the webinar", connection=name, error=exc.code)
                busy = busy or exc
                continue
            return await self._owner(name, connections[name].account_id)
        if busy is not None and busy.retryable:
            raise _unavailable(webinar_id, busy)
        raise WebinarNotFound(f"no connected Zoom account has webinar {webinar_id}", details={"webinar_id": webinar_id})

    async def _owner(self, name: str, account_id: str) -> Owner:
        return Owner(name, account_id, await asyncio.to_thread(self._business_unit, name))

    def _candidate_accounts(self, webinar_id: str) -> list[str]:
        """Zoom accounts whose sync workflow may exist for the webinar, the known owner first
        (from the store and the configuration: no Zoom call)."""
        with Session(self._engine) as session:
            known = session.execute(
                sa.select(CONNECTIONS.c.zoom_account_id)
                .join(EVENTS, EVENTS.c.connection_id == CONNECTIONS.c.id)
                .where(EVENTS.c.zoom_webinar_id == webinar_id)
            ).scalar()
            stored = list(session.scalars(sa.select(CONNECTIONS.c.zoom_account_id)))
        configured = [config.account_id for config in self._configured().values()]
        ordered = [known] if known else []
        return [*ordered, *(account for account in sorted({*stored, *configured}) if account != known)]

    def _latest_entry(self, webinar_id: str, workflow_id: str) -> AuditEntry | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.scalars(
                sa.select(AuditEntry)
                .where(AUDIT.c.zoom_webinar_id == webinar_id, AUDIT.c.run_key.startswith(f"{workflow_id}:"))
                .order_by(AUDIT.c.started_at.desc(), AUDIT.c.id.desc())
                .limit(1)
            ).first()

    async def status(self, webinar_id: str) -> SyncRunState:
        """The webinar's latest sync run: its status from Temporal, its progress from the run itself
        (a query) or, when it has ended or does not answer, from its audit entry. Never calls Zoom."""
        client = await self._client()
        for account in await asyncio.to_thread(self._candidate_accounts, webinar_id):
            workflow_id = sync_workflow_id(account, webinar_id)
            handle = client.get_workflow_handle(workflow_id)
            try:
                description = await handle.describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    continue
                raise
            running = (description.status or WorkflowExecutionStatus.RUNNING) == WorkflowExecutionStatus.RUNNING
            entry = await asyncio.to_thread(self._latest_entry, webinar_id, workflow_id)
            progress = await self._queried(handle) if running else None
            if progress is None:
                progress = _from_entry(entry, running)
            elif entry is not None and entry.run_key == progress.run_key:
                progress = with_counts(progress, entry.counts)  # the entry counts page by page
            status = (description.status or WorkflowExecutionStatus.RUNNING).name.lower()
            return SyncRunState(workflow_id, description.run_id, status, progress, entry)
        raise NotFound(f"webinar {webinar_id} has not been synced yet", details={"webinar_id": webinar_id})

    @staticmethod
    async def _queried(handle: WorkflowHandle[Any, Any]) -> SyncProgress | None:
        try:
            progress: SyncProgress = await handle.query(
                "progress", result_type=SyncProgress, rpc_timeout=PROGRESS_QUERY_TIMEOUT
            )
            return progress
        except Exception as exc:  # no worker answered in time, or the run just ended: use the store
            log.info("sync progress query not answered", workflow_id=handle.id, error=type(exc).__name__)
            return None

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


def _from_entry(entry: AuditEntry | None, running: bool) -> SyncProgress:
    """Progress as the audit entry tells it (counts as pages commit)."""
    if entry is None:
        return SyncProgress(phase="starting")
    status = "running" if running else entry.status
    return with_counts(SyncProgress(phase="running" if running else "done", status=status), entry.counts)
