"""AddContactToWebinarWorkflow: the "Add Contact to Zoom Webinar" action as a saga (R-ADD-1…8).

Started by an enrollment as a child workflow with id ``add-to-webinar:{webinar_id}:{contact_id}``
(``add_to_webinar_workflow_id``) and the static summary ``register contact 42 → webinar 8123456789``
(``add_to_webinar_summary``). Money-transfer style: check, try the registration, and undo it if a
later step fails for good. Four steps, numbered the same in the Web UI's current details
(``step 2/4: …``) and in the sections of the class:

1. **Webinar id** (R-ADD-2): normalise the rendered id — workflow code.
2. **Pre-flight**: who owns the webinar, the business unit (R-ADD-3), the host, alternative hosts
   and connecting user (R-ADD-4, before any call to add-registrant), Zoom Events and registration
   turned off (R-SCOPE-2, R-ADD-6), the registration form and the contact's fields (R-ADD-5); the
   first refusal is the step's outcome. A local activity (``preflight_from_cache``) when the
   worker's cache holds Zoom's answers about the webinar — it then reads only the store — or else
   one activity that asks Zoom (``preflight_registration``).
3. **Register and record** (``register_and_record``, one activity): add-registrant (R-ADD-1),
   then the store write (R-ADD-7): participation with the personal join link, timeline event,
   rollups, in one transaction.
4. **Compensation** (R-ADD-8), only when step 3 reports that the store refused for good a
   registration Zoom accepted: ``cancel_registration`` cancels the registrant in Zoom.

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
  a registration the contact made themselves); a failing pre-flight;
- ``CONTACT_NOT_FOUND``: the contact was deleted.

Cancellation. From step 3 on the saga is shielded from cancellation: a cancel request arriving then
is remembered and the saga ends first (registered and recorded, or compensated), so Zoom and the
store never disagree because of a cancel. Before that point a cancel simply cancels.

History holds ids (contact, webinar, the host's Zoom user id, registrant), outcome codes and the
webinar's schedule: no contact or staff e-mail, no personal join link (issue #17 point 5; the join
link is in the store, read by templates as ``contact.zoom_webinar_joinlink``).

Runs started before the ``PREFLIGHT`` patch go the old way (``_run_before_preflight``): steps 2 and
3 as five activities, with hosts' e-mails and join links in their payloads. Their histories replay
unchanged (``tests/replay``); delete that path with ``workflow.deprecate_patch(PREFLIGHT)`` once no
such run is open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.failures import FailureType
    from activities.registration_result import (
        AddToWebinarResult as AddToWebinarResult,  # also imported from here
    )
    from activities.registration_result import (
        registered_result,
        result_of,
    )
    from activities.zoom_registration import (
        CancelInput,
        CancelResult,
        PreflightInput,
        PreflightResult,
        RegisterAndRecordInput,
        RegistrationOutcome,
        ZoomRegistrationActivities,
    )
    from activities.zoom_registration_before_preflight import (
        FormCheckInput,
        HostCheckInput,
        LegacyWebinarFacts,
        RecordInput,
        RecordResult,
        RegisterInput,
        RegisterResult,
        ResolveWebinarInput,
        RunsBeforePreflight,
    )
    from engine.dsl.models import StepRetry
    from engine.dsl.outcomes import StepOutcomeCode
    from engine.dsl.webinar_ids import InvalidWebinarId, normalise_webinar_id
    from engine.enrollment.registration import (
        Approval,
        Refusal,
        WebinarFacts,
        business_unit_refusal,
        form_refusal,
        host_refusal,
        registration_state_refusal,
    )
    from engine.temporal import SearchAttribute
    from workflows.policies import COMPENSATION_DEADLINE, COMPENSATION_RETRY, SAGA_STORE_RETRY, zoom_step_retry

T = TypeVar("T")

#: ``workflow.patched`` id: the pre-flight (local when the worker's cache knows the webinar), then
#: register-and-record in one activity, and no e-mail or join link in history (issue #16 point 1,
#: #17 point 5, #18 point 3).
PREFLIGHT = "saga-preflight"

STEPS = 4

#: Zoom activities: one attempt may wait on the client's own timeouts and rate limiter (and, for
#: step 3, the store's patience); a dead worker is noticed by the missing heartbeats.
ZOOM_ATTEMPT_TIMEOUT = timedelta(minutes=2)
ZOOM_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
#: The CRM store (the local pre-flight; ``check_host`` and ``record_registration`` of runs started
#: before ``PREFLIGHT``); retried under ``SAGA_STORE_RETRY``.
STORE_TIMEOUT = timedelta(seconds=30)


class AddToWebinarInput(BaseModel):
    contact_id: int
    #: Rendered by the caller (literal or contact token); normalised and validated here (R-ADD-2).
    webinar_id: str
    enrollment_id: int | None = None
    step_id: str | None = None
    #: The step's retry policy: drives the Zoom activities' retries (R-ADD-6).
    retry: StepRetry = StepRetry()


class Compensation(BaseModel):
    """Step 4's result: the registrant Zoom accepted and the store refused, and what its
    cancellation in Zoom did."""

    registrant_id: str
    #: Why the store refused the registration.
    store_error: str
    #: Zoom cancelled the registrant (False also when the webinar no longer exists in Zoom).
    cancelled: bool = False
    note: str = ""
    #: The cancellation itself failed (after a day of retries): Zoom and the store disagree.
    error: str | None = None

    def details(self) -> dict[str, Any]:
        return {
            "compensated": self.error is None,
            "registrant_cancelled": self.cancelled,
            "registrant_id": self.registrant_id,
            "store_error": self.store_error,
            "compensation": {"cancelled": self.cancelled, "note": self.note, "error": self.error},
        }


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


def _cause(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError | ChildWorkflowError) and error.cause else error
    return str(cause) or type(cause).__name__


@workflow.defn(name="AddContactToWebinar")
class AddContactToWebinarWorkflow:
    @workflow.init
    def __init__(self, input: AddToWebinarInput) -> None:
        self._input = input
        self._webinar_id = ""
        self._facts: WebinarFacts | None = None
        self._deadline: datetime | None = None
        self._cancel_requested = False
        #: Search attribute updates held back until the next upsert (one history event for all).
        self._held: dict[str, SearchAttributeUpdate[Any]] = {}

    @workflow.run
    async def run(self, input: AddToWebinarInput) -> AddToWebinarResult:
        if input.retry.maximum_duration is not None:
            self._deadline = workflow.now() + input.retry.maximum_duration
        if not workflow.patched(PREFLIGHT):
            return await self._run_before_preflight()
        self._hold(
            SearchAttribute.CONTACT_ID.value_set(str(input.contact_id)), SearchAttribute.STATUS.value_set("running")
        )

        # --- 1. webinar id (R-ADD-2) ---
        self._step(1, "normalising the webinar id")
        try:
            self._webinar_id = normalise_webinar_id(input.webinar_id)
        except InvalidWebinarId as exc:
            return self._finish(StepOutcomeCode.INVALID_WEBINAR_ID, str(exc))
        self._hold(SearchAttribute.WEBINAR_ID.value_set(self._webinar_id))

        # --- 2. pre-flight (R-ADD-3, R-ADD-4, R-SCOPE-2, R-ADD-6, R-ADD-5) ---
        self._step(2, f"pre-flight of webinar {self._webinar_id}: owner, business unit, hosts, registration form")
        checked = await self._preflight()
        facts = self._facts = checked.webinar
        if facts is not None:
            self._hold(*self._owner_attributes(facts))
        if checked.refusal is not None or facts is None:
            return self._refused(checked.refusal)
        if not checked.contact_found:
            self._fail(f"contact {input.contact_id} does not exist", FailureType.CONTACT_NOT_FOUND)

        # --- 3. and 4.: from here Zoom may change: finish the saga whatever cancel request arrives ---
        self._publish()
        return await self._shielded(self._register_and_record(facts))

    # --- 2. pre-flight ----------------------------------------------------------------------------

    async def _preflight(self) -> PreflightResult:
        """From the store only, as a local activity, when this worker knows the webinar and its form
        (no activity task); otherwise as an activity that asks Zoom (the run's attributes are
        published first, as it may be retried for a long time)."""
        preflight = PreflightInput(
            contact_id=self._input.contact_id, webinar_id=self._webinar_id, retry=self._input.retry
        )
        what = f"run the pre-flight checks for webinar {self._webinar_id}"
        summary = f"pre-flight: may contact {self._input.contact_id} register to webinar {self._webinar_id}?"
        local: PreflightResult = await self._checked(
            what,
            workflow.execute_local_activity_method(
                ZoomRegistrationActivities.preflight_from_cache,
                preflight,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=SAGA_STORE_RETRY,
                summary=f"{summary} (from the store and the worker's cache)",
            ),
        )
        if not local.needs_zoom:
            return local
        self._publish()
        checked: PreflightResult = await self._checked(
            what,
            workflow.execute_activity_method(
                ZoomRegistrationActivities.preflight_registration, preflight, **self._zoom_options(summary)
            ),
        )
        return checked

    # --- 3. register and record (R-ADD-1, R-ADD-7) ---------------------------------------------------

    async def _register_and_record(self, facts: WebinarFacts) -> AddToWebinarResult:
        contact_id = self._input.contact_id
        self._step(3, f"registering contact {contact_id} in Zoom, then recording the registration in the CRM store")
        try:
            outcome: RegistrationOutcome = await workflow.execute_activity_method(
                ZoomRegistrationActivities.register_and_record,
                RegisterAndRecordInput(contact_id=contact_id, webinar=facts, retry=self._input.retry),
                **self._zoom_options(f"add contact {contact_id} as a registrant, then record it"),
            )
        except ActivityError as error:
            self._zoom_failed(error)
        if outcome.refusal is not None:
            return self._refused(outcome.refusal)
        assert outcome.registrant_id is not None and outcome.approval is not None
        if outcome.store_refusal is not None:
            await self._compensate(outcome.registrant_id, outcome.store_refusal.message)
        assert outcome.recorded is not None
        recorded = outcome.recorded
        return self._registered(
            outcome.registrant_id, outcome.approval, recorded.new_registration, recorded.registration_count
        )

    def _zoom_failed(self, error: ActivityError) -> NoReturn:
        """Zoom never answered usably: its state is unknown, and nothing is cancelled (by e-mail it
        could undo a registration the contact made themselves); the webinar sync reconciles."""
        self._fail(
            f"Zoom did not register contact {self._input.contact_id} to webinar {self._webinar_id}: {_cause(error)}",
            FailureType.ZOOM_REGISTRATION_FAILED,
            {"zoom_state": "unknown"},
        )

    def _registered(
        self, registrant_id: str, approval: Approval, new_registration: bool, registration_count: int
    ) -> AddToWebinarResult:
        registered = registered_result(
            self._input.contact_id,
            self._webinar_id,
            self._facts,
            registrant_id,
            approval,
            new_registration,
            registration_count,
        )
        if self._cancel_requested:
            registered.details["cancel_requested"] = (
                "after the registration was sent to Zoom; the registration was completed"
            )
        return self._finish(
            registered.code, registered.message, registered.details, registrant_id=registrant_id, approval=approval
        )

    # --- 4. compensation (R-ADD-8) ------------------------------------------------------------------

    async def _compensate(self, registrant_id: str, store_error: str) -> NoReturn:
        """Zoom accepted ``registrant_id`` and the store refused it for good: cancel it in Zoom, then
        fail saying whether Zoom and the store agree again."""
        self._step(4, f"the CRM store refused registrant {registrant_id}: cancelling it in Zoom (compensation)")
        compensation = await self._cancel(registrant_id, store_error)
        if compensation.error is None:
            self._fail(
                f"Zoom accepted registrant {registrant_id} but the CRM store could not record it ({store_error}); "
                "the Zoom registration was cancelled (compensated), so Zoom and the store agree",
                FailureType.ZOOM_REGISTRATION_COMPENSATED,
                compensation.details(),
            )
        self._fail(
            f"Zoom accepted registrant {registrant_id} but the CRM store could not record it ({store_error}), and "
            "cancelling it in Zoom failed too; Zoom holds a registration the store does not — the next sync of "
            "the webinar records it",
            FailureType.ZOOM_REGISTRATION_INCONSISTENT,
            compensation.details(),
        )

    async def _cancel(self, registrant_id: str, store_error: str) -> Compensation:
        assert self._facts is not None
        try:
            cancelled: CancelResult = await workflow.execute_activity_method(
                ZoomRegistrationActivities.cancel_registration,
                CancelInput(
                    webinar_id=self._webinar_id, connection=self._facts.connection, registrant_id=registrant_id
                ),
                start_to_close_timeout=ZOOM_ATTEMPT_TIMEOUT,
                heartbeat_timeout=ZOOM_HEARTBEAT_TIMEOUT,
                schedule_to_close_timeout=COMPENSATION_DEADLINE,
                retry_policy=COMPENSATION_RETRY,
                summary=f"compensation: cancel registrant {registrant_id}",
            )
        except ActivityError as error:
            return Compensation(registrant_id=registrant_id, store_error=store_error, error=_cause(error))
        return Compensation(
            registrant_id=registrant_id, store_error=store_error, cancelled=cancelled.cancelled, note=cancelled.note
        )

    # --- runs started before PREFLIGHT: the same commands as then -----------------------------------

    async def _run_before_preflight(self) -> AddToWebinarResult:
        """Steps 2 and 3 as five activities (``resolve_webinar``, ``check_host``,
        ``check_registration_form``, ``register_contact``, ``record_registration``) and four
        search-attribute upserts, as recorded in the histories of those runs."""
        input = self._input
        self._publish(
            SearchAttribute.CONTACT_ID.value_set(str(input.contact_id)), SearchAttribute.STATUS.value_set("running")
        )
        self._step(1, "normalising the webinar id")
        try:
            self._webinar_id = normalise_webinar_id(input.webinar_id)
        except InvalidWebinarId as exc:
            return self._finish(StepOutcomeCode.INVALID_WEBINAR_ID, str(exc))
        self._publish(SearchAttribute.WEBINAR_ID.value_set(self._webinar_id))
        self._step(2, f"pre-flight: asking the connected Zoom accounts who owns webinar {self._webinar_id}")
        resolved = await self._checked(
            f"resolve the webinar for webinar {self._webinar_id}",
            workflow.execute_activity_method(
                RunsBeforePreflight.resolve_webinar,
                ResolveWebinarInput(webinar_id=self._webinar_id, retry=input.retry),
                **self._zoom_options(f"find the Zoom account owning webinar {self._webinar_id}"),
            ),
        )
        facts = self._facts = resolved.webinar
        if resolved.refusal is not None or facts is None:
            return self._refused(resolved.refusal)
        self._publish(*self._owner_attributes(facts))
        refusal = business_unit_refusal(facts) or await self._host_refusal_before_preflight(facts)
        if refusal is not None:
            return self._refused(refusal)
        self._step(2, "pre-flight: registration form")
        form = await self._checked(
            f"check the registration form for webinar {self._webinar_id}",
            workflow.execute_activity_method(
                RunsBeforePreflight.check_registration_form,
                FormCheckInput(
                    webinar_id=self._webinar_id,
                    connection=facts.connection,
                    contact_id=input.contact_id,
                    retry=input.retry,
                ),
                **self._zoom_options("read the registration questions"),
            ),
        )
        refusal = form.refusal or form_refusal(
            self._webinar_id, input.contact_id, form.extra_required_fields, form.missing_contact_fields
        )
        if refusal is not None:
            return self._refused(refusal)
        return await self._shielded(self._register_then_record_before_preflight(facts))

    async def _host_refusal_before_preflight(self, facts: LegacyWebinarFacts) -> Refusal | None:
        self._step(2, "pre-flight: host check: host, alternative hosts, connecting user")
        host = await self._checked(
            "check the host in the CRM store",
            workflow.execute_activity_method(
                RunsBeforePreflight.check_host,
                HostCheckInput(
                    contact_id=self._input.contact_id,
                    host_email=facts.host_email,
                    alternative_hosts=facts.alternative_hosts,
                    connected_by_email=facts.connected_by_email,
                ),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=SAGA_STORE_RETRY,
                summary="is the contact a host, an alternative host or the connecting user?",
            ),
        )
        if not host.contact_found:
            self._fail(f"contact {self._input.contact_id} does not exist", FailureType.CONTACT_NOT_FOUND)
        return host_refusal(host.role) if host.role is not None else registration_state_refusal(facts)

    async def _register_then_record_before_preflight(self, facts: LegacyWebinarFacts) -> AddToWebinarResult:
        contact_id = self._input.contact_id
        self._step(3, f"registering contact {contact_id} in Zoom")
        try:
            registered: RegisterResult = await workflow.execute_activity_method(
                RunsBeforePreflight.register_contact,
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
            self._zoom_failed(error)
        if registered.refusal is not None:
            return self._refused(registered.refusal)
        assert registered.registrant_id is not None and registered.accepted_at is not None
        assert registered.approval is not None
        self._step(3, f"Zoom accepted registrant {registered.registrant_id}; recording it in the CRM store")
        try:
            recorded: RecordResult = await workflow.execute_activity_method(
                RunsBeforePreflight.record_registration,
                RecordInput(
                    contact_id=contact_id,
                    webinar=facts,
                    registrant_id=registered.registrant_id,
                    join_url=registered.join_url,
                    approval=registered.approval,
                    accepted_at=registered.accepted_at,
                ),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=SAGA_STORE_RETRY,
                summary="record participation, join link, timeline event and rollups",
            )
        except ActivityError as error:
            await self._compensate(registered.registrant_id, _cause(error))
        return self._registered(
            registered.registrant_id, registered.approval, recorded.new_registration, recorded.registration_count
        )

    # --- outcomes ----------------------------------------------------------------------------------

    def _refused(self, refusal: Refusal | None) -> AddToWebinarResult:
        if refusal is None:
            self._fail("a step returned neither an answer nor a refusal", FailureType.ZOOM_REGISTRATION_FAILED)
        return self._finish(refusal.code, refusal.message, refusal.details)

    def _result(
        self, code: StepOutcomeCode, message: str, details: dict[str, Any] | None = None, **fields: Any
    ) -> AddToWebinarResult:
        return result_of(self._webinar_id, self._facts, code, message, details, **fields)

    def _finish(
        self, code: StepOutcomeCode, message: str, details: dict[str, Any] | None = None, **fields: Any
    ) -> AddToWebinarResult:
        result = self._result(code, message, details, **fields)
        self._publish(SearchAttribute.STATUS.value_set(code.value))
        workflow.set_current_details(f"{code.value}: {message}")
        return result

    def _fail(self, message: str, error_type: FailureType, details: dict[str, Any] | None = None) -> NoReturn:
        result = self._result(StepOutcomeCode.FAILED, message, details)
        self._publish(SearchAttribute.STATUS.value_set(StepOutcomeCode.FAILED.value))
        workflow.set_current_details(f"FAILED: {message}")
        raise ApplicationError(message, result, type=error_type, non_retryable=True)

    # --- plumbing ----------------------------------------------------------------------------------

    def _step(self, number: int, text: str) -> None:
        workflow.set_current_details(f"step {number}/{STEPS}: {text}")

    def _hold(self, *updates: SearchAttributeUpdate[Any]) -> None:
        for update in updates:
            self._held[update.key.name] = update

    def _publish(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Upsert ``updates`` and those held back, as one history event."""
        self._hold(*updates)
        if self._held:
            workflow.upsert_search_attributes(list(self._held.values()))
            self._held.clear()

    @staticmethod
    def _owner_attributes(facts: WebinarFacts) -> list[SearchAttributeUpdate[Any]]:
        """The connection by name, the Zoom account by id (as on sync runs), the business unit."""
        updates: list[SearchAttributeUpdate[Any]] = [SearchAttribute.ZOOM_CONNECTION.value_set(facts.connection)]
        if facts.zoom_account_id:
            updates.append(SearchAttribute.ZOOM_ACCOUNT.value_set(facts.zoom_account_id))
        if facts.business_unit_name:
            updates.append(SearchAttribute.BUSINESS_UNIT.value_set(facts.business_unit_name))
        return updates

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
            "retry_policy": zoom_step_retry(self._input.retry),
            "summary": summary,
        }
        if self._deadline is not None:
            remaining = self._deadline - workflow.now()
            if remaining <= timedelta(0):
                self._fail(
                    f"gave up: the step's maximum_duration ({self._input.retry.maximum_duration}) has passed",
                    FailureType.ZOOM_REGISTRATION_FAILED,
                )
            options["schedule_to_close_timeout"] = remaining
        return options

    async def _checked(self, what: str, call: Awaitable[T]) -> T:
        """A check's activity; its failure fails the run (a cancellation cancels it: nothing to undo yet)."""
        try:
            return await call
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            self._fail(f"could not {what}: {_cause(error)}", FailureType.ZOOM_REGISTRATION_FAILED)
