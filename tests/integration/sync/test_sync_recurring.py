"""Recurring webinars: attendance per occurrence (issue #13 point 8; R-SYNC-3, R-PROP-1).

Per occurrence, a contact's attendance is the union of their session intervals (two devices at
once count once); the participation's seconds are the sum of the unions and its percent the mean,
over the occurrences attended, of each union's share of the duration capped at 100 — so 100 still
means "stayed for the whole of every webinar attended". Each occurrence's recording is its own
recording record and "recording available" event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld
from integration.sync.sync_live import recording
from sqlalchemy import Engine

from engine.crm.participations import attendance_of
from zoom_emulator.core.seeds import InstanceSeed, RegistrantSeed, SessionSeed, WebinarSeed

pytestmark = pytest.mark.timeout(120)

W_SERIES = "93100000201"
FIRST = world.NOW - timedelta(days=8)
SECOND = world.NOW - timedelta(days=1)
ANN, BEN, CAL, DEE = (f"{name}@series.example" for name in ("ann", "ben", "cal", "dee"))


def _session(email: str, start: datetime, join: int, leave: int) -> SessionSeed:
    return SessionSeed(
        name=email.split("@")[0].title(),
        email=email,
        join_time=start + timedelta(minutes=join),
        leave_time=start + timedelta(minutes=leave),
    )


def series() -> WebinarSeed:
    """A weekly 60-minute webinar held twice: Ann stays 30 minutes each time; Ben comes once on
    three devices at once (60 + 55 + 40 minutes of sessions within the one hour); Cal comes to the
    second for 45 minutes; Dee registered and never came."""
    return WebinarSeed(
        id=int(W_SERIES),
        host_id="host-1",
        topic="Weekly office hours",
        type=9,
        start_time=FIRST,
        duration=60,
        occurrences=[FIRST, SECOND],
        registrants=[RegistrantSeed(email=email, first_name=email[:3].title()) for email in (ANN, BEN, CAL, DEE)],
        instances=[
            InstanceSeed(
                uuid="SeriesFirst00000000000==",
                start_time=FIRST,
                sessions=[
                    _session(ANN, FIRST, 0, 30),
                    _session(BEN, FIRST, 0, 60),
                    _session(BEN, FIRST, 0, 55),
                    _session(BEN, FIRST, 20, 60),
                ],
                recording=recording(0),
            ),
            InstanceSeed(
                uuid="SeriesSecond0000000000==",
                start_time=SECOND,
                sessions=[_session(ANN, SECOND, 30, 60), _session(CAL, SECOND, 0, 45)],
                recording=recording(0),
            ),
        ],
    )


def test_attendance_is_the_union_per_occurrence_and_the_mean_over_occurrences() -> None:
    """R-SYNC-3, R-PROP-1 on the rule itself: 30 of 60 minutes in each of two occurrences is 50 %,
    not 100 %; three overlapping devices over one hour are 3,600 s, not 9,300 s."""
    start = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)

    def at(minutes: int, days: int = 0) -> datetime:
        return start + timedelta(days=days, minutes=minutes)

    half_each = [("a", at(0), at(30)), ("b", at(0, 7), at(30, 7))]
    assert attendance_of(half_each, 60) == attendance_of(half_each, 60).__class__(3600, 50.0)
    devices = [("a", at(0), at(60)), ("a", at(0), at(55)), ("a", at(20), at(60))]
    assert attendance_of(devices, 60).seconds == 3600 and attendance_of(devices, 60).percent == 100.0
    rejoined = [("a", at(0), at(20)), ("a", at(25), at(55))]  # gaps are not attendance
    assert attendance_of(rejoined, 60).seconds == 50 * 60
    overran = [("a", at(0), at(90))]  # seconds are what happened; the percent is capped
    assert (attendance_of(overran, 60).seconds, attendance_of(overran, 60).percent) == (5400, 100.0)
    assert attendance_of([("a", at(0), None)], 60).seconds == 0  # no leave time yet
    assert attendance_of(devices, None).percent is None  # duration unknown


async def test_a_recurring_webinar_counts_attendance_per_occurrence(sync_world: SyncWorld, db_engine: Engine) -> None:
    """#13.8, R-PROP-1, R-SYNC-3: one marketing event; per-occurrence unions; each occurrence's
    recording is its own record and "recording available" event."""
    await sync_world.admin.add_webinar(sync_world.main_account, series())

    result = await sync_world.sync(W_SERIES)

    assert result.status == "succeeded"
    assert view.participations(db_engine, W_SERIES) == {
        ANN: ("attended", 2 * 30 * 60, 50.0),  # not 100 %: half of each occurrence
        BEN: ("attended", 60 * 60, 100.0),  # three devices at once: 3,600 s, not 9,300 s
        CAL: ("attended", 45 * 60, 75.0),
        DEE: ("registered", 0, None),
    }
    people = view.contacts(db_engine)
    assert [view.rollups(people[email])[2] for email in (ANN, BEN, CAL)] == [50.0, 100.0, 75.0]
    assert view.rollups(people[DEE])[:3] == (1, 0, None)
    assert view.recordings(db_engine) == ["MP4", "MP4", "TRANSCRIPT", "TRANSCRIPT"]
    timeline = view.timeline(db_engine)
    for email in (ANN, BEN, CAL, DEE):
        assert timeline[email].count("recording_available") == 2, email
    # R-SYNC-4: a session per join time (the two devices that joined in the same second are one).
    assert timeline[BEN].count("webinar_attendance") == 2
    assert view.sessions(db_engine, W_SERIES) == {ANN: 2, BEN: 2, CAL: 1}
    (entry,) = view.audit(db_engine, W_SERIES)
    assert (entry["counts"]["recording_files"], entry["counts"]["recording_events"]) == (4, 8)

    again = await sync_world.sync(W_SERIES)  # R-SYNC-6: nothing changes, nothing is added
    assert again.counts["recording_events"] == 0 and again.counts["timeline_events"] == 0
    assert view.participations(db_engine, W_SERIES)[ANN] == ("attended", 3600, 50.0)
    assert view.timeline(db_engine) == timeline
