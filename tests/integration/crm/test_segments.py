"""Segments (R-SEG-1): every filter kind returns exactly the expected contacts, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from engine.crm.contacts import create_contact
from engine.crm.errors import InvalidCursor, UnknownFilterField
from engine.crm.participations import (
    AttendanceSessionIn,
    MarketingEventUpsert,
    RecordingUpsert,
    Registration,
    TimelineEventIn,
    add_timeline_events,
    recompute_rollups,
    upsert_attendance_sessions,
    upsert_marketing_events,
    upsert_recordings,
    upsert_registrations,
)
from engine.crm.segments import FILTER_ADAPTER as FILTER
from engine.crm.segments import contact_matches, search_contacts
from engine.crm.tables import TimelineEventKind

T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def people(session: Session) -> dict[str, int]:
    """ann attended 111 for 45 of 60 min and got its recording; bob registered to 111 and 222;
    cy registered to 222 then cancelled; dee has no Zoom activity but custom properties."""
    ids: dict[str, int] = {}
    profiles: list[tuple[str, dict[str, Any]]] = [
        ("ann", {"plan": "Pro", "seats": 10}),
        ("bob", {"plan": "free", "seats": 2, "vip": True}),
        ("cy", {"seats": 2.5}),
        ("dee", {"plan": "pro", "vip": False}),
    ]
    for name, props in profiles:
        contact = create_contact(session, email=f"{name}@example.com", first_name=name.title(), properties=props)
        assert contact.id is not None
        ids[name] = contact.id
    events = upsert_marketing_events(
        session,
        [
            MarketingEventUpsert("111", 1, "Onboarding 101", start_time=T0, duration_minutes=60),
            MarketingEventUpsert(
                "222", 1, "Advanced Reporting", start_time=T0 + timedelta(days=1), duration_minutes=60
            ),
        ],
    )
    upsert_registrations(session, events["111"], [Registration(ids["ann"], T0), Registration(ids["bob"], T0)])
    upsert_registrations(
        session,
        events["222"],
        [Registration(ids["bob"], T0), Registration(ids["cy"], T0, cancelled_at=T0 + timedelta(hours=1))],
    )
    upsert_attendance_sessions(
        session, events["111"], [AttendanceSessionIn(ids["ann"], T0, T0 + timedelta(minutes=45))]
    )
    recordings = upsert_recordings(
        session,
        [
            RecordingUpsert(
                "file-1", events["111"], "MP4", "completed", "Onboarding 101", "https://zoom.us/rec/play/1", None, T0
            )
        ],
    )
    add_timeline_events(
        session,
        [
            TimelineEventIn(
                ids["ann"],
                TimelineEventKind.RECORDING_AVAILABLE,
                T0,
                "rec:file-1:ann",
                events["111"],
                recordings["file-1"],
            )
        ],
    )
    recompute_rollups(session, ids.values())
    session.commit()
    return ids


def _names(session: Session, people: dict[str, int], node: dict[str, Any]) -> set[str]:
    by_id = {v: k for k, v in people.items()}
    return {by_id[c.id] for c in search_contacts(session, FILTER.validate_python(node), limit=500).contacts if c.id}


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"type": "condition", "field": field, "op": op, "value": value}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (cond("email", "eq", "ANN@example.com"), {"ann"}),
        (cond("first_name", "starts_with", "b"), {"bob"}),
        (cond("email", "contains", "e@ex"), {"dee"}),
        (cond("first_name", "in", ["ann", "CY"]), {"ann", "cy"}),
        (cond("first_name", "not_in", ["ann", "cy"]), {"bob", "dee"}),
        (cond("created_at", "gte", "2000-01-01"), {"ann", "bob", "cy", "dee"}),
        (cond("created_at", "lt", "2000-01-01T00:00:00Z"), set()),
        (cond("properties.plan", "eq", "pro"), {"ann", "dee"}),
        (cond("properties.plan", "neq", "pro"), {"bob", "cy"}),
        (cond("properties.plan", "is_set"), {"ann", "bob", "dee"}),
        (cond("properties.plan", "is_not_set"), {"cy"}),
        (cond("properties.seats", "gt", 2), {"ann", "cy"}),
        (cond("properties.seats", "eq", 2), {"bob"}),
        (cond("properties.vip", "eq", True), {"bob"}),
        (cond("properties.vip", "neq", True), {"ann", "cy", "dee"}),
        (cond("zoom_webinar_registration_count", "eq", 2), {"bob"}),
        (cond("zoom_webinar_attendance_count", "gte", 1), {"ann"}),
        (cond("zoom_webinar_attendance_average_duration", "eq", 75), {"ann"}),
        (cond("zoom_webinar_attendance_average_duration", "is_not_set"), {"bob", "cy", "dee"}),
        (cond("zoom_webinar_joinlink", "is_set"), set()),
        ({"type": "event", "event": "webinar_attendance", "where": []}, {"ann"}),
        ({"type": "event", "event": "webinar_attendance", "where": [cond("duration_percent", "gte", 75)]}, {"ann"}),
        ({"type": "event", "event": "webinar_attendance", "where": [cond("duration_percent", "gt", 75)]}, set()),
        ({"type": "event", "event": "webinar_attendance", "where": [cond("duration_seconds", "eq", 2700)]}, {"ann"}),
        ({"type": "event", "event": "webinar_attendance", "where": [cond("webinar_id", "eq", "222")]}, set()),
        ({"type": "event", "event": "webinar_registration", "where": [cond("webinar_id", "eq", "222")]}, {"bob"}),
        (
            {"type": "event", "event": "webinar_registration", "where": [cond("webinar_name", "contains", "onboard")]},
            {"ann", "bob"},
        ),
        ({"type": "event", "event": "recording_available", "where": [cond("topic", "eq", "onboarding 101")]}, {"ann"}),
        ({"type": "event", "event": "recording_available", "where": [cond("start_time", "lt", "2026-03-01")]}, set()),
        (
            {
                "type": "event",
                "event": "recording_available",
                "where": [cond("recording_url", "starts_with", "https://zoom.us/rec")],
            },
            {"ann"},
        ),
        ({"type": "and", "filters": [cond("properties.plan", "eq", "pro"), cond("first_name", "eq", "dee")]}, {"dee"}),
        (
            {"type": "or", "filters": [cond("first_name", "eq", "ann"), cond("properties.vip", "eq", True)]},
            {"ann", "bob"},
        ),
        ({"type": "not", "filter": {"type": "event", "event": "webinar_registration"}}, {"cy", "dee"}),
        ({"type": "not", "filter": cond("properties.plan", "eq", "pro")}, {"bob", "cy"}),
    ],
)
def test_each_filter_kind_returns_exactly_the_expected_contacts(
    session: Session, people: dict[str, int], node: dict[str, Any], expected: set[str]
) -> None:
    """R-SEG-1: contact fields, custom properties, rollups and the three Zoom event filters."""
    assert _names(session, people, node) == expected


def test_filter_evaluates_for_one_contact(session: Session, people: dict[str, int]) -> None:
    """Branch conditions evaluate one contact with the same compiled filter."""
    node = FILTER.validate_python(
        {"type": "event", "event": "webinar_attendance", "where": [cond("webinar_id", "eq", 111)]}
    )
    assert contact_matches(session, node, people["ann"]) is True
    assert contact_matches(session, node, people["bob"]) is False
    assert contact_matches(session, node, 999_999) is False


def test_pagination_cursor_returns_every_match_exactly_once(session: Session) -> None:
    for i in range(23):
        create_contact(session, email=f"p{i:02}@example.com", properties={"even": i % 2 == 0})
    session.commit()
    node = FILTER.validate_python(cond("properties.even", "eq", True))
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = search_contacts(session, node, cursor=cursor, limit=5)
        seen.extend(c.id for c in page.contacts if c.id is not None)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 12
    assert pages == 3
    assert seen == sorted(seen)


def test_unknown_field_lists_the_allowed_fields(session: Session) -> None:
    with pytest.raises(UnknownFilterField) as raised:
        search_contacts(session, FILTER.validate_python(cond("favourite_colour", "eq", "red")))
    assert raised.value.details["allowed"][:3] == ["email", "first_name", "last_name"]
    assert "properties.<name>" in raised.value.details["allowed"]
    event = {"type": "event", "event": "webinar_registration", "where": [cond("duration_percent", "gt", 5)]}
    with pytest.raises(UnknownFilterField) as raised:
        search_contacts(session, FILTER.validate_python(event))
    assert raised.value.details == {
        "field": "duration_percent",
        "path": "filter.where.0.field",
        "allowed": ["webinar_id", "webinar_name"],
    }


def test_cursor_of_another_filter_or_garbled_is_refused(session: Session) -> None:
    for i in range(3):
        create_contact(session, email=f"p{i}@example.com")
    page = search_contacts(session, None, limit=1)
    assert page.next_cursor is not None
    with pytest.raises(InvalidCursor):
        search_contacts(session, FILTER.validate_python(cond("email", "is_set")), cursor=page.next_cursor)
    with pytest.raises(InvalidCursor):
        search_contacts(session, None, cursor="not-a-cursor")
