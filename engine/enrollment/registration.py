"""The rules of the "Add Contact to Zoom Webinar" action (R-ADD-3…6, R-SCOPE-2), as pure functions.

The pre-flight (``activities.zoom_registration``) applies them in this order, the first refusal
being the step's outcome: the business unit (``business_unit_refusal``), the host, alternative
hosts and connecting user (``host_role``), Zoom Events and registration turned off
(``registration_state_refusal``), the registration form and the contact's own fields
(``form_refusal``). Zoom's own answers map to the same outcomes (``registration_refusal`` for
add-registrant, ``lookup_refusal`` for questions about a webinar), so a refusal reads the same
whoever noticed it. A ``Refusal`` is *returned* by activities, never raised; it travels through
workflow history, so it holds ids and codes, never an e-mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.crm.registrations import ContactIdentity
from engine.dsl.outcomes import StepOutcomeCode
from engine.zoom import (
    ApprovalType,
    RateLimitType,
    RegistrationQuestions,
    ZoomError,
    ZoomHostCannotRegister,
    ZoomNotFound,
    ZoomRateLimited,
    ZoomRegistrationDisabled,
    ZoomValidationError,
    ZoomWebinarOver,
)

#: R-ADD-4: the message of HOST_CANNOT_REGISTER, word for word.
HOST_CANNOT_REGISTER_MESSAGE = "The webinar host cannot register for the webinar"
#: The fields R-ADD-1 sends; a form may require these and nothing else (R-ADD-5).
SENT_FIELDS = ("first_name", "last_name", "email")

HostRole = Literal["host", "alternative_host", "connecting_user"]
Approval = Literal["approved", "pending"]


class Refusal(BaseModel):
    """A business outcome that ends the step without registering (returned, never raised)."""

    code: StepOutcomeCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class WebinarFacts(BaseModel):
    """The webinar as its owning connection sees it, and that connection as the store knows it."""

    webinar_id: str
    connection: str
    #: The Zoom account the connection belongs to, as the store knows it (None: not in the store).
    zoom_account_id: str | None = None
    topic: str = ""
    start_time: datetime | None = None
    duration_minutes: int | None = None
    end_time: datetime | None = None
    approval_type: int = ApprovalType.NO_REGISTRATION.value
    is_zoom_event: bool = False
    #: The host's Zoom user id (an id, not the e-mail).
    host_id: str | None = None
    #: ``zoom_connections`` row of the store; all ``None`` when the connection is configured but
    #: connected to no business unit.
    crm_connection_id: int | None = None
    business_unit_id: int | None = None
    business_unit_name: str | None = None
    business_unit_is_primary: bool = False


def business_unit_refusal(facts: WebinarFacts) -> Refusal | None:
    """R-ADD-3: only webinars of the Zoom account connected to the primary business unit."""
    if facts.business_unit_is_primary:
        return None
    rule = "the action only registers contacts for webinars of the Zoom account connected to the primary business unit"
    if facts.business_unit_id is None:
        return Refusal(
            code=StepOutcomeCode.BUSINESS_UNIT_MISMATCH,
            message=f"Webinar {facts.webinar_id} belongs to Zoom connection {facts.connection!r}, which is connected "
            f"to no business unit; {rule}",
            details={"reason": "no_business_unit", "connection": facts.connection},
        )
    return Refusal(
        code=StepOutcomeCode.BUSINESS_UNIT_MISMATCH,
        message=f"Webinar {facts.webinar_id} belongs to the Zoom account of business unit "
        f"{facts.business_unit_name!r} (connection {facts.connection!r}); {rule}",
        details={
            "reason": "other_business_unit",
            "connection": facts.connection,
            "business_unit": facts.business_unit_name,
            "business_unit_id": facts.business_unit_id,
        },
    )


def host_role(
    email: str, host_email: str | None, alternative_hosts: Sequence[str], connected_by_email: str | None
) -> HostRole | None:
    """R-ADD-4: which of the people who may not register the contact's primary e-mail is, if any
    (case-insensitively)."""
    email = email.strip().lower()
    if host_email and email == host_email.strip().lower():
        return "host"
    if email in {host.strip().lower() for host in alternative_hosts}:
        return "alternative_host"
    if connected_by_email and email == connected_by_email.strip().lower():
        return "connecting_user"
    return None


def host_refusal(role: HostRole) -> Refusal:
    return Refusal(
        code=StepOutcomeCode.HOST_CANNOT_REGISTER,
        message=HOST_CANNOT_REGISTER_MESSAGE,
        details={"role": role, "detected_by": "rollcall"},
    )


def registration_state_refusal(facts: WebinarFacts) -> Refusal | None:
    """R-SCOPE-2 (no Zoom Events) and R-ADD-6 (registration turned off), from the webinar's settings;
    "ended" and "not found" come from Zoom's answers (``_state_refusal``)."""
    if facts.is_zoom_event:
        return Refusal(
            code=StepOutcomeCode.REGISTRATION_DISABLED,
            # R-SCOPE-2 (the rule id stays here, out of the message users read: #14.5).
            message=f"Webinar {facts.webinar_id} belongs to a Zoom Event; Rollcall does not register contacts "
            "to Zoom Events",
            details={"reason": "zoom_event"},
        )
    if facts.approval_type == ApprovalType.NO_REGISTRATION:
        return Refusal(
            code=StepOutcomeCode.REGISTRATION_DISABLED,
            message=f"Webinar {facts.webinar_id} does not have registration turned on (Zoom approval_type 2)",
            details={"reason": "no_registration"},
        )
    return None


