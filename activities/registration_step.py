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
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.enrollment import EnrollmentActivities
from activities.zoom_registration import PreflightInput, QuickRegistration, ZoomRegistrationActivities
from engine.dsl.models import AddContactToZoomWebinarStep
from engine.enrollment.contracts import RegistrationPrepared, StepContext, StepResult

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


class RegistrationStepActivities:
    """``register_to_webinar``: the step prelude of ``EnrollmentActivities`` and the quick path of
    ``ZoomRegistrationActivities``, in one local activity."""

    def __init__(self, enrollment: EnrollmentActivities, zoom: ZoomRegistrationActivities) -> None:
        self._enrollment = enrollment
        self._zoom = zoom

    @activity.defn
    async def register_to_webinar(self, ctx: StepContext, step: AddContactToZoomWebinarStep) -> RegistrationStep:
        """Prelude and webinar id (a store failure here fails the attempt, which is retried: nothing
        was sent to Zoom yet), then the quick registration, which never raises: anything it cannot
        decide is the saga's."""
        prepared = await asyncio.to_thread(self._enrollment.prepare, ctx, step)
        if not isinstance(prepared.root, RegistrationPrepared):
            return RegistrationStep(step=prepared)
        webinar_id = prepared.root.webinar_id
        try:
            quick = await asyncio.wait_for(
                self._zoom.register_quickly(
                    PreflightInput(contact_id=ctx.contact_id, webinar_id=webinar_id, retry=step.retry)
                ),
                QUICK_BUDGET.total_seconds(),
            )
        except Exception as error:  # the saga's steps are idempotent and retried durably
            quick = QuickRegistration(saga=f"the quick path failed: {type(error).__name__}")
        return RegistrationStep(webinar_id=webinar_id, quick=quick)

    def all(self) -> list[Callable[..., Any]]:
        return [self.register_to_webinar]
