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
