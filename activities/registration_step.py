"""An ``add_contact_to_zoom_webinar`` step in one local activity (``registration-step``, #16.1).

Since the ``registration-step`` patch (``REGISTRATION_STEP`` in ``workflows/enrollment.py``) the
enrollment runs ``register_to_webinar`` instead of three local activities (reading the webinar
id, ``register_quickly``, writing the outcome to the action log): in one call it writes the
outcomes the workflow decided since the last activity, checks the contact (deleted, goal,
suppression), renders and normalises the webinar id, and registers the contact the quick way when
the worker knows the webinar. The registration's outcome travels to the action log with the next
activity (the workflow's pending notes), as the outcomes the workflow decides itself do. When the
quick way cannot decide, the answer says so and the enrollment runs the ``AddContactToWebinar``
saga, exactly as before.

Idempotency: the first part is the step prelude every step activity has (rows keyed by enrollment
and sequence); the registration is ``register_quickly``'s (Zoom answers the same e-mail with the
same registrant, the store write is keyed by webinar and contact), so a retried attempt
registers and records nobody twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel
from sqlmodel import Session
from temporalio import activity

from activities.enrollment import EnrollmentActivities
from activities.registration_result import AddToWebinarResult, quick_result, registered_result
from activities.zoom_registration import (
    AfterWrite,
    PreflightInput,
    QuickRegistration,
    RegistrationOutcome,
    ZoomRegistrationActivities,
    store_view,
)
from engine.dsl.models import AddContactToZoomWebinarStep
from engine.dsl.outcomes import StepOutcomeCode
from engine.enrollment.contracts import RegistrationPrepared, StepContext, StepResult
from engine.enrollment.look_ahead import LookAhead, PlannedAhead, context_digest, reach_delay
from engine.enrollment.registration import WebinarFacts

log = structlog.get_logger("rollcall.registration_step")

#: The quick registration's time (its Zoom calls and the store write); past it the saga decides,
#: as when the quick path's own local activity timed out (``QUICK_REGISTRATION_TIMEOUT``).
QUICK_BUDGET = timedelta(seconds=15)


class RegistrationStep(BaseModel):
    """``register_to_webinar``'s answer (ids and facts only: no e-mail, no join link).

    - ``step``: the step ended here (the contact left, or ``INVALID_WEBINAR_ID``, already recorded);
    - else ``webinar_id`` and ``quick``, what the quick way did: the workflow reads the step's
      result from it (``quick_result``; not yet in the action log), or runs the saga when it says
      ``saga`` (why the saga must decide).
    """

    step: StepResult | None = None
    webinar_id: str | None = None
    quick: QuickRegistration | None = None
    #: Since ``registration-look-ahead``: the delay the run reaches next through branches on
    #: outcomes, planned here (its notes written), when the workflow asked and the quick way decided.
    planned: PlannedAhead | None = None


class RegistrationStepActivities:
    """``register_to_webinar``: the step prelude of ``EnrollmentActivities`` and the quick path of
    ``ZoomRegistrationActivities``, in one local activity."""

    def __init__(self, enrollment: EnrollmentActivities, zoom: ZoomRegistrationActivities) -> None:
        self._enrollment = enrollment
        self._zoom = zoom

    @activity.defn
    async def register_to_webinar(
        self, ctx: StepContext, step: AddContactToZoomWebinarStep, ahead: LookAhead | None = None
    ) -> RegistrationStep:
        """Prelude and webinar id, and what the pre-flight reads from the store, in one transaction
        (a store failure here fails the attempt, which is retried: nothing was sent to Zoom yet),
        then the quick registration, which never raises: anything it cannot decide is the saga's.
        With ``ahead`` (``registration-look-ahead``), a registration also plans the delay the run
        reaches next, in its own store transaction (``_planner``)."""
        prepared, view = await asyncio.to_thread(
            self._enrollment.prepare_then,
            ctx,
            step,
            lambda session, webinar: store_view(session, webinar, ctx.contact_id),
        )
        if not isinstance(prepared.root, RegistrationPrepared):
            return RegistrationStep(step=prepared)
        webinar_id = prepared.root.webinar_id
        plans: list[PlannedAhead] = []
        after_write = self._planner(ahead, ctx, step, webinar_id, plans) if ahead is not None else None
        try:
            quick = await asyncio.wait_for(
                self._zoom.register_quickly_then(
                    PreflightInput(contact_id=ctx.contact_id, webinar_id=webinar_id, retry=step.retry),
                    after_write,
                    view,
                ),
                QUICK_BUDGET.total_seconds(),
            )
        except Exception as error:  # the saga's steps are idempotent and retried durably
            quick = QuickRegistration(saga=f"the quick path failed: {type(error).__name__}")
        if quick.saga is not None:
            # Ids only (no e-mail): an operator sees why registrations take the slower, durable way.
            log.info("registration goes to the saga", webinar_id=webinar_id, contact_id=ctx.contact_id, why=quick.saga)
        return RegistrationStep(
            webinar_id=webinar_id, quick=quick, planned=_kept(plans, ahead, ctx, step, webinar_id, quick)
        )

    def _planner(
        self,
        ahead: LookAhead,
        ctx: StepContext,
        step: AddContactToZoomWebinarStep,
        webinar_id: str,
        plans: list[PlannedAhead],
    ) -> AfterWrite:
        """What runs in the registration's store transaction: the delay the run reaches after
        REGISTERED through branches on outcomes, planned as ``plan_delay`` plans it (the step's
        and the branches' outcomes written, the contact's checks, the deadline) for the context
        the workflow will give it, in a savepoint. Nothing when the run reaches another kind of
        step first; nothing either (the savepoint undone, the registration kept) when the planning
        fails: the workflow then plans the delay itself and meets the same failure, which its
        ``on_error`` handles."""

        def plan(session: Session, facts: WebinarFacts, outcome: RegistrationOutcome) -> None:
            plans.clear()  # a retried write plans again
            try:  # never the registration's failure: whatever goes wrong, the workflow plans the delay
                registered = _registered(ctx, webinar_id, facts, outcome)
                reached = reach_delay(ahead, ctx, step.id, registered.code, registered.message, registered.outputs())
                if reached is None:
                    return
                delay_ctx, delay = reached
                # The delay counts from now, a moment before the workflow moves on (``PlannedAhead.now``).
                delay_ctx = delay_ctx.model_copy(update={"now": datetime.now(UTC)})
                with session.begin_nested():
                    result = self._enrollment.plan_delay_within(session, delay_ctx, delay)
            except Exception:  # planned again by the workflow (its notes are keyed by sequence)
                return
            plans.append(
                PlannedAhead(step_id=delay.id, digest=context_digest(delay_ctx), now=delay_ctx.now, result=result)
            )

        return plan

    def all(self) -> list[Callable[..., Any]]:
        return [self.register_to_webinar]


def _registered(
    ctx: StepContext, webinar_id: str, facts: WebinarFacts, outcome: RegistrationOutcome
) -> AddToWebinarResult:
    """REGISTERED, as ``quick_result`` reads it from the quick registration once it is returned."""
    assert outcome.registrant_id is not None and outcome.approval is not None and outcome.recorded is not None
    recorded = outcome.recorded
    return registered_result(
        ctx.contact_id,
        webinar_id,
        facts,
        outcome.registrant_id,
        outcome.approval,
        recorded.new_registration,
        recorded.registration_count,
    )


def _kept(
    plans: list[PlannedAhead],
    ahead: LookAhead | None,
    ctx: StepContext,
    step: AddContactToZoomWebinarStep,
    webinar_id: str,
    quick: QuickRegistration,
) -> PlannedAhead | None:
    """The plan made in the registration's transaction, when the registration's result as the
    workflow will read it leads to the very context it was made for (the write committed)."""
    if not plans or ahead is None:
        return None
    registered = quick_result(quick, ctx.contact_id, webinar_id)
    if registered is None or registered.code != StepOutcomeCode.REGISTERED:
        return None
    reached = reach_delay(ahead, ctx, step.id, registered.code, registered.message, registered.outputs())
    [planned] = plans
    if reached is None or context_digest(reached[0]) != planned.digest:
        return None
    return planned
