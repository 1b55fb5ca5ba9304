"""Verified Zoom webhook events, recorded once each however often Zoom redelivers them.

``record_webhook_event`` is an ``INSERT … ON CONFLICT (dedup_key) DO NOTHING``: the first delivery
writes the row, a redelivery (same de-duplication key, see ``engine.zoom.webhooks.dedup_key``)
only counts up ``deliveries``. Two concurrent deliveries of one event therefore still make one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.crm.bulk import connection_of, insert_missing
from engine.crm.tables import ZoomWebhookEvent, table_of, utcnow
from engine.zoom.webhooks import VerifiedEvent

EVENTS = table_of(ZoomWebhookEvent)
MAX_PAGE_SIZE = 500
#: Zoom's recording webhooks carry a ``download_token`` for the instance's files, valid 24 hours;
#: one received longer ago than this is not used.
DOWNLOAD_TOKEN_USABLE = timedelta(hours=23)
RECORDING_EVENTS = ("recording.completed", "recording.transcript_completed")


def record_webhook_event(
    session: Session,
    connection: str,
    verified: VerifiedEvent,
    *,
    payload: Mapping[str, Any] | None = None,
) -> tuple[ZoomWebhookEvent, bool]:
    """Record one verified delivery; returns the stored row and whether it was a duplicate.

    ``payload`` is the event document as Zoom sent it (the parsed raw body, keeping numeric ids
    numeric); without it the typed event is stored. The caller commits.
    """
    document = dict(payload) if payload is not None else verified.event.model_dump(mode="json", by_alias=True)
    row = {
        "connection": connection,
        "event": verified.event.event,
        "dedup_key": verified.dedup_key,
        "event_ts": verified.event.event_ts,
        "payload": document,
        "deliveries": 1,
        "received_at": utcnow(),
        "processed_at": None,
    }
    db = connection_of(session)
    duplicate = insert_missing(db, EVENTS, [row], key=["dedup_key"]) == 0
    if duplicate:
        db.execute(
            sa.update(EVENTS).where(EVENTS.c.dedup_key == verified.dedup_key).values(deliveries=EVENTS.c.deliveries + 1)
        )
    stored = session.scalars(
        sa.select(ZoomWebhookEvent)
        .where(EVENTS.c.dedup_key == verified.dedup_key)
        .execution_options(populate_existing=True)
    ).one()
    return stored, duplicate


def list_webhook_events(
    session: Session,
    *,
    connection: str | None = None,
    event: str | None = None,
    processed: bool | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[ZoomWebhookEvent]:
    """Recorded events in arrival order (by id), optionally only one connection's, one event type's,
    or only (un)processed ones; page on with ``after_id`` = the last id seen."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = sa.select(ZoomWebhookEvent).order_by(EVENTS.c.id).limit(limit)
    if connection is not None:
        query = query.where(EVENTS.c.connection == connection)
    if event is not None:
        query = query.where(EVENTS.c.event == event)
    if processed is not None:
        query = query.where(EVENTS.c.processed_at.is_not(None) if processed else EVENTS.c.processed_at.is_(None))
    if after_id is not None:
        query = query.where(EVENTS.c.id > after_id)
    return list(session.scalars(query))


def mark_processed(session: Session, event_id: int) -> None:
    """The event has been handed to what it triggers (the webinar's sync)."""
    session.execute(sa.update(EVENTS).where(EVENTS.c.id == event_id).values(processed_at=utcnow()))


def recording_download_token(session: Session, connection: str, occurrence: str, *, now: datetime) -> str | None:
    """The ``download_token`` of the newest recording webhook for this occurrence (Zoom instance
    UUID) received on ``connection`` in the last 23 hours, if any (#15.4)."""
    rows = session.execute(
        sa.select(EVENTS.c.payload)
        .where(
            EVENTS.c.connection == connection,
            EVENTS.c.event.in_(RECORDING_EVENTS),
            EVENTS.c.received_at >= now - DOWNLOAD_TOKEN_USABLE,
        )
        .order_by(EVENTS.c.id.desc())
        .limit(MAX_PAGE_SIZE)
    )
    for (document,) in rows:
        body = document.get("payload") if isinstance(document, dict) else None
        target = body.get("object") if isinstance(body, dict) else None
        token = document.get("download_token") if isinstance(document, dict) else None
        if isinstance(target, dict) and target.get("uuid") == occurrence and isinstance(token, str) and token:
            return token
    return None
