"""The demo seed loads and contains what the zero-configuration demo relies on."""

from __future__ import annotations

from zoom_emulator import DEMO_SEED_PATH, EmulatorClock, load_seed
from zoom_emulator.core.state import EmulatorState


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
    transcripts = [f for i in state.instances.values() if i.recording for f in i.recording.files
                   if f.file_type == "TRANSCRIPT"]
    assert len(transcripts) == 1
    assert transcripts[0].available_at > state.clock.now()  # becomes ready after the demo starts
