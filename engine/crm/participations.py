"""Webinars as marketing events, and what contacts did in them: registrations, attendance sessions,
recordings, timeline events, and the four rollups derived from all that (R-PROP-1…4).

Every write is an upsert keyed by a business key, so a re-run of a sync writes nothing new
(R-SYNC-6): marketing events by Zoom webinar id, participations by (event, contact), sessions by
(event, contact, join time), recordings by Zoom file id, timeline events by idempotency key.
Rollups are recomputed from the stored participations in one UPDATE, never incremented.

A typical sync of one webinar::

    event_id = upsert_marketing_events(session, [event])[event.zoom_webinar_id]
    touched = upsert_registrations(session, event_id, registrations)
    touched |= upsert_attendance_sessions(session, event_id, sessions)
    recompute_rollups(session, touched)

Attendance (R-SYNC-3, R-PROP-1, ``attendance_of``): per occurrence of the webinar (a recurring
webinar has several) the union of the contact's session intervals, so two devices at once count
once; the participation's seconds are the sum of the unions, its percent the mean over the
occurrences attended of each union's share of the webinar's duration, capped at 100.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.crm.bulk import (
    MAX_ROWS_PER_STATEMENT,
    any_changed,
    chunked,
    connection_of,
    dialect_insert,
    excluded_of,
    insert_missing,
    one_of,
    upsert,
)
from engine.crm.cursors import decode_position, encode_position
from engine.crm.tables import (
    AttendanceSession,
    Contact,
    MarketingEvent,
    Participation,
    ParticipationState,
    Recording,
    TimelineEvent,
    TimelineEventKind,
    table_of,
    utcnow,
)

CONTACTS = table_of(Contact)
EVENTS = table_of(MarketingEvent)
PARTICIPATIONS = table_of(Participation)
SESSIONS = table_of(AttendanceSession)
RECORDINGS = table_of(Recording)
TIMELINE = table_of(TimelineEvent)


@dataclass(frozen=True)
class MarketingEventUpsert:
    zoom_webinar_id: str
    business_unit_id: int
    topic: str
    connection_id: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_minutes: int | None = None
    host_email: str | None = None
    join_url: str | None = None
    is_zoom_event: bool = False


def upsert_marketing_events(session: Session, events: Sequence[MarketingEventUpsert]) -> dict[str, int]:
    """Create or update one marketing event per webinar (R-SYNC-3); returns webinar id → event id."""
    if not events:
        return {}
    now = utcnow()
    return _upsert_ids(
        connection_of(session), EVENTS, events, "zoom_webinar_id", stamps={"created_at": now, "updated_at": now}
    )


@dataclass(frozen=True)
class Registration:
    """A registrant as Zoom reports it. ``cancelled_at`` is set for denied or cancelled registrants."""

    contact_id: int
    registered_at: datetime | None
    join_link: str | None = None
    registrant_id: str | None = None
    cancelled_at: datetime | None = None


def upsert_registrations(session: Session, marketing_event_id: int, registrations: Sequence[Registration]) -> set[int]:
    """Record registrations and cancellations on a marketing event; returns the contact ids touched.

    An attended participation stays ``attended`` whatever the registration says; a cancellation
    keeps the time it was first seen, so re-syncs do not move it.
    """
    if not registrations:
        return set()
    connection = connection_of(session)
    now = utcnow()
    rows = [
        {
            "marketing_event_id": marketing_event_id,
            "contact_id": registration.contact_id,
            "state": ParticipationState.CANCELLED if registration.cancelled_at else ParticipationState.REGISTERED,
            "registered_at": registration.registered_at,
            "attended": False,
            "cancelled_at": registration.cancelled_at,
            "join_link": registration.join_link,
            "registrant_id": registration.registrant_id,
            "attendance_seconds": 0,
            "updated_at": now,
        }
        for registration in {r.contact_id: r for r in registrations}.values()
    ]
    excluded = excluded_of(connection, PARTICIPATIONS)
    stored = PARTICIPATIONS.c
    cancelled_at = sa.case(
        (excluded.cancelled_at.is_(None), sa.null()), else_=sa.func.coalesce(stored.cancelled_at, excluded.cancelled_at)
    )
    changing: dict[str, Any] = {
        "registered_at": sa.func.coalesce(excluded.registered_at, stored.registered_at),
        "join_link": sa.func.coalesce(excluded.join_link, stored.join_link),
        "registrant_id": sa.func.coalesce(excluded.registrant_id, stored.registrant_id),
        "cancelled_at": cancelled_at,
        "state": sa.case(
            (stored.attended, ParticipationState.ATTENDED.value),
            (excluded.cancelled_at.is_not(None), ParticipationState.CANCELLED.value),
            else_=ParticipationState.REGISTERED.value,
        ),
    }
    upsert(
        connection,
        PARTICIPATIONS,
        rows,
        key=["marketing_event_id", "contact_id"],
        update={**changing, "updated_at": excluded.updated_at},
        update_where=any_changed(PARTICIPATIONS, changing),
    )
    return {registration.contact_id for registration in registrations}


@dataclass(frozen=True)
class AttendanceSessionIn:
    """One row of the participants report, in the occurrence (Zoom instance UUID) it was listed for."""

    contact_id: int
    join_time: datetime
    leave_time: datetime | None
    occurrence: str | None = None

    @property
    def seconds(self) -> int:
        if self.leave_time is None:
            return 0
        return max(0, int((self.leave_time - self.join_time).total_seconds()))


def upsert_attendance_sessions(
    session: Session, marketing_event_id: int, sessions: Sequence[AttendanceSessionIn]
) -> set[int]:
    """Record attendance sessions and derive the attendees' participations from *all* their stored
    sessions (``attendance_of``: per occurrence, R-SYNC-3/R-PROP-1). Returns the contact ids touched."""
    if not sessions:
        return set()
    connection = connection_of(session)
    rows: list[dict[str, Any]] = [
        {
            "marketing_event_id": marketing_event_id,
            "contact_id": item.contact_id,
            "join_time": item.join_time,
            "leave_time": item.leave_time,
            "seconds": item.seconds,
            "occurrence": item.occurrence,
        }
        for item in _longest_per_join(sessions)
    ]
    excluded = excluded_of(connection, SESSIONS)
    stored = SESSIONS.c
    # Two devices that joined in the same second share a key: the session that lasted longer stays.
    longer = sa.or_(stored.leave_time.is_(None), excluded.leave_time > stored.leave_time)
    changing = {
        "leave_time": sa.case((longer, excluded.leave_time), else_=stored.leave_time),
        "seconds": sa.case((longer, excluded.seconds), else_=stored.seconds),
        "occurrence": sa.func.coalesce(excluded.occurrence, stored.occurrence),
    }
    upsert(
        connection,
        SESSIONS,
        rows,
        key=["marketing_event_id", "contact_id", "join_time"],
        update=changing,
        update_where=any_changed(SESSIONS, changing),
    )
    contact_ids = sorted({item.contact_id for item in sessions})
    duration_minutes = connection.execute(
        sa.select(EVENTS.c.duration_minutes).where(EVENTS.c.id == marketing_event_id)
    ).scalar()
    for chunk in chunked(contact_ids, MAX_ROWS_PER_STATEMENT):
        _refresh_attendance(connection, marketing_event_id, chunk, duration_minutes)
    return set(contact_ids)


def _longest_per_join(sessions: Sequence[AttendanceSessionIn]) -> list[AttendanceSessionIn]:
    """One session per (contact, join time), the one that lasted longest (stored sessions are keyed so)."""
    kept: dict[tuple[int, datetime], AttendanceSessionIn] = {}
    for item in sessions:
        key = (item.contact_id, item.join_time)
        if key not in kept or item.seconds > kept[key].seconds:
            kept[key] = item
    return list(kept.values())


@dataclass(frozen=True)
class Attendance:
    seconds: int
    percent: float | None


Interval = tuple[datetime, datetime]


def union_seconds(intervals: Iterable[Interval]) -> int:
    """Seconds covered by at least one interval: two devices in at once count once (R-SYNC-3)."""
    total = 0
    current: Interval | None = None
    for start, end in sorted(intervals):
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            total += int((current[1] - current[0]).total_seconds())
        current = (start, end)
    if current is not None:
        total += int((current[1] - current[0]).total_seconds())
    return total


def attendance_of(
    sessions: Iterable[tuple[str | None, datetime, datetime | None]], duration_minutes: int | None
) -> Attendance:
    """A contact's attendance of one webinar from its sessions ``(occurrence, join, leave)``
    (R-SYNC-3, R-PROP-1): per occurrence the union of the session intervals; seconds are the sum of
    the unions; the percent is the mean, over the occurrences attended, of each union's share of the
    webinar's duration capped at 100 — so 30 of 60 minutes in each of two occurrences is 50 %.
    None when the duration is unknown."""
    by_occurrence: dict[str | None, list[Interval]] = {}
    for occurrence, join, leave in sessions:
        by_occurrence.setdefault(occurrence, []).append((join, max(join, leave or join)))
    unions = [union_seconds(intervals) for intervals in by_occurrence.values()]
    if not duration_minutes or duration_minutes <= 0 or not unions:
        return Attendance(sum(unions), None)
    shares = [min(100.0, seconds * 100.0 / (duration_minutes * 60)) for seconds in unions]
    return Attendance(sum(unions), sum(shares) / len(shares))


def _refresh_attendance(
    connection: sa.Connection, marketing_event_id: int, contact_ids: Sequence[int], duration_minutes: int | None
) -> None:
    stored = connection.execute(
        sa.select(SESSIONS.c.contact_id, SESSIONS.c.occurrence, SESSIONS.c.join_time, SESSIONS.c.leave_time).where(
            SESSIONS.c.marketing_event_id == marketing_event_id, one_of(connection, SESSIONS.c.contact_id, contact_ids)
        )
    )
    by_contact: dict[int, list[tuple[str | None, datetime, datetime | None]]] = {}
    for row in stored:
        by_contact.setdefault(row.contact_id, []).append((row.occurrence, row.join_time, row.leave_time))
    now = utcnow()
    rows = []
    for contact_id, sessions in sorted(by_contact.items()):
        attendance = attendance_of(sessions, duration_minutes)
        rows.append(
            {
                "marketing_event_id": marketing_event_id,
                "contact_id": contact_id,
                "state": ParticipationState.ATTENDED.value,
                "attended": True,
                "attendance_seconds": attendance.seconds,
                "attendance_percent": attendance.percent,
                "updated_at": now,
            }
        )
    excluded = excluded_of(connection, PARTICIPATIONS)
    changing = {
        "state": excluded.state,
        "attended": excluded.attended,
        "attendance_seconds": excluded.attendance_seconds,
        "attendance_percent": excluded.attendance_percent,
    }
    upsert(
        connection,
        PARTICIPATIONS,
        rows,
        key=["marketing_event_id", "contact_id"],
        update={**changing, "updated_at": excluded.updated_at},
        update_where=any_changed(PARTICIPATIONS, changing),
    )


def recompute_rollups(session: Session, contact_ids: Iterable[int]) -> None:
    """Set the four Zoom rollups of ``contact_ids`` from their participations, in one UPDATE per chunk.

    - R-PROP-3 registration count: participations with a registration that is not cancelled;
    - R-PROP-4 attendance count: participations attended;
    - R-PROP-1 average duration: mean attendance percent (already capped at 100) over attended
      webinars whose duration is known; NULL when there is none;
    - R-PROP-2 join link: the personal join link of the most recent non-cancelled registration.
    """
    connection = connection_of(session)
    statement = _rollup_update(connection.dialect.name)
    for chunk in chunked(sorted(set(contact_ids)), MAX_ROWS_PER_STATEMENT):
        connection.execute(statement, {"ids": list(chunk)})


@functools.cache
def _rollup_update(dialect: str) -> sa.Update:
    """``recompute_rollups``' statement, built once per dialect: building it (an alias, four
    correlated subqueries) and deriving its cache key cost more than running it for one contact
    (a registration's store write, #16.1)."""
    p = PARTICIPATIONS.alias("p")
    mine = p.c.contact_id == CONTACTS.c.id
    registered = sa.and_(mine, p.c.registered_at.is_not(None), p.c.state != ParticipationState.CANCELLED.value)
    values = {
        "zoom_webinar_registration_count": sa.select(sa.func.count())
        .select_from(p)
        .where(registered)
        .scalar_subquery(),
        "zoom_webinar_attendance_count": sa.select(sa.func.count())
        .select_from(p)
        .where(mine, p.c.attended)
        .scalar_subquery(),
        "zoom_webinar_attendance_average_duration": sa.select(sa.func.avg(p.c.attendance_percent))
        .where(mine, p.c.attended)
        .scalar_subquery(),
        "zoom_webinar_joinlink": sa.select(p.c.join_link)
        .where(registered)
        .order_by(p.c.registered_at.desc(), p.c.id.desc())
        .limit(1)
        .scalar_subquery(),
    }
    ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
    return sa.update(CONTACTS).where(one_of(dialect, CONTACTS.c.id, ids)).values(values)


@dataclass(frozen=True)
class RecordingUpsert:
    zoom_file_id: str
    marketing_event_id: int
    file_type: str
    status: str
    topic: str | None = None
    play_url: str | None = None
    download_url: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    #: Bytes, as Zoom announces them.
    file_size: int | None = None


def upsert_recordings(session: Session, recordings: Sequence[RecordingUpsert]) -> dict[str, int]:
    """Create or update recordings and transcripts by Zoom file id (R-SYNC-5); returns file id → id."""
    if not recordings:
        return {}
    return _upsert_ids(
        connection_of(session),
        RECORDINGS,
        recordings,
        "zoom_file_id",
        stamps={"updated_at": utcnow()},
        fixed=("marketing_event_id",),
    )


def _upsert_ids(
    connection: sa.Connection,
    table: sa.Table,
    items: Sequence[Any],
    key: str,
    *,
    stamps: dict[str, Any],
    fixed: tuple[str, ...] = (),
) -> dict[Any, int]:
    """Upsert ``items`` (dataclasses, the last one of each ``key`` winning) with ``stamps``: every
    field but ``key`` and ``fixed`` is updated, with ``updated_at``, when one of them differs. Then
    {key: id} of every item."""
    names = [item.name for item in dataclasses.fields(items[0])]
    rows = [
        {name: getattr(item, name) for name in names} | stamps for item in {getattr(i, key): i for i in items}.values()
    ]
    excluded = excluded_of(connection, table)
    updates = {name: excluded[name] for name in names if name != key and name not in fixed}
    upsert(
        connection,
        table,
        rows,
        key=[key],
        update={**updates, "updated_at": excluded.updated_at},
        update_where=any_changed(table, updates),
    )
    ids = [row[key] for row in rows]
    found = connection.execute(sa.select(table.c[key], table.c.id).where(one_of(connection, table.c[key], ids)))
    return {row[0]: row[1] for row in found}


def timeline_key(kind: TimelineEventKind, *parts: object) -> str:
    """The idempotency key of a timeline event: its kind and the business ids that make it unique,
    e.g. ``timeline_key(WEBINAR_ATTENDANCE, webinar_id, contact_id, join_time.isoformat())``."""
    return ":".join([kind.value, *(str(part) for part in parts)])


@dataclass(frozen=True)
class TimelineEventIn:
    contact_id: int
    kind: TimelineEventKind
    occurred_at: datetime
    idempotency_key: str
    marketing_event_id: int | None = None
    recording_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def add_timeline_events(session: Session, events: Sequence[TimelineEventIn]) -> int:
    """Add timeline events (R-SYNC-4); one already stored under the same key is left alone.
    Returns how many were new."""
    if not events:
        return 0
    now = utcnow()
    rows = [
        {
            "contact_id": e.contact_id,
            "kind": e.kind.value,
            "marketing_event_id": e.marketing_event_id,
            "recording_id": e.recording_id,
            "occurred_at": e.occurred_at,
            "data": dict(e.data),
            "idempotency_key": e.idempotency_key,
            "created_at": now,
        }
        for e in {e.idempotency_key: e for e in events}.values()
    ]
    return insert_missing(connection_of(session), TIMELINE, rows, key=["idempotency_key"])


def add_participant_events(
    session: Session,
    *,
    marketing_event_id: int,
    kind: TimelineEventKind,
    key_parts: tuple[str, ...],
    occurred_at: datetime,
    data: Mapping[str, Any],
    recording_id: int | None = None,
) -> int:
    """One timeline event per contact with a participation in the event that is not cancelled,
    keyed ``timeline_key(kind, *key_parts[:1], contact_id, *key_parts[1:])``; one already stored
    is left alone. One ``INSERT … SELECT`` whatever the number of participants (100,000 of them:
    #16.4). Returns how many were new."""
    head, *tail = key_parts
    key = sa.literal(f"{timeline_key(kind, head)}:") + sa.cast(PARTICIPATIONS.c.contact_id, sa.String)
    if tail:
        key = key + sa.literal(":" + ":".join(tail))
    selected = sa.select(
        PARTICIPATIONS.c.contact_id,
        sa.literal(kind.value, sa.String),
        sa.literal(marketing_event_id, sa.Integer),
        sa.literal(recording_id, sa.Integer),
        sa.literal(occurred_at, TIMELINE.c.occurred_at.type),
        sa.literal(dict(data), TIMELINE.c.data.type),
        key,
        sa.literal(utcnow(), TIMELINE.c.created_at.type),
    ).where(
        PARTICIPATIONS.c.marketing_event_id == marketing_event_id,
        PARTICIPATIONS.c.state != ParticipationState.CANCELLED.value,
    )
    connection = connection_of(session)
    names = ["contact_id", "kind", "marketing_event_id", "recording_id", "occurred_at", "data", "idempotency_key"]
    statement = dialect_insert(connection, TIMELINE).from_select([*names, "created_at"], selected)
    statement = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
    if connection.dialect.name == "sqlite":
        return int(connection.execute(statement).rowcount)  # the rows inserted, a conflict changes none
    # psycopg reports no row count here: RETURNING counts what was inserted.
    return len(connection.execute(statement.returning(TIMELINE.c.id)).all())


@dataclass(frozen=True)
class TimelinePage:
    events: list[TimelineEvent]
    next_cursor: str | None


def list_timeline(session: Session, contact_id: int, *, cursor: str | None = None, limit: int = 50) -> TimelinePage:
    """A contact's timeline, newest first, keyset-paginated on (occurred_at, id)."""
    limit = max(1, min(limit, 200))
    query = (
        sa.select(TimelineEvent)
        .where(TIMELINE.c.contact_id == contact_id)
        .order_by(TIMELINE.c.occurred_at.desc(), TIMELINE.c.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        at, row_id = decode_position(cursor)
        query = query.where(
            sa.or_(TIMELINE.c.occurred_at < at, sa.and_(TIMELINE.c.occurred_at == at, TIMELINE.c.id < row_id))
        )
    events = list(session.scalars(query))
    next_cursor = None
    if len(events) > limit:
        events = events[:limit]
        assert events[-1].id is not None
        next_cursor = encode_position(events[-1].occurred_at, events[-1].id)
    return TimelinePage(events=events, next_cursor=next_cursor)


def list_participations(session: Session, contact_id: int) -> list[tuple[Participation, MarketingEvent]]:
    """A contact's participations with their webinars, most recent webinar first."""
    query = (
        sa.select(Participation, MarketingEvent)
        .join(MarketingEvent, EVENTS.c.id == PARTICIPATIONS.c.marketing_event_id)
        .where(PARTICIPATIONS.c.contact_id == contact_id)
        .order_by(EVENTS.c.start_time.desc(), PARTICIPATIONS.c.id.desc())
    )
    return [(row[0], row[1]) for row in session.execute(query).all()]
