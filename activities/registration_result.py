"""The add-to-webinar step's result (``AddToWebinarResult``) and how it is read from the quick
registration (``quick_result``): shared by the ``AddContactToWebinar`` saga, the enrollment
workflow and ``register_to_webinar``, which decides the steps after a registration in the same
local activity (``registration-look-ahead``, #16.1). Plain functions of their inputs: the
workflows call them in workflow code, the activity in its own (activities import no workflow).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from activities.zoom_registration import QuickRegistration
from engine.dsl.outcomes import StepOutcomeCode
from engine.enrollment.registration import Approval, WebinarFacts


class AddToWebinarResult(BaseModel):
    code: StepOutcomeCode
    message: str
    webinar_id: str | None = None
    registrant_id: str | None = None
    #: Only in results of runs that ended before ``PREFLIGHT``: the personal join link is in the CRM
    #: store since (``participations.join_link``, the contact's ``zoom_webinar_joinlink``).
    join_url: str | None = None
    approval: Approval | None = None
    webinar_start_time: datetime | None = None
    #: start + duration; definitions read it as ``steps.<id>.webinar_end_time``.
    webinar_end_time: datetime | None = None
    connection: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    def outputs(self) -> dict[str, Any]:
        """What templates read as ``steps.<id>.<field>``: JSON values, date-times in ISO 8601
        (``join_url`` only where an old result carries one)."""
        return self.model_dump(mode="json", exclude=None if self.join_url else {"join_url"})


def result_of(
    webinar_id: str,
    facts: WebinarFacts | None,
    code: StepOutcomeCode,
    message: str,
    details: dict[str, Any] | None = None,
    **fields: Any,
) -> AddToWebinarResult:
    return AddToWebinarResult(
        code=code,
        message=message,
        webinar_id=webinar_id or None,
        webinar_start_time=facts.start_time if facts else None,
        webinar_end_time=facts.end_time if facts else None,
        connection=facts.connection if facts else None,
        details=details or {},
        **fields,
    )


def registered_result(
    contact_id: int,
    webinar_id: str,
    facts: WebinarFacts | None,
    registrant_id: str,
    approval: Approval,
    new_registration: bool,
    registration_count: int,
) -> AddToWebinarResult:
    """``REGISTERED``, as the saga and the quick path (``quick_result``) report it."""
    return result_of(
        webinar_id,
        facts,
        StepOutcomeCode.REGISTERED,
        f"Contact {contact_id} is registered to webinar {webinar_id} ({approval})"
        + ("" if new_registration else " — already registered before"),
        {"repeat": not new_registration, "registration_count": registration_count},
        registrant_id=registrant_id,
        approval=approval,
    )


def quick_result(quick: QuickRegistration, contact_id: int, webinar_id: str) -> AddToWebinarResult | None:
    """The step's result from ``register_quickly``, as the saga would have returned it: a
    refusal of the pre-flight or of Zoom, or ``REGISTERED``; None when the saga must decide."""
    checked = quick.preflight
    if quick.saga is not None or checked is None:
        return None
    facts = checked.webinar
    outcome = quick.outcome
    refusal = checked.refusal if outcome is None else outcome.refusal
    if refusal is not None:
        return result_of(webinar_id, facts, refusal.code, refusal.message, refusal.details)
    if outcome is None or outcome.registrant_id is None or outcome.approval is None or outcome.recorded is None:
        return None
    recorded = outcome.recorded
    return registered_result(
        contact_id,
        webinar_id,
        facts,
        outcome.registrant_id,
        outcome.approval,
        recorded.new_registration,
        recorded.registration_count,
    )