def missing_contact_fields(identity: ContactIdentity, questions: RegistrationQuestions) -> list[str]:
    """The fields Zoom will need that the contact lacks: a first name always, a last name when the
    form requires it."""
    missing: list[str] = []
    if not (identity.first_name or "").strip():
        missing.append("first_name")
    last_name_required = any(q.field_name == "last_name" and q.required for q in questions.questions)
    if last_name_required and not (identity.last_name or "").strip():
        missing.append("last_name")
    return missing


def form_refusal(webinar_id: str, contact_id: int, extra: list[str], missing: list[str]) -> Refusal | None:
    """R-ADD-5: the form requires nothing but what R-ADD-1 sends, and the contact has it."""
    if extra:
        return Refusal(
            code=StepOutcomeCode.EXTRA_REQUIRED_FIELDS,
            message=extra_fields_message(webinar_id, extra),
            details={"fields": extra, "detected_by": "rollcall"},
        )
    if missing:
        return Refusal(
            code=StepOutcomeCode.MISSING_CONTACT_FIELDS,
            message=f"Contact {contact_id} has no {', '.join(missing)}, which the registration needs",
            details={"fields": missing},
        )
    return None


def extra_fields_message(webinar_id: str, fields: list[str]) -> str:
    """The EXTRA_REQUIRED_FIELDS message, for Zoom's answer and the pre-flight alike."""
    return (
        f"The registration form of webinar {webinar_id} requires {', '.join(fields)}; Rollcall sends only "
        "first name, last name and email, so the form must not require anything else"
    )


def state_refusal(error: ZoomError, webinar_id: str) -> Refusal | None:
    """R-ADD-6: disabled, ended and not-found answers are outcomes, not retried."""
    if isinstance(error, ZoomRegistrationDisabled):
        return Refusal(
            code=StepOutcomeCode.REGISTRATION_DISABLED,
            message=f"Webinar {webinar_id} does not have registration turned on (Zoom approval_type 2)",
            details={"zoom_code": error.zoom_code},
        )
    if isinstance(error, ZoomWebinarOver):
        return Refusal(
            code=StepOutcomeCode.WEBINAR_ENDED,
            message=f"Webinar {webinar_id} has ended; Zoom no longer accepts registrations",
            details={"zoom_code": error.zoom_code},
        )
    if isinstance(error, ZoomNotFound):
        return Refusal(
            code=StepOutcomeCode.WEBINAR_NOT_FOUND,
            message=f"Webinar {webinar_id} was not found in Zoom or has expired",
            details={"zoom_code": error.zoom_code},
        )
    return None


def is_daily_limit(error: ZoomError) -> bool:
    return isinstance(error, ZoomRateLimited) and error.limit_type == RateLimitType.DAILY


def daily_limit_refusal(error: ZoomError, scope: str, webinar_id: str) -> Refusal:
    # Zoom's own message names the registrant's email: it is not repeated here.
    if scope == "registrant":
        message = (
            f"Zoom's daily limit of add-registrant requests for this contact and webinar {webinar_id} is reached; "
            "it resets at 00:00 UTC"
        )
    else:
        message = f"The Zoom account's daily API limit is reached (asking about webinar {webinar_id}); try tomorrow"
    details: dict[str, Any] = {"scope": scope}
    if error.retry_after is not None:
        details["retry_after_seconds"] = round(error.retry_after)
    return Refusal(code=StepOutcomeCode.DAILY_LIMIT_REACHED, message=message, details=details)


def lookup_refusal(error: ZoomError, webinar_id: str) -> Refusal | None:
    """What an error of a question to Zoom about the webinar means for the step, when it is an outcome."""
    if is_daily_limit(error):
        return daily_limit_refusal(error, "account", webinar_id)
    return state_refusal(error, webinar_id)


def registration_refusal(error: ZoomError, webinar_id: str) -> Refusal | None:
    """What an add-registrant error means for the step, when it is a business outcome."""
    state = state_refusal(error, webinar_id)
    if state is not None:
        return state
    if isinstance(error, ZoomHostCannotRegister):
        return Refusal(
            code=StepOutcomeCode.HOST_CANNOT_REGISTER,
            message=HOST_CANNOT_REGISTER_MESSAGE,
            details={"detected_by": "zoom", "zoom_code": error.zoom_code},
        )
    if is_daily_limit(error):
        return daily_limit_refusal(error, "registrant", webinar_id)
    if isinstance(error, ZoomValidationError) and error.field_errors:
        return _field_errors_refusal(error, webinar_id)
    return None


def _field_errors_refusal(error: ZoomValidationError, webinar_id: str) -> Refusal:
    fields: list[str] = []
    for item in error.field_errors:
        # Custom questions are reported as field "custom_questions", "<title> is required."
        name = item.message.removesuffix(" is required.") if item.field == "custom_questions" else item.field
        if name not in fields:
            fields.append(name)
    extra = [f for f in fields if f not in SENT_FIELDS]
    if extra:
        return Refusal(
            code=StepOutcomeCode.EXTRA_REQUIRED_FIELDS,
            message=extra_fields_message(webinar_id, extra),
            details={"fields": extra, "detected_by": "zoom"},
        )
    contact_fields = [f for f in fields if f in SENT_FIELDS]
    return Refusal(
        code=StepOutcomeCode.MISSING_CONTACT_FIELDS,
        message=f"Zoom refused the registration: the contact lacks {', '.join(contact_fields)}",
        details={"fields": contact_fields, "detected_by": "zoom"},
    )


def approval_of(approval_type: int) -> Approval:
    """A registration's approval on a webinar with this Zoom ``approval_type`` (0 automatic, 1 manual)."""
    return "pending" if approval_type == ApprovalType.MANUAL else "approved"
