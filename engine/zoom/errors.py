"""Typed Zoom errors, built from Zoom's error envelope ``{"code", "message", "errors"?}``.

Every error carries a stable Rollcall ``code`` (for audit entries and the API), Zoom's own numeric
code, the HTTP status, Zoom's ``x-zm-trackingid`` (to quote to Zoom support) and whether a retry
could succeed. The client never retries by itself (apart from one token refresh): durable retries
belong to the Temporal activities, which read ``retryable`` and ``retry_after``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from engine.retry_after import parse_retry_after

TRACKING_ID_HEADER = "x-zm-trackingid"

# Zoom's numeric error codes that Rollcall distinguishes (docs/zoom.md, "Errors").
ZOOM_CODE_VALIDATION = 300
ZOOM_CODE_USER_NOT_FOUND = 1001
ZOOM_CODE_REGISTRATION_DISABLED = 3000
ZOOM_CODE_WEBINAR_NOT_FOUND = 3001
ZOOM_CODE_HOST_CANNOT_REGISTER = 3027
ZOOM_CODE_WEBINAR_OVER = 3038
ZOOM_CODE_NO_RECORDING = 3301
ZOOM_CODE_REPORT_TOO_OLD = 12702
ZOOM_CODE_TOKEN_EXPIRED = 124

#: The message Zoom sends with code 300 when a ``next_page_token`` is unknown or older than 15 minutes.
PAGE_TOKEN_EXPIRED_MESSAGE = "The next page token is invalid or expired."


class ZoomError(Exception):
    """Base of every error raised by ``engine.zoom``."""

    code: ClassVar[str] = "ZOOM_ERROR"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        zoom_code: int | None = None,
        http_status: int | None = None,
        tracking_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.zoom_code = zoom_code
        self.http_status = http_status
        self.tracking_id = tracking_id

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before retrying, when Zoom said so; ``None`` when it did not."""
        return None

    def __str__(self) -> str:
        parts = [f"{self.code}: {self.message}"]
        if self.zoom_code is not None:
            parts.append(f"zoom_code={self.zoom_code}")
        if self.http_status is not None:
            parts.append(f"http_status={self.http_status}")
        if self.tracking_id:
            parts.append(f"tracking_id={self.tracking_id}")
        return " ".join(parts)


class ZoomApiError(ZoomError):
    """A Zoom answer Rollcall has no more precise type for (not retried)."""

    code = "ZOOM_API_ERROR"


class ZoomNotFound(ZoomApiError):
    """404 code 3001 (webinar not found or expired) or 1001 (user does not exist)."""

    code = "ZOOM_NOT_FOUND"


class ZoomNoRecording(ZoomApiError):
    """404 code 3301: no ready recording (yet) for this instance — R-SYNC-5 retries later."""

    code = "ZOOM_NO_RECORDING"


class ZoomHostCannotRegister(ZoomApiError):
    """400 code 3027 — R-ADD-4."""

    code = "ZOOM_HOST_CANNOT_REGISTER"


class ZoomRegistrationDisabled(ZoomApiError):
    """400 code 3000: the webinar has no registration (``approval_type`` 2) — R-ADD-6."""

    code = "ZOOM_REGISTRATION_DISABLED"


class ZoomWebinarOver(ZoomApiError):
    """400 code 3038: the webinar has ended, registration is closed — R-ADD-6."""

    code = "ZOOM_WEBINAR_OVER"


