"""Errors of the CRM store, each with a stable code the API and CLI show as is."""

from __future__ import annotations

from engine.errors import Conflict, InvalidInput, NotFound, RollcallError


class ContactNotFound(NotFound):
    code = "CONTACT_NOT_FOUND"


class ContactExists(Conflict):
    """The email is already some contact's primary or secondary email."""

    code = "CONTACT_EXISTS"


class ContactDeleted(Conflict):
    """R-EXC-5: the email belongs to a deleted contact; only an explicit restore brings it back."""

    code = "CONTACT_DELETED"


class NotDeleted(NotFound):
    code = "NO_DELETED_CONTACT"


class AccountUserExists(Conflict):
    code = "ACCOUNT_USER_EXISTS"


class AccountUserNotFound(NotFound):
    code = "ACCOUNT_USER_NOT_FOUND"


class BusinessUnitExists(Conflict):
    code = "BUSINESS_UNIT_EXISTS"


class BusinessUnitNotFound(NotFound):
    code = "BUSINESS_UNIT_NOT_FOUND"


class ZoomConnectionExists(Conflict):
    code = "ZOOM_CONNECTION_EXISTS"


class ZoomConnectionNotFound(NotFound):
    code = "ZOOM_CONNECTION_NOT_FOUND"


class ZoomUserNotFound(NotFound):
    code = "ZOOM_USER_NOT_FOUND"


class InvalidCredentialsRef(InvalidInput):
    code = "INVALID_CREDENTIALS_REF"


class InvalidProperty(InvalidInput):
    code = "INVALID_PROPERTY"


class AdminRequired(RollcallError):
    """R-SET-1: only an admin may turn global sync on."""

    code = "ADMIN_REQUIRED"
    http_status = 403


class UnknownFilterField(InvalidInput):
    """A segment filter names a field that does not exist; ``details.allowed`` lists those that do."""

    code = "UNKNOWN_FILTER_FIELD"


class InvalidFilter(InvalidInput):
    """A segment filter is well formed JSON but cannot be evaluated (operator or value unfit for the field)."""

    code = "INVALID_FILTER"


class InvalidCursor(InvalidInput):
    code = "INVALID_CURSOR"


class DefinitionRevisionConflict(Conflict):
    code = "DEFINITION_REVISION_CONFLICT"


class EnrollmentNotFound(NotFound):
    code = "ENROLLMENT_NOT_FOUND"


class WorkflowNotFound(NotFound):
    code = "WORKFLOW_NOT_FOUND"
