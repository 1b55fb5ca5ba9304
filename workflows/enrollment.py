"""EnrollmentWorkflow: one workflow type interprets any definition revision (issue 5).

The run's input holds the frozen revision, so editing the YAML never changes a running
enrollment. Each step is one activity (``add_contact_to_zoom_webinar``: one local activity that
registers the quick way, else a child workflow; store-only steps are local activities since the
``local-store-steps`` patch, see ``_store``; a branch on earlier outcomes only is decided by the
workflow itself since ``outcome-branches``);
every step activity first checks the contact still exists and that the goal is not met and the
suppression list does not hold it, and writes the step's outcome to the store's action log in the
same transaction. Outcomes the workflow decides itself (a delay that ended, a failure handled by
``on_error``) travel to the store with the next activity call, so a step costs one activity.

Delays are ``wait_condition`` with a timeout: a durable timer that an ``unenroll`` signal
interrupts at once. History holds ids, step outputs and outcome codes, never contact data.

Changing this interpreter while enrollments are running: put the new behaviour behind
``workflow.patched("<change-id>")`` and add a history to ``tests/replay/histories`` (README,
"Changing the interpreter").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    RetryState,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.enrollment import EnrollmentActivities
    from activities.failures import FailureType, failure_message
    from activities.registration_result import quick_result
    from activities.registration_step import RegistrationStep, RegistrationStepActivities
    from activities.zoom_registration import PreflightInput, QuickRegistration, ZoomRegistrationActivities
    from engine.dsl.delays import remaining
    from engine.dsl.models import (
        FALLIBLE_STEPS,
        AddContactToZoomWebinarStep,
        BranchStep,
        CallOutStep,
        DelayStep,
        EndStep,
        EnrollStep,
        GotoOnError,
        SetPropertyStep,
        Step,
        WebhookStep,
    )
    from engine.dsl.outcomes import StepOutcomeCode
    from engine.enrollment.branches import choose, outcome_holds
    from engine.enrollment.contracts import (
        WORKFLOW_TYPE,
        DelayPlanned,
        EnrollmentInput,
        EnrollmentProgress,
        EnrollmentResult,
        ExitReason,
        FinishRequest,
        InterpreterState,
        OutcomeNote,
        RecordRequest,
        RegistrationPrepared,
        StepContext,
        StepDone,
        StepLeft,
        StepResult,
    )
    from engine.enrollment.look_ahead import PlannedAhead, look_ahead, on_outcomes_only
    from engine.temporal import OPERATOR_VIEW, RunKind, SearchAttribute
    from workflows.add_to_webinar import (
        AddContactToWebinarWorkflow,
        AddToWebinarInput,
        AddToWebinarResult,
        add_to_webinar_summary,
        add_to_webinar_workflow_id,
        result_from_failure,
    )
    from workflows.policies import STORE_RETRY, step_retry

#: Store writes and checks are quick (their retries: ``STORE_RETRY``).
_STORE_TIMEOUT = timedelta(seconds=60)

_R = TypeVar("_R")

#: ``workflow.patched`` id: store-only activities run as local activities (``_store``).
LOCAL_STORE_STEPS = "local-store-steps"
#: ``workflow.patched`` id: an add-to-webinar step first tries the whole registration as one local
#: activity (``register_quickly``), and starts the saga only when that cannot decide (#16.1).
QUICK_REGISTRATION = "quick-registration"
QUICK_REGISTRATION_TIMEOUT = timedelta(seconds=20)
#: ``workflow.patched`` id (#16.1): an add-to-webinar step is one local activity
#: (``register_to_webinar``: the step's checks, the webinar id and the quick registration), its
#: outcome written with the next activity; the saga runs only when that cannot decide.
REGISTRATION_STEP = "registration-step"
#: ``workflow.patched`` id (#16.1): a branch whose cases all test earlier outcomes (``outcome_of``)
#: is decided by the workflow itself — it reads nothing from the store — and its outcome is written
#: with the next activity, which also makes the checks of the next step (deleted, goal, suppression).
OUTCOME_BRANCHES = "outcome-branches"
#: ``workflow.patched`` id: a local activity's failure (a template of ``set_property``, ``delay``
#: or ``branch`` that cannot be rendered, #13.5) is a step failure that ``on_error`` decides.
#: It arrives as the bare failure, not wrapped in an ActivityError, and used to fail the run.
#: The outcomes a failed step carried are sent again with its failure.
LOCAL_STEP_FAILURES = "local-step-failures"
#: ``workflow.patched`` id (#16.1): a run that starts with it takes every change of ``_IN_GENERATION``
#: without asking ``workflow.patched`` about each. Each ``patched`` of a new run records a marker and
#: upserts the ``TemporalChangeVersion`` search attribute (two history events and a visibility
#: update on the Temporal server): six changes cost a registration twelve events. Runs started
#: before keep asking about each change, so their histories replay unchanged. A later change gets a
#: ``patched`` of its own (README, "Changing the interpreter").
GENERATION = "interpreter-generation-2"
#: ``workflow.patched`` id (#16.1): ``register_to_webinar`` is handed the steps the run can reach
#: after the registration without the store (branches on outcomes) and, when they lead to a delay,
#: plans that delay in the same local activity (``engine/enrollment/look_ahead.py``); the workflow
#: takes the plan when the delay's context is the one it was planned for, and plans it otherwise.
LOOK_AHEAD = "registration-look-ahead"
#: ``workflow.patched`` id (#16.1): ``GENERATION`` and ``LOOK_AHEAD`` with one marker
#: (``_IN_GENERATION_3``). Runs of ``GENERATION`` keep asking about ``LOOK_AHEAD``.
GENERATION_3 = "interpreter-generation-3"
# ``OPERATOR_VIEW`` (``workflow.patched`` id "operator-view", #14.1, #14.3): an enrollment that ends
# ``failed`` fails its run (a non-retryable ApplicationError whose type is the failing step's code,
# after the store is written), and a run upserts ``RollcallWebinarId`` once a step has resolved it
# and starts its add-to-webinar child with ``RollcallKind=registration``.

_STATUS_BY_EXIT = {
    ExitReason.COMPLETED: "completed",
    ExitReason.END_STEP: "completed",
    ExitReason.GOAL_MET: "completed",
    ExitReason.SUPPRESSED: "cancelled",
    ExitReason.UNENROLLED: "cancelled",
    ExitReason.CONTACT_DELETED: "cancelled",
    ExitReason.STEP_FAILED: "failed",
}


def _describe(step: Step) -> str:
    if isinstance(step, AddContactToZoomWebinarStep):
        return f"{step.id}: register to webinar {step.webinar_id}"
    if isinstance(step, DelayStep):
        return f"{step.id}: delay"
    if isinstance(step, BranchStep):
        return f"{step.id}: branch"
    if isinstance(step, SetPropertyStep):
        return f"{step.id}: set {step.property}"
    if isinstance(step, WebhookStep):
        return f"{step.id}: webhook {step.method}"
    if isinstance(step, EnrollStep):
        return f"{step.id}: enroll into {step.workflow}"
    return f"{step.id}: end"


def _failure_code(error: BaseException) -> str:
    """The stable code of a step failure: the type of the ApplicationError underneath
    (``WEBHOOK_RETRYABLE_STATUS``, ``TEMPLATE_ERROR``, the saga's outcome…), else ``STEP_FAILED``."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type:
            return cause.type
        if isinstance(cause, TemporalTimeoutError):
            return FailureType.STEP_TIMED_OUT
        cause = cause.__cause__
    return FailureType.STEP_FAILED


#: How a run ends: why, and the outcomes still to write.
_Ending = tuple[ExitReason, list[OutcomeNote]]


@dataclass
class _StepFailure:
    """The step failure that ended an enrollment, for the run's failure and current details."""

    position: int
    step: CallOutStep | DelayStep | BranchStep
    message: str
    code: str
    error: BaseException

    def describe(self) -> str:
        """``failed at step 4 alert_ops: HTTP 503 after 5 attempts``."""
        step = self.step
        message = self.message.removeprefix(f"{getattr(step, 'type', '')} {step.id!r}: ")
        retry_state = self.error.retry_state if isinstance(self.error, ActivityError) else None
        if retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED and isinstance(step, CallOutStep):
            message += f" after {step.retry.max_attempts} attempts"
        elif retry_state == RetryState.TIMEOUT:
            message += " (its retries ran out of time)"
        return f"failed at step {self.position + 1} {step.id}: {message}"


@workflow.defn(name=WORKFLOW_TYPE)
class EnrollmentWorkflow:
    def __init__(self) -> None:
        self._unenrolled = False
        self._state = InterpreterState()
        self._waiting_until: datetime | None = None
        self._steps: list[Step] = []
        self._index: dict[str, int] = {}
        #: The step failure that ends the enrollment (``on_error: fail``), for the run's end.
        self._failure: _StepFailure | None = None
        #: The changes this run takes without asking (its generation's, set first thing in ``run``).
        self._generation: frozenset[str] = frozenset()
        #: The delay ``register_to_webinar`` planned ahead (``LOOK_AHEAD``), until a delay step runs.
        self._planned: PlannedAhead | None = None

    @workflow.signal
    def unenroll(self) -> None:
        """End the enrollment now, even in the middle of a delay."""
        self._unenrolled = True

    @workflow.query
    def progress(self) -> EnrollmentProgress:
        position = self._state.position
        return EnrollmentProgress(
            position=position,
            step_id=self._steps[position].id if position < len(self._steps) else None,
            step_count=len(self._steps),
            waiting_until=self._waiting_until,
            outcomes=dict(self._state.outcomes),
        )

    @workflow.run
    async def run(self, params: EnrollmentInput) -> EnrollmentResult:
        """The interpreter loop: one step at a time until the steps, a step or a signal end it."""
        if workflow.patched(GENERATION_3):
            self._generation = _IN_GENERATION_3
        elif workflow.patched(GENERATION):
            self._generation = _IN_GENERATION
        self._steps = steps = list(params.definition.steps)
        self._index = {step.id: number for number, step in enumerate(steps)}
        state = self._state = params.state or InterpreterState()
        pending: list[OutcomeNote] = []
        while True:
            if self._unenrolled:
                return await self._finish(params, ExitReason.UNENROLLED, pending)
            if state.position >= len(steps):
                return await self._finish(params, ExitReason.COMPLETED, pending)
            if workflow.info().is_continue_as_new_suggested():
                await self._record(params, pending)
                workflow.continue_as_new(params.model_copy(update={"state": state}))
            step = steps[state.position]
            ctx = self._context(params, pending)
            pending = []
            workflow.set_current_details(f"step {state.position + 1}/{len(steps)}: {_describe(step)}")
            ending = await self._run_one(ctx, step, pending)
            if ending is not None:
                return await self._finish(params, *ending)

    def _patched(self, change: str) -> bool:
        """``workflow.patched(change)``, answered without a marker for a change of the run's generation."""
        return change in self._generation or workflow.patched(change)

    def _context(self, params: EnrollmentInput, pending: list[OutcomeNote]) -> StepContext:
        """What the next step's activity gets (``pending``: the outcomes it writes first)."""
        state, definition = self._state, params.definition
        return StepContext(
            enrollment_id=params.enrollment_id,
            contact_id=params.contact_id,
            definition_key=definition.key,
            version=params.version,
            trigger=params.trigger,
            enrolled_at=params.enrolled_at,
            sequence=state.sequence + 1,
            now=workflow.now(),
            step_index=state.position,
            step_count=len(self._steps),
            outputs=state.outputs,
            outcomes=state.outcomes,
            goal=definition.enrollment.goal,
            suppression=definition.enrollment.suppression,
            pending=pending,
        )

    async def _run_one(self, ctx: StepContext, step: Step, pending: list[OutcomeNote]) -> _Ending | None:
        """Run ``step``: its outcome goes to the state (and to ``pending`` when the workflow decides
        it), and the position moves on; or the run's ending, with the notes to write."""
        state = self._state
        if isinstance(step, EndStep):
            state.sequence = ctx.sequence
            state.outcomes[step.id] = StepOutcomeCode.COMPLETED
            note = OutcomeNote(sequence=ctx.sequence, step_id=step.id, outcome=StepOutcomeCode.COMPLETED)
            return ExitReason.END_STEP, [*ctx.pending, note]
        try:
            result = await self._run_step(ctx, step, pending)
        except (ActivityError, ChildWorkflowError) as error:
            return self._on_error(ctx, step, error, pending)
        except FailureError as error:
            if isinstance(error, CancelledError) or not self._patched(LOCAL_STEP_FAILURES):
                raise
            return self._on_error(ctx, step, error, pending)
        kind = result.root
        if isinstance(kind, StepLeft):
            return kind.exit, []
        state.sequence = ctx.sequence
        if isinstance(step, DelayStep):
            assert isinstance(kind, DelayPlanned)
            return await self._delay(step, ctx.sequence, kind.deadline, pending)
        assert isinstance(kind, StepDone)
        state.outcomes[step.id] = kind.outcome
        if kind.output:
            state.outputs[step.id] = kind.output
        if isinstance(step, BranchStep):
            state.position = self._index[kind.next_step] if kind.next_step else state.position + 1
        else:
            self._advance(step)
        return None

    def _on_error(
        self, ctx: StepContext, step: Step, error: FailureError, pending: list[OutcomeNote]
    ) -> _Ending | None:
        """A failed step: noted FAILED, then its ``on_error`` ends the run or says where it goes."""
        assert isinstance(step, FALLIBLE_STEPS)
        if self._patched(LOCAL_STEP_FAILURES):
            # The outcomes the failed activity carried were not written if it failed before
            # committing them (a local step, a goal that cannot be rendered): send them
            # again with the failure (rows are keyed by sequence: never written twice).
            pending.extend(ctx.pending)
        pending.append(self._step_failed(step, ctx.sequence, error))
        if step.on_error == "fail":
            return ExitReason.STEP_FAILED, pending
        self._advance(step, step.on_error.goto if isinstance(step.on_error, GotoOnError) else None)
        return None

    async def _delay(
        self, step: DelayStep, sequence: int, deadline: datetime | None, pending: list[OutcomeNote]
    ) -> _Ending | None:
        """Wait until the delay's end (unless unenrolled meanwhile), then note it COMPLETED."""
        if deadline is not None and not await self._wait(step, deadline):
            return ExitReason.UNENROLLED, pending
        self._state.outcomes[step.id] = StepOutcomeCode.COMPLETED
        pending.append(
            OutcomeNote(
                sequence=sequence,
                step_id=step.id,
                outcome=StepOutcomeCode.COMPLETED,
                data={"until": deadline.isoformat() if deadline else None},
            )
        )
        self._advance(step)
        return None

    def _advance(self, step: Step, jump: str | None = None) -> None:
        """To ``jump``, else the step's ``next``, else the following step."""
        target = jump or getattr(step, "next", None)
        self._state.position = self._index[target] if target is not None else self._state.position + 1

    def _step_failed(
        self, step: CallOutStep | DelayStep | BranchStep, sequence: int, error: BaseException
    ) -> OutcomeNote:
        """Record the step as FAILED (its ``on_error`` then decides where the run goes)."""
        failed = result_from_failure(error) if isinstance(error, ChildWorkflowError) else None
        data: dict[str, Any] = failed.outputs() if failed is not None else {}
        self._state.sequence = sequence
        self._state.outcomes[step.id] = StepOutcomeCode.FAILED
        message = failed.message if failed is not None else failure_message(error)
        self._failure = _StepFailure(
            position=self._state.position, step=step, message=message, code=_failure_code(error), error=error
        )
        return OutcomeNote(
            sequence=sequence,
            step_id=step.id,
            outcome=StepOutcomeCode.FAILED,
            message=message,
            data={**data, "on_error": step.on_error if isinstance(step.on_error, str) else "goto"},
        )

    async def _run_step(self, ctx: StepContext, step: Step, pending: list[OutcomeNote]) -> StepResult:
        """Run ``step``; an outcome decided without writing it goes to ``pending`` (with the
        notes of ``ctx`` it did not write either), for the next activity to write."""
        summary = _describe(step)
        if isinstance(step, DelayStep):
            planned, self._planned = self._planned, None
            if planned is not None and planned.holds_for(step.id, ctx):
                return planned.result  # planned by ``register_to_webinar``, its notes written (``LOOK_AHEAD``)
            return await self._store(EnrollmentActivities.plan_delay, [ctx, step], summary=summary)
        if isinstance(step, BranchStep):
            if on_outcomes_only(step) and self._patched(OUTCOME_BRANCHES):
                return self._branch_on_outcomes(ctx, step, pending)
            return await self._store(EnrollmentActivities.evaluate_branch, [ctx, step], summary=summary)
        assert isinstance(step, CallOutStep)
        retry = step_retry(step.retry)
        deadline = step.retry.maximum_duration
        if isinstance(step, SetPropertyStep):
            return await self._store(
                EnrollmentActivities.set_property,
                [ctx, step],
                summary=summary,
                retry_policy=retry,
                schedule_to_close_timeout=deadline,
            )
        if isinstance(step, WebhookStep):
            return await workflow.execute_activity_method(
                EnrollmentActivities.call_webhook,
                args=[ctx, step],
                start_to_close_timeout=step.timeout + timedelta(seconds=30),
                schedule_to_close_timeout=deadline,
                retry_policy=retry,
                summary=summary,
            )
        if isinstance(step, EnrollStep):
            return await workflow.execute_activity_method(
                EnrollmentActivities.enroll_contact,
                args=[ctx, step],
                start_to_close_timeout=_STORE_TIMEOUT,
                schedule_to_close_timeout=deadline,
                retry_policy=retry,
                summary=summary,
            )
        assert isinstance(step, AddContactToZoomWebinarStep)
        if self._patched(REGISTRATION_STEP):
            return await self._register(ctx, step, pending)
        return await self._add_to_webinar(ctx, step)

    @staticmethod
    def _branch_on_outcomes(ctx: StepContext, step: BranchStep, pending: list[OutcomeNote]) -> StepResult:
        """Since ``OUTCOME_BRANCHES``: the branch decided here, as ``evaluate_branch`` would."""
        chosen, message, data = choose(step, lambda _, condition: outcome_holds(condition, ctx.outcomes))
        pending.extend(ctx.pending)
        pending.append(
            OutcomeNote(
                sequence=ctx.sequence, step_id=step.id, outcome=StepOutcomeCode.COMPLETED, message=message, data=data
            )
        )
        return StepResult.done(StepOutcomeCode.COMPLETED, message=message, output=data, next_step=chosen)

    async def _register(
        self, ctx: StepContext, step: AddContactToZoomWebinarStep, pending: list[OutcomeNote]
    ) -> StepResult:
        """Since ``REGISTRATION_STEP``: ``register_to_webinar``, then the saga if it could not
        decide; the outcome goes to ``pending`` (the action log gets it with the next activity).
        Since ``LOOK_AHEAD`` the activity may plan the delay the run reaches next (``_planned``)."""
        ahead = look_ahead(self._steps, self._index, self._state.position) if self._patched(LOOK_AHEAD) else None
        answer: RegistrationStep = await _finished_before_cancel(
            workflow.execute_local_activity_method(
                RegistrationStepActivities.register_to_webinar,
                args=[ctx, step, ahead],  # three, also None: the activity's types are read from all three
                start_to_close_timeout=_STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
                summary=f"{step.id}: register contact {ctx.contact_id} to the webinar",
            )
        )
        if answer.step is not None or answer.webinar_id is None:
            assert answer.step is not None
            return answer.step  # left the workflow, or INVALID_WEBINAR_ID (already recorded)
        attributes = self._note_webinar(answer.webinar_id, ctx.contact_id)
        registered = quick_result(answer.quick, ctx.contact_id, answer.webinar_id) if answer.quick else None
        self._planned = answer.planned
        if registered is None:
            registered = await self._saga(ctx, step, answer.webinar_id, attributes)
        code, message, output = registered.code, registered.message, registered.outputs()
        pending.append(OutcomeNote(sequence=ctx.sequence, step_id=step.id, outcome=code, message=message, data=output))
        return StepResult.done(code, message=message, output=output)

    async def _add_to_webinar(self, ctx: StepContext, step: AddContactToZoomWebinarStep) -> StepResult:
        prepared: StepResult = await self._store(
            EnrollmentActivities.prepare_registration, [ctx, step], summary=f"{step.id}: read the webinar id"
        )
        if not isinstance(prepared.root, RegistrationPrepared):
            return prepared  # left the workflow, or INVALID_WEBINAR_ID (already recorded)
        webinar_id = prepared.root.webinar_id
        registration_attributes = self._note_webinar(webinar_id, ctx.contact_id)
        if self._patched(QUICK_REGISTRATION):
            quick = await self._register_quickly(ctx, step, webinar_id)
            if quick is not None:
                return await self._registration_done(ctx, step, quick)
        registered = await self._saga(ctx, step, webinar_id, registration_attributes)
        return await self._registration_done(ctx, step, registered)

    async def _saga(
        self,
        ctx: StepContext,
        step: AddContactToZoomWebinarStep,
        webinar_id: str,
        registration_attributes: TypedSearchAttributes | None,
    ) -> AddToWebinarResult:
        """The ``AddContactToWebinar`` child run; its failure (a ``ChildWorkflowError``) is the step's."""
        child_id = add_to_webinar_workflow_id(webinar_id, ctx.contact_id)
        for attempt in range(1, 1000):
            try:
                registered = await workflow.execute_child_workflow(
                    AddContactToWebinarWorkflow.run,
                    AddToWebinarInput(
                        contact_id=ctx.contact_id,
                        webinar_id=webinar_id,
                        enrollment_id=ctx.enrollment_id,
                        step_id=step.id,
                        retry=step.retry,
                    ),
                    id=child_id,
                    # On cancellation the saga finishes what it sent to Zoom (a registration Zoom accepted is
                    # recorded, or compensated) before it ends.
                    parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                    static_summary=add_to_webinar_summary(webinar_id, ctx.contact_id),
                    search_attributes=registration_attributes,
                )
                break
            except WorkflowAlreadyStartedError:
                # Another enrollment of this contact registers it to this webinar right now: wait for
                # it (Zoom answers the same registrant), then run the saga for this enrollment.
                workflow.set_current_details(f"{step.id}: waiting for another registration of this contact")
                await workflow.sleep(timedelta(seconds=min(60, 5 * attempt)), summary="wait for the other registration")
        return registered

    async def _registration_done(
        self, ctx: StepContext, step: AddContactToZoomWebinarStep, registered: AddToWebinarResult
    ) -> StepResult:
        code, message, output = registered.code, registered.message, registered.outputs()
        note = OutcomeNote(sequence=ctx.sequence, step_id=step.id, outcome=code, message=message, data=output)
        await self._record_notes(ctx.enrollment_id, [note], step.id)
        return StepResult.done(code, message=message, output=output)

    async def _register_quickly(
        self, ctx: StepContext, step: AddContactToZoomWebinarStep, webinar_id: str
    ) -> AddToWebinarResult | None:
        """Since ``QUICK_REGISTRATION``: the registration as one local activity when nothing goes
        wrong; None when the saga must run (``register_quickly`` says why)."""
        try:
            quick: QuickRegistration = await _finished_before_cancel(
                workflow.execute_local_activity_method(
                    ZoomRegistrationActivities.register_quickly,
                    PreflightInput(contact_id=ctx.contact_id, webinar_id=webinar_id, retry=step.retry),
                    start_to_close_timeout=QUICK_REGISTRATION_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_attempts=1),
                    summary=f"{step.id}: register contact {ctx.contact_id} to webinar {webinar_id} (quick path)",
                )
            )
        except (ActivityError, ApplicationError, TemporalTimeoutError):
            return None  # the saga decides
        return quick_result(quick, ctx.contact_id, webinar_id)

    def _note_webinar(self, webinar_id: str, contact_id: int) -> TypedSearchAttributes | None:
        """The run is found by the webinar it registers the contact to (``RollcallWebinarId``), and
        its add-to-webinar child starts as a ``registration`` run (``RollcallKind``): the attributes
        the child starts with (None before ``operator-view``)."""
        if not self._patched(OPERATOR_VIEW):
            return None
        workflow.upsert_search_attributes([SearchAttribute.WEBINAR_ID.value_set(webinar_id)])
        return TypedSearchAttributes(
            [
                SearchAttributePair(SearchAttribute.KIND, RunKind.REGISTRATION.value),
                SearchAttributePair(SearchAttribute.CONTACT_ID, str(contact_id)),
                SearchAttributePair(SearchAttribute.WEBINAR_ID, webinar_id),
            ]
        )

    async def _wait(self, step: DelayStep, deadline: datetime) -> bool:
        """Sleep until ``deadline``; False when unenrolled meanwhile."""
        left = remaining(deadline, workflow.now())
        if left is None:
            return True
        self._waiting_until = deadline
        position = self._state.position
        workflow.set_current_details(
            f"step {position + 1}/{len(self._steps)}: waiting until {deadline:%Y-%m-%d %H:%M} UTC ({step.id})"
        )
        try:
            await workflow.wait_condition(
                lambda: self._unenrolled,
                timeout=left,
                timeout_summary=f"{step.id}: until {deadline:%Y-%m-%d %H:%M} UTC",
            )
        except TimeoutError:
            pass
        finally:
            self._waiting_until = None
        return not self._unenrolled

    async def _store(
        self,
        method: Callable[..., _R],
        args: Sequence[Any],
        *,
        summary: str,
        retry_policy: RetryPolicy = STORE_RETRY,
        schedule_to_close_timeout: timedelta | None = None,
    ) -> _R:
        """A store-only activity (a step that only reads and writes the store, the action log,
        closing the enrollment). Since ``LOCAL_STORE_STEPS`` it runs as a local activity: inside
        the worker's workflow task, so it costs no activity task and no second workflow task —
        the Temporal server's work per step roughly halves (bench/enroll.py). Runs started
        before that change replay their (regular) activities unchanged."""
        if self._patched(LOCAL_STORE_STEPS):
            return await workflow.execute_local_activity_method(
                method,
                args=args,
                start_to_close_timeout=_STORE_TIMEOUT,
                schedule_to_close_timeout=schedule_to_close_timeout,
                retry_policy=retry_policy,
                summary=summary,
            )
        return await workflow.execute_activity_method(
            method,
            args=args,
            start_to_close_timeout=_STORE_TIMEOUT,
            schedule_to_close_timeout=schedule_to_close_timeout,
            retry_policy=retry_policy,
            summary=summary,
        )

    async def _record(self, params: EnrollmentInput, notes: list[OutcomeNote]) -> None:
        if notes:
            await self._record_notes(params.enrollment_id, notes, None)

    async def _record_notes(self, enrollment_id: int, notes: list[OutcomeNote], current_step: str | None) -> None:
        await self._store(
            EnrollmentActivities.record_outcomes,
            [RecordRequest(enrollment_id=enrollment_id, notes=notes, current_step=current_step)],
            summary="write the action log",
        )

    async def _finish(self, params: EnrollmentInput, reason: ExitReason, notes: list[OutcomeNote]) -> EnrollmentResult:
        status = _STATUS_BY_EXIT[reason]
        ending = self._ending(reason)
        workflow.set_current_details(ending)
        await self._store(
            EnrollmentActivities.finish,
            [FinishRequest(enrollment_id=params.enrollment_id, status=status, reason=reason, notes=notes)],
            summary=f"close the enrollment ({reason.value})",
        )
        workflow.upsert_search_attributes([SearchAttribute.STATUS.value_set(status)])
        result = EnrollmentResult(
            enrollment_id=params.enrollment_id,
            status=status,
            reason=reason,
            steps_run=self._state.sequence,
            outcomes=dict(self._state.outcomes),
        )
        failure = self._failure
        if reason == ExitReason.STEP_FAILED and failure is not None and self._patched(OPERATOR_VIEW):
            # The store says ``failed`` already: the run says so too (the Web UI's Failed list and
            # ``ExecutionStatus="Failed"`` find it), without a retry.
            raise ApplicationError(ending, result.model_dump(mode="json"), type=failure.code, non_retryable=True)
        return result

    def _ending(self, reason: ExitReason) -> str:
        """The run's last current details, in words (#14.1): what happened, at which step."""
        position, count, ran = self._state.position, len(self._steps), self._state.sequence
        at = f"step {position + 1} ({self._steps[position].id})" if position < count else f"step {position + 1}"
        failure = self._failure
        if reason == ExitReason.STEP_FAILED and failure is not None:
            return failure.describe()
        endings = {
            ExitReason.COMPLETED: f"completed: {ran} step{'' if ran == 1 else 's'} run",
            ExitReason.END_STEP: f"completed: its end step, {at}",
            ExitReason.GOAL_MET: f"completed: goal met at {at}",
            ExitReason.SUPPRESSED: f"cancelled: suppressed at {at}",
            ExitReason.UNENROLLED: f"cancelled: unenrolled at {at}",
            ExitReason.CONTACT_DELETED: f"cancelled: contact deleted, found at {at}",
        }
        return endings.get(reason, f"{_STATUS_BY_EXIT[reason]}: {reason.value.replace('_', ' ')}")


#: The changes a run of ``GENERATION`` takes without asking (every change of the interpreter so far).
_IN_GENERATION = frozenset(
    {LOCAL_STORE_STEPS, QUICK_REGISTRATION, REGISTRATION_STEP, OUTCOME_BRANCHES, LOCAL_STEP_FAILURES, OPERATOR_VIEW}
)
#: The changes a run of ``GENERATION_3`` takes without asking.
_IN_GENERATION_3 = _IN_GENERATION | {LOOK_AHEAD}


async def _finished_before_cancel(local_activity: Awaitable[_R]) -> _R:
    """Await a local activity that may send to Zoom. As the saga does (R-ADD-8), a cancel of the
    run lets it finish first — what was sent to Zoom is recorded, so Zoom and the store never
    disagree — and then cancels the run."""
    call = asyncio.ensure_future(local_activity)
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        if not call.done():
            with contextlib.suppress(Exception):
                await call
        raise
