"""Contacts: create, read, update, delete (tombstone), restore, search by segment, timeline, participations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from sqlmodel import Session

from engine.api.deps import ReadSessionDep, SessionDep
from engine.api.schemas.crm import (
    ContactCreate,
    ContactOut,
    ContactPage,
    ContactRestore,
    ContactSearch,
    ContactSummary,
    ContactUpdate,
    Cursor,
    Limit,
    ParticipationOut,
    PathId,
    TimelineEventOut,
    TimelinePageOut,
)
from engine.api.schemas.enrollments import EnrollmentSummaryOut
from engine.crm import contacts as repo
from engine.crm.accounts import get_business_unit
from engine.crm.participations import list_participations, list_timeline
from engine.crm.segments import search_contacts
from engine.crm.tables import Contact
from engine.enrollment.reports import list_contact_enrollments

router = APIRouter(prefix="/contacts", tags=["contacts"])


def _out(session: Session, contact: Contact) -> ContactOut:
    assert contact.id is not None
    return ContactOut.model_validate(
        {
            **contact.model_dump(),
            "secondary_emails": repo.secondary_emails_of(session, contact.id),
            "business_unit_ids": repo.business_units_of(session, contact.id),
        }
    )


def _check_business_units(session: Session, ids: list[int]) -> None:
    for business_unit_id in ids:
        get_business_unit(session, business_unit_id)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_contact(body: ContactCreate, session: SessionDep) -> ContactOut:
    _check_business_units(session, body.business_unit_ids)
    contact = repo.create_contact(
        session,
        email=body.email,
        first_name=body.first_name,
        last_name=body.last_name,
        properties=body.properties,
        secondary_emails=body.secondary_emails,
        business_unit_ids=body.business_unit_ids,
    )
    session.commit()
    return _out(session, contact)


@router.get("")
def list_contacts(session: ReadSessionDep, cursor: Cursor = None, limit: Limit = 100) -> ContactPage:
    page = search_contacts(session, None, cursor=cursor, limit=limit)
    return ContactPage(
        contacts=[ContactSummary.model_validate(c.model_dump()) for c in page.contacts], next_cursor=page.next_cursor
    )


@router.post("/search")
def search(body: ContactSearch, session: ReadSessionDep) -> ContactPage:
    """The contacts matching a segment filter, a page at a time (pass back ``next_cursor``); no
    filter: every contact. A filter naming a field that does not exist is refused with
    UNKNOWN_FILTER_FIELD, whose details list the fields that do."""  # R-SEG-1
    page = search_contacts(session, body.filter, cursor=body.cursor, limit=body.limit)
    return ContactPage(
        contacts=[ContactSummary.model_validate(c.model_dump()) for c in page.contacts], next_cursor=page.next_cursor
    )


@router.post("/restore", status_code=status.HTTP_201_CREATED)
def restore_contact(body: ContactRestore, session: SessionDep) -> ContactOut:
    """The explicit way back for a deleted contact's e-mail: a new, empty contact."""  # R-EXC-5
    contact = repo.restore_contact(session, email=body.email, first_name=body.first_name, last_name=body.last_name)
    session.commit()
    return _out(session, contact)


@router.get("/{contact_id}")
def get_contact(contact_id: PathId, session: ReadSessionDep) -> ContactOut:
    return _out(session, repo.get_contact(session, contact_id))


@router.patch("/{contact_id}")
def update_contact(contact_id: PathId, body: ContactUpdate, session: SessionDep) -> ContactOut:
    changes: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    if body.business_unit_ids is not None:
        _check_business_units(session, body.business_unit_ids)
    contact = repo.update_contact(session, contact_id, **changes)
    session.commit()
    return _out(session, contact)


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_contact(contact_id: PathId, session: SessionDep) -> Response:
    repo.delete_contact(session, contact_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{contact_id}/timeline")
def get_timeline(
    contact_id: PathId, session: ReadSessionDep, cursor: Cursor = None, limit: Limit = 50
) -> TimelinePageOut:
    repo.get_contact(session, contact_id)
    page = list_timeline(session, contact_id, cursor=cursor, limit=limit)
    return TimelinePageOut(
        events=[TimelineEventOut.model_validate(e.model_dump()) for e in page.events], next_cursor=page.next_cursor
    )


@router.get("/{contact_id}/enrollments")
def get_contact_enrollments(contact_id: PathId, session: SessionDep) -> list[EnrollmentSummaryOut]:
    """The contact's enrollments in every workflow, newest first (its workflow history)."""
    repo.get_contact(session, contact_id)
    return [EnrollmentSummaryOut.of(enrollment) for enrollment in list_contact_enrollments(session, contact_id)]


@router.get("/{contact_id}/participations")
def get_participations(contact_id: PathId, session: ReadSessionDep) -> list[ParticipationOut]:
    repo.get_contact(session, contact_id)
    return [
        ParticipationOut.model_validate(
            {
                **participation.model_dump(),
                "zoom_webinar_id": event.zoom_webinar_id,
                "webinar_name": event.topic,
                "webinar_start_time": event.start_time,
            }
        )
        for participation, event in list_participations(session, contact_id)
    ]
