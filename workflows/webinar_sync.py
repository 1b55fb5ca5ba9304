"""WebinarSyncWorkflow: the per-webinar sync saga (issue 7).

One run at a time per webinar (id ``webinar-sync:{zoom_account}:{webinar_id}``). Triggers that
arrive while a run works (webhook, schedule, "Sync now") are signals; they coalesce into one
follow-up run (continue-as-new) — or, while the run only waits for a recording, into a fresh
pass over registrants and attendees inside the same run.

Saga: every write is a page-sized transaction that leaves the store consistent (rows and their
rollups together), so the compensation of a failed step is to record what was and was not
applied: whatever fails, ``finish_sync`` closes the audit entry (``SYNC_ERROR`` and the counts
of what was written) before the run ends. Lists never enter history: activities page Zoom and
return counts and cursors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.webinar_sync import ChunkInput, ChunkResult, WebinarSyncActivities
    from engine.sync.contracts import (
        RECORDING_SIGNAL,
        TRIGGER_SIGNAL,
        WORKFLOW_TYPE,
        FinishInput,
        RecordingResult,
        RecordingState,
        SyncPlan,
        SyncProgress,
        SyncRequest,
        SyncResult,
    )
    from engine.temporal import SearchAttribute

#: Zoom calls: retried without end by default (a rate-limited or failing Zoom slows the sync
#: down instead of failing it); permanent errors are non-retryable ApplicationErrors.
_ZOOM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))
_STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


def _failure_message(error: BaseException) -> str:
    cause: BaseException | None = error
    while isinstance(cause, ActivityError) and cause.__cause__ is not None:
        cause = cause.__cause__
    return cause.message if isinstance(cause, FailureError) else str(cause)


def _merge(total: dict[str, int], part: dict[str, int]) -> None:
    for name, value in part.items():
        total[name] = total.get(name, 0) + value


@workflow.defn(name=WORKFLOW_TYPE)
class WebinarSyncWorkflow:
    def __init__(self) -> None:
        self._began = False
        self._pending_triggers: list[str] = []
        self._recording_ready = False
        self._progress = SyncProgress(phase="starting")

    @workflow.signal(name=TRIGGER_SIGNAL)
    def trigger(self, trigger: str) -> None:
        # The signal that started this run (signal-with-start) is this run's own trigger.
        if self._began:
            self._pending_triggers.append(trigger)

    @workflow.signal(name=RECORDING_SIGNAL)
    def recording_ready(self, trigger: str = "webhook") -> None:
        self._recording_ready = True

    @workflow.query
    def progress(self) -> SyncProgress:
        return self._progress

    def _show(self, phase: str, done: int = 0, total: int | None = None) -> None:
        self._progress = SyncProgress(phase=phase, done=done, total=total)
        shown = f"{phase} {done:,}/{total:,}" if total else (f"{phase} {done:,}" if done else phase)
        workflow.set_current_details(shown)

    @workflow.run
    async def run(self, request: SyncRequest) -> SyncResult:
        self._began = True
        self._show("deciding")
        plan: SyncPlan = await workflow.execute_activity_method(
            WebinarSyncActivities.plan_sync,
            request,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=_ZOOM_RETRY,
            summary=f"settings, webinar {request.webinar_id} and its connection",
        )
        if plan.business_unit:
            workflow.upsert_search_attributes([SearchAttribute.BUSINESS_UNIT.value_set(plan.business_unit)])
        counts: dict[str, int] = {}
        recording: RecordingResult | None = None
        error: str | None = None
        waited = 0
        try:
            if plan.sync:
                await self._data(plan, counts)
                if plan.recordings and plan.ended:
                    recording, waited = await self._recordings(plan, request, counts)
                self._show("publishing events")
                enrolled = await workflow.execute_activity_method(
                    WebinarSyncActivities.publish_events,
                    plan,
                    start_to_close_timeout=timedelta(minutes=30),
                    retry_policy=_STORE_RETRY,
                    summary="enroll contacts into event-triggered workflows",
                )
                if enrolled:
                    counts["enrollments_started"] = enrolled
        except ActivityError as failure:
            error = _failure_message(failure)
        self._show("writing the audit entry")
        finished = await workflow.execute_activity_method(
            WebinarSyncActivities.finish_sync,
            FinishInput(plan=plan, counts=counts, recording=recording, error=error, waited_seconds=waited),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=_STORE_RETRY,
            summary="close the audit entry",
        )
        status = finished.status
        workflow.upsert_search_attributes([SearchAttribute.STATUS.value_set(status)])
        self._progress = SyncProgress(phase="done", status=status)
        workflow.set_current_details(f"{status}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
        if self._pending_triggers:
            # Triggers that came during this run: one follow-up run covers them all.
            workflow.continue_as_new(
                request.model_copy(update={"trigger": self._pending_triggers[0], "generation": request.generation + 1})
            )
        if error is not None:
            raise ApplicationError(f"sync of webinar {plan.webinar_id} failed: {error}", type="SYNC_ERROR")
        return SyncResult(
            webinar_id=plan.webinar_id, status=status, audit_entry_id=finished.audit_entry_id, counts=counts
        )

    async def _data(self, plan: SyncPlan, counts: dict[str, int]) -> None:
        await self._pages(WebinarSyncActivities.sync_registrants, plan, counts, "registrants")
        if plan.ended:
            await self._pages(WebinarSyncActivities.sync_attendees, plan, counts, "attendees")

    async def _pages(
        self,
        method: Callable[[WebinarSyncActivities, ChunkInput], Awaitable[ChunkResult]],
        plan: SyncPlan,
        counts: dict[str, int],
        label: str,
    ) -> None:
        chunk = ChunkInput(plan=plan)
        done_rows = 0
        while True:
            self._show(label, done_rows, None)
            result: ChunkResult = await workflow.execute_activity_method(
                method,
                chunk,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=_ZOOM_RETRY,
                summary=f"{label}: pages from {'the start' if chunk.token is None else 'the cursor'}",
            )
            _merge(counts, result.counts)
            done_rows = counts.get(f"{label}_rows", 0)
            self._show(label, done_rows, result.total)
            if result.done:
                return
            chunk = ChunkInput(plan=plan, phase=result.phase, token=result.token)

    async def _recordings(
        self, plan: SyncPlan, request: SyncRequest, counts: dict[str, int]
    ) -> tuple[RecordingResult, int]:
        """Fetch recordings; while the video or the transcript is not there, wait (timer, or the
        recording webhook's signal) up to the configured limit (R-SYNC-5)."""
        waited = 0
        while True:
            self._show("recordings")
            self._recording_ready = False
            result: RecordingResult = await workflow.execute_activity_method(
                WebinarSyncActivities.sync_recordings,
                plan,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=_ZOOM_RETRY,
                summary="recordings and transcripts",
            )
            for name, value in result.counts.items():
                counts[name] = max(counts.get(name, 0), value)
            if result.state in (RecordingState.SYNCED, RecordingState.NONE):
                return result, waited
            if waited >= request.recording_wait_seconds:
                return result, waited
            step = min(request.recording_poll_seconds, request.recording_wait_seconds - waited)
            waiting = "the transcript" if result.state == RecordingState.TRANSCRIPT_PENDING else "the recording"
            workflow.set_current_details(
                f"waiting for {waiting} ({waited // 60} of {request.recording_wait_seconds // 60} min)"
            )
            started = workflow.time()
            with suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._recording_ready or bool(self._pending_triggers),
                    timeout=timedelta(seconds=step),
                    timeout_summary=f"wait for {waiting}",
                )
            waited += max(1, int(workflow.time() - started))
            if self._pending_triggers:
                # New registrations or attendees while we wait: refresh them now, in this run.
                self._pending_triggers.clear()
                await self._data(plan, counts)
