"""The API's published contract (#14.5): offline docs, and an OpenAPI document that tells the truth.

- ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) load their scripts, styles and icon from the
  ``fastapi-offline`` package, served by the API itself under ``/docs/assets/`` — no CDN, so the
  pages work on a machine without internet. They are public, like ``/openapi.json`` (ROUTE_ROLES).
- ``document_contract`` post-processes the generated document once: every error status each
  operation can answer gets the ``ErrorEnvelope`` schema and a description listing its codes,
  derived from the route table (401/403 for keyed routes), the request's shape (413 for a body,
  422 for parameters or a body), the store (503 ``DATABASE_BUSY``) and ``ROUTE_ERRORS`` (the codes
  each route raises); the error codes become an enum with each meaning; parameters and fields
  without a description get one from the glossaries below; internal rule ids are taken out of
  every text a reader sees.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter

from engine.api.access import CODEC_SESSION_COOKIE, COOKIE_ROUTES
from engine.api.auth import Role
from engine.api.errors_catalog import (
    ERROR_CODES,
    ROUTE_ERRORS,
    STORELESS,
    ErrorCode,
    ErrorEnvelope,
    enum_schema_extra,
    status_of,
)
from engine.errors import NotFound

DOCS_ASSETS_PATH = "/docs/assets"
#: The files of ``fastapi_offline/static`` the pages load, and their media types.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}

#: ``R-SEG-1``, ``(R-EXC-1)``, ``R-SET-1…6``, ``§7``: rule ids of the specification, kept in code and tests only.
RULE_ID = re.compile(r"\bR-[A-Z]+-\d+|§\s?\d+")
_RULE_PREFIX = re.compile(r"^(?:R-[A-Z]+-\d+(?:\s*(?:…|\.\.\.|-)\s*\d+)?[:.]?\s*)+")
_RULE_PARENTHESES = re.compile(r"\s*\((?:(?:R-[A-Z]+-\d+(?:\s*(?:…|\.\.\.|-)\s*\d+)?|§\s?\d+)(?:,\s*|\s*/\s*)?)+\)")
_RULE_ANYWHERE = re.compile(r"(?:R-[A-Z]+-\d+(?:\s*(?:…|\.\.\.|-)\s*\d+)?|§\s?\d+)")


def without_rule_ids(text: str) -> str:
    text = _RULE_PARENTHESES.sub("", text)
    text = _RULE_PREFIX.sub("", text)
    text = _RULE_ANYWHERE.sub("the rule", text)
    return text[:1].upper() + text[1:] if text else text


# --- offline docs ------------------------------------------------------------------------------------


#: The docs pages may load nothing from anywhere but this server: a guard besides the assets
#: themselves (``_CDN_REWRITES``), for whatever a future asset version links to. Inline scripts and
#: styles are the pages' own set-up; ReDoc runs its search in a worker made from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-src 'none'; object-src 'none'; base-uri 'self'"
)


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


def _asset_file(name: str) -> Any:
    return resources.files("fastapi_offline").joinpath("static", name)


def install_docs(app: FastAPI) -> None:
    """``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and their assets, all from this server."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _local_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} — Swagger UI",
                swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
                oauth2_redirect_url="/docs/oauth2-redirect",
                # No call to swagger.io's online validator: the page stays on this server.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _local_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} — ReDoc",
                redoc_js_url=f"{DOCS_ASSETS_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
                with_google_fonts=False,
            )
        )

    @app.get(DOCS_ASSETS_PATH + "/{asset}", include_in_schema=False)
    async def docs_asset(asset: str) -> Response:
        media_type = DOCS_ASSETS.get(asset)
        if media_type is None:
            raise NotFound("no such documentation asset")
        return Response(_asset_bytes(asset), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


#: ReDoc's sidebar shows Redocly's logo from their CDN; it is this server's icon instead.
_CDN_REWRITES = {"redoc.standalone.js": ((b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"/docs/assets/favicon.png"),)}


@functools.cache
def _asset_bytes(name: str) -> bytes:
    content = _asset_file(name).read_bytes()
    for old, new in _CDN_REWRITES.get(name, ()):
        content = content.replace(old, new)
    return bytes(content)


# --- glossaries ----------------------------------------------------------------------------------------

#: Path and query parameters by name.
PARAMETER_DOCS: dict[str, str] = {
    "contact_id": "the contact's id",
    "account_user_id": "the account user's id",
    "connection_id": "the Zoom connection's id",
    "zoom_user_id": "the Zoom user's id (as Zoom gives it)",
    "webinar_id": "the Zoom webinar id (digits)",
    "workflow_id": "the system check's workflow id, as the POST answered it",
    "key": "the workflow's key (lowercase letters, digits and single hyphens)",
    "connection": "the name of a configured Zoom connection",
    "cursor": "pass back the previous page's next_cursor to read the next page; leave out for the first",
    "limit": "the largest number of items in the page",
    "status": "only enrollments with this status",
    "current_step": "only active enrollments at this step (its id in the definition)",
    "step": "only enrollments with an outcome recorded for this step (its id in the definition)",
    "outcome": "only enrollments whose step (step, or any step) ended with this outcome code, e.g. FAILED",
    "trigger": "only enrollments started by this trigger",
    "since": "only enrollments enrolled at or after this time (ISO 8601; UTC without an offset)",
    "until": "only enrollments enrolled before this time (ISO 8601; UTC without an offset)",
    "include": "email: add each contact's e-mail (operator keys and above)",
    "occurrence": "only the transcript of this occurrence (its Zoom UUID)",
    "speaker": "only cues of this speaker (exact name)",
    "q": "words, all of which must occur",
}

#: Schema properties: ``Schema.property`` first, then ``property`` alone (a name with one meaning everywhere).
FIELD_DOCS: dict[str, str] = {
    # names with one meaning everywhere
    "first_name": "first name",
    "last_name": "last name",
    "properties": "custom properties: name → string, number, boolean or null",
    "secondary_emails": "other e-mail addresses of the contact; they never identify it for the sync",
    "business_unit_ids": "the business units the contact belongs to (ids)",
    "created_at": "when it was created (UTC)",
    "updated_at": "when it last changed (UTC)",
    "next_cursor": "pass back as cursor for the next page; null on the last page",
    "contact_id": "the contact's id",
    "enrollment_id": "the enrollment's id",
    "workflow_key": "the workflow's key",
    "run_id": "the Temporal run id (null until the run has started)",
    "ended_reason": (
        "why an ended enrollment ended early (unenrolled, goal_met, suppressed, contact_deleted…); null otherwise"
    ),
    "current_step": "the id of the step the enrollment is at; null once it has ended",
    "enrolled_at": "when the contact was enrolled (UTC)",
    "ended_at": "when the enrollment ended (UTC); null while active",
    "business_unit_id": "the business unit's id",
    "zoom_account_id": "the Zoom account id of the connection",
    "zoom_webinar_id": "the Zoom webinar id",
    "connected_by_email": "the e-mail of the Zoom user who connected the account",
    "credentials_ref": "where the Zoom credentials are: env:VARIABLE or file:/path#entry (never the secret itself)",
    "sync_new_webinars_by_default": "whether the user's new webinars are synced unless overridden (on for a new user)",
    "sync_recordings": "whether the user's recordings and transcripts are synced (on for a new user)",
    "zoom_webinar_attendance_average_duration": "the contact's average attendance over its webinars, in seconds",
    "zoom_webinar_joinlink": "the join link of the contact's latest webinar registration",
    "zoom_webinar_registration_count": "how many webinars the contact registered for",
    "zoom_webinar_attendance_count": "how many webinars the contact attended",
    "marketing_event_id": "the id of the webinar's marketing event in the store",
    "recording_id": "the id of the recording in the store",
    "transcript_id": "the id of the transcript in the store",
    "occurrence_start": "when the occurrence started (UTC)",
    "speaker": "who spoke, as the transcript names them; null when unnamed",
    "end_seconds": "where the cue ends, in seconds from the start of the recording",
    "start_seconds": "where the cue starts, in seconds from the start of the recording",
    "text": "what was said",
    "filters": "the filters to combine (1 to 50)",
    "step_id": "the step's id in the definition",
    "current_version": "the version of the workflow's current revision",
    "enabled": "whether the workflow takes new enrollments",
    "source": "where the current revision came from: file:<path> or api:<key name>",
    "sync_enabled": "whether syncing is on",
    "waiting_until": "while the enrollment waits in a delay: when it goes on (UTC)",
    "history": "the action log: each step's outcome in order",
    "webinar_name": "the webinar's topic",
    "webinar_start_time": "when the webinar starts (UTC)",
    "registered_at": "when the contact registered (UTC)",
    "cancelled_at": "when the registration was cancelled (UTC)",
    "attended": "whether the contact attended",
    "join_link": "the contact's join link",
    "attendance_seconds": "how long the contact attended, in seconds",
    "attendance_percent": "the share of the webinar the contact attended, in percent",
    "content_hash": "the hash of the parsed definition (same content, same hash)",
    "topic": "the webinar's topic",
    "byte_size": "the transcript file's size in bytes",
    "cue_count": "how many cues the transcript has",
    "downloaded_at": "when the transcript was downloaded (UTC)",
    "transcripts": "the stored transcripts, one per occurrence",
    "cues": "the page of cues, in order",
    "hits": "the page of matching cues, best first",
    "yaml": "the current revision's YAML, as saved",
    "revisions": "every revision, oldest first",
    "changed": "true when the definition differs from the current revision (201), false when unchanged (200)",
    "connection_id": "the Zoom connection's id",
    "zoom_user_id": "the Zoom user's id",
    "is_primary": "whether this is the primary business unit (Account, always present)",
    "configured_in": "where the key is configured, e.g. ROLLCALL_API_KEYS entry 2",
    "webinar_sync": "whose webinars are synced: all, or the selected hosts (webinar_sync_users)",
    "recording_sync": "whose recordings and transcripts are synced",
    "host_exclusion_domains": "hosts with an e-mail on these domains are not synced",
    "recording_exclusion_domains": "recordings of hosts on these domains are not synced",
    "recording_exclusion_users": "recordings of these hosts (e-mails) are not synced",
    "contact_exclusion_domains": "people with an e-mail on these domains are never created as contacts",
    "worker_task_queue": "the task queue of the worker that ran the check",
    "store": "the store the worker reached",
    "backend": "the database backend (sqlite or postgresql)",
    "revision": "the store's schema revision (Alembic)",
    "phase": "what the run does now (in words)",
    "done": "items of the current phase done",
    "total": "items of the current phase in all, when known",
    "registrants": "registrant rows read so far",
    "registrants_total": "registrants Zoom reported, when known",
    "attendees": "attendee rows read so far",
    "attendees_total": "attendees Zoom reported, when known",
    "recording_files": "recording files stored so far",
    "waiting_for": "what the run waits for (the recording or the transcript); null when not waiting",
    "next_check_at": "while waiting: when the run looks again (UTC)",
    "refresh_pending": "whether a follow-up sync was asked for while this one runs",
    "run_key": "the audit entry's run key ({workflow id}:{run id} of the run that opened it)",
    "kind": "what happened: webinar_registration, webinar_attendance, recording_available, or a workflow action",
    "occurred_at": "when it happened (UTC)",
    "events": "the page of timeline events, newest first",
    "entries": "the page of audit entries, newest first",
    "enrollments": "the page of enrollments, newest first",
    "warnings": "what the sync could not do or chose not to, with the affected records",
    "where": "conditions every matching event must meet (up to 20)",
    "op": "the comparison",
    "value": "the value to compare with (a list for in and not_in; none for is_set and is_not_set)",
    "segment": "a segment filter: enroll its matches (give this or contacts)",
    "index": "the item's position in the request's contacts (or the segment page), from 0",
    "results": "one result per item, in order",
    "items": "the affected records",
    # names whose meaning depends on the schema
    "ContactIn.email": "the contact's primary e-mail (give this or contact_id): created or updated by it",
    "ContactIn.contact_id": "an existing contact's id (give this or email)",
    "ContactIn.first_name": "first name to set on the contact",
    "ContactIn.last_name": "last name to set on the contact",
    "ContactIn.properties": "properties to merge into the contact's (null removes one)",
    "ContactCreate.email": "the contact's primary e-mail",
    "ContactUpdate.email": "a new primary e-mail",
    "ContactRestore.email": "the deleted contact's primary e-mail",
    "ContactOut.email": "the contact's primary e-mail",
    "ContactSummary.email": "the contact's primary e-mail",
    "AccountUserCreate.email": "the staff member's e-mail",
    "AccountUserOut.email": "the staff member's e-mail",
    "ZoomUserPut.email": "the Zoom user's e-mail",
    "ZoomUserOut.email": "the Zoom user's e-mail",
    "AccountUserCreate.name": "the staff member's name",
    "AccountUserOut.name": "the staff member's name",
    "ApiKeyOut.name": "the key's name (never the key)",
    "ApiKeyOut.role": "the key's role",
    "BusinessUnitCreate.name": "the business unit's name (unique, not blank)",
    "BusinessUnitOut.name": "the business unit's name",
    "WorkflowOut.name": "the workflow's name",
    "WorkflowDetail.name": "the workflow's name",
    "WorkflowSaved.name": "the workflow's name",
    "ZoomConnectionCreate.name": "the connection's name (unique)",
    "ZoomConnectionOut.name": "the connection's name",
    "AccountUserOut.id": "the account user's id",
    "AuditEntryOut.id": "the audit entry's id",
    "BusinessUnitOut.id": "the business unit's id",
    "ContactOut.id": "the contact's id",
    "ContactSummary.id": "the contact's id",
    "TimelineEventOut.id": "the timeline event's id",
    "TranscriptOut.id": "the transcript's id",
    "WebhookRecorded.id": "the recorded event's id in the store",
    "ZoomConnectionOut.id": "the connection's id",
    "BulkItemOut.workflow_id": "the enrollment's Temporal workflow id (null unless enrolled or already enrolled)",
    "EnrollmentDetail.workflow_id": "the enrollment's Temporal workflow id",
    "EnrollmentOut.workflow_id": "the enrollment's Temporal workflow id",
    "EnrollmentSummaryOut.workflow_id": "the enrollment's Temporal workflow id",
    "SyncStarted.workflow_id": "the sync run's Temporal workflow id",
    "SyncState.workflow_id": "the sync run's Temporal workflow id",
    "SystemCheckStarted.workflow_id": (
        "the check's Temporal workflow id (pass it to GET /v1/system/checks/{workflow_id})"
    ),
    "SystemCheckStatus.workflow_id": "the check's Temporal workflow id",
    "SystemCheckStarted.run_id": "the check's Temporal run id",
    "SyncState.run_id": "the sync run's Temporal run id",
    "AuditEntryOut.status": "how the sync run went",
    "EnrollmentDetail.status": "active, completed, failed or cancelled",
    "EnrollmentSummaryOut.status": "active, completed, failed or cancelled",
    "SyncProgress.status": "running, or how the run ended",
    "SyncState.status": "the Temporal run's status: running, completed, failed, continued_as_new, terminated…",
    "SystemCheckStatus.status": "the check run's status: running, completed, failed…",
    "WebhookRecorded.status": "recorded (new) or duplicate (a redelivery of an event already recorded)",
    "trigger": "what started it",
    "AuditEntryOut.trigger": "what started the sync: schedule, webhook, manual…",
    "BulkEnrollmentRequest.trigger": "recorded as the enrollments' trigger: api or manual",
    "EnrollmentDetail.trigger": "what started the enrollment: api, manual, event or workflow",
    "EnrollmentSummaryOut.trigger": "what started the enrollment: api, manual, event or workflow",
    "version": "the workflow revision's version",
    "RevisionOut.version": "the revision's version (1, 2, …)",
    "EnrollmentDetail.version": "the workflow version the enrollment runs",
    "EnrollmentOut.version": "the workflow version the enrollment runs",
    "EnrollmentSummaryOut.version": "the workflow version the enrollment runs",
    "webinar_id": "the Zoom webinar id",
    "business_unit": "the business unit's name",
    "SyncStarted.business_unit": "the name of the business unit whose connection owns the webinar (null if none)",
    "WorkflowOut.key": "the workflow's key",
    "WorkflowDetail.key": "the workflow's key",
    "WorkflowSaved.key": "the workflow's key",
    "Body_login_codec_login_post.key": "a Rollcall API key (viewer or above); never shown again",
    "AuditWarning.message": "the warning in words",
    "BulkItemOut.message": "the refusal's or error's message (null when enrolled)",
    "StepOutcomeOut.message": "the outcome in words (null when none)",
    "AuditEntryOut.started_at": "when the sync run started (UTC)",
    "AuditEntryOut.finished_at": "when the sync run finished (UTC); null while it runs",
    "StepOutcomeOut.started_at": "when the step started (UTC), when known",
    "StepOutcomeOut.finished_at": "when the step's outcome was recorded (UTC)",
    "AuditEntryOut.counts": "the run's counts: rows read and written, contacts created and matched, …",
    "BulkEnrollmentResult.counts": "how many items per result: enrolled, already_enrolled, refused, error",
    "BulkEnrollmentRequest.contacts": "the contacts to enroll, by id or e-mail (give this or segment; at most 10,000)",
    "ContactPage.contacts": "the page of contacts, by id",
    "BulkEnrollmentRequest.limit": "for a segment: the largest number of matches to enroll in this request",
    "ContactSearch.limit": "the largest number of contacts in the page",
    "BulkEnrollmentRequest.cursor": "for a segment: the previous answer's next_cursor, to continue",
    "ContactSearch.cursor": "the previous page's next_cursor, to continue; leave out for the first page",
    "AndFilter.type": "and: every filter matches",
    "OrFilter.type": "or: at least one filter matches",
    "NotFilter.type": "not: the filter does not match",
    "Condition.type": "condition: a comparison of one field with a value",
    "EventFilter.type": "event: the contact has a matching event",
    "NotFilter.filter": "the filter that must not match",
    "EventFilter.event": "the kind of event",
    "WebhookRecorded.event": "Zoom's event name, e.g. webinar.registration_created",
    "TranscriptOut.detail": "why the transcript is too_large or invalid; null when stored",
    "occurrence": "the Zoom instance UUID of the occurrence",
    "SearchHitOut.sequence": "the cue's position in its transcript, from 1",
    "StepOutcomeOut.sequence": "the step's position in the action log, from 1",
    "StepOutcomeOut.outcome": "the step's outcome code: COMPLETED, FAILED, DELIVERED, REGISTERED, SKIPPED…",
    "StepOutcomeOut.data": "the step's structured result (what it wrote, sent or decided)",
    "TimelineEventOut.data": "the event's facts (webinar, times, step…)",
    "AuditWarning.code": "the warning's code",
    "AuditWarning.items": "the affected records, e.g. an excluded e-mail and why",
    "AuditEntryOut.warnings": "what the sync could not do or chose not to",
    "ParticipationOut.state": "registered, attended or cancelled",
    "SyncState.progress": "counts so far, the current phase and, while waiting, what for and when it looks next",
    "SyncState.details": "the same in words, as the run's current details in the Temporal Web UI",
    "SyncState.audit_entry": "the run's audit entry (the previous run's until this one opens its own)",
    "SyncStarted.connection": "the name of the Zoom connection that owns the webinar",
    "SystemCheckStatus.result": "the check's result once it has completed; null before",
    "WorkflowStatsOut.key": "the workflow's key",
    "WorkflowStatsOut.enrolled": "enrollments in all",
    "WorkflowStatsOut.active": "enrollments running now",
    "WorkflowStatsOut.completed": "enrollments that reached the end",
    "WorkflowStatsOut.failed": "enrollments that ended failed",
    "WorkflowStatsOut.cancelled": "enrollments that ended early (unenrolled, suppressed, goal met, contact deleted)",
    "WorkflowStatsOut.steps": "per step of the current revision: reached, succeeded, failed, waiting",
    "EnrollmentDetail.history": "the action log: each step's outcome in order",
}


def _field_doc(schema_name: str, prop: str) -> str | None:
    return FIELD_DOCS.get(f"{schema_name}.{prop}") or FIELD_DOCS.get(prop) or None


# --- the document ----------------------------------------------------------------------------------------

_ERROR_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
_STATUS_WORDS = {
    400: "Bad request",
    401: "No valid API key or signature",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid request or refused",
    429: "Rate limited",
    503: "Unavailable: retry later",
}
_SUCCESS_WORDS = {
    "200": "OK",
    "201": "Created",
    "202": "Accepted: the work is started and goes on in the background",
    "204": "Done (no content)",
}
#: Answers that are not errors although their status is 4xx/5xx: /readyz's 503 is its report.
NOT_ENVELOPED = {("GET", "/readyz", "503")}


def operation_codes(method: str, path: str, operation: dict[str, Any], role: Role | None) -> list[ErrorCode]:
    """Every error code the operation can answer: kind-wide ones, then the route's own."""
    key = (method, path)
    codes: list[ErrorCode] = []
    if role is not None:
        codes += [ErrorCode.UNAUTHORIZED, ErrorCode.ROLE_REQUIRED]
    if key in RAW_BODIES:
        codes.append(ErrorCode.PAYLOAD_TOO_LARGE)  # the route reads and judges the rest itself
    elif "requestBody" in operation:
        codes += [ErrorCode.PAYLOAD_TOO_LARGE, ErrorCode.VALIDATION_ERROR]
        if "application/json" in operation["requestBody"].get("content", {}):
            codes.append(ErrorCode.BAD_REQUEST)  # bytes that cannot be decoded at all
    if operation.get("parameters"):
        codes.append(ErrorCode.VALIDATION_ERROR)
    if path.startswith("/v1/") and key not in STORELESS:
        codes.append(ErrorCode.DATABASE_BUSY)
    codes += ROUTE_ERRORS.get(key, ())
    return list(dict.fromkeys(codes))


def _error_responses(codes: list[ErrorCode], existing: dict[str, Any]) -> dict[str, Any]:
    by_status: dict[int, list[ErrorCode]] = {}
    for code in codes:
        by_status.setdefault(status_of(code), []).append(code)
    responses: dict[str, Any] = {}
    for status in sorted(by_status):
        previous = existing.get(str(status), {}).get("description", "")
        lead = previous if previous and previous != "Validation Error" else _STATUS_WORDS.get(status, "Error")
        listed = "\n".join(f"- `{code.value}`: {ERROR_CODES[code][1]}" for code in by_status[status])
        response: dict[str, Any] = {
            "description": f"{lead}. The error's code is one of:\n\n{listed}",
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
        if status in (429, 503):
            response["headers"] = _RETRY_AFTER
        responses[str(status)] = response
    return responses


def _clean_texts(node: Any) -> None:
    """Rule ids out of every description, summary and title (they stay in code and tests)."""
    if isinstance(node, dict):
        for name in ("description", "summary", "title"):
            if isinstance(node.get(name), str):
                node[name] = without_rule_ids(node[name])
        for value in node.values():
            _clean_texts(value)
    elif isinstance(node, list):
        for value in node:
            _clean_texts(value)


def _document_schemas(schemas: dict[str, Any]) -> None:
    for name, schema in schemas.items():
        for prop, prop_schema in schema.get("properties", {}).items():
            if not prop_schema.get("description"):
                doc = _field_doc(name, prop)
                if doc:
                    prop_schema["description"] = doc


def _document_parameters(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if not parameter.get("description"):
            doc = parameter.get("schema", {}).get("description") or PARAMETER_DOCS.get(parameter["name"])
            if doc:
                parameter["description"] = doc


def _document_access(operation: dict[str, Any], role: Role | None, *, cookie: bool = False) -> None:
    if role is None:
        operation["security"] = []
        return
    operation["security"] = [{"ApiKey": []}, {"CodecSession": []}] if cookie else [{"ApiKey": []}]
    operation["x-required-role"] = role.value
    note = f"Needs an API key with role **{role.value}** or above."
    operation["description"] = f"{operation['description']}\n\n{note}" if operation.get("description") else note


def build_contract(schema: dict[str, Any], route_roles: dict[tuple[str, str], Role | None]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    envelope = TypeAdapter(ErrorEnvelope).json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in envelope.pop("$defs", {}).items():
        schemas[name] = definition
    schemas["ErrorEnvelope"] = envelope
    enum_schema_extra(schemas["ErrorCode"])
    components.setdefault("securitySchemes", {})["ApiKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "An API key from ROLLCALL_API_KEYS (name:role:key), ROLLCALL_API_KEYS_FILE or "
            "ROLLCALL_ADMIN_API_KEYS. Roles: viewer < operator < editor < admin; each operation "
            "says the least role it needs (x-required-role). 401 UNAUTHORIZED without a valid key, 403 "
            "ROLE_REQUIRED with one whose role is too low."
        ),
    }
    components["securitySchemes"]["CodecSession"] = {
        "type": "apiKey",
        "in": "cookie",
        "name": CODEC_SESSION_COOKIE.decode(),
        "description": "The codec's session cookie, set by POST /codec/login (codec routes only)",
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            role = route_roles[(method.upper(), path)]
            _document_access(operation, role, cookie=(method.upper(), path) in COOKIE_ROUTES)
            _document_parameters(operation)
            _document_examples(method.upper(), path, operation)  # before the codes: a raw body counts
            responses = operation.setdefault("responses", {})
            codes = operation_codes(method.upper(), path, operation, role)
            for status, response in _error_responses(codes, responses).items():
                if (method.upper(), path, status) not in NOT_ENVELOPED:
                    responses[status] = response
                if (method.upper(), path, status) in HTML_ALTERNATIVES:
                    response["content"]["text/html"] = {"schema": {"type": "string"}}
            for status, response in responses.items():
                if response.get("description") == "Successful Response" and status in _SUCCESS_WORDS:
                    response["description"] = _SUCCESS_WORDS[status]
            operation["responses"] = dict(sorted(responses.items()))
    # FastAPI's own 422 shape is never answered: every 422 is the envelope.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    _document_schemas(schemas)
    _clean_texts(schema)
    return schema


def document_contract(app: FastAPI, route_roles: dict[tuple[str, str], Role | None]) -> None:
    """Make ``app.openapi()`` answer the documented contract (built once, on first use)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_contract(build(), route_roles)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# --- examples (each one is executed against a live API by tests/e2e/test_api_examples.py) ---------------

EXAMPLE_WORKFLOW_YAML = """\
key: example-welcome
name: Welcome new pro contacts
enrollment:
  triggers: [{type: api}, {type: manual}]
  criteria: {type: condition, field: properties.plan, op: eq, value: pro}
steps:
  - id: wait
    type: delay
    for: 1d
"""

#: (method, path) → named request-body examples (media type, then name → example object).
REQUEST_EXAMPLES: dict[tuple[str, str], tuple[str, dict[str, dict[str, Any]]]] = {
    ("POST", "/v1/contacts"): (
        "application/json",
        {
            "ada": {
                "summary": "A contact with properties",
                "value": {
                    "email": "ada@example.com",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "properties": {"plan": "pro", "seats": 3},
                },
            }
        },
    ),
    ("PATCH", "/v1/contacts/{contact_id}"): (
        "application/json",
        {"seats": {"summary": "Change a property, keep the rest", "value": {"properties": {"seats": 5}}}},
    ),
    ("POST", "/v1/contacts/search"): (
        "application/json",
        {
            "pro": {
                "summary": "Contacts on the pro plan",
                "value": {"filter": {"type": "condition", "field": "properties.plan", "op": "eq", "value": "pro"}},
            },
            "domain": {
                "summary": "Contacts of one domain who attended a webinar",
                "value": {
                    "filter": {
                        "type": "and",
                        "filters": [
                            {"type": "condition", "field": "email", "op": "contains", "value": "@example.com"},
                            {"type": "event", "event": "webinar_attendance"},
                        ],
                    },
                    "limit": 50,
                },
            },
        },
    ),
    ("POST", "/v1/contacts/restore"): (
        "application/json",
        {"restore": {"summary": "Bring back a deleted contact's e-mail", "value": {"email": "ada@example.com"}}},
    ),
    ("POST", "/v1/account-users"): (
        "application/json",
        {"staff": {"summary": "A staff member, never synced", "value": {"email": "ops@example.org", "name": "Ops"}}},
    ),
    ("POST", "/v1/business-units"): (
        "application/json",
        {"emea": {"summary": "A new unit", "value": {"name": "EMEA"}}},
    ),
    ("POST", "/v1/zoom-connections"): (
        "application/json",
        {
            "main": {
                "summary": "Connect the primary unit's Zoom account",
                "value": {
                    "business_unit_id": 1,
                    "name": "main",
                    "zoom_account_id": "AbCdEf123",
                    "connected_by_email": "admin@example.org",
                    "credentials_ref": "env:ZOOM_MAIN",
                },
            }
        },
    ),
    ("PUT", "/v1/sync-settings"): (
        "application/json",
        {
            "on": {
                "summary": "Sync every webinar, never create contacts of our own domain",
                "value": {"sync_enabled": True, "webinar_sync": "all", "contact_exclusion_domains": ["example.org"]},
            }
        },
    ),
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}"): (
        "application/json",
        {
            "host": {
                "summary": "A host whose recordings are not synced",
                "value": {"email": "host@example.org", "sync_recordings": False},
            }
        },
    ),
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}"): (
        "application/json",
        {"off": {"summary": "Do not sync this webinar", "value": {"sync_enabled": False}}},
    ),
    ("PUT", "/v1/workflows/{key}"): (
        "application/yaml",
        {"welcome": {"summary": "A workflow definition", "value": EXAMPLE_WORKFLOW_YAML}},
    ),
    ("POST", "/v1/workflows/{key}/enrollments"): (
        "application/json",
        {
            "by_email": {
                "summary": "Enroll by e-mail (the contact is created or updated)",
                "value": {"email": "grace@example.com", "first_name": "Grace", "properties": {"plan": "pro"}},
            },
            "by_id": {"summary": "Enroll an existing contact", "value": {"contact_id": 1}},
        },
    ),
    ("POST", "/v1/workflows/{key}/enrollments:bulk"): (
        "application/json",
        {
            "list": {
                "summary": "Enroll a list of contacts",
                "value": {
                    "contacts": [
                        {"email": "linus@example.com", "properties": {"plan": "pro"}},
                        {"email": "barbara@example.com", "properties": {"plan": "pro"}},
                    ]
                },
            },
            "segment": {
                "summary": "Enroll the first 100 matches of a segment",
                "value": {
                    "segment": {"type": "condition", "field": "properties.plan", "op": "eq", "value": "pro"},
                    "limit": 100,
                    "trigger": "manual",
                },
            },
        },
    ),
}

_PAYLOADS_SCHEMA = {
    "type": "object",
    "description": "Temporal's Payloads in protobuf JSON: metadata values and data are base64",
    "properties": {
        "payloads": {
            "type": "array",
            "maxItems": 1000,
            "description": "the payloads, each with its metadata (encoding, key id…) and data",
            "items": {"type": "object"},
        }
    },
    "required": ["payloads"],
}
_PAYLOADS_EXAMPLE = {
    "json": {
        "summary": 'One JSON payload ({"a": 1}, encoding json/plain)',
        "value": {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "eyJhIjogMX0="}]},
    }
}
#: Routes that read their body themselves: the body they expect, for the document.
RAW_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/codec/decode"): {
        "required": True,
        "content": {"application/json": {"schema": _PAYLOADS_SCHEMA, "examples": _PAYLOADS_EXAMPLE}},
    },
    ("POST", "/codec/encode"): {
        "required": True,
        "content": {"application/json": {"schema": _PAYLOADS_SCHEMA, "examples": _PAYLOADS_EXAMPLE}},
    },
}
#: Answers that may also come as a page for a browser.
HTML_ALTERNATIVES = {("POST", "/codec/login", "401")}

#: Path parameter examples by name, and the operations that do not get them (they need Zoom or a
#: running sync, which the examples cannot assume).
PATH_EXAMPLES: dict[str, Any] = {
    "contact_id": 1,
    "account_user_id": 1,
    "connection_id": 1,
    "zoom_user_id": "host-1",
    "webinar_id": "81000000001",
    "key": "example-welcome",
}
NO_PATH_EXAMPLES = {
    ("GET", "/v1/webinars/{webinar_id}/sync"),
    ("POST", "/v1/webinars/{webinar_id}/sync"),
    ("GET", "/v1/webinars/{webinar_id}/transcript"),
    ("GET", "/v1/system/checks/{workflow_id}"),
    ("POST", "/v1/zoom/webhooks/{connection}"),
}


def _document_examples(method: str, path: str, operation: dict[str, Any]) -> None:
    if (method, path) in RAW_BODIES and "requestBody" not in operation:
        operation["requestBody"] = RAW_BODIES[(method, path)]
    if (method, path) in REQUEST_EXAMPLES:
        media, examples = REQUEST_EXAMPLES[(method, path)]
        content = operation["requestBody"]["content"]
        content.setdefault(media, {})["examples"] = examples
    if (method, path) in NO_PATH_EXAMPLES:
        return
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and parameter["name"] in PATH_EXAMPLES:
            parameter["example"] = PATH_EXAMPLES[parameter["name"]]
