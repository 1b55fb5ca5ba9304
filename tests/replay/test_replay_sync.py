"""What the ``WebinarSync`` histories recorded after ``sync-coalesced-waits`` cover (issue #13
points 6 and 12): the patch marker, and a refresh that waits for the burst of triggers to settle
before it reads registrants and attendees once; and after ``sync-bounded-passes`` (#16.4): a pass
that continues as new with its cursor. ``test_replay.py`` replays them (and the older ones,
through the old paths) against the current code."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

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


BOUNDED = "sync-bounded-passes"


def _input(path: Path, event_type: str, attributes: str, field: str) -> dict[str, Any]:
    """The decoded first payload of ``field`` of the (first) event of ``event_type``."""
    event = next(e for e in json.loads(path.read_text())["events"] if e["eventType"] == event_type)
    [payload, *_] = event[attributes][field]["payloads"]
    decoded: dict[str, Any] = json.loads(base64.b64decode(payload["data"]))
    return decoded


def _patches(path: Path) -> set[str]:
    """The ``workflow.patched`` ids the run's markers record."""
    found = set()
    for event in json.loads(path.read_text())["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_patch":
            [payload] = marker["details"]["patch-data"]["payloads"]
            found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


def test_histories_after_bounded_passes_carry_its_marker() -> None:
    """#16.4: every sync recorded since carries the patch; the plain sync schedules what it did."""
    for stem in (
        "webinar-sync-completed",
        "webinar-sync-waits-for-recording",
        "webinar-sync-pass-first-run",
        "webinar-sync-pass-last-run",
    ):
        assert BOUNDED in _patches(_named(SYNC, f"{stem}@{BOUNDED}")), stem
    for stem in ("webinar-sync-completed", "webinar-sync-waits-for-recording"):
        assert BOUNDED not in _patches(_named(SYNC, stem)) | _patches(_named(SYNC, f"{stem}@{TAG}")), stem
    completed = _named(SYNC, f"webinar-sync-completed@{BOUNDED}")
    assert _scheduled(completed) == _scheduled(_named(SYNC, "webinar-sync-completed"))
    assert _ending(completed) == ("COMPLETED", "partial")


def test_a_long_pass_continues_as_new_with_its_cursor() -> None:
    """#16.4: a page per activity under the lowest limit — the first run plans, reads registrants
    and continues as new, handing on the pass's cursor (never a participant); the last run starts
    from such a cursor, reads on, then syncs the recording and closes the entry."""
    first = _named(SYNC, f"webinar-sync-pass-first-run@{BOUNDED}")
    assert _scheduled(first)[0] == "plan_sync"
    assert set(_scheduled(first)[1:]) == {"sync_registrants"}
    assert _ending(first) == ("CONTINUED_AS_NEW", "")
    handed = _input(
        first,
        "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
        "workflowExecutionContinuedAsNewEventAttributes",
        "input",
    )
    assert handed["resume"]["data"]["label"] in ("registrants", "attendees")
    assert (handed["pages_per_chunk"], handed["pass_history_limit"]) == (1, 20)

    last = _named(SYNC, f"webinar-sync-pass-last-run@{BOUNDED}")
    started = _input(last, "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "workflowExecutionStartedEventAttributes", "input")
    assert started["resume"]["data"]["label"] == "attendees"
    scheduled = _scheduled(last)
    assert "plan_sync" not in scheduled and scheduled[0] == "sync_attendees"
    assert scheduled[-3:] == ["sync_recordings", "publish_events", "finish_sync"]
    assert _ending(last) == ("COMPLETED", "succeeded")
