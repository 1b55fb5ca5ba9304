"""WebinarSyncWorkflow: the per-webinar sync saga (issue 7).

One run at a time per webinar (id ``webinar-sync:{zoom_account}:{webinar_id}``). Triggers that
arrive while a run works (webhook, schedule, "Sync now") are signals; they coalesce into one
follow-up run (continue-as-new) — or, while the run only waits for a recording, into a fresh
pass over registrants and attendees inside the same run. Since ``sync-coalesced-waits`` (issue
#13 points 6 and 12, #14 point 4) that refresh starts a short while after the first trigger, so a
burst of webhooks makes one refresh (and one more at most, for triggers during it); a run whose
history grows long while it waits continues as new with the same plan, audit entry and counts;
"no recording" is judged against the workflow's clock; and the current details say what the run
counted and when it looks for the recording next. Since ``sync-bounded-passes`` (issue #16 point
4) a pass over registrants and attendees continues as new too once the history is long
(``pass_history_limit``), the next run reading on from the pass's cursor: a 100,000-attendee
webinar is a few runs of under 200 events each, not one of ~500.

Saga: every write is a page-sized transaction that leaves the store consistent (rows and their
rollups together), so the compensation of a failed step is to record what was and was not
applied: whatever fails, ``finish_sync`` closes the audit entry (``SYNC_ERROR`` and the counts
of what was written) before the run ends. Lists never enter history: activities page Zoom and
return counts and cursors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.failures import FailureType, failure_message
    from activities.webinar_sync import ChunkInput, ChunkResult, WebinarSyncActivities
    from engine.sync.contracts import (
        RECORDING_SIGNAL,
        TRIGGER_SIGNAL,
        WORKFLOW_TYPE,
        FinishInput,
        Listing,
        PassCursor,
        RecordingCheck,
        RecordingResult,
        RecordingState,
        SyncPlan,
        SyncProgress,
        SyncRequest,
        SyncResult,
        SyncResume,
    )
    from engine.sync.progress import describe, with_counts
    from engine.temporal import SearchAttribute
    from workflows.policies import STORE_RETRY, SYNC_ZOOM_RETRY

#: ``workflow.patched`` id of the waits that coalesce refreshes, bound their history and judge
#: "no recording" on the workflow's clock (issue #13 points 6 and 12).
COALESCED_WAITS = "sync-coalesced-waits"
#: A waiting run never continues as new below this history length (a continued run starts with ~20).
MIN_HISTORY_LIMIT = 40
#: ``workflow.patched`` id of passes over registrants and attendees that continue as new when the
#: history grows long, and read ``SyncRequest.pages_per_chunk`` pages per activity (issue #16.4).
BOUNDED_PASSES = "sync-bounded-passes"
#: A pass never continues as new below this history length (a continued pass starts with ~5 events).
MIN_PASS_HISTORY_LIMIT = 20
#: Pages per chunk before ``sync-bounded-passes`` (``ChunkInput``'s default).
PAGES_PER_CHUNK_BEFORE = 10


def _merge(total: dict[str, int], part: dict[str, int]) -> None:
    for name, value in part.items():
        total[name] = total.get(name, 0) + value


def _adopt(counts: dict[str, int], run_counts: dict[str, int] | None, part: dict[str, int]) -> None:
    """Take the audit entry's counts as the activity read them after its last write (exact); older
    workers returned only what their call added, which is summed."""
    if run_counts is None:
        _merge(counts, part)
        return
    enrolled = counts.get("enrollments_started")
    counts.clear()
    counts.update(run_counts)
    if enrolled:
        counts["enrollments_started"] = enrolled


@workflow.defn(name=WORKFLOW_TYPE)
class WebinarSyncWorkflow:
    @workflow.init
    def __init__(self, request: SyncRequest) -> None:
        self._began = False
        #: A run continued from a waiting one has no start signal: every trigger it gets is new.
        self._resumed = request.resume is not None
        #: The first trigger that came during this run and is not covered yet (one is enough:
        #: every trigger asks for the same thing, a fresh look at the webinar).
        self._pending_triggers: list[str] = []
        self._recording_ready = False
        self._progress = SyncProgress(phase="starting")
        #: While the run waits for a recording: (seconds waited before, workflow time the wait went
        #: on from), so a pass that continues as new during a refresh hands on how long it waited.
        self._waiting: tuple[int, float] | None = None
        #: Chunks of registrants or attendees this run has read: a run reads one at least before its
        #: pass may continue as new.
        self._chunks_read = 0

    @workflow.signal(name=TRIGGER_SIGNAL)
    def trigger(self, trigger: str) -> None:
        # The signal that started this run (signal-with-start) is this run's own trigger.
        if (self._began or self._resumed) and not self._pending_triggers:
            self._pending_triggers.append(trigger)
            if self._progress.waiting_for:
                self._publish(self._progress.model_copy(update={"refresh_pending": True}))

    @workflow.signal(name=RECORDING_SIGNAL)
    def recording_ready(self, trigger: str = "webhook") -> None:
        self._recording_ready = True

    @workflow.query
    def progress(self) -> SyncProgress:
        return self._progress

    def _publish(self, progress: SyncProgress) -> None:
        self._progress = progress
        workflow.set_current_details(describe(progress))

    def _show(self, phase: str, counts: dict[str, int] | None = None, done: int = 0, total: int | None = None) -> None:
        update = {"phase": phase, "done": done, "total": total, "waiting_for": None, "next_check_at": None}
        self._publish(with_counts(self._progress.model_copy(update=update), counts or {}))

    @workflow.run
    async def run(self, request: SyncRequest) -> SyncResult:
        self._began = True
        if request.resume is not None:
            if request.resume.pending_trigger and not self._pending_triggers:
                self._pending_triggers.append(request.resume.pending_trigger)
            return await self._sync(request, request.resume.plan, dict(request.resume.counts), request.resume)
        self._show("deciding")
        plan: SyncPlan = await workflow.execute_activity_method(
            WebinarSyncActivities.plan_sync,
            request,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=SYNC_ZOOM_RETRY,
            summary=f"settings, webinar {request.webinar_id} and its connection",
        )
        if plan.business_unit:
            workflow.upsert_search_attributes([SearchAttribute.BUSINESS_UNIT.value_set(plan.business_unit)])
        return await self._sync(request, plan, {}, None)

    async def _sync(
        self, request: SyncRequest, plan: SyncPlan, counts: dict[str, int], resume: SyncResume | None
    ) -> SyncResult:
        self._progress = self._progress.model_copy(update={"run_key": plan.run_key})
        recording: RecordingResult | None = None
        error: str | None = None
        waited = 0
        try:
            if plan.sync:
                if resume is None or resume.data is not None:
                    await self._data(request, plan, counts, resume.data if resume else None)
                if plan.recordings and plan.ended:
                    recording, waited = await self._recordings(plan, request, counts, resume)
                self._show("publishing events", counts)
                enrolled = await workflow.execute_activity_method(
                    WebinarSyncActivities.publish_events,
                    plan,
                    start_to_close_timeout=timedelta(minutes=30),
                    retry_policy=STORE_RETRY,
                    summary="enroll contacts into event-triggered workflows",
                )
                if enrolled:
                    counts["enrollments_started"] = enrolled
        except ActivityError as failure:
            error = failure_message(failure)
        self._show("writing the audit entry", counts)
        finished = await workflow.execute_activity_method(
            WebinarSyncActivities.finish_sync,
            FinishInput(plan=plan, counts=counts, recording=recording, error=error, waited_seconds=waited),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=STORE_RETRY,
            summary="close the audit entry",
        )
        status = finished.status
        workflow.upsert_search_attributes([SearchAttribute.STATUS.value_set(status)])
        self._show("done", counts)
        self._publish(self._progress.model_copy(update={"status": status}))
        if self._pending_triggers:
            # Triggers that came during this run: one follow-up run covers them all.
            workflow.continue_as_new(
                request.model_copy(
                    update={
                        "trigger": self._pending_triggers[0],
                        "generation": request.generation + 1,
                        "resume": None,
                    }
                )
            )
        if error is not None:
            raise ApplicationError(f"sync of webinar {plan.webinar_id} failed: {error}", type=FailureType.SYNC_ERROR)
        return SyncResult(
            webinar_id=plan.webinar_id, status=status, audit_entry_id=finished.audit_entry_id, counts=counts
        )

    async def _data(
        self, request: SyncRequest, plan: SyncPlan, counts: dict[str, int], start: PassCursor | None = None
    ) -> None:
        """A pass over registrants, then attendees (once the webinar ended); from ``start`` when a
        continued run goes on with its predecessor's pass."""
        if start is None or start.label == "registrants":
            await self._pages(request, WebinarSyncActivities.sync_registrants, plan, counts, "registrants", start)
            start = None
        if plan.ended:
            await self._pages(request, WebinarSyncActivities.sync_attendees, plan, counts, "attendees", start)

    async def _pages(
        self,
        request: SyncRequest,
        method: Callable[[WebinarSyncActivities, ChunkInput], Awaitable[ChunkResult]],
        plan: SyncPlan,
        counts: dict[str, int],
        label: str,
        start: PassCursor | None,
    ) -> None:
        """One pass over a listing, chunk by chunk; the audit entry counts as each page commits."""
        bounded = workflow.patched(BOUNDED_PASSES)
        pages = request.pages_per_chunk if bounded else PAGES_PER_CHUNK_BEFORE
        chunk = ChunkInput(plan=plan, max_pages=pages)
        if start is not None:
            chunk = ChunkInput(plan=plan, phase=start.phase, token=start.token, listing=start.listing, max_pages=pages)
        done_rows = counts.get(f"{label}_rows", 0) if start is not None else 0
        while True:
            if bounded and self._chunks_read:
                cursor = PassCursor(label=label, phase=chunk.phase, token=chunk.token, listing=chunk.listing)
                self._continue_pass_if_long(request, plan, counts, cursor)
            self._show(label, counts, done_rows, None)
            result: ChunkResult = await workflow.execute_activity_method(
                method,
                chunk,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=SYNC_ZOOM_RETRY,
                summary=f"{label}: pages from {'the start' if chunk.token is None else 'the cursor'}",
            )
            self._chunks_read += 1
            _adopt(counts, result.run_counts, result.counts)
            done_rows = counts.get(f"{label}_rows", 0)
            self._show(label, counts, done_rows, counts.get(f"{label}_total") or result.total)
            if result.done:
                return
            listing = result.listing or Listing()
            chunk = ChunkInput(plan=plan, phase=result.phase, token=result.token, listing=listing, max_pages=pages)

    def _continue_pass_if_long(
        self, request: SyncRequest, plan: SyncPlan, counts: dict[str, int], cursor: PassCursor
    ) -> None:
        """Keep a long pass's history bounded: past ``pass_history_limit``, continue as new — the
        next run reads on from ``cursor`` with the same plan, audit entry and counts, then does
        what this one would have (recordings, events, the audit entry; waiting on, if it waited)."""
        limit = max(request.pass_history_limit, MIN_PASS_HISTORY_LIMIT)
        if workflow.info().get_current_history_length() < limit:
            return
        waited = 0
        if self._waiting is not None:
            waited = self._waiting[0] + int(workflow.time() - self._waiting[1])
        resume = SyncResume(
            plan=plan,
            counts=counts,
            waited_seconds=waited,
            pending_trigger=self._pending_triggers[0] if self._pending_triggers else None,
            data=cursor,
        )
        workflow.continue_as_new(request.model_copy(update={"resume": resume}))

    async def _recordings(
        self, plan: SyncPlan, request: SyncRequest, counts: dict[str, int], resume: SyncResume | None
    ) -> tuple[RecordingResult, int]:
        """Fetch recordings; while the video or the transcript is not there, wait (timer, or the
        recording webhook's signal) up to the configured limit (R-SYNC-5)."""
        if resume is not None or workflow.patched(COALESCED_WAITS):
            return await self._wait_for_recordings(plan, request, counts, resume.waited_seconds if resume else 0)
        waited = 0
        while True:
            self._show("recordings", counts)
            self._recording_ready = False
            result: RecordingResult = await workflow.execute_activity_method(
                WebinarSyncActivities.sync_recordings,
                plan,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=SYNC_ZOOM_RETRY,
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
                await self._data(request, plan, counts)

    async def _wait_for_recordings(
        self, plan: SyncPlan, request: SyncRequest, counts: dict[str, int], waited: int
    ) -> tuple[RecordingResult, int]:
        """Check; while something is still coming, wait until the next check (or the recording
        webhook's signal). Triggers meanwhile ask for one coalesced refresh (``_refresh``); a
        history grown past ``history_limit`` continues as new (``_continue_if_long``)."""
        while True:
            self._continue_if_long(request, plan, counts, waited)
            result = await self._check_recordings(plan, request, counts)
            if result.state in (RecordingState.SYNCED, RecordingState.NONE) or waited >= request.recording_wait_seconds:
                return result, waited
            step = min(request.recording_poll_seconds, request.recording_wait_seconds - waited)
            waiting = "the transcript" if result.state == RecordingState.TRANSCRIPT_PENDING else "the recording"
            started = workflow.time()
            next_check = workflow.now() + timedelta(seconds=step)
            self._show_waiting(waiting, next_check, counts)
            while not self._recording_ready:
                if self._pending_triggers:
                    self._waiting = (waited, started)
                    await self._refresh(plan, request, counts)
                    self._waiting = None
                    self._show_waiting(waiting, next_check, counts)
                    self._continue_if_long(request, plan, counts, waited + int(workflow.time() - started))
                    continue
                remaining = started + step - workflow.time()
                if remaining <= 0:
                    break
                with suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._recording_ready or bool(self._pending_triggers),
                        timeout=timedelta(seconds=remaining),
                        timeout_summary=f"wait for {waiting} until the next check",
                    )
            waited += max(1, int(workflow.time() - started))

    async def _check_recordings(self, plan: SyncPlan, request: SyncRequest, counts: dict[str, int]) -> RecordingResult:
        self._show("recordings", counts)
        self._recording_ready = False
        check = RecordingCheck(as_of=workflow.now(), grace_seconds=request.no_recording_grace_seconds)
        result: RecordingResult = await workflow.execute_activity_method(
            WebinarSyncActivities.sync_recordings,
            args=[plan, check],
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=SYNC_ZOOM_RETRY,
            summary="recordings and transcripts",
        )
        _adopt(counts, result.run_counts, result.counts)
        return result

    def _show_waiting(self, waiting: str, next_check: datetime, counts: dict[str, int]) -> None:
        self._show("waiting", counts)
        update = {"waiting_for": waiting, "next_check_at": next_check, "refresh_pending": bool(self._pending_triggers)}
        self._publish(self._progress.model_copy(update=update))

    async def _refresh(self, plan: SyncPlan, request: SyncRequest, counts: dict[str, int]) -> None:
        """New registrations or attendees while the run waits: refresh them in this run, once for
        every trigger that comes until the refresh starts (``refresh_settle_seconds`` after the
        first); triggers during the refresh queue one more."""
        await workflow.sleep(
            timedelta(seconds=request.refresh_settle_seconds), summary="let a burst of triggers settle"
        )
        self._pending_triggers.clear()
        await self._data(request, plan, counts)

    def _continue_if_long(self, request: SyncRequest, plan: SyncPlan, counts: dict[str, int], waited: int) -> None:
        """Keep a waiting run's history bounded: past the limit, continue as new — the next run goes
        on waiting with the same plan, audit entry and counts."""
        if workflow.info().get_current_history_length() < max(request.history_limit, MIN_HISTORY_LIMIT):
            return
        resume = SyncResume(
            plan=plan,
            counts=counts,
            waited_seconds=waited,
            pending_trigger=self._pending_triggers[0] if self._pending_triggers else None,
        )
        workflow.continue_as_new(request.model_copy(update={"resume": resume}))