class ZoomReportTooOld(ZoomApiError):
    """400 code 12702: reports reach back about six months only."""

    code = "ZOOM_REPORT_TOO_OLD"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class ZoomValidationError(ZoomApiError):
    """400 code 300 "Validation Failed." with per-field ``errors[]``."""

    code = "ZOOM_VALIDATION_FAILED"

    def __init__(self, message: str, *, field_errors: tuple[FieldError, ...] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field_errors = field_errors


class ZoomPageTokenExpired(ZoomApiError):
    """Code 300 "The next page token is invalid or expired." (tokens live 15 minutes).

    Not retryable as such: the caller must restart the listing from the first page.
    """

    code = "ZOOM_PAGE_TOKEN_EXPIRED"


class ZoomDownloadTooLarge(ZoomApiError):
    """A recording file larger than the caller's cap (announced, or counted as it streamed in)."""

    code = "ZOOM_DOWNLOAD_TOO_LARGE"


class ZoomDownloadNotAllowed(ZoomApiError):
    """A ``download_url`` that is not on Zoom (nor on the API's own host): Rollcall does not send
    its Zoom token there."""

    code = "ZOOM_DOWNLOAD_URL_NOT_ALLOWED"


class ZoomAuthError(ZoomApiError):
    """Credentials refused by ``/oauth/token``, or a 401 that survived one token refresh."""

    code = "ZOOM_AUTH_FAILED"


class ZoomTokenExpired(ZoomAuthError):
    """401 code 124 (expired or invalid access token): the client refreshes once and retries."""

    code = "ZOOM_TOKEN_EXPIRED"


class RateLimitType(StrEnum):
    QPS = "QPS"
    DAILY = "Daily-limit"
    UNKNOWN = "unknown"


class ZoomRateLimited(ZoomError):
    """429. ``limit_type`` says whether the per-second or the daily budget ran out.

    ``retry_after`` comes from ``Retry-After`` (seconds or an ISO-8601 / HTTP date); ``None`` when
    Zoom sent no header, in which case callers back off with jitter (docs/zoom.md, "Rate limits").
    ``category`` is ``X-RateLimit-Category`` as Zoom sent it (``Light``…), if it did.
    """

    code = "ZOOM_RATE_LIMITED"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        limit_type: RateLimitType,
        retry_after_seconds: float | None,
        category: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.limit_type = limit_type
        self.category = category
        self._retry_after = retry_after_seconds

    @property
    def retry_after(self) -> float | None:
        return self._retry_after


class ZoomServerError(ZoomError):
    """A 5xx answer: transient on Zoom's side."""

    code = "ZOOM_SERVER_ERROR"
    retryable = True


class ZoomTransportError(ZoomError):
    """No usable answer: connection refused or dropped, or a timeout."""

    code = "ZOOM_TRANSPORT_ERROR"
    retryable = True


class ZoomTimeout(ZoomTransportError):
    code = "ZOOM_TIMEOUT"


class ZoomResponseError(ZoomError):
    """Zoom answered 2xx with a body that does not match the documented shape."""

    code = "ZOOM_BAD_RESPONSE"


_CLASS_BY_ZOOM_CODE: dict[int, type[ZoomApiError]] = {
    ZOOM_CODE_WEBINAR_NOT_FOUND: ZoomNotFound,
    ZOOM_CODE_USER_NOT_FOUND: ZoomNotFound,
    ZOOM_CODE_NO_RECORDING: ZoomNoRecording,
    ZOOM_CODE_HOST_CANNOT_REGISTER: ZoomHostCannotRegister,
    ZOOM_CODE_REGISTRATION_DISABLED: ZoomRegistrationDisabled,
    ZOOM_CODE_WEBINAR_OVER: ZoomWebinarOver,
    ZOOM_CODE_REPORT_TOO_OLD: ZoomReportTooOld,
}


def _seconds_to_next_utc_midnight(now: datetime) -> float:
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return (midnight - now).total_seconds()


def _rate_limit_type(headers: Mapping[str, str], message: str) -> RateLimitType:
    declared = headers.get("x-ratelimit-type", "").strip().lower()
    if declared == "qps":
        return RateLimitType.QPS
    if declared.startswith("daily"):
        return RateLimitType.DAILY
    lowered = message.lower()
    # Without headers the message is all there is: "per-second rate limit" vs "daily rate limit".
    if "per-second" in lowered or "per second" in lowered:
        return RateLimitType.QPS
    if "daily" in lowered:
        return RateLimitType.DAILY
    return RateLimitType.UNKNOWN


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime | None = None,
) -> ZoomError:
    """Turn a non-2xx Zoom answer into the matching typed error.

    ``headers`` must be case-insensitive (``httpx.Headers`` is).
    """
    tracking_id = headers.get(TRACKING_ID_HEADER)
    envelope: dict[str, Any] = {}
    try:
        decoded = json.loads(body) if body else {}
        if isinstance(decoded, dict):
            envelope = decoded
    except ValueError:
        envelope = {}
    raw_code = envelope.get("code")
    zoom_code = raw_code if isinstance(raw_code, int) else None
    message = str(envelope.get("message") or envelope.get("reason") or body[:200].decode(errors="replace"))
    common: dict[str, Any] = {"zoom_code": zoom_code, "http_status": status, "tracking_id": tracking_id}

    if status == 429:
        moment = now or datetime.now(UTC)
        retry_after = parse_retry_after(headers.get("retry-after"), moment)
        if retry_after is None and "resume these api requests at gmt 00:00:00" in message.lower():
            # Per-registrant daily limits (add registrant, status changes) name the reset time only
            # in the message.
            retry_after = _seconds_to_next_utc_midnight(moment)
        return ZoomRateLimited(
            message or "Rate limited",
            limit_type=_rate_limit_type(headers, message),
            retry_after_seconds=retry_after,
            category=headers.get("x-ratelimit-category"),
            **common,
        )
    if status >= 500:
        return ZoomServerError(message or f"HTTP {status}", **common)
    if status == 401:
        if zoom_code == ZOOM_CODE_TOKEN_EXPIRED or "access token" in message.lower():
            return ZoomTokenExpired(message, **common)
        return ZoomAuthError(message, **common)
    if zoom_code == ZOOM_CODE_VALIDATION:
        if "next page token" in message.lower():
            return ZoomPageTokenExpired(message, **common)
        field_errors = tuple(
            FieldError(field=str(item.get("field", "")), message=str(item.get("message", "")))
            for item in envelope.get("errors") or []
            if isinstance(item, dict)
        )
        return ZoomValidationError(message, field_errors=field_errors, **common)
    if zoom_code is not None and zoom_code in _CLASS_BY_ZOOM_CODE:
        return _CLASS_BY_ZOOM_CODE[zoom_code](message, **common)
    if status == 404:
        return ZoomNotFound(message, **common)
    return ZoomApiError(message, **common)
