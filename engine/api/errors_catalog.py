"""Every error code the API answers with, its HTTP status and what it means (#14.5).

The OpenAPI document publishes these as the enum of ``ErrorEnvelope.error.code`` (each value with
its meaning in ``x-enumDescriptions`` and the schema's description), and ``ROUTE_ERRORS`` says which
codes each route can answer besides the ones every route of its kind can (no key, role too low,
body too large, invalid request, database busy): ``engine.api.contract`` turns both into the
``responses`` of every operation.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.enrollment.errors import ALREADY_ENROLLED as _ALREADY_ENROLLED


class ErrorCode(StrEnum):
    # --- access and the request itself ---
    UNAUTHORIZED = "UNAUTHORIZED"
    ROLE_REQUIRED = "ROLE_REQUIRED"
    FORBIDDEN = "FORBIDDEN"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    DATABASE_BUSY = "DATABASE_BUSY"
    CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # --- contacts, account users, business units, Zoom connections, settings ---
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_DOMAIN = "INVALID_DOMAIN"
    INVALID_PROPERTY = "INVALID_PROPERTY"
    CONTACT_NOT_FOUND = "CONTACT_NOT_FOUND"
    CONTACT_EXISTS = "CONTACT_EXISTS"
    CONTACT_DELETED = "CONTACT_DELETED"
    NO_DELETED_CONTACT = "NO_DELETED_CONTACT"
    ACCOUNT_USER_EXISTS = "ACCOUNT_USER_EXISTS"
    ACCOUNT_USER_NOT_FOUND = "ACCOUNT_USER_NOT_FOUND"
    BUSINESS_UNIT_EXISTS = "BUSINESS_UNIT_EXISTS"
    BUSINESS_UNIT_NOT_FOUND = "BUSINESS_UNIT_NOT_FOUND"
    ZOOM_CONNECTION_EXISTS = "ZOOM_CONNECTION_EXISTS"
    ZOOM_CONNECTION_NOT_FOUND = "ZOOM_CONNECTION_NOT_FOUND"
    ZOOM_USER_NOT_FOUND = "ZOOM_USER_NOT_FOUND"
    INVALID_CREDENTIALS_REF = "INVALID_CREDENTIALS_REF"
    ADMIN_REQUIRED = "ADMIN_REQUIRED"
    # --- searches and pages ---
    UNKNOWN_FILTER_FIELD = "UNKNOWN_FILTER_FIELD"
    INVALID_FILTER = "INVALID_FILTER"
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_SEARCH = "INVALID_SEARCH"
    # --- workflow definitions ---
    WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
    INVALID_DEFINITION = "INVALID_DEFINITION"
    WORKFLOW_KEY_MISMATCH = "WORKFLOW_KEY_MISMATCH"
    DEFINITION_REVISION_CONFLICT = "DEFINITION_REVISION_CONFLICT"
    # --- enrollment refusals and enrollments ---
    CONTACT_EXCLUDED = "CONTACT_EXCLUDED"
    WORKFLOW_DISABLED = "WORKFLOW_DISABLED"
    TRIGGER_NOT_ALLOWED = "TRIGGER_NOT_ALLOWED"
    RE_ENROLLMENT_OFF = "RE_ENROLLMENT_OFF"
    SUPPRESSED = "SUPPRESSED"
    CRITERIA_NOT_MET = "CRITERIA_NOT_MET"
    GOAL_ALREADY_MET = "GOAL_ALREADY_MET"
    ALREADY_ENROLLED = _ALREADY_ENROLLED
    ENROLLMENT_ACTIVE = "ENROLLMENT_ACTIVE"
    ENROLLMENT_NOT_FOUND = "ENROLLMENT_NOT_FOUND"
    NOT_ENROLLED = "NOT_ENROLLED"
    TEMPORAL_UNAVAILABLE = "TEMPORAL_UNAVAILABLE"
    # --- webinars, transcripts, Zoom ---
    WEBINAR_NOT_FOUND = "WEBINAR_NOT_FOUND"
    TRANSCRIPT_NOT_FOUND = "TRANSCRIPT_NOT_FOUND"
    ZOOM_RATE_LIMITED = "ZOOM_RATE_LIMITED"
    ZOOM_UNAVAILABLE = "ZOOM_UNAVAILABLE"
    # --- Zoom's webhook deliveries (signature-authenticated) ---
    MISSING_SIGNATURE = "MISSING_SIGNATURE"
    MISSING_TIMESTAMP = "MISSING_TIMESTAMP"
    BAD_TIMESTAMP = "BAD_TIMESTAMP"
    STALE_TIMESTAMP = "STALE_TIMESTAMP"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    MALFORMED_BODY = "MALFORMED_BODY"
    # --- the codec server ---
    INVALID_PAYLOADS = "INVALID_PAYLOADS"


C = ErrorCode

#: code → (HTTP status, meaning). The meaning is what a client reads in the documentation.
ERROR_CODES: dict[ErrorCode, tuple[int, str]] = {
    C.UNAUTHORIZED: (
        401,
        "No valid API key: the Authorization header is missing, not `Bearer <key>`, or the key is unknown.",
    ),
    C.ROLE_REQUIRED: (
        403,
        "The key's role is below what the operation (or the part of the answer asked for, such as "
        "`include=email`) needs; details: `required_role`, `role`, `key_name`.",
    ),
    C.FORBIDDEN: (403, "The request is not allowed (a generic refusal without a more specific code)."),
    C.PAYLOAD_TOO_LARGE: (413, "The request body is larger than the route's limit; nothing was read or written."),
    C.VALIDATION_ERROR: (
        422,
        "The request does not match the operation's schema (details: one entry per problem with "
        "`location`, `field`, `message`, `type`), or a rule between fields is broken.",
    ),
    C.BAD_REQUEST: (400, "The request cannot be read at all: a JSON body whose bytes cannot be decoded."),
    C.NOT_FOUND: (404, "No such route, or the thing the path names does not exist."),
    C.METHOD_NOT_ALLOWED: (405, "The path exists but not with this HTTP method."),
    C.UNSUPPORTED_MEDIA_TYPE: (415, "The body's content type is not one the operation reads."),
    C.CONFLICT: (409, "The request conflicts with the current state."),
    C.RATE_LIMITED: (429, "Too many requests; wait for Retry-After seconds."),
    C.DATABASE_BUSY: (
        503,
        "The SQLite store stayed locked by another writer past its busy timeout; retry after the "
        "Retry-After header's seconds. Nothing was written.",
    ),
    C.CONFIGURATION_ERROR: (
        503,
        "A dependency (the database or the Temporal server) cannot be reached or is misconfigured.",
    ),
    C.INTERNAL_ERROR: (500, "A bug: the server log has the details. Input a user can send never causes this."),
    C.INVALID_EMAIL: (422, "An e-mail address is not valid (details: `field`, `value`)."),
    C.INVALID_DOMAIN: (422, "A domain name in the settings is not valid (details: `value`)."),
    C.INVALID_PROPERTY: (422, "A contact property's name or value is not allowed (details: `field`)."),
    C.CONTACT_NOT_FOUND: (404, "No contact has this id (details: `contact_id`)."),
    C.CONTACT_EXISTS: (409, "The e-mail is already another contact's primary or secondary e-mail."),
    C.CONTACT_DELETED: (
        409,
        "The e-mail belongs to a deleted contact; only `POST /v1/contacts/restore` brings it back.",
    ),
    C.NO_DELETED_CONTACT: (404, "No deleted contact has this e-mail, so there is nothing to restore."),
    C.ACCOUNT_USER_EXISTS: (409, "This e-mail is already an account user."),
    C.ACCOUNT_USER_NOT_FOUND: (404, "No account user has this id."),
    C.BUSINESS_UNIT_EXISTS: (409, "A business unit already has this name."),
    C.BUSINESS_UNIT_NOT_FOUND: (404, "No business unit has this id (in the path or the body's `business_unit_ids`)."),
    C.ZOOM_CONNECTION_EXISTS: (409, "A Zoom connection with this name or Zoom account already exists."),
    C.ZOOM_CONNECTION_NOT_FOUND: (
        404,
        "No Zoom connection has this id; for webhooks, no configured connection has this name and a "
        "webhook secret token.",
    ),
    C.ZOOM_USER_NOT_FOUND: (404, "The connection has no Zoom user with this id."),
    C.INVALID_CREDENTIALS_REF: (422, "`credentials_ref` is not `env:VARIABLE` or `file:/path#entry`."),
    C.ADMIN_REQUIRED: (403, "Only an admin key may turn global sync on."),
    C.UNKNOWN_FILTER_FIELD: (
        422,
        "A segment filter names a field that does not exist (details: `field`, `path`, and `allowed`, "
        "the fields that do).",
    ),
    C.INVALID_FILTER: (
        422,
        "A segment filter cannot be evaluated: operator or value unfit for the field (details: `path`).",
    ),
    C.INVALID_CURSOR: (422, "`cursor` is not one this API returned for this list (or this filter)."),
    C.INVALID_SEARCH: (422, "The transcript search `q` has no words to look for, or too many."),
    C.WORKFLOW_NOT_FOUND: (404, "No workflow has this key (details: `key`)."),
    C.INVALID_DEFINITION: (
        422,
        "The YAML definition does not validate; details lists every error with its line, column and path.",
    ),
    C.WORKFLOW_KEY_MISMATCH: (422, "The definition's `key` is not the key in the path."),
    C.DEFINITION_REVISION_CONFLICT: (409, "The definition was changed by another request at the same moment; retry."),
    C.CONTACT_EXCLUDED: (
        422,
        "The contact may never be enrolled; details.reason says why: `invalid_email`, `missing_email`, "
        "`account_user`, `excluded_domain`, `secondary_email` or `deleted_contact`.",
    ),
    C.WORKFLOW_DISABLED: (409, "The workflow is disabled: it takes no new enrollments (details: `key`)."),
    C.TRIGGER_NOT_ALLOWED: (409, "The workflow does not accept this trigger (details: `trigger`, `allowed`)."),
    C.RE_ENROLLMENT_OFF: (
        409,
        "The contact was enrolled before and the workflow does not allow re-enrollment (details: `key`, `contact_id`).",
    ),
    C.SUPPRESSED: (
        409,
        "The contact matches the workflow's suppression list; details.matched names the suppression "
        "condition(s) it matches (`path` in the definition, `field`, `op`, `value`).",
    ),
    C.CRITERIA_NOT_MET: (
        422,
        "The contact does not meet the workflow's enrollment criteria; details.failed names each "
        "criterion it does not meet (`path` in the definition, `field`, `op`, `value`).",
    ),
    C.GOAL_ALREADY_MET: (
        409,
        "The contact already meets the workflow's goal; details.matched names the goal condition(s) it meets.",
    ),
    C.ALREADY_ENROLLED: (409, "The contact already has an active enrollment in this workflow."),
    C.ENROLLMENT_ACTIVE: (409, "The contact already has an active enrollment in this workflow."),
    C.ENROLLMENT_NOT_FOUND: (404, "The contact has never been enrolled in this workflow."),
    C.NOT_ENROLLED: (409, "The contact's enrollment has already ended (details: `enrollment_id`, `status`)."),
    C.TEMPORAL_UNAVAILABLE: (503, "The Temporal server could not start or reach the enrollment's run; retry."),
    C.WEBINAR_NOT_FOUND: (404, "No connected Zoom account has this webinar, or it has not been synced yet."),
    C.TRANSCRIPT_NOT_FOUND: (404, "No transcript of this webinar (or occurrence) is stored."),
    C.ZOOM_RATE_LIMITED: (429, "Zoom rate-limits the lookup of the webinar; retry after Retry-After seconds."),
    C.ZOOM_UNAVAILABLE: (
        503,
        "Zoom could not be asked about the webinar (5xx or no answer); retry after Retry-After seconds.",
    ),
    C.MISSING_SIGNATURE: (401, "The webhook has no `x-zm-signature` header."),
    C.MISSING_TIMESTAMP: (401, "The webhook has no `x-zm-request-timestamp` header."),
    C.BAD_TIMESTAMP: (401, "The webhook's timestamp is not a number of seconds."),
    C.STALE_TIMESTAMP: (401, "The webhook's timestamp is more than 300 s away from now."),
    C.BAD_SIGNATURE: (401, "The webhook's signature does not match its body and the connection's secret token."),
    C.MALFORMED_BODY: (400, "The webhook is correctly signed but its body is not a Zoom event."),
    C.INVALID_PAYLOADS: (
        422,
        'The codec body is not `{"payloads": [...]}` in protobuf JSON, or has more than 1,000 payloads.',
    ),
}


def status_of(code: ErrorCode) -> int:
    return ERROR_CODES[code][0]


class ErrorBody(BaseModel):
    """What went wrong: a stable code to branch on, a message for people, and structured details."""

    model_config = ConfigDict(title="ErrorBody")

    code: ErrorCode = Field(description="the stable error code (see the list of codes and their meanings)")
    message: str = Field(description="what went wrong, in words for a person; its wording may change")
    details: Any = Field(
        default=None,
        description="structured facts about the error (which field, which rule, which criterion); null when none",
    )


class ErrorEnvelope(BaseModel):
    """Every error answer of the API: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorBody = Field(description="the error")


