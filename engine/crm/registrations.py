"""What the "Add Contact to Zoom Webinar" action reads from and writes to the CRM store (R-ADD-3, R-ADD-7).

``record_action_registration`` writes every effect of one successful registration — the webinar's
marketing event, the contact's ``registered`` participation with the personal join link and the
Zoom registrant id, the "Zoom webinar registration" timeline event and the rollups (R-PROP-2
``zoom_webinar_joinlink``, R-PROP-3 registration count) — and is idempotent: writing the same
registration again changes nothing, so a second enrollment of the same contact counts once.

Like every function of ``engine.crm`` it takes a ``Session`` and never commits: the caller makes
it one transaction.

The timeline event's idempotency key is ``timeline_key(WEBINAR_REGISTRATION, webinar_id,
contact_id)`` (``registration_timeline_key``), so the webinar sync must use the same key for a
registration it finds in Zoom: one registration, one timeline event, whoever saw it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.crm.bulk import connection_of
from engine.crm.contacts import get_contact
from engine.crm.participations import (
    MarketingEventUpsert,
    Registration,
    TimelineEventIn,
    add_timeline_events,
    recompute_rollups,
    timeline_key,
    upsert_marketing_events,
    upsert_registrations,
)
from engine.crm.tables import (
    BusinessUnit,
    Contact,
    MarketingEvent,
    Participation,
    ParticipationState,
    TimelineEventKind,
    ZoomConnection,
    table_of,
)

CONNECTIONS = table_of(ZoomConnection)
BUSINESS_UNITS = table_of(BusinessUnit)
EVENTS = table_of(MarketingEvent)
PARTICIPATIONS = table_of(Participation)
CONTACTS = table_of(Contact)


@dataclass(frozen=True)
class ConnectionOwner:
    """A Zoom connection as the CRM store knows it: its business unit and who connected it."""

    connection_id: int
    name: str
    zoom_account_id: str
    business_unit_id: int
    business_unit_name: str
    business_unit_is_primary: bool
    connected_by_email: str


def connection_owners(session: Session) -> dict[str, ConnectionOwner]:
    """Every Zoom connection of the store by name (the name configured in ``ROLLCALL_ZOOM_CONNECTIONS``)."""
    rows = connection_of(session).execute(
        sa.select(
            CONNECTIONS.c.id,
            CONNECTIONS.c.name,
            CONNECTIONS.c.zoom_account_id,
            CONNECTIONS.c.business_unit_id,
            CONNECTIONS.c.connected_by_email,
            BUSINESS_UNITS.c.name.label("business_unit_name"),
            BUSINESS_UNITS.c.is_primary,
        ).join(BUSINESS_UNITS, BUSINESS_UNITS.c.id == CONNECTIONS.c.business_unit_id)
    )
    return {
        row.name: ConnectionOwner(
            connection_id=row.id,
            name=row.name,
            zoom_account_id=row.zoom_account_id,
            business_unit_id=row.business_unit_id,
            business_unit_name=row.business_unit_name,
            business_unit_is_primary=bool(row.is_primary),
            connected_by_email=row.connected_by_email,
        )
        for row in rows
    }


def known_webinar_connection(session: Session, zoom_webinar_id: str) -> str | None:
    """The name of the connection that owned this webinar when the store last saw it (a hint only:
    the action asks that connection first, and still asks the others if it no longer knows it)."""
    query = (
        sa.select(CONNECTIONS.c.name)
        .join(EVENTS, EVENTS.c.connection_id == CONNECTIONS.c.id)
        .where(EVENTS.c.zoom_webinar_id == zoom_webinar_id)
    )
    name: str | None = connection_of(session).execute(query).scalar()
    return name


@dataclass(frozen=True)
class ContactIdentity:
    """The three fields the action sends to Zoom (R-ADD-1); the email is the primary one."""

    contact_id: int
    email: str
    first_name: str | None
    last_name: str | None


def contact_identity(session: Session, contact_id: int) -> ContactIdentity | None:
    """``None`` when the contact does not exist (deleted contacts are never recreated, R-EXC-5)."""
    row = (
        connection_of(session)
        .execute(
            sa.select(CONTACTS.c.email, CONTACTS.c.first_name, CONTACTS.c.last_name).where(CONTACTS.c.id == contact_id)
        )
        .first()
    )
    if row is None:
        return None
    return ContactIdentity(contact_id, row.email, row.first_name, row.last_name)


def registration_timeline_key(zoom_webinar_id: str, contact_id: int) -> str:
    return timeline_key(TimelineEventKind.WEBINAR_REGISTRATION, zoom_webinar_id, contact_id)


@dataclass(frozen=True)
class ActionRegistration:
    """One registration Zoom accepted, with what the store needs to know about its webinar."""

    contact_id: int
    zoom_webinar_id: str
    business_unit_id: int
    connection_id: int | None
    topic: str
    registrant_id: str
    join_link: str | None
    #: When Zoom accepted it; an earlier registration of the same contact keeps its own time.
    accepted_at: datetime
    approval: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_minutes: int | None = None
    host_email: str | None = None
    webinar_join_url: str | None = None


@dataclass(frozen=True)
class RecordedRegistration:
    marketing_event_id: int
    #: False when the contact already had a live registration for this webinar (a repeat).
    new_registration: bool
    timeline_event_added: bool
    registered_at: datetime
    registration_count: int
    joinlink: str | None


def record_action_registration(session: Session, registration: ActionRegistration) -> RecordedRegistration:
    """R-ADD-7 in the caller's transaction; idempotent. Raises ContactNotFound for a deleted contact."""
    get_contact(session, registration.contact_id)
    event_id = _marketing_event(session, registration)
    connection = connection_of(session)
    existing = connection.execute(
        sa.select(PARTICIPATIONS.c.registered_at, PARTICIPATIONS.c.state).where(
            PARTICIPATIONS.c.marketing_event_id == event_id,
            PARTICIPATIONS.c.contact_id == registration.contact_id,
        )
    ).first()
    live = (
        existing is not None and existing.registered_at is not None and existing.state != ParticipationState.CANCELLED
    )
    # A repeat keeps the first registration's time, so it neither moves "last registered webinar"
    # (R-PROP-2) nor the timeline.
    registered_at: datetime = existing.registered_at if live and existing is not None else registration.accepted_at
    touched = upsert_registrations(
        session,
        event_id,
        [
            Registration(
                contact_id=registration.contact_id,
                registered_at=registered_at,
                join_link=registration.join_link,
                registrant_id=registration.registrant_id,
            )
        ],
    )
    added = add_timeline_events(session, [_timeline_event(registration, event_id, registered_at)])
    recompute_rollups(session, touched)
    rollups = connection.execute(
        sa.select(CONTACTS.c.zoom_webinar_registration_count, CONTACTS.c.zoom_webinar_joinlink).where(
            CONTACTS.c.id == registration.contact_id
        )
    ).one()
    return RecordedRegistration(
        marketing_event_id=event_id,
        new_registration=not live,
        timeline_event_added=added > 0,
        registered_at=registered_at,
        registration_count=rollups.zoom_webinar_registration_count,
        joinlink=rollups.zoom_webinar_joinlink,
    )


