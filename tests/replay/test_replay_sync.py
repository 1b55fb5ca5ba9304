"""What the ``WebinarSync`` histories recorded after ``sync-coalesced-waits`` cover (issue #13
points 6 and 12): the patch marker, and a refresh that waits for the burst of triggers to settle
before it reads registrants and attendees once. ``test_replay.py`` replays them (and the older
ones, through the old path) against the current code."""

from __future__ import annotations

from pathlib import Path

from replay.test_replay import SYNC, _ending, _events, _named, _scheduled

TAG = "sync-coalesced-waits"


def _tagged(stem: str) -> Path:
    return _named(SYNC, f"{stem}@{TAG}")


def test_sync_histories_after_the_patch_carry_its_marker() -> None:
    for stem in ("webinar-sync-completed", "webinar-sync-waits-for-recording"):
        assert ("MARKER_RECORDED", "core_patch") in _events(_tagged(stem)), stem
    completed = _tagged("webinar-sync-completed")
    assert _scheduled(completed) == _scheduled(_named(SYNC, "webinar-sync-completed"))
    assert _ending(completed) == ("COMPLETED", "partial")


def test_a_trigger_while_waiting_is_one_refresh_after_a_settle_timer() -> None:
    """#13.12: the registration webhook interrupts the wait; a timer lets further triggers settle;
    then one refresh of registrants and attendees; the recording webhook ends the wait."""
    path = _tagged("webinar-sync-waits-for-recording")
    events = [(kind, name) for kind, name in _events(path) if not kind.startswith("WORKFLOW_TASK_")]
    waiting = events[events.index(("TIMER_STARTED", "")) :]
    timers_and_signals = [
        (kind, name) for kind, name in waiting if kind.startswith("TIMER_") or kind == "WORKFLOW_EXECUTION_SIGNALED"
    ]
    assert timers_and_signals == [
        ("TIMER_STARTED", ""),  # until the next check
        ("WORKFLOW_EXECUTION_SIGNALED", "trigger"),
        ("TIMER_CANCELED", ""),
        ("TIMER_STARTED", ""),  # the settle timer
        ("WORKFLOW_EXECUTION_SIGNALED", "recording_ready"),
        ("TIMER_FIRED", ""),
    ]
    refresh = [name for kind, name in waiting if kind == "ACTIVITY_TASK_SCHEDULED"]
    assert refresh == ["sync_registrants", "sync_attendees", "sync_recordings", "publish_events", "finish_sync"]
    assert _ending(path) == ("COMPLETED", "succeeded")
