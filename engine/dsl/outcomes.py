"""The outcome codes a step ends with: what the interpreter records and what branches test.

Every step ends with exactly one code. ``SKIPPED`` is the outcome of a step the enrollment never
ran (a branch jumped over it), so ``outcome_of`` may name any step.
"""

from __future__ import annotations

from enum import StrEnum


class StepOutcomeCode(StrEnum):
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    # add_contact_to_zoom_webinar (R-ADD-1…6)
    REGISTERED = "REGISTERED"
    BUSINESS_UNIT_MISMATCH = "BUSINESS_UNIT_MISMATCH"
    HOST_CANNOT_REGISTER = "HOST_CANNOT_REGISTER"
    EXTRA_REQUIRED_FIELDS = "EXTRA_REQUIRED_FIELDS"
    REGISTRATION_DISABLED = "REGISTRATION_DISABLED"
    WEBINAR_ENDED = "WEBINAR_ENDED"
    WEBINAR_NOT_FOUND = "WEBINAR_NOT_FOUND"
    MISSING_CONTACT_FIELDS = "MISSING_CONTACT_FIELDS"
    DAILY_LIMIT_REACHED = "DAILY_LIMIT_REACHED"
    INVALID_WEBINAR_ID = "INVALID_WEBINAR_ID"
    # webhook
    DELIVERED = "DELIVERED"
    # enroll: the other workflow refused the contact (#14.1; the refusal codes of enrolling)
    WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
    WORKFLOW_DISABLED = "WORKFLOW_DISABLED"
    TRIGGER_NOT_ALLOWED = "TRIGGER_NOT_ALLOWED"
    RE_ENROLLMENT_OFF = "RE_ENROLLMENT_OFF"
    SUPPRESSED = "SUPPRESSED"
    CRITERIA_NOT_MET = "CRITERIA_NOT_MET"
    GOAL_ALREADY_MET = "GOAL_ALREADY_MET"
    CONTACT_EXCLUDED = "CONTACT_EXCLUDED"


#: Outcomes where the step did what it is for (the stats' "succeeded"); FAILED is "failed"; the
#: other codes (a refusal, an invalid webinar id, SKIPPED) are neither.
SUCCEEDED = frozenset({StepOutcomeCode.COMPLETED, StepOutcomeCode.DELIVERED, StepOutcomeCode.REGISTERED})

ENROLL_REFUSALS = frozenset(
    {
        StepOutcomeCode.WORKFLOW_NOT_FOUND,
        StepOutcomeCode.WORKFLOW_DISABLED,
        StepOutcomeCode.TRIGGER_NOT_ALLOWED,
        StepOutcomeCode.RE_ENROLLMENT_OFF,
        StepOutcomeCode.SUPPRESSED,
        StepOutcomeCode.CRITERIA_NOT_MET,
        StepOutcomeCode.GOAL_ALREADY_MET,
        StepOutcomeCode.CONTACT_EXCLUDED,
    }
)


_ANY_STEP = frozenset({StepOutcomeCode.SKIPPED})
#: A step that calls out fails with FAILED when its retries are exhausted and on_error lets the
#: enrollment go on (``continue`` or ``goto``); so does a step whose template cannot be rendered.
_CALLS_OUT = _ANY_STEP | {StepOutcomeCode.FAILED}

#: Which codes each step type can end with: validation refuses a branch testing a code its step
#: can never produce (a typo like testing REGISTERED on a webhook would silently never match).
OUTCOMES_BY_STEP_TYPE: dict[str, frozenset[StepOutcomeCode]] = {
    "add_contact_to_zoom_webinar": _CALLS_OUT
    | {
        StepOutcomeCode.REGISTERED,
        StepOutcomeCode.BUSINESS_UNIT_MISMATCH,
        StepOutcomeCode.HOST_CANNOT_REGISTER,
        StepOutcomeCode.EXTRA_REQUIRED_FIELDS,
        StepOutcomeCode.REGISTRATION_DISABLED,
        StepOutcomeCode.WEBINAR_ENDED,
        StepOutcomeCode.WEBINAR_NOT_FOUND,
        StepOutcomeCode.MISSING_CONTACT_FIELDS,
        StepOutcomeCode.DAILY_LIMIT_REACHED,
        StepOutcomeCode.INVALID_WEBINAR_ID,
    },
    "webhook": _CALLS_OUT | {StepOutcomeCode.DELIVERED},
    "set_property": _CALLS_OUT | {StepOutcomeCode.COMPLETED},
    "enroll": _CALLS_OUT | {StepOutcomeCode.COMPLETED} | ENROLL_REFUSALS,
    # A delay or branch whose template cannot be rendered fails (#13.5).
    "delay": _CALLS_OUT | {StepOutcomeCode.COMPLETED},
    "branch": _CALLS_OUT | {StepOutcomeCode.COMPLETED},
    "end": _ANY_STEP | {StepOutcomeCode.COMPLETED},
}
