"""Verification of Zoom webhook requests (docs/zoom.md, "Webhooks"), as pure functions.

Zoom signs ``"v0:{x-zm-request-timestamp}:{raw body}"`` with HMAC-SHA256 under the app's secret
token and sends ``x-zm-signature: v0=<hex>``. ``verify_request`` checks that over the **raw bytes**
(re-serialised JSON would not match), in constant time, within a timestamp window, and returns the
typed event with a de-duplication key that is stable across Zoom's redeliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.zoom.models import IdStr

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
SIGNATURE_VERSION = "v0"
#: Common practice (and Zoom's sample code): refuse requests signed more than 5 minutes ago.
DEFAULT_TOLERANCE_SECONDS = 300
#: Unix seconds have 10 digits until 2286; a longer value is refused before any arithmetic on it.
MAX_TIMESTAMP_DIGITS = 12
URL_VALIDATION_EVENT = "endpoint.url_validation"


class WebhookErrorCode(StrEnum):
    MISSING_SIGNATURE = "MISSING_SIGNATURE"
    MISSING_TIMESTAMP = "MISSING_TIMESTAMP"
    BAD_TIMESTAMP = "BAD_TIMESTAMP"
    STALE_TIMESTAMP = "STALE_TIMESTAMP"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    MALFORMED_BODY = "MALFORMED_BODY"


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh Zoom webhook; answer 401 (400 for a malformed body)."""

    def __init__(self, code: WebhookErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class WebhookRegistrant(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    join_url: str | None = None
    status: str | None = None


class WebhookParticipant(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    user_id: str | None = None
    participant_user_id: str | None = None
    user_name: str | None = None
    email: str | None = None
    registrant_id: str | None = None
    join_time: str | None = None
    leave_time: str | None = None


class WebhookObject(BaseModel):
    """``payload.object``. Its ``id`` is a number in registration and recording events and a string
    in webinar and participant events; it is always a ``str`` here."""

    model_config = ConfigDict(extra="allow")

    id: IdStr | None = None
    uuid: str | None = None
    host_id: str | None = None
    topic: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration: int | None = None
    registrant: WebhookRegistrant | None = None
    participant: WebhookParticipant | None = None
    recording_files: list[dict[str, Any]] = Field(default_factory=list)


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    account_id: str | None = None
    operator: str | None = None
    operator_id: str | None = None
    object: WebhookObject | None = None
    plain_token: str | None = Field(default=None, alias="plainToken")


class WebhookEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: str
    event_ts: int | None = None
    payload: WebhookPayload
    download_token: str | None = None


@dataclass(frozen=True)
class VerifiedEvent:
    event: WebhookEvent
    #: Same for every redelivery of one event; the receiver keeps it to drop duplicates.
    dedup_key: str
    timestamp: int

    @property
    def is_url_validation(self) -> bool:
        return self.event.event == URL_VALIDATION_EVENT


def sign(secret_token: str, timestamp: int | str, raw_body: bytes) -> str:
    """The ``x-zm-signature`` value Zoom sends for this body and timestamp."""
    message = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + raw_body
    digest = hmac.new(secret_token.encode(), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def url_validation_response(secret_token: str, plain_token: str) -> dict[str, str]:
    """The 200 body answering ``endpoint.url_validation``."""
    encrypted = hmac.new(secret_token.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}


def dedup_key(event: WebhookEvent) -> str:
    """sha256 of the event name, ``event_ts`` and the identity of what it is about.

    A redelivery repeats the same body (only the timestamp header and signature change), so the
    key is stable; two distinct events differ in name, time or object.
    """
    obj = event.payload.object
    identity: list[Any] = [event.event, event.event_ts, event.payload.account_id]
    if obj is not None:
        identity += [obj.id, obj.uuid]
        if obj.registrant is not None:
            identity += [obj.registrant.id, (obj.registrant.email or "").lower()]
        if obj.participant is not None:
            p = obj.participant
            identity += [p.user_id, p.participant_user_id, p.registrant_id, p.join_time, p.leave_time]
        identity += sorted(str(f.get("id", "")) for f in obj.recording_files)
    canonical = json.dumps(identity, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_request(
    secret_token: str,
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> VerifiedEvent:
    """Verify one webhook request; raise ``WebhookVerificationError`` with a stable code if not genuine.

    ``now`` is Unix seconds (defaults to the wall clock); timestamps further than the tolerance in
    the past or the future are refused, which bounds replays.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER)
    if not signature:
        raise WebhookVerificationError(WebhookErrorCode.MISSING_SIGNATURE, f"no {SIGNATURE_HEADER} header")
    raw_timestamp = lowered.get(TIMESTAMP_HEADER)
    if not raw_timestamp:
        raise WebhookVerificationError(WebhookErrorCode.MISSING_TIMESTAMP, f"no {TIMESTAMP_HEADER} header")
    digits = raw_timestamp.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= MAX_TIMESTAMP_DIGITS):
        raise WebhookVerificationError(WebhookErrorCode.BAD_TIMESTAMP, f"{TIMESTAMP_HEADER} is not Unix seconds")
    timestamp = int(digits)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookVerificationError(
            WebhookErrorCode.STALE_TIMESTAMP,
            f"signed {int(current - timestamp)} s from now, outside ±{tolerance_seconds} s",
        )
    expected = sign(secret_token, digits, raw_body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise WebhookVerificationError(WebhookErrorCode.BAD_SIGNATURE, "signature does not match the body")
    try:
        event = WebhookEvent.model_validate_json(raw_body)
    except ValidationError as exc:
        raise WebhookVerificationError(
            WebhookErrorCode.MALFORMED_BODY, f"signed body is not a Zoom event: {exc.error_count()} errors"
        ) from exc
    return VerifiedEvent(event=event, dedup_key=dedup_key(event), timestamp=timestamp)
