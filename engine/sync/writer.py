"""Batch writes of a sync run: one transaction per page of Zoom rows, exclusions applied.

Each function writes contacts (by primary email only, R-SYNC-2), participations, sessions and
timeline events for one page, then recomputes the rollups of the contacts it touched in the same
transaction — the store never holds a participation without its rollup (the saga's invariant).
Every write is an upsert keyed by business ids, so a retried page changes nothing (R-SYNC-6).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from engine.crm.contacts import ContactUpsert, ExclusionReason, classify_emails, upsert_contacts
from engine.crm.participations import (
    AttendanceSessionIn,
    RecordingUpsert,
    Registration,
    TimelineEventIn,
    add_participant_events,
    add_timeline_events,
    recompute_rollups,
    timeline_key,
    upsert_attendance_sessions,
    upsert_recordings,
    upsert_registrations,
)
from engine.crm.tables import TimelineEventKind
from engine.zoom.models import ParticipantSession, Registrant, RegistrantStatus


@dataclass
class PageResult:
    contacts_created: int = 0
    contacts_matched: int = 0
    #: The contacts this page wrote to, and those of them it created (the audit's contact ledger).
    contact_ids: set[int] = field(default_factory=set)
    created_ids: set[int] = field(default_factory=set)
    rows: int = 0
    written: int = 0
    guests_without_email: int = 0
    timeline_events: int = 0
    excluded: dict[str, str] = field(default_factory=dict)  # email → ExclusionReason


@dataclass(frozen=True)
class Person:
    email: str | None
    first_name: str | None
    last_name: str | None


def _contacts(
    session: Session,
    people: Sequence[Person],
    business_unit_id: int,
    excluded_domains: Iterable[str],
    result: PageResult,
) -> dict[str, int]:
    """Contact id by email as given, for the people that may be written; the others land in ``result.excluded``."""
    classified = classify_emails(session, [p.email for p in people], excluded_domains=excluded_domains)
    for raw, reason in classified.excluded.items():
        if reason == ExclusionReason.MISSING_EMAIL:
            continue  # guests without email are counted by the caller (R-SCOPE-3)
        result.excluded[str(raw)] = reason.value
    wanted: dict[str, ContactUpsert] = {}
    for person in people:
        if person.email in classified.creatable or person.email in classified.existing:
            normalised = classified.creatable.get(person.email)
            if normalised is None:
                normalised = str(person.email).strip().lower()
            wanted.setdefault(
                normalised, ContactUpsert(normalised, person.first_name or None, person.last_name or None)
            )
    if not wanted:
        return {}
    written = upsert_contacts(session, list(wanted.values()), business_unit_id=business_unit_id, classified=True)
    result.contacts_created += len(written.created)
    result.contacts_matched += len(set(written.ids) - set(written.created))
    result.contact_ids |= set(written.ids.values())
    result.created_ids |= {written.ids[email] for email in written.created if email in written.ids}
    for email in written.refused:
        result.excluded.setdefault(email, ExclusionReason.DELETED_CONTACT.value)
    ids: dict[str, int] = {}
    for person in people:
        if person.email is None:
            continue
        normalised = classified.creatable.get(person.email) or person.email.strip().lower()
        if normalised in written.ids:
            ids[person.email] = written.ids[normalised]
    return ids


def write_registrants(
    session: Session,
    *,
    marketing_event_id: int,
    zoom_webinar_id: str,
    business_unit_id: int,
    excluded_domains: Iterable[str],
    registrants: Sequence[Registrant],
    seen_at: datetime,
) -> PageResult:
    """One page of registrants in any status (R-SYNC-1): denied means cancelled."""
    result = PageResult(rows=len(registrants))
    people = [Person(r.email or None, r.first_name, r.last_name) for r in registrants]
    ids = _contacts(session, people, business_unit_id, excluded_domains, result)
    registrations: list[Registration] = []
    events: list[TimelineEventIn] = []
    for registrant in registrants:
        contact_id = ids.get(registrant.email)
        if contact_id is None:
            continue
        cancelled = registrant.status == RegistrantStatus.DENIED
        registered_at = registrant.create_time or seen_at
        registrations.append(
            Registration(
                contact_id=contact_id,
                registered_at=registered_at,
                join_link=None if cancelled else registrant.join_url,
                registrant_id=registrant.id,
                cancelled_at=seen_at if cancelled else None,
            )
        )
        events.append(
            TimelineEventIn(
                contact_id=contact_id,
                kind=TimelineEventKind.WEBINAR_REGISTRATION,
                occurred_at=registered_at,
                idempotency_key=timeline_key(TimelineEventKind.WEBINAR_REGISTRATION, zoom_webinar_id, contact_id),
                marketing_event_id=marketing_event_id,
                data={"webinar_id": zoom_webinar_id, "status": str(registrant.status or "approved")},
            )
        )
        if cancelled:
            events.append(
                TimelineEventIn(
                    contact_id=contact_id,
                    kind=TimelineEventKind.WEBINAR_CANCELLATION,
                    occurred_at=seen_at,
                    idempotency_key=timeline_key(TimelineEventKind.WEBINAR_CANCELLATION, zoom_webinar_id, contact_id),
                    marketing_event_id=marketing_event_id,
                    data={"webinar_id": zoom_webinar_id},
                )
            )
    touched = upsert_registrations(session, marketing_event_id, registrations)
    result.written = len(touched)
    result.timeline_events = add_timeline_events(session, events)
    recompute_rollups(session, touched)
    return result


def write_sessions(
    session: Session,
    *,
    marketing_event_id: int,
    zoom_webinar_id: str,
    business_unit_id: int,
    excluded_domains: Iterable[str],
    rows: Sequence[ParticipantSession],
    webinar_topic: str,
    occurrence: str | None = None,
) -> PageResult:
    """One page of the participants report of one occurrence (Zoom instance UUID): one row per
    join session (rejoins and second devices are several rows)."""
    result = PageResult(rows=len(rows))
    with_email = [row for row in rows if row.has_email]
    result.guests_without_email = len(rows) - len(with_email)
    people = [Person(row.user_email, *_split_name(row.name)) for row in with_email]
    ids = _contacts(session, people, business_unit_id, excluded_domains, result)
    sessions: list[AttendanceSessionIn] = []
    events: list[TimelineEventIn] = []
    for row in with_email:
        contact_id = ids.get(row.user_email)
        if contact_id is None or row.join_time is None:
            continue
        sessions.append(AttendanceSessionIn(contact_id, row.join_time, row.leave_time, occurrence))
        events.append(
            TimelineEventIn(
                contact_id=contact_id,
                kind=TimelineEventKind.WEBINAR_ATTENDANCE,
                occurred_at=row.join_time,
                idempotency_key=timeline_key(
                    TimelineEventKind.WEBINAR_ATTENDANCE, zoom_webinar_id, contact_id, row.join_time.isoformat()
                ),
                marketing_event_id=marketing_event_id,
                data={
                    "webinar_id": zoom_webinar_id,
                    "topic": webinar_topic,
                    "joined_at": row.join_time.isoformat(),
                    "left_at": row.leave_time.isoformat() if row.leave_time else None,
                },
            )
        )
    touched = upsert_attendance_sessions(session, marketing_event_id, sessions)
    result.written = len(sessions)
    result.timeline_events = add_timeline_events(session, events)
    recompute_rollups(session, touched)
    return result


def _split_name(name: str) -> tuple[str | None, str | None]:
    first, _, last = name.strip().partition(" ")
    return (first or None, last.strip() or None)


def write_recordings(
    session: Session,
    *,
    marketing_event_id: int,
    zoom_webinar_id: str,
    recordings: Sequence[RecordingUpsert],
    seen_at: datetime,
    occurrence: str | None = None,
) -> tuple[int, int]:
    """Store one occurrence's recording files and tell attendees and registrants (R-SYNC-3,
    R-SYNC-5): one "recording available" event per contact and occurrence. ``occurrence`` is None
    for a webinar's first occurrence (the key a one-time webinar always had) and the instance UUID
    for the others. Returns (files, new events)."""
    ids = upsert_recordings(session, recordings)
    videos = [r for r in recordings if r.file_type.upper() != "TRANSCRIPT"]
    if not videos:
        return len(ids), 0
    video = min(videos, key=lambda r: (r.start_time is None, r.start_time, r.zoom_file_id))
    recording_id = ids[video.zoom_file_id]
    occurred = video.start_time or video.end_time or seen_at
    data = {
        "topic": video.topic,
        "start_time": video.start_time.isoformat() if video.start_time else None,
        "recording_url": video.play_url,
    }
    added = add_participant_events(
        session,
        marketing_event_id=marketing_event_id,
        kind=TimelineEventKind.RECORDING_AVAILABLE,
        key_parts=(zoom_webinar_id, occurrence) if occurrence else (zoom_webinar_id,),
        occurred_at=occurred,
        data=data,
        recording_id=recording_id,
    )
    return len(ids), added