def _codes(*codes: ErrorCode) -> tuple[ErrorCode, ...]:
    return codes


_CONTACT_WRITE = _codes(
    C.INVALID_EMAIL, C.INVALID_PROPERTY, C.CONTACT_EXISTS, C.CONTACT_DELETED, C.BUSINESS_UNIT_NOT_FOUND
)
_REFUSALS = _codes(
    C.CONTACT_EXCLUDED,
    C.WORKFLOW_DISABLED,
    C.TRIGGER_NOT_ALLOWED,
    C.RE_ENROLLMENT_OFF,
    C.SUPPRESSED,
    C.CRITERIA_NOT_MET,
    C.GOAL_ALREADY_MET,
)
_TEMPORAL = _codes(C.TEMPORAL_UNAVAILABLE, C.CONFIGURATION_ERROR)

#: (method, path) → the codes a route can answer besides the kind-wide ones
#: (``engine.api.contract``: UNAUTHORIZED/ROLE_REQUIRED for keyed routes, PAYLOAD_TOO_LARGE for a
#: body, VALIDATION_ERROR for parameters or a body, DATABASE_BUSY for routes of the store).
ROUTE_ERRORS: dict[tuple[str, str], tuple[ErrorCode, ...]] = {
    ("POST", "/v1/system/checks"): _codes(C.CONFIGURATION_ERROR),
    ("GET", "/v1/system/checks/{workflow_id}"): _codes(C.NOT_FOUND, C.CONFIGURATION_ERROR),
    ("GET", "/v1/contacts"): _codes(C.INVALID_CURSOR),
    ("POST", "/v1/contacts/search"): _codes(C.UNKNOWN_FILTER_FIELD, C.INVALID_FILTER, C.INVALID_CURSOR),
    ("GET", "/v1/contacts/{contact_id}"): _codes(C.CONTACT_NOT_FOUND),
    ("GET", "/v1/contacts/{contact_id}/timeline"): _codes(C.CONTACT_NOT_FOUND, C.INVALID_CURSOR),
    ("GET", "/v1/contacts/{contact_id}/participations"): _codes(C.CONTACT_NOT_FOUND),
    ("GET", "/v1/contacts/{contact_id}/enrollments"): _codes(C.CONTACT_NOT_FOUND),
    ("POST", "/v1/contacts"): _CONTACT_WRITE,
    ("PATCH", "/v1/contacts/{contact_id}"): _codes(C.CONTACT_NOT_FOUND, *_CONTACT_WRITE),
    ("DELETE", "/v1/contacts/{contact_id}"): _codes(C.CONTACT_NOT_FOUND),
    ("POST", "/v1/contacts/restore"): _codes(C.INVALID_EMAIL, C.NO_DELETED_CONTACT, C.CONTACT_EXISTS),
    ("POST", "/v1/account-users"): _codes(C.INVALID_EMAIL, C.ACCOUNT_USER_EXISTS),
    ("DELETE", "/v1/account-users/{account_user_id}"): _codes(C.ACCOUNT_USER_NOT_FOUND),
    ("POST", "/v1/business-units"): _codes(C.BUSINESS_UNIT_EXISTS),
    ("GET", "/v1/zoom-connections/{connection_id}"): _codes(C.ZOOM_CONNECTION_NOT_FOUND),
    ("POST", "/v1/zoom-connections"): _codes(
        C.INVALID_EMAIL, C.INVALID_CREDENTIALS_REF, C.BUSINESS_UNIT_NOT_FOUND, C.ZOOM_CONNECTION_EXISTS
    ),
    ("PUT", "/v1/sync-settings"): _codes(C.INVALID_DOMAIN, C.INVALID_EMAIL, C.ADMIN_REQUIRED),
    ("GET", "/v1/zoom-connections/{connection_id}/users"): _codes(C.ZOOM_CONNECTION_NOT_FOUND),
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}"): _codes(
        C.ZOOM_CONNECTION_NOT_FOUND, C.INVALID_EMAIL
    ),
    ("GET", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars"): _codes(
        C.ZOOM_CONNECTION_NOT_FOUND, C.ZOOM_USER_NOT_FOUND
    ),
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}"): _codes(
        C.ZOOM_CONNECTION_NOT_FOUND, C.ZOOM_USER_NOT_FOUND
    ),
    ("DELETE", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}"): _codes(
        C.ZOOM_CONNECTION_NOT_FOUND, C.ZOOM_USER_NOT_FOUND, C.NOT_FOUND
    ),
    ("GET", "/v1/webinars/{webinar_id}/audit"): _codes(C.INVALID_CURSOR),
    ("GET", "/v1/webinars/{webinar_id}/sync"): _codes(C.NOT_FOUND, C.CONFIGURATION_ERROR),
    ("POST", "/v1/webinars/{webinar_id}/sync"): _codes(
        C.WEBINAR_NOT_FOUND, C.ZOOM_RATE_LIMITED, C.ZOOM_UNAVAILABLE, C.CONFIGURATION_ERROR
    ),
    ("GET", "/v1/webinars/{webinar_id}/transcript"): _codes(C.TRANSCRIPT_NOT_FOUND, C.INVALID_CURSOR),
    ("GET", "/v1/transcripts/search"): _codes(C.INVALID_SEARCH, C.INVALID_CURSOR),
    ("GET", "/v1/workflows/{key}"): _codes(C.WORKFLOW_NOT_FOUND),
    ("PUT", "/v1/workflows/{key}"): _codes(
        C.INVALID_DEFINITION, C.WORKFLOW_KEY_MISMATCH, C.DEFINITION_REVISION_CONFLICT
    ),
    ("POST", "/v1/workflows/{key}/enable"): _codes(C.WORKFLOW_NOT_FOUND),
    ("POST", "/v1/workflows/{key}/disable"): _codes(C.WORKFLOW_NOT_FOUND),
    ("POST", "/v1/workflows/{key}/enrollments"): _codes(
        C.WORKFLOW_NOT_FOUND, C.CONTACT_NOT_FOUND, C.INVALID_PROPERTY, *_REFUSALS, *_TEMPORAL
    ),
    ("POST", "/v1/workflows/{key}/enrollments:bulk"): _codes(
        C.WORKFLOW_NOT_FOUND,
        C.WORKFLOW_DISABLED,
        C.UNKNOWN_FILTER_FIELD,
        C.INVALID_FILTER,
        C.INVALID_CURSOR,
        *_TEMPORAL,
    ),
    ("GET", "/v1/workflows/{key}/enrollments"): _codes(C.WORKFLOW_NOT_FOUND, C.ROLE_REQUIRED, C.INVALID_CURSOR),
    ("GET", "/v1/workflows/{key}/stats"): _codes(C.WORKFLOW_NOT_FOUND),
    ("GET", "/v1/workflows/{key}/enrollments/{contact_id}"): _codes(
        C.WORKFLOW_NOT_FOUND, C.ENROLLMENT_NOT_FOUND, *_TEMPORAL
    ),
    ("DELETE", "/v1/workflows/{key}/enrollments/{contact_id}"): _codes(
        C.WORKFLOW_NOT_FOUND, C.ENROLLMENT_NOT_FOUND, C.NOT_ENROLLED, *_TEMPORAL
    ),
    ("POST", "/codec/decode"): _codes(C.PAYLOAD_TOO_LARGE, C.INVALID_PAYLOADS),
    ("POST", "/codec/encode"): _codes(C.PAYLOAD_TOO_LARGE, C.INVALID_PAYLOADS),
    ("POST", "/codec/login"): _codes(C.UNAUTHORIZED),
    ("POST", "/v1/zoom/webhooks/{connection}"): _codes(
        C.PAYLOAD_TOO_LARGE,
        C.ZOOM_CONNECTION_NOT_FOUND,
        C.MISSING_SIGNATURE,
        C.MISSING_TIMESTAMP,
        C.BAD_TIMESTAMP,
        C.STALE_TIMESTAMP,
        C.BAD_SIGNATURE,
        C.MALFORMED_BODY,
    ),
}

#: Routes that never touch the store (no DATABASE_BUSY).
STORELESS: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/v1/api-keys"),
        ("POST", "/v1/system/checks"),
        ("GET", "/v1/system/checks/{workflow_id}"),
    }
)


def enum_schema_extra(schema: dict[str, Any]) -> None:
    """The meaning of each code beside the enum (ReDoc shows ``x-enumDescriptions``)."""
    schema["x-enumDescriptions"] = {code.value: meaning for code, (_status, meaning) in ERROR_CODES.items()}
    schema["description"] = "The stable error code. Each code, its HTTP status and its meaning:\n\n" + "\n".join(
        f"- `{code.value}` ({status}): {meaning}" for code, (status, meaning) in ERROR_CODES.items()
    )
