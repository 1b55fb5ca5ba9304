"""The demo seed loads and contains what the zero-configuration demo relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zoom_emulator import DEMO_SEED_PATH, Emulator, EmulatorClock, load_seed
from zoom_emulator.core.state import EmulatorState

JANE = "jane@customers.example"


def test_demo_seed_has_two_accounts_and_every_kind_of_webinar() -> None:
    state = EmulatorState(EmulatorClock())
    state.apply_seed(load_seed(DEMO_SEED_PATH))
    webinars = state.webinars.values()
    assert sorted(state.accounts) == ["rcAcctEmea01", "rcAcctMain01"]
    assert [w.id for w in webinars if w.zoom_event] == [81000000002]
    assert [w.id for w in webinars if w.approval_type == 2] == [81000000004]
    assert [w.id for w in webinars if any(q["required"] for q in w.custom_questions)] == [81000000003]
    assert sum(len(w.registrants) for w in webinars) >= 300
    assert sum(len(i.sessions) for i in state.instances.values()) >= 300
    assert any(s.email == "" for i in state.instances.values() for s in i.sessions)
    transcripts = [
        f for i in state.instances.values() if i.recording for f in i.recording.files if f.file_type == "TRANSCRIPT"
    ]
    assert len(transcripts) == 1
    assert transcripts[0].available_at > state.clock.now()  # becomes ready after the demo starts


def test_the_demo_seed_is_dated_from_each_start() -> None:
    """#15.2: relative times — a webinar about to start, one that ended an hour ago, one recurring."""
    for now in (datetime(2025, 6, 2, 9, 0, tzinfo=UTC), datetime(2027, 1, 15, 17, 30, tzinfo=UTC)):
        webinars = {w.id: w for a in load_seed(DEMO_SEED_PATH, now).accounts for w in a.webinars}
        assert webinars[81000000001].start_time == now + timedelta(minutes=4)
        spring = webinars[81000000005]
        assert spring.start_time + timedelta(minutes=spring.duration) == now - timedelta(hours=1)
        assert spring.instances[0].start_time == spring.start_time
        assert [o - now for o in webinars[81000000006].occurrences] == [
            timedelta(days=-20),
            timedelta(days=-6),
            timedelta(days=8),
        ]


def test_the_demo_tells_its_story_within_a_quarter_of_an_hour() -> None:
    """Run from the demo seed: 81000000001 starts, Jane attends and asks a question, it ends, its
    recording and transcript follow; the spring webinar's transcript arrives meanwhile."""
    now = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    emulator = Emulator(load_seed(DEMO_SEED_PATH, now), clock=EmulatorClock(now, frozen=True))
    emulator.clock.set(now + timedelta(minutes=15))
    emulator.tick()
    told = [(d["event"], d["payload"]["object"].get("id")) for d in emulator.webhooks.emitted]
    launch = [event for event, webinar in told if webinar in ("81000000001", 81000000001)]
    assert launch[0] == "webinar.started"
    assert launch[-3:] == ["webinar.ended", "recording.completed", "recording.transcript_completed"]
    assert ("recording.transcript_completed", 81000000005) in told
    [instance] = emulator.state.webinars[81000000001].instances
    assert sorted((s.join_time - instance.start_time).seconds for s in instance.sessions if s.email == JANE) == [0, 210]
    [transcript] = [f for f in instance.recording.files if f.file_type == "TRANSCRIPT"] if instance.recording else []
    assert b"Jane Doe: " in (emulator.files.content(emulator.state, instance, transcript) or b"")
