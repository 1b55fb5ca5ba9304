"""Participations, attendance, timeline and rollups: exact after any sequence of writes (R-PROP-*, R-SYNC-*)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlmodel import Session

from engine.crm.contacts import ContactUpsert, upsert_contacts
from engine.crm.participations import (
    AttendanceSessionIn,
    MarketingEventUpsert,
    Registration,
    TimelineEventIn,
    add_timeline_events,
    recompute_rollups,
    timeline_key,
    upsert_attendance_sessions,
    upsert_marketing_events,
    upsert_registrations,
)
from engine.crm.tables import TimelineEventKind

T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)


def _rollups(session: Session) -> dict[str, tuple[Any, ...]]:
    rows = session.connection().execute(
        text(
            "SELECT email, zoom_webinar_registration_count, zoom_webinar_attendance_count,"
            " zoom_webinar_attendance_average_duration, zoom_webinar_joinlink FROM contacts ORDER BY email"
        )
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def _setup(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    contacts = upsert_contacts(session, [ContactUpsert(f"c{i}@example.com") for i in range(3)]).ids
    events = upsert_marketing_events(
        session,
        [
            MarketingEventUpsert("111", 1, "Intro", start_time=T0, duration_minutes=60),
            MarketingEventUpsert("222", 1, "Deep dive", start_time=T0 + timedelta(days=7), duration_minutes=30),
        ],
    )
    return contacts, events


def test_rollups_follow_registrations_and_attendance(session: Session) -> None:
    """R-PROP-1…4: counts, average percent capped at 100 per webinar, last registered join link."""
    contacts, events = _setup(session)
    a = contacts["c0@example.com"]
    upsert_registrations(
        session, events["111"], [Registration(a, T0 - timedelta(days=2), "https://zoom.us/w/111?tk=a")]
    )
    upsert_registrations(
        session, events["222"], [Registration(a, T0 - timedelta(days=1), "https://zoom.us/w/222?tk=a")]
    )
    touched = upsert_attendance_sessions(
        session,
        events["111"],
        [  # two sessions summed: 20 + 10 minutes of 60 → 50 %
            AttendanceSessionIn(a, T0, T0 + timedelta(minutes=20)),
            AttendanceSessionIn(a, T0 + timedelta(minutes=30), T0 + timedelta(minutes=40)),
        ],
    )
    touched |= upsert_attendance_sessions(
        session,
        events["222"],
        [AttendanceSessionIn(a, T0, T0 + timedelta(minutes=45))],  # 45 of 30 → capped 100
    )
    recompute_rollups(session, touched)
    assert _rollups(session)["c0@example.com"] == (2, 2, 75.0, "https://zoom.us/w/222?tk=a")
    participation = (
        session.connection()
        .execute(
            text(
                "SELECT state, attendance_seconds, attendance_percent FROM participations WHERE marketing_event_id = :e"
            ),
            {"e": events["111"]},
        )
        .one()
    )
    assert tuple(participation) == ("attended", 1800, 50.0)


def test_cancelled_registration_is_not_counted_and_attendance_survives_a_late_cancel(session: Session) -> None:
    """R-SYNC-3: cancelled participations do not count as registrations; attended stays attended."""
    contacts, events = _setup(session)
    a, b = contacts["c0@example.com"], contacts["c1@example.com"]
    upsert_registrations(
        session, events["111"], [Registration(a, T0, "https://j/a"), Registration(b, T0, "https://j/b")]
    )
    upsert_attendance_sessions(session, events["111"], [AttendanceSessionIn(a, T0, T0 + timedelta(minutes=6))])
    cancel_at = T0 + timedelta(hours=1)
    upsert_registrations(session, events["111"], [Registration(a, T0, "https://j/a", cancelled_at=cancel_at)])
    upsert_registrations(session, events["111"], [Registration(b, T0, "https://j/b", cancelled_at=cancel_at)])
    recompute_rollups(session, [a, b])
    states: dict[int, str] = dict(
        session.connection().execute(text("SELECT contact_id, state FROM participations ORDER BY contact_id")).all()
    )
    assert states == {a: "attended", b: "cancelled"}
    rollups = _rollups(session)
    assert rollups["c0@example.com"][:3] == (1, 1, 10.0)
    assert rollups["c1@example.com"] == (0, 0, None, None)


def test_timeline_event_with_the_same_key_is_written_once(session: Session) -> None:
    """R-SYNC-6: a re-synced registration adds no second timeline entry."""
    contacts, events = _setup(session)
    a = contacts["c0@example.com"]
    event = TimelineEventIn(
        a,
        TimelineEventKind.WEBINAR_REGISTRATION,
        T0,
        timeline_key(TimelineEventKind.WEBINAR_REGISTRATION, "111", a),
        marketing_event_id=events["111"],
        data={"webinar_id": "111"},
    )
    assert add_timeline_events(session, [event, event]) == 1
    assert add_timeline_events(session, [event]) == 0
    assert session.connection().execute(text("SELECT count(*) FROM timeline_events")).scalar() == 1


# --- property: rollups equal a from-scratch recomputation after any interleaving --------------------

_operation = st.one_of(
    st.tuples(
        st.just("register"),
        st.integers(0, 2),
        st.sampled_from(["111", "222"]),
        st.integers(0, 5),
        st.booleans(),
    ),
    st.tuples(
        st.just("attend"),
        st.integers(0, 2),
        st.sampled_from(["111", "222"]),
        st.integers(0, 3),
        st.integers(0, 90),
    ),
)


def _epoch(value: datetime | str) -> int:
    """Seconds since the epoch of a stored timestamp (SQLite answers a raw query with text)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return int(moment.replace(tzinfo=UTC).timestamp())


