"""Starting syncs: every trigger (webhook, schedule, "Sync now", the action) is a
signal-with-start of the webinar's one sync workflow, so triggers during a run coalesce."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from engine.sync.contracts import RECORDING_SIGNAL, TRIGGER_SIGNAL, WORKFLOW_TYPE, SyncRequest, sync_workflow_id
from engine.temporal import RunKind, SearchAttribute

log = structlog.get_logger("rollcall.sync")

#: Zoom webhook events that start (or signal) a webinar's sync, and which signal they send.
SYNC_EVENTS: dict[str, str] = {
    "webinar.ended": TRIGGER_SIGNAL,
    "webinar.registration_created": TRIGGER_SIGNAL,
    "webinar.registration_approved": TRIGGER_SIGNAL,
    "webinar.registration_denied": TRIGGER_SIGNAL,
    "webinar.registration_cancelled": TRIGGER_SIGNAL,
    "recording.completed": RECORDING_SIGNAL,
    "recording.transcript_completed": RECORDING_SIGNAL,
}


async def request_sync(
    client: Client,
    *,
    webinar_id: str,
    connection: str,
    zoom_account_id: str,
    trigger: str,
    task_queue: str,
    business_unit: str | None = None,
    signal: str = TRIGGER_SIGNAL,
    recording_wait_seconds: int | None = None,
    recording_poll_seconds: int | None = None,
    refresh_settle_seconds: int | None = None,
    history_limit: int | None = None,
    pass_history_limit: int | None = None,
    pages_per_chunk: int | None = None,
) -> str:
    """Start the webinar's sync, or signal the running one; returns the workflow id. The timing
    options (tests, the benchmark) apply to a run this call starts, not to one already running."""
    workflow_id = sync_workflow_id(zoom_account_id, webinar_id)
    tuning = {
        "recording_wait_seconds": recording_wait_seconds,
        "recording_poll_seconds": recording_poll_seconds,
        "refresh_settle_seconds": refresh_settle_seconds,
        "history_limit": history_limit,
        "pass_history_limit": pass_history_limit,
        "pages_per_chunk": pages_per_chunk,
    }
    request = SyncRequest(
        webinar_id=webinar_id,
        connection=connection,
        zoom_account_id=zoom_account_id,
        trigger=trigger,
        **{name: value for name, value in tuning.items() if value is not None},
    )
    attributes = [
        SearchAttributePair(SearchAttribute.WORKFLOW_KEY, "webinar-sync"),
        SearchAttributePair(SearchAttribute.WEBINAR_ID, webinar_id),
        SearchAttributePair(SearchAttribute.ZOOM_ACCOUNT, zoom_account_id),
        SearchAttributePair(SearchAttribute.ZOOM_CONNECTION, connection),
        SearchAttributePair(SearchAttribute.KIND, RunKind.SYNC.value),
        SearchAttributePair(SearchAttribute.TRIGGER, trigger),
        SearchAttributePair(SearchAttribute.STATUS, "running"),
    ]
    if business_unit:
        attributes.append(SearchAttributePair(SearchAttribute.BUSINESS_UNIT, business_unit))
    await client.start_workflow(
        WORKFLOW_TYPE,
        request,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=signal,
        start_signal_args=[trigger],
        search_attributes=TypedSearchAttributes(attributes),
        static_summary=f"sync webinar {webinar_id}" + (f" ({business_unit})" if business_unit else ""),
    )
    log.info("sync requested", webinar_id=webinar_id, connection=connection, trigger=trigger, signal=signal)
    return workflow_id


def webhook_target(payload: dict[str, Any]) -> str | None:
    """The webinar id a Zoom webhook event is about (a number in some events, a string in others)."""
    obj = payload.get("payload", {}).get("object", {}) if isinstance(payload.get("payload"), dict) else {}
    value = obj.get("id") if isinstance(obj, dict) else None
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text if text.isdigit() else None