def _marketing_event(session: Session, registration: ActionRegistration) -> int:
    """The webinar's marketing event, created or brought up to date (R-SYNC-3); its id."""
    event = MarketingEventUpsert(
        zoom_webinar_id=registration.zoom_webinar_id,
        business_unit_id=registration.business_unit_id,
        topic=registration.topic,
        connection_id=registration.connection_id,
        start_time=registration.start_time,
        end_time=registration.end_time,
        duration_minutes=registration.duration_minutes,
        host_email=registration.host_email,
        join_url=registration.webinar_join_url,
    )
    return upsert_marketing_events(session, [event])[registration.zoom_webinar_id]


def _timeline_event(registration: ActionRegistration, event_id: int, registered_at: datetime) -> TimelineEventIn:
    """The "Zoom webinar registration" timeline event (R-ADD-7), keyed like the sync's."""
    return TimelineEventIn(
        contact_id=registration.contact_id,
        kind=TimelineEventKind.WEBINAR_REGISTRATION,
        occurred_at=registered_at,
        idempotency_key=registration_timeline_key(registration.zoom_webinar_id, registration.contact_id),
        marketing_event_id=event_id,
        data={
            "webinar_id": registration.zoom_webinar_id,
            "webinar_name": registration.topic,
            "registrant_id": registration.registrant_id,
            "approval": registration.approval,
            "source": "action",
        },
    )
