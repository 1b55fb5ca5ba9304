"""Determinism guard: recorded enrollment histories replay against the current interpreter.

A change to ``workflows/enrollment.py`` that would take another path through an old history
fails here; put it behind ``workflow.patched`` (README, "Changing the interpreter"), then
re-record with ``tests/replay/record_histories.py`` and keep the old files too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from engine.temporal import DATA_CONVERTER
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def test_histories_cover_every_kind_of_step() -> None:
    text = "".join(path.read_text() for path in HISTORIES)
    for activity in ("plan_delay", "evaluate_branch", "set_property", "call_webhook", "enroll_contact", "finish"):
        assert f'"name": "{activity}"' in text or f'"name":"{activity}"' in text, activity
    assert "TIMER_STARTED" in text and "WORKFLOW_EXECUTION_SIGNALED" in text


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240 (a small file)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def _decoded_payloads(node: Any) -> Iterator[str]:
    """Every payload of a history, decoded (payload data is base64 in the JSON form)."""
    if isinstance(node, dict):
        if "metadata" in node and isinstance(node.get("data"), str):
            yield base64.b64decode(node["data"]).decode("utf-8", "replace")
        for value in node.values():
            yield from _decoded_payloads(value)
    elif isinstance(node, list):
        for item in node:
            yield from _decoded_payloads(item)


def test_contact_data_stays_out_of_history() -> None:
    """Activities read contact data and render requests themselves: the webhook body (with the
    email) never enters history. History holds ids, outcome codes and step outputs — a value a
    definition itself derives from contact data (``set_property``) is an output and does."""
    for path in HISTORIES:
        payloads = list(_decoded_payloads(json.loads(path.read_text())))
        assert any('"enrollment_id"' in payload for payload in payloads), path.name
        assert not [payload for payload in payloads if "replay@example.com" in payload], path.name


def _events(path: Path) -> list[tuple[str, str]]:
    """(event type, activity type) of each event: the scheduled activity's, or the local activity's marker's."""
    found: list[tuple[str, str]] = []
    for event in json.loads(path.read_text())["events"]:
        kind = event["eventType"].removeprefix("EVENT_TYPE_")
        name = ""
        if kind == "ACTIVITY_TASK_SCHEDULED":
            name = event["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        elif kind == "MARKER_RECORDED":
            marker = event["markerRecordedEventAttributes"]
            name = marker["markerName"]
            if name == "core_local_activity":
                data = base64.b64decode(marker["details"]["data"]["payloads"][0]["data"])
                name = f"local:{json.loads(data)['activity_type']}"
        found.append((kind, name))
    return found


STORE_ACTIVITIES = {
    "plan_delay",
    "evaluate_branch",
    "set_property",
    "prepare_registration",
    "record_outcomes",
    "finish",
}


def test_since_local_store_steps_store_activities_are_local_and_call_outs_are_not() -> None:
    """Histories recorded after the ``local-store-steps`` patch: the patch marker, store-only
    activities as local-activity markers (no activity task), webhooks and enrollments as regular
    activities. The older files (without the marker) replay the regular path above."""
    tagged = [path for path in HISTORIES if path.stem.endswith("@local-store-steps")]
    assert len(tagged) == len([path for path in HISTORIES if "@" not in path.stem]) == 6
    for path in tagged:
        events = _events(path)
        assert ("MARKER_RECORDED", "core_patch") in events, path.name
        scheduled = {name for kind, name in events if kind == "ACTIVITY_TASK_SCHEDULED"}
        local = {name.removeprefix("local:") for _, name in events if name.startswith("local:")}
        assert not scheduled & STORE_ACTIVITIES, path.name
        assert local <= STORE_ACTIVITIES and "finish" in local, path.name
    every = _events(HISTORIES[[path.stem for path in HISTORIES].index("every-step@local-store-steps")])
    assert [name for _, name in every if name.startswith("local:") or name in {"call_webhook", "enroll_contact"}] == [
        "local:set_property",
        "local:plan_delay",
        "local:evaluate_branch",
        "call_webhook",
        "local:evaluate_branch",
        "enroll_contact",
        "local:finish",
    ]
    old = _events(HISTORIES[[path.stem for path in HISTORIES].index("every-step")])
    assert len(every) < len(old) * 0.6  # 30 events instead of 53
