"""Why an enrollment was refused: stable codes for the API (409/422), the CLI and bulk results."""

from __future__ import annotations

from engine.errors import Conflict, InvalidInput, RollcallError

#: The ``code`` a bulk item and an ``enroll`` step's output carry for a contact enrolled already.
#: Not a refusal — asking to enroll a contact enrolled already answers the running enrollment — so
#: no error is raised with it.
ALREADY_ENROLLED = "ALREADY_ENROLLED"


class EnrollmentRefused(RollcallError):
    """Base of every refusal; a bulk request reports the code per item."""


class ReEnrollmentOff(EnrollmentRefused, Conflict):
    code = "RE_ENROLLMENT_OFF"


class Suppressed(EnrollmentRefused, Conflict):
    code = "SUPPRESSED"


class GoalAlreadyMet(EnrollmentRefused, Conflict):
    code = "GOAL_ALREADY_MET"


class WorkflowDisabled(EnrollmentRefused, Conflict):
    code = "WORKFLOW_DISABLED"


class TriggerNotAllowed(EnrollmentRefused, Conflict):
    code = "TRIGGER_NOT_ALLOWED"


class CriteriaNotMet(EnrollmentRefused, InvalidInput):
    code = "CRITERIA_NOT_MET"


class ContactExcluded(EnrollmentRefused, InvalidInput):
    code = "CONTACT_EXCLUDED"


class NotEnrolled(Conflict):
    code = "NOT_ENROLLED"


class TemporalUnavailable(RollcallError):
    code = "TEMPORAL_UNAVAILABLE"
    http_status = 503