def _expected_rollups(session: Session) -> dict[int, tuple[int, int, float | None, str | None]]:
    """The rollups recomputed in Python from the raw sessions and registrations kept in the store."""
    connection = session.connection()
    durations: dict[int, int] = dict(
        connection.execute(text("SELECT id, duration_minutes FROM marketing_events")).all()
    )
    # R-SYNC-3: per occurrence, the seconds covered by at least one session (two devices at once
    # count once) — computed here second by second, independently of the store's interval union.
    covered: dict[tuple[int, int], dict[Any, set[int]]] = {}
    for event_id, contact_id, occurrence, join, leave in connection.execute(
        text("SELECT marketing_event_id, contact_id, occurrence, join_time, leave_time FROM attendance_sessions")
    ):
        start = _epoch(join)
        end = _epoch(leave) if leave is not None else start
        covered.setdefault((event_id, contact_id), {}).setdefault(occurrence, set()).update(range(start, end))
    shares_of: dict[tuple[int, int], list[float]] = {
        key: [min(100.0, len(secs) * 100.0 / (durations[key[0]] * 60)) for secs in by_occurrence.values()]
        for key, by_occurrence in covered.items()
    }
    expected: dict[int, tuple[int, int, float | None, str | None]] = {}
    for (contact_id,) in connection.execute(text("SELECT id FROM contacts")):
        registrations = [
            (row.registered_at, row.id, row.join_link)
            for row in connection.execute(
                text(
                    "SELECT id, registered_at, join_link FROM participations WHERE contact_id = :c"
                    " AND registered_at IS NOT NULL AND state <> 'cancelled'"
                ),
                {"c": contact_id},
            )
        ]
        attended = [sum(shares) / len(shares) for (_event_id, c), shares in shares_of.items() if c == contact_id]
        last_link = max(registrations)[2] if registrations else None
        average = sum(attended) / len(attended) if attended else None
        expected[contact_id] = (len(registrations), len(attended), average, last_link)
    return expected


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(_operation, min_size=1, max_size=25))
def test_rollups_equal_a_recomputation_after_any_interleaving(db_engine: Engine, operations: list[Any]) -> None:
    """R-PROP-1…4 and R-SYNC-6: rollups are recomputed, never incremented, so any order of
    registrations, cancellations, attendance sessions and re-syncs leaves them exact."""
    with Session(db_engine) as session:
        connection = session.connection()
        for table in ("attendance_sessions", "participations", "marketing_events", "contacts"):
            connection.execute(text(f"DELETE FROM {table}"))
        contacts, events = _setup(session)
        ids = sorted(contacts.values())
        for kind, who, webinar, slot, extra in operations:
            contact_id = ids[who]
            if kind == "register":
                cancelled = T0 + timedelta(hours=slot) if extra else None
                registration = Registration(
                    contact_id, T0 + timedelta(hours=slot), f"https://j/{webinar}/{slot}", None, cancelled
                )
                touched = upsert_registrations(session, events[webinar], [registration])
            else:
                join = T0 + timedelta(minutes=slot * 30)
                touched = upsert_attendance_sessions(
                    session, events[webinar], [AttendanceSessionIn(contact_id, join, join + timedelta(minutes=extra))]
                )
            recompute_rollups(session, touched)
        expected = _expected_rollups(session)
        actual = {
            row[0]: tuple(row[1:])
            for row in session.connection().execute(
                text(
                    "SELECT id, zoom_webinar_registration_count, zoom_webinar_attendance_count,"
                    " zoom_webinar_attendance_average_duration, zoom_webinar_joinlink FROM contacts"
                )
            )
        }
        session.rollback()
    assert actual.keys() == expected.keys()
    for contact_id, (registrations, attendances, average, link) in expected.items():
        got = actual[contact_id]
        assert got[0] == registrations
        assert got[1] == attendances
        assert got[2] == (pytest.approx(average) if average is not None else None)
        assert got[3] == link
