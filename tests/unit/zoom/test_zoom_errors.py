"""engine.zoom.errors: Zoom's answers become typed errors with stable codes and retry hints."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from engine.retry_after import parse_retry_after
from engine.zoom.errors import (
    FieldError,
    RateLimitType,
    ZoomApiError,
    ZoomError,
    ZoomHostCannotRegister,
    ZoomNoRecording,
    ZoomNotFound,
    ZoomPageTokenExpired,
    ZoomRateLimited,
    ZoomRegistrationDisabled,
    ZoomReportTooOld,
    ZoomServerError,
    ZoomTokenExpired,
    ZoomValidationError,
    ZoomWebinarOver,
    error_from_response,
)

NOW = datetime(2025, 6, 2, 23, 59, 30, tzinfo=UTC)


def _error(status: int, body: object, **headers: str) -> ZoomError:
    raw = json.dumps(body).encode() if body is not None else b""
    return error_from_response(status, httpx.Headers(headers), raw, now=NOW)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, 3001, ZoomNotFound),
        (404, 1001, ZoomNotFound),
        (404, 3301, ZoomNoRecording),
        (400, 3027, ZoomHostCannotRegister),
        (400, 3000, ZoomRegistrationDisabled),
        (400, 3038, ZoomWebinarOver),
        (400, 12702, ZoomReportTooOld),
        (401, 124, ZoomTokenExpired),
        (400, 1010, ZoomApiError),
    ],
)
def test_zoom_codes_map_to_types(status: int, code: int, expected: type[ZoomError]) -> None:
    error = _error(status, {"code": code, "message": "m"}, **{"x-zm-trackingid": "trk"})
    assert type(error) is expected
    assert (error.zoom_code, error.http_status, error.tracking_id, error.retryable) == (code, status, "trk", False)


def test_validation_error_carries_field_errors() -> None:
    error = _error(
        400,
        {"code": 300, "message": "Validation Failed.", "errors": [{"field": "city", "message": "city is required."}]},
    )
    assert isinstance(error, ZoomValidationError)
    assert error.field_errors == (FieldError("city", "city is required."),)
    assert error.code == "ZOOM_VALIDATION_FAILED"


def test_expired_page_token_is_its_own_type() -> None:
    error = _error(400, {"code": 300, "message": "The next page token is invalid or expired."})
    assert isinstance(error, ZoomPageTokenExpired)


def test_invalid_access_token_message_without_code_is_token_expired() -> None:
    assert isinstance(_error(401, {"message": "Invalid access token."}), ZoomTokenExpired)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(status: int) -> None:
    error = _error(status, None)
    assert isinstance(error, ZoomServerError)
    assert error.retryable


def test_qps_429_from_header() -> None:
    error = _error(429, {"code": 429, "message": "x"}, **{"X-RateLimit-Type": "QPS"})
    assert isinstance(error, ZoomRateLimited)
    assert (error.limit_type, error.retry_after, error.retryable) == (RateLimitType.QPS, None, True)


def test_daily_429_with_iso_retry_after_is_a_delay_in_seconds() -> None:
    error = _error(
        429, {"code": 429, "message": "x"}, **{"X-RateLimit-Type": "Daily-limit", "Retry-After": "2025-06-03T00:00:00Z"}
    )
    assert isinstance(error, ZoomRateLimited)
    assert (error.limit_type, error.retry_after) == (RateLimitType.DAILY, 30.0)


def test_429_without_headers_is_classified_by_message() -> None:
    daily = _error(429, {"code": 429, "message": "You have reached the maximum daily rate limit for this API."})
    unknown = _error(429, None)
    assert isinstance(daily, ZoomRateLimited) and daily.limit_type is RateLimitType.DAILY
    assert isinstance(unknown, ZoomRateLimited)
    assert (unknown.limit_type, unknown.retry_after) == (RateLimitType.UNKNOWN, None)


def test_per_registrant_daily_limit_retries_after_utc_midnight() -> None:
    error = _error(
        429,
        {
            "code": 429,
            "message": "You have exceeded the daily rate limit of (3) for Add a webinar "
            "registrant API requests for the registrant (a@b.example). You can "
            "resume these API requests at GMT 00:00:00.",
        },
    )
    assert isinstance(error, ZoomRateLimited)
    assert (error.limit_type, error.retry_after) == (RateLimitType.DAILY, 30.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("2025-06-03T00:00:00Z", 30.0),
        ("2025-06-03T00:00:00+00:00", 30.0),
        ("Tue, 03 Jun 2025 00:00:00 GMT", 30.0),
        ("2025-06-01T00:00:00Z", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        # One parser for Zoom's and webhook receivers' answers: what a receiver may send
        # (#13 poison values) neither overflows a timedelta nor parks a run for months.
        ("1e400", None),
        ("inf", None),
        ("nan", None),
        ("-5", 0.0),
        ("99999999999", 7 * 24 * 3600.0),
        ("Mon, 99 Foo 2025", None),
    ],
)
def test_retry_after_accepts_seconds_iso_and_http_dates(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_error_text_names_code_and_tracking_id() -> None:
    error = _error(
        404, {"code": 3001, "message": "Webinar 1 not found or has expired."}, **{"x-zm-trackingid": "v=2.0;rid=abc"}
    )
    assert str(error) == (
        "ZOOM_NOT_FOUND: Webinar 1 not found or has expired. zoom_code=3001 http_status=404 tracking_id=v=2.0;rid=abc"
    )
