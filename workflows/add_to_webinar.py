"""AddContactToWebinarWorkflow: the "Add Contact to Zoom Webinar" action as a saga (R-ADD-1…8).

Started by an enrollment as a child workflow with id ``add-to-webinar:{webinar_id}:{contact_id}``
(``add_to_webinar_workflow_id``) and the static summary ``register contact 42 → webinar 8123456789``
(``add_to_webinar_summary``). Its steps, each readable in the Web UI's current details:

1. normalise the webinar id (R-ADD-2; the caller already rendered the template) — workflow code;
2. ``resolve_webinar``: which connected Zoom account owns it, and that account's business unit;
3. business-unit check (R-ADD-3) — workflow code on step 2's answer;
4. ``check_host`` (R-ADD-4), before any call to add-registrant;
5. registration state (R-ADD-6: disabled; ended and not found come from Zoom's answers) and
   ``check_registration_form`` (R-ADD-5, and the contact's own fields);
6. ``register_contact`` (R-ADD-1);
7. ``record_registration`` (R-ADD-7), one transaction;
8. compensation (R-ADD-8): ``cancel_registration``.

Outcomes. Every business outcome (``REGISTERED`` and the refusals) is *returned* as an
``AddToWebinarResult``. Failures are *raised* as a non-retryable ``ApplicationError`` whose first
detail is an ``AddToWebinarResult`` with code ``FAILED`` (``result_from_failure`` reads it back
from a ``ChildWorkflowError``), so the enrollment's ``on_error`` handles every failure the same
way and the Web UI shows the child as failed:

- ``ZOOM_REGISTRATION_COMPENSATED``: Zoom accepted, the CRM store refused it permanently, and the
  registrant was cancelled in Zoom; details ``{"compensated": true, "registrant_cancelled": true}``;
- ``ZOOM_REGISTRATION_INCONSISTENT``: same, but the cancellation failed too — Zoom holds a
  registration the store does not; the webinar sync records it on its next run;
- ``ZOOM_REGISTRATION_FAILED``: Zoom never answered usably within the step's retry policy (the
  registration state in Zoom is unknown and nothing is cancelled: cancelling by email could cancel
  a registration the contact made themselves); ``CONTACT_NOT_FOUND``; a failing pre-flight step.

Compensations are registered before the step they undo runs and run in reverse order. Once the
registration is sent to Zoom the rest of the saga (register, record, compensate) is shielded from
cancellation: a cancel request arriving then is remembered and the saga ends first, so Zoom and
the store never disagree because of a cancel. Before that point a cancel simply cancels (nothing
to undo).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn, TypeVar

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.zoom_registration import (
        HOST_CANNOT_REGISTER_MESSAGE,
        CancelInput,
        FormCheckInput,
        HostCheckInput,
        RecordInput,
        RecordResult,
        Refusal,
        RegisterInput,
        RegisterResult,
        ResolveWebinarInput,
        WebinarFacts,
        ZoomRegistrationActivities,
        extra_fields_message,
    )
    from engine.dsl.models import RetryPolicy
    from engine.dsl.outcomes import StepOutcomeCode
    from engine.dsl.webinar_ids import InvalidWebinarId, normalise_webinar_id
    from engine.temporal import SearchAttribute
    from engine.zoom.models import ApprovalType

T = TypeVar("T")

#: ``ApplicationError.type`` of the failures this workflow raises.
COMPENSATED = "ZOOM_REGISTRATION_COMPENSATED"
INCONSISTENT = "ZOOM_REGISTRATION_INCONSISTENT"
FAILED = "ZOOM_REGISTRATION_FAILED"

#: Zoom activities: one attempt may wait on the client's own timeouts and rate limiter; a dead
#: worker is noticed by the missing heartbeats.
ZOOM_ATTEMPT_TIMEOUT = timedelta(minutes=2)
ZOOM_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
#: The CRM store: its own policy, independent of the step's (the store is ours, Zoom is not).
STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = TemporalRetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
)
#: A compensation must finish: retried for up to a day (Zoom's daily status limits reset by then).
COMPENSATION_RETRY = TemporalRetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
)
COMPENSATION_DEADLINE = timedelta(days=1)


class AddToWebinarInput(BaseModel):
    contact_id: int
    #: Rendered by the caller (literal or contact token); normalised and validated here (R-ADD-2).
    webinar_id: str
    enrollment_id: int | None = None
    step_id: str | None = None
    #: The step's retry policy: drives the Zoom activities' retries (R-ADD-6).
    retry: RetryPolicy = RetryPolicy()


class AddToWebinarResult(BaseModel):
    code: StepOutcomeCode
    message: str
    webinar_id: str | None = None
    registrant_id: str | None = None
    join_url: str | None = None
    approval: Literal["approved", "pending"] | None = None
    webinar_start_time: datetime | None = None
    #: start + duration; definitions read it as ``steps.<id>.webinar_end_time``.
    webinar_end_time: datetime | None = None
    connection: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    def outputs(self) -> dict[str, Any]:
        """What templates read as ``steps.<id>.<field>``: JSON values, date-times in ISO 8601."""
        return self.model_dump(mode="json")


def add_to_webinar_workflow_id(webinar_id: str, contact_id: int) -> str:
    """``add-to-webinar:{webinar_id}:{contact_id}``, with the webinar id normalised when it is valid."""
    try:
        webinar = normalise_webinar_id(webinar_id)
    except InvalidWebinarId:
        webinar = str(webinar_id).strip()
    return f"add-to-webinar:{webinar}:{contact_id}"


def add_to_webinar_summary(webinar_id: str, contact_id: int) -> str:
    """The static summary shown in the Web UI (ids only: no email or name)."""
    try:
        webinar = normalise_webinar_id(webinar_id)
    except InvalidWebinarId:
        webinar = str(webinar_id).strip()[:80]
    return f"register contact {contact_id} → webinar {webinar}"


def result_from_failure(error: BaseException | None) -> AddToWebinarResult | None:
    """The FAILED result carried by a failure of this workflow (``ChildWorkflowError``,
    ``WorkflowFailureError`` or the ``ApplicationError`` itself); ``None`` when it has none
    (e.g. the child timed out or was terminated)."""
    for _ in range(10):
        if error is None:
            return None
        if isinstance(error, ApplicationError) and error.details:
            detail = error.details[0]
            if isinstance(detail, AddToWebinarResult):
                return detail
            if isinstance(detail, dict) and "code" in detail and "message" in detail:
                return AddToWebinarResult.model_validate(detail)
        error = getattr(error, "cause", None) or error.__cause__
    return None


def _retry_policy(policy: RetryPolicy) -> TemporalRetryPolicy:
    return TemporalRetryPolicy(
        initial_interval=policy.initial_interval,
        backoff_coefficient=policy.backoff,
        maximum_interval=max(policy.maximum_interval, policy.initial_interval),
        maximum_attempts=policy.max_attempts,
    )


def _cause(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError | ChildWorkflowError) and error.cause else error
    return str(cause) or type(cause).__name__


@dataclass
class _Compensation:
    name: str
    undo: Callable[[], Awaitable[dict[str, Any]]]


class _Saga:
    """Compensations, registered before the step they undo, run in reverse order, each to its end."""

    def __init__(self) -> None:
        self._stack: list[_Compensation] = []

    def register(self, name: str, undo: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._stack.append(_Compensation(name, undo))

    def forget(self) -> None:
        self._stack.clear()

    async def compensate(self) -> list[dict[str, Any]]:
        report: list[dict[str, Any]] = []
        while self._stack:
            step = self._stack.pop()
            try:
                report.append({"step": step.name, "ok": True, **(await step.undo())})
            except ActivityError as error:
                report.append({"step": step.name, "ok": False, "error": _cause(error)})
        return report


@workflow.defn(name="AddContactToWebinar")
class AddContactToWebinarWorkflow:
    def __init__(self) -> None:
        self._input = AddToWebinarInput(contact_id=0, webinar_id="")
        self._webinar_id = ""
        self._facts: WebinarFacts | None = None
        self._deadline: datetime | None = None
        self._saga = _Saga()
        self._registrant_id: str | None = None
        self._cancel_requested = False

    @workflow.run
    async def run(self, input: AddToWebinarInput) -> AddToWebinarResult:
        self._input = input
        if input.retry.maximum_duration is not None:
            self._deadline = workflow.now() + input.retry.maximum_duration
        workflow.upsert_search_attributes(
            [
                SearchAttribute.CONTACT_ID.value_set(str(input.contact_id)),
                SearchAttribute.STATUS.value_set("running"),
            ]
        )

        # 1. R-ADD-2
        self._details("1/7 normalising the webinar id")
        try:
            self._webinar_id = normalise_webinar_id(input.webinar_id)
        except InvalidWebinarId as exc:
            return self._finish(StepOutcomeCode.INVALID_WEBINAR_ID, str(exc))
        workflow.upsert_search_attributes([SearchAttribute.WEBINAR_ID.value_set(self._webinar_id)])

        # 2. Who owns the webinar.
        self._details(f"2/7 asking the connected Zoom accounts who owns webinar {self._webinar_id}")
        resolved = await self._zoom_step(
            "resolve the webinar",
            workflow.execute_activity_method(
                ZoomRegistrationActivities.resolve_webinar,
                ResolveWebinarInput(webinar_id=self._webinar_id, retry=input.retry),
                **self._zoom_options(f"find the Zoom account owning webinar {self._webinar_id}"),
            ),
        )
        if resolved.refusal is not None or resolved.webinar is None:
            return self._refused(resolved.refusal)
        facts = self._facts = resolved.webinar
        workflow.upsert_search_attributes(
            [SearchAttribute.ZOOM_ACCOUNT.value_set(facts.connection)]
            + ([SearchAttribute.BUSINESS_UNIT.value_set(facts.business_unit_name)] if facts.business_unit_name else [])
        )

        # 3. R-ADD-3
        self._details(f"3/7 business-unit check: webinar owned by Zoom connection {facts.connection!r}")
        if not facts.business_unit_is_primary:
            return self._business_unit_mismatch(facts)

        # 4. R-ADD-4, before any add-registrant call.
        self._details("4/7 host check: host, alternative hosts, connecting user")
        host = await self._store_step(
            "check the host",
            workflow.execute_activity_method(
                ZoomRegistrationActivities.check_host,
                HostCheckInput(
                    contact_id=input.contact_id,
                    host_email=facts.host_email,
                    alternative_hosts=facts.alternative_hosts,
                    connected_by_email=facts.connected_by_email,
                ),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
                summary="is the contact a host, an alternative host or the connecting user?",
            ),
        )
        if not host.contact_found:
            self._fail(f"contact {input.contact_id} does not exist", "CONTACT_NOT_FOUND")
        if host.role is not None:
            return self._finish(
                StepOutcomeCode.HOST_CANNOT_REGISTER,
                HOST_CANNOT_REGISTER_MESSAGE,
                {"role": host.role, "detected_by": "rollcall"},
            )

        # 5. R-ADD-6 (registration turned off) and R-ADD-5 (the form).
        self._details("5/7 registration state and registration form")
        if facts.is_zoom_event:
            return self._finish(
                StepOutcomeCode.REGISTRATION_DISABLED,
                f"Webinar {self._webinar_id} belongs to a Zoom Event; Rollcall does not register contacts "
                "to Zoom Events (R-SCOPE-2)",
                {"reason": "zoom_event"},
            )
        if facts.approval_type == ApprovalType.NO_REGISTRATION:
            return self._finish(
                StepOutcomeCode.REGISTRATION_DISABLED,
                f"Webinar {self._webinar_id} does not have registration turned on (Zoom approval_type 2)",
                {"reason": "no_registration"},
            )
        form = await self._zoom_step(
            "check the registration form",
            workflow.execute_activity_method(
                ZoomRegistrationActivities.check_registration_form,
                FormCheckInput(
                    webinar_id=self._webinar_id,
                    connection=facts.connection,
                    contact_id=input.contact_id,
                    retry=input.retry,
                ),
                **self._zoom_options("read the registration questions"),
            ),
        )
        if form.refusal is not None:
            return self._refused(form.refusal)
        if form.extra_required_fields:
            return self._finish(
                StepOutcomeCode.EXTRA_REQUIRED_FIELDS,
                extra_fields_message(self._webinar_id, form.extra_required_fields),
                {"fields": form.extra_required_fields, "detected_by": "rollcall"},
            )
        if form.missing_contact_fields:
            missing = ", ".join(form.missing_contact_fields)
            return self._finish(
                StepOutcomeCode.MISSING_CONTACT_FIELDS,
                f"Contact {input.contact_id} has no {missing}, which the registration needs",
                {"fields": form.missing_contact_fields},
            )

        # 6–8. From here Zoom may change: finish the saga whatever cancel request arrives.
        return await self._shielded(self._register_and_record(facts))

    # --- steps 6 to 8 ----------------------------------------------------------------------

    async def _register_and_record(self, facts: WebinarFacts) -> AddToWebinarResult:
        contact_id = self._input.contact_id
        # Registered before the step runs: whatever registrant the step reports gets cancelled.
        self._saga.register("cancel the Zoom registration", self._cancel_registrant)

        self._details(f"6/7 registering contact {contact_id} in Zoom")
        try:
            registered: RegisterResult = await workflow.execute_activity_method(
                ZoomRegistrationActivities.register_contact,
                RegisterInput(
                    webinar_id=self._webinar_id,
                    connection=facts.connection,
                    contact_id=contact_id,
                    approval_type=facts.approval_type,
                    retry=self._input.retry,
                ),
                **self._zoom_options(f"add contact {contact_id} as a registrant"),
            )
        except ActivityError as error:
            report = await self._saga.compensate()
            self._fail(
                f"Zoom did not register contact {contact_id} to webinar {self._webinar_id}: {_cause(error)}",
                FAILED,
                {"zoom_state": "unknown", "compensations": report},
            )
        if registered.refusal is not None:
            self._saga.forget()  # Zoom registered nobody
            return self._refused(registered.refusal)
        assert registered.registrant_id is not None and registered.accepted_at is not None
        assert registered.approval is not None
        self._registrant_id = registered.registrant_id

        self._details(f"7/7 Zoom accepted registrant {registered.registrant_id}; recording it in the CRM store")
        try:
            recorded: RecordResult = await workflow.execute_activity_method(
                ZoomRegistrationActivities.record_registration,
                RecordInput(
                    contact_id=contact_id,
                    webinar=facts,
                    registrant_id=registered.registrant_id,
                    join_url=registered.join_url,
                    approval=registered.approval,
                    accepted_at=registered.accepted_at,
                ),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
                summary="record participation, join link, timeline event and rollups",
            )
        except ActivityError as error:
            self._compensation_failure(error, await self._compensate_after_store_failure())
        self._saga.forget()

        details: dict[str, Any] = {
            "repeat": not recorded.new_registration,
            "registration_count": recorded.registration_count,
        }
        if self._cancel_requested:
            details["cancel_requested"] = "after the registration was sent to Zoom; the registration was completed"
        approval = registered.approval
        return self._finish(
            StepOutcomeCode.REGISTERED,
            f"Contact {contact_id} is registered to webinar {self._webinar_id} ({approval})"
            + (" — already registered before" if not recorded.new_registration else ""),
            details,
            registrant_id=registered.registrant_id,
            join_url=registered.join_url,
            approval=approval,
        )

    async def _compensate_after_store_failure(self) -> list[dict[str, Any]]:
        self._details(f"the CRM store refused registrant {self._registrant_id}: cancelling it in Zoom (compensation)")
        return await self._saga.compensate()

    def _compensation_failure(self, error: ActivityError, report: list[dict[str, Any]]) -> NoReturn:
        cancelled = any(item.get("cancelled") for item in report)
        ok = all(item.get("ok") for item in report)
        store_error = _cause(error)
        base = {
            "compensated": ok,
            "registrant_cancelled": cancelled,
            "registrant_id": self._registrant_id,
            "store_error": store_error,
            "compensations": report,
        }
        if ok:
            self._fail(
                f"Zoom accepted registrant {self._registrant_id} but the CRM store could not record it "
                f"({store_error}); the Zoom registration was cancelled (compensated), so Zoom and the store agree",
                COMPENSATED,
                base,
            )
        self._fail(
            f"Zoom accepted registrant {self._registrant_id} but the CRM store could not record it "
            f"({store_error}), and cancelling it in Zoom failed too; Zoom holds a registration the store "
            "does not — the next sync of the webinar records it",
            INCONSISTENT,
            base,
        )

    async def _cancel_registrant(self) -> dict[str, Any]:
        if self._registrant_id is None or self._facts is None:
            return {"cancelled": False, "note": "Zoom reported no registrant: nothing to cancel"}
        outcome = await workflow.execute_activity_method(
            ZoomRegistrationActivities.cancel_registration,
            CancelInput(
                webinar_id=self._webinar_id, connection=self._facts.connection, registrant_id=self._registrant_id
            ),
            start_to_close_timeout=ZOOM_ATTEMPT_TIMEOUT,
            heartbeat_timeout=ZOOM_HEARTBEAT_TIMEOUT,
            schedule_to_close_timeout=COMPENSATION_DEADLINE,
            retry_policy=COMPENSATION_RETRY,
            summary=f"compensation: cancel registrant {self._registrant_id}",
        )
        return {"cancelled": outcome.cancelled, "note": outcome.note}

    # --- plumbing ----------------------------------------------------------------------------

    async def _shielded(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` to its end even when the workflow is cancelled meanwhile."""
        task = asyncio.ensure_future(coroutine)
        while True:
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled():
                    raise
                self._cancel_requested = True
                workflow.set_current_details(
                    "cancel requested while registering: finishing the registration (or its compensation) first"
                )

    def _zoom_options(self, summary: str) -> dict[str, Any]:
        options: dict[str, Any] = {
            "start_to_close_timeout": ZOOM_ATTEMPT_TIMEOUT,
            "heartbeat_timeout": ZOOM_HEARTBEAT_TIMEOUT,
            "retry_policy": _retry_policy(self._input.retry),
            "summary": summary,
        }
        if self._deadline is not None:
            remaining = self._deadline - workflow.now()
            if remaining <= timedelta(0):
                self._fail(
                    f"gave up: the step's maximum_duration ({self._input.retry.maximum_duration}) has passed",
                    FAILED,
                )
            options["schedule_to_close_timeout"] = remaining
        return options

    async def _zoom_step(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise  # the run is being cancelled: nothing to undo yet
            self._fail(f"could not {what} for webinar {self._webinar_id}: {_cause(error)}", FAILED)

    async def _store_step(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            self._fail(f"could not {what} in the CRM store: {_cause(error)}", FAILED)

    def _details(self, text: str) -> None:
        workflow.set_current_details(text)

    def _business_unit_mismatch(self, facts: WebinarFacts) -> AddToWebinarResult:
        if facts.business_unit_id is None:
            return self._finish(
                StepOutcomeCode.BUSINESS_UNIT_MISMATCH,
                f"Webinar {self._webinar_id} belongs to Zoom connection {facts.connection!r}, which is connected "
                "to no business unit; the action only registers contacts for webinars of the Zoom account "
                "connected to the primary business unit (R-ADD-3)",
                {"reason": "no_business_unit", "connection": facts.connection},
            )
        return self._finish(
            StepOutcomeCode.BUSINESS_UNIT_MISMATCH,
            f"Webinar {self._webinar_id} belongs to the Zoom account of business unit "
            f"{facts.business_unit_name!r} (connection {facts.connection!r}); the action only registers contacts "
            "for webinars of the Zoom account connected to the primary business unit (R-ADD-3)",
            {
                "reason": "other_business_unit",
                "connection": facts.connection,
                "business_unit": facts.business_unit_name,
                "business_unit_id": facts.business_unit_id,
            },
        )

    def _refused(self, refusal: Refusal | None) -> AddToWebinarResult:
        if refusal is None:
            self._fail("a step returned neither an answer nor a refusal", FAILED)
        return self._finish(refusal.code, refusal.message, refusal.details)

    def _result(
        self, code: StepOutcomeCode, message: str, details: dict[str, Any] | None = None, **fields: Any
    ) -> AddToWebinarResult:
        facts = self._facts
        return AddToWebinarResult(
            code=code,
            message=message,
            webinar_id=self._webinar_id or None,
            webinar_start_time=facts.start_time if facts else None,
            webinar_end_time=facts.end_time if facts else None,
            connection=facts.connection if facts else None,
            details=details or {},
            **fields,
        )

    def _finish(
        self, code: StepOutcomeCode, message: str, details: dict[str, Any] | None = None, **fields: Any
    ) -> AddToWebinarResult:
        result = self._result(code, message, details, **fields)
        workflow.upsert_search_attributes([SearchAttribute.STATUS.value_set(code.value)])
        workflow.set_current_details(f"{code.value}: {message}")
        return result

    def _fail(self, message: str, error_type: str, details: dict[str, Any] | None = None) -> NoReturn:
        result = self._result(StepOutcomeCode.FAILED, message, details)
        workflow.upsert_search_attributes([SearchAttribute.STATUS.value_set(StepOutcomeCode.FAILED.value)])
        workflow.set_current_details(f"FAILED: {message}")
        raise ApplicationError(message, result, type=error_type, non_retryable=True)
