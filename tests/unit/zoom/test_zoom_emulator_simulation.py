"""The emulator's simulation without HTTP (#15.1, #15.2): scenarios, the scheduler, transcripts,
relative seed times, and the state file."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from zoom_emulator import Emulator, EmulatorClock, Scenario, ScriptedAttendee, SeedDocument
from zoom_emulator.core.persistence import StateFileError, export_world, restore, snapshot
from zoom_emulator.core.runner import Heartbeat
from zoom_emulator.core.scenarios import Person, plan_attendance
from zoom_emulator.core.scheduler import Scheduler
from zoom_emulator.core.seeds import (
    AccountSeed,
    GenerateRegistrants,
    UserSeed,
    WebinarSeed,
    parse_seed,
    relative_time,
)
from zoom_emulator.core.transcript import MIN_FILE_BYTES, Speaker, render_transcript

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
START = NOW + timedelta(minutes=10)
CUE = re.compile(r"^\d+\n\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n[^\n]+: [^\n]+$")


def _people(count: int) -> list[Person]:
    return [Person(f"p{n}@customers.example", "P", str(n)) for n in range(count)]


def _plan(scenario: Scenario, registrants: list[Person]) -> list[Any]:
    return plan_attendance(
        scenario, instance_key="uuid==", start=START, end=START + timedelta(hours=1),
        host=Person("host@rollcall.example", "Hana", "Host"), registrants=registrants,
    )  # fmt: skip


def test_a_plan_is_deterministic_and_follows_the_scenario() -> None:
    scenario = Scenario(attendance=0.5, rejoin_share=1.0, guests=3, walk_ins=2, two_devices_share=0.0, seed=7)
    plan = _plan(scenario, _people(400))
    assert plan == _plan(scenario, _people(400))
    attendees = {s.email for s in plan if s.role == "attendee" and s.email.startswith("p")}
    assert 150 <= len(attendees) <= 250
    per_person = [sum(1 for s in plan if s.email == email) for email in attendees]
    assert per_person and all(n == 2 for n in per_person[:50])  # everyone rejoined once (long enough)
    assert len({s.name for s in plan if s.guest and s.email == ""}) == 3
    assert len({s.email for s in plan if s.email.endswith("@walk-ins.example")}) == 2
    assert [s.role for s in plan if s.role == "host"] == ["host"]
    assert all(START <= s.join < s.leave <= START + timedelta(hours=1) for s in plan)
    assert [s.join for s in plan] == sorted(s.join for s in plan)


def test_scripted_attendees_get_exactly_their_sessions() -> None:
    scenario = Scenario(attendance=0.0, guests=0, host_joins=False, attendees=[
        ScriptedAttendee(email="p1@customers.example", sessions=[(0, 10), (15, 60), (20, 25)]),
        ScriptedAttendee(name="Anonymous", guest=True, sessions=[(5, 6)]),
    ])  # fmt: skip
    plan = _plan(scenario, _people(3))
    assert [(s.name, s.email, (s.join - START).seconds // 60, (s.leave - START).seconds // 60) for s in plan] == [
        ("P 1", "p1@customers.example", 0, 10),
        ("Anonymous", "", 5, 6),
        ("P 1", "p1@customers.example", 15, 60),
        ("P 1", "p1@customers.example", 20, 25),
    ]


def test_the_scheduler_runs_in_time_then_insertion_order() -> None:
    scheduler = Scheduler()
    scheduler.add(20.0, "b")
    scheduler.add(10.0, "a")
    scheduler.add(20.0, "c")
    ran = []
    while (job := scheduler.pop_due(25.0)) is not None:
        ran.append(job.kind)
    assert ran == ["a", "b", "c"]


@pytest.mark.parametrize("size", [MIN_FILE_BYTES, 1000, 40_960, 2_000_000])
def test_a_transcript_is_webvtt_of_exactly_the_size_asked(size: int) -> None:
    speakers = [Speaker("Hana Host", "host", ((0.0, 3600.0),)), Speaker("Jane Doe", "attendee", ((2500.0, 3600.0),))]
    document = render_transcript(topic="Launch", duration_seconds=3600, speakers=speakers, size=size, seed="f1")
    assert len(document) == size
    header, *cues = document.decode().split("\n\n")
    assert header == "WEBVTT"
    assert all(CUE.match(cue) for cue in cues if cue)
    assert document == render_transcript(topic="Launch", duration_seconds=3600, speakers=speakers, size=size, seed="f1")


def test_relative_seed_times_are_read_from_the_seed_s_now() -> None:
    assert relative_time("+5m", NOW) == NOW + timedelta(minutes=5)
    assert relative_time("-1h30m", NOW) == NOW - timedelta(hours=1, minutes=30)
    assert relative_time("+1.5d", NOW) == NOW + timedelta(hours=36)
    assert relative_time("now", NOW) == NOW
    assert relative_time("2025-06-02T09:00:00Z", NOW) is None
    webinar = {"id": 1, "host_id": "h", "topic": "T", "start_time": "+4m"}
    account = {"id": "a", "client_id": "c", "client_secret": "s", "users": [{"id": "h", "email": "h@x.example"}]}
    data = {"accounts": [{**account, "webinars": [webinar]}]}
    assert parse_seed(data, NOW).accounts[0].webinars[0].start_time == NOW + timedelta(minutes=4)
    pinned = parse_seed({**data, "clock": "2024-01-01T00:00:00Z"}, NOW)  # an absolute clock wins
    assert pinned.accounts[0].webinars[0].start_time == datetime(2024, 1, 1, 0, 4, tzinfo=UTC)


def _seed() -> SeedDocument:
    return SeedDocument(
        clock=NOW,
        clock_frozen=True,
        accounts=[AccountSeed(id="a1", client_id="c", client_secret="s",
                              users=[UserSeed(id="h", email="host@rollcall.example", first_name="Hana")],
                              webinars=[WebinarSeed(id=7, host_id="h", topic="Live", start_time=START, duration=60,
                                                    generate_registrants=GenerateRegistrants(count=40),
                                                    scenario=Scenario(rejoin_share=0.3, guests=2))])],
    )  # fmt: skip


def _events_after(emulator: Emulator, moment: datetime) -> list[tuple[str, int, str]]:
    """Emitted events from ``moment`` on, without their (random) download tokens."""
    return [
        (d["event"], d["event_ts"], json.dumps(d["payload"], sort_keys=True))
        for d in emulator.webhooks.emitted
        if d["event_ts"] >= moment.timestamp() * 1000
    ]


def test_a_restored_state_file_carries_on_exactly_where_it_stopped(tmp_path: Path) -> None:
    """#15.2: stopped half-way through a webinar and restored, the emulator tells the rest of it as
    one that never stopped does."""
    middle, later = START + timedelta(minutes=30), START + timedelta(hours=2)
    straight = Emulator(_seed())
    stopped = Emulator(_seed())
    for emulator in (straight, stopped):
        emulator.clock.set(middle)
        emulator.tick()
    state_file = tmp_path / "state.json"
    Heartbeat(stopped, state_file).save(force=True)
    restored = Emulator(clock=EmulatorClock(NOW))
    restore(restored, state_file)
    assert export_world(restored.state) == export_world(stopped.state)
    assert restored.clock.now() == middle and restored.clock.frozen
    for emulator in (straight, restored):
        emulator.clock.set(later)
        emulator.tick()
    assert _events_after(restored, middle) == _events_after(straight, middle)
    assert [e for e, _, _ in _events_after(restored, middle)][-3:] == [
        "webinar.ended",
        "recording.completed",
        "recording.transcript_completed",
    ]


def test_a_running_clock_counts_the_time_the_emulator_was_stopped(tmp_path: Path) -> None:
    emulator = Emulator(_seed())
    emulator.clock.set(NOW, frozen=False)
    document = snapshot(emulator)
    document["clock"]["wall"] -= 3600  # saved an hour ago
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(document))
    restored = Emulator()
    restore(restored, state_file)
    assert abs((restored.clock.now() - NOW).total_seconds() - 3600) < 60
    assert restored.state.webinars[7].instances  # the webinar started while it was stopped


def test_a_state_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text('{"format": "something else"}')
    with pytest.raises(StateFileError, match="not a Zoom emulator state file"):
        restore(Emulator(), state_file)
    state_file.write_text("not json")
    with pytest.raises(StateFileError, match="not readable"):
        restore(Emulator(), state_file)


def test_an_unchanged_world_is_not_written_again(tmp_path: Path) -> None:
    emulator = Emulator(_seed())
    emulator.clock.set(NOW, frozen=False)
    state_file = tmp_path / "state.json"
    heartbeat = Heartbeat(emulator, state_file)
    heartbeat.save()
    written = state_file.stat().st_mtime_ns
    time.sleep(0.05)
    heartbeat.save()  # the clock ran on, nothing else changed
    assert state_file.stat().st_mtime_ns == written
    emulator.clock.advance(600)
    heartbeat.save()
    assert state_file.stat().st_mtime_ns != written
