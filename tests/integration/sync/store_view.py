"""Read the store the way the sync tests assert it: exact rows, keyed by email."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col

from engine.crm.audit import list_audit_entries
from engine.crm.tables import (
    AttendanceSession,
    Contact,
    MarketingEvent,
    Participation,
    Recording,
    TimelineEvent,
    Transcript,
    TranscriptCue,
)


def contacts(db_engine: Engine) -> dict[str, Contact]:
    with Session(db_engine, expire_on_commit=False) as session:
        return {row.email: row for row in session.scalars(sa.select(Contact))}


def participations(db_engine: Engine, webinar_id: str) -> dict[str, tuple[str, int, float | None]]:
    """email → (state, attendance seconds, attendance percent rounded to 2 places)."""
    with Session(db_engine) as session:
        rows = session.execute(
            sa.select(
                col(Contact.email),
                col(Participation.state),
                col(Participation.attendance_seconds),
                col(Participation.attendance_percent),
            )
            .join(Participation, col(Participation.contact_id) == col(Contact.id))
            .join(MarketingEvent, col(MarketingEvent.id) == col(Participation.marketing_event_id))
            .where(col(MarketingEvent.zoom_webinar_id) == webinar_id)
        )
        return {
            email: (state, seconds, None if percent is None else round(percent, 2))
            for email, state, seconds, percent in rows
        }


def sessions(db_engine: Engine, webinar_id: str) -> dict[str, int]:
    """email → number of stored join sessions."""
    with Session(db_engine) as session:
        rows = session.execute(
            sa.select(col(Contact.email), sa.func.count())
            .join(AttendanceSession, col(AttendanceSession.contact_id) == col(Contact.id))
            .join(MarketingEvent, col(MarketingEvent.id) == col(AttendanceSession.marketing_event_id))
            .where(col(MarketingEvent.zoom_webinar_id) == webinar_id)
            .group_by(col(Contact.email))
        )
        return {email: count for email, count in rows}


def timeline(db_engine: Engine) -> dict[str, list[str]]:
    """email → sorted kinds of its timeline events."""
    with Session(db_engine) as session:
        rows = session.execute(
            sa.select(col(Contact.email), col(TimelineEvent.kind)).join(
                TimelineEvent, col(TimelineEvent.contact_id) == col(Contact.id)
            )
        )
        found: dict[str, list[str]] = {}
        for email, kind in rows:
            found.setdefault(email, []).append(kind)
        return {email: sorted(kinds) for email, kinds in found.items()}


def recordings(db_engine: Engine) -> list[str]:
    with Session(db_engine) as session:
        return sorted(session.scalars(sa.select(col(Recording.file_type))))


def events(db_engine: Engine) -> dict[str, MarketingEvent]:
    with Session(db_engine, expire_on_commit=False) as session:
        return {row.zoom_webinar_id: row for row in session.scalars(sa.select(MarketingEvent))}


def audit(db_engine: Engine, webinar_id: str) -> list[dict[str, Any]]:
    """The webinar's audit entries, newest first, as plain dicts."""
    with Session(db_engine) as session:
        page = list_audit_entries(session, webinar_id)
        return [
            {
                "trigger": entry.trigger,
                "status": entry.status,
                "counts": dict(entry.counts),
                "warnings": {w["code"]: w for w in entry.warnings},
                "business_unit_id": entry.business_unit_id,
            }
            for entry in page.entries
        ]


def rollups(contact: Contact) -> tuple[int, int, float | None, str | None]:
    average = contact.zoom_webinar_attendance_average_duration
    return (
        contact.zoom_webinar_registration_count,
        contact.zoom_webinar_attendance_count,
        None if average is None else round(average, 2),
        contact.zoom_webinar_joinlink,
    )


def transcript_cues(db_engine: Engine, webinar_id: str) -> int:
    """How many transcript cues the store holds for the webinar."""
    with Session(db_engine) as session:
        return int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(TranscriptCue)
                .join(Transcript, col(Transcript.id) == col(TranscriptCue.transcript_id))
                .where(col(Transcript.zoom_webinar_id) == webinar_id)
            )
            or 0
        )
