"""Reconciliation (issue 7): find the webinars to sync on a schedule, in case a webhook was missed.

Candidates: every webinar of each connected account's users that Zoom lists as scheduled and
that starts within the horizon or ended within the lookback window, plus the webinars the store
already knows (marketing events) that ended within the lookback window. Each candidate the
settings would sync (``engine.sync.decide.decision_for``, the sync's own plan decides with it)
gets a signal-with-start of its sync, so a webinar whose sync already runs just takes a
coalesced follow-up. Webinars the settings exclude are not started at all here (no audit entry
every interval); "Sync now" and webhooks still report them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from engine.crm.sync_settings import get_sync_settings
from engine.crm.tables import BusinessUnit, MarketingEvent, ZoomConnection, table_of
from engine.sync.contracts import ReconcileRequest, ReconcileResult
from engine.sync.decide import decision_for
from engine.sync.triggers import request_sync
from engine.zoom.errors import ZoomError, ZoomNotFound
from engine.zoom.models import WebinarListType
from engine.zoom.pool import ZoomClientPool
from engine.zoom.settings import ZoomConfigError

__all__ = ["ReconcileActivities", "ReconcileRequest", "ReconcileResult"]

EVENTS = table_of(MarketingEvent)
CONNECTIONS = table_of(ZoomConnection)


class ReconcileActivities:
    def __init__(self, db_engine: Engine, pool: ZoomClientPool, *, task_queue: str) -> None:
        self._engine = db_engine
        self._pool = pool
        self._task_queue = task_queue

    @activity.defn
    async def reconcile_webinars(self, request: ReconcileRequest) -> ReconcileResult:
        result = ReconcileResult()
        now = request.as_of or datetime.now(UTC)
        try:
            connections = self._pool.connections()
        except ZoomConfigError:
            return result
        settings_on, known = await asyncio.to_thread(self._known_ended, now - timedelta(hours=request.lookback_hours))
        if not settings_on:
            return result
        client_of_temporal = activity.client()
        for name, config in sorted(connections.items()):
            zoom = self._pool.client(name)
            candidates: set[str] = set(known.get(name, ()))
            try:
                for user in await zoom.list_users():
                    for webinar in await zoom.list_user_webinars(user.id, WebinarListType.SCHEDULED):
                        start = webinar.start_time
                        if start is None:
                            continue
                        end = start + timedelta(minutes=webinar.duration or 0)
                        if start <= now + timedelta(hours=request.horizon_hours) and end >= now - timedelta(
                            hours=request.lookback_hours
                        ):
                            candidates.add(webinar.id)
                    activity.heartbeat(name, user.id)
            except ZoomError as exc:
                result.errors.append(f"{name}: {exc}")
                continue
            for webinar_id in sorted(candidates):
                try:
                    webinar = await zoom.get_webinar(webinar_id)
                    host_email = webinar.host_email
                    if not host_email and webinar.host_id:
                        host_email = (await zoom.get_user(webinar.host_id)).email
                except ZoomNotFound:
                    continue
                except ZoomError as exc:
                    result.errors.append(f"{name}/{webinar_id}: {exc}")
                    continue
                wanted, unit = await asyncio.to_thread(
                    self._wanted, name, webinar_id, webinar.host_id or "", host_email, webinar.is_zoom_event
                )
                if not wanted:
                    result.skipped_by_settings += 1
                    continue
                await request_sync(
                    client_of_temporal,
                    webinar_id=webinar_id,
                    connection=name,
                    zoom_account_id=config.account_id,
                    trigger="schedule",
                    task_queue=self._task_queue,
                    business_unit=unit,
                )
                result.started.append(webinar_id)
        return result

    def _known_ended(self, since: datetime) -> tuple[bool, dict[str, list[str]]]:
        with Session(self._engine) as session:
            if not get_sync_settings(session).sync_enabled:
                return False, {}
            rows = session.execute(
                sa.select(CONNECTIONS.c.name, EVENTS.c.zoom_webinar_id)
                .join(CONNECTIONS, CONNECTIONS.c.id == EVENTS.c.connection_id)
                .where(EVENTS.c.end_time >= since)
            )
            known: dict[str, list[str]] = {}
            for name, webinar_id in rows:
                known.setdefault(name, []).append(webinar_id)
            return True, known

    def _wanted(
        self, connection: str, webinar_id: str, host_id: str, host_email: str | None, is_zoom_event: bool
    ) -> tuple[bool, str | None]:
        with Session(self._engine) as session:
            row = session.scalars(sa.select(ZoomConnection).where(CONNECTIONS.c.name == connection)).first()
            if row is None:
                return False, None
            assert row.id is not None
            decision = decision_for(
                session,
                row.id,
                webinar_id=webinar_id,
                host_id=host_id,
                host_email=host_email,
                is_zoom_event=is_zoom_event,
            )
            unit = session.get(BusinessUnit, row.business_unit_id)
            return decision.sync, unit.name if unit else None
