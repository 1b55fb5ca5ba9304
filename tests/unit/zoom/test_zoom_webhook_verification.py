"""engine.zoom.webhooks: signature, timestamp window, URL validation and de-duplication."""

from __future__ import annotations

import json

import pytest

from engine.zoom.webhooks import (
    WebhookErrorCode,
    WebhookVerificationError,
    dedup_key,
    sign,
    url_validation_response,
    verify_request,
)

SECRET = "sEcReT-token"
NOW = 1_748_854_800  # 2025-06-02T09:00:00Z
REGISTRATION = json.dumps(
    {
        "event": "webinar.registration_created",
        "event_ts": 1_748_854_799_123,
        "payload": {
            "account_id": "acct-1",
            "object": {
                "id": 91000000001,
                "uuid": "4444AAAiAAAAAiAiAiiAii==",
                "topic": "Launch",
                "registrant": {"id": "reg-1", "email": "ada@customers.example", "first_name": "Ada"},
            },
        },
    }
).encode()


def _headers(body: bytes, *, timestamp: int = NOW, secret: str = SECRET) -> dict[str, str]:
    return {"x-zm-request-timestamp": str(timestamp), "x-zm-signature": sign(secret, timestamp, body)}


def test_signature_is_v0_hmac_sha256_of_version_timestamp_and_raw_body() -> None:
    """Vector: ``printf %s 'v0:1748854800:{"a":1}' | openssl dgst -sha256 -hmac sEcReT-token``."""
    assert sign(SECRET, NOW, b'{"a":1}') == "v0=747d689725c67d238f6c59ef8551ffa5e0e1c69c05c016fc72a5fa82d31d2fd3"


def test_valid_request_is_accepted_and_numeric_object_id_becomes_str() -> None:
    verified = verify_request(SECRET, _headers(REGISTRATION), REGISTRATION, now=NOW)
    assert verified.event.event == "webinar.registration_created"
    assert verified.event.payload.object is not None
    assert verified.event.payload.object.id == "91000000001"
    assert verified.event.payload.object.registrant is not None
    assert verified.event.payload.object.registrant.id == "reg-1"
    assert verified.timestamp == NOW
    assert not verified.is_url_validation


def test_header_names_are_case_insensitive() -> None:
    headers = {k.upper(): v for k, v in _headers(REGISTRATION).items()}
    assert verify_request(SECRET, headers, REGISTRATION, now=NOW).event.event == "webinar.registration_created"


def test_string_object_id_of_webinar_events_stays_str() -> None:
    body = json.dumps(
        {
            "event": "webinar.started",
            "event_ts": 1,
            "payload": {"account_id": "a", "object": {"id": "91000000001", "uuid": "u=="}},
        }
    ).encode()
    verified = verify_request(SECRET, _headers(body), body, now=NOW)
    assert verified.event.payload.object is not None
    assert verified.event.payload.object.id == "91000000001"


@pytest.mark.parametrize("position", [0, len(REGISTRATION) // 2, len(REGISTRATION) - 1])
def test_a_changed_byte_is_a_bad_signature(position: int) -> None:
    tampered = bytearray(REGISTRATION)
    tampered[position] ^= 0x01
    with pytest.raises(WebhookVerificationError) as caught:
        verify_request(SECRET, _headers(REGISTRATION), bytes(tampered), now=NOW)
    assert caught.value.code is WebhookErrorCode.BAD_SIGNATURE


def test_reserialised_json_does_not_verify() -> None:
    """Verification is over the raw bytes: the same JSON with other spacing is another body."""
    reserialised = json.dumps(json.loads(REGISTRATION), indent=2).encode()
    with pytest.raises(WebhookVerificationError) as caught:
        verify_request(SECRET, _headers(REGISTRATION), reserialised, now=NOW)
    assert caught.value.code is WebhookErrorCode.BAD_SIGNATURE


def test_wrong_secret_is_a_bad_signature() -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_request(SECRET, _headers(REGISTRATION, secret="other"), REGISTRATION, now=NOW)
    assert caught.value.code is WebhookErrorCode.BAD_SIGNATURE


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_timestamp_outside_five_minutes_is_stale(age: int) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_request(SECRET, _headers(REGISTRATION, timestamp=NOW - age), REGISTRATION, now=NOW)
    assert caught.value.code is WebhookErrorCode.STALE_TIMESTAMP


def test_timestamp_inside_the_window_is_accepted() -> None:
    verified = verify_request(SECRET, _headers(REGISTRATION, timestamp=NOW - 300), REGISTRATION, now=NOW)
    assert verified.timestamp == NOW - 300


def test_window_is_configurable() -> None:
    with pytest.raises(WebhookVerificationError):
        verify_request(SECRET, _headers(REGISTRATION, timestamp=NOW - 31), REGISTRATION, now=NOW, tolerance_seconds=30)


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("x-zm-signature", WebhookErrorCode.MISSING_SIGNATURE),
        ("x-zm-request-timestamp", WebhookErrorCode.MISSING_TIMESTAMP),
    ],
)
def test_missing_header_is_rejected(missing: str, code: WebhookErrorCode) -> None:
    headers = _headers(REGISTRATION)
    del headers[missing]
    with pytest.raises(WebhookVerificationError) as caught:
        verify_request(SECRET, headers, REGISTRATION, now=NOW)
    assert caught.value.code is code


def test_non_numeric_timestamp_is_rejected() -> None:
    headers = _headers(REGISTRATION) | {"x-zm-request-timestamp": "yesterday"}
    with pytest.raises(WebhookVerificationError) as caught:
        verify_request(SECRET, headers, REGISTRATION, now=NOW)
    assert caught.value.code is WebhookErrorCode.BAD_TIMESTAMP


@pytest.mark.parametrize("timestamp", ["9" * 400, "1" * 13, "-1748854800", "+1748854800", "١٧٤٨٨٥٤٨٠٠", "1e9"])
def test_overlong_signed_or_non_ascii_timestamp_is_bad_before_any_arithmetic(timestamp: str) -> None:
    """#12.6: a 400-digit timestamp once raised OverflowError (an unauthenticated 500); now every
    value that is not 1–12 ASCII digits is BAD_TIMESTAMP, signed correctly or not."""
    headers = {"x-zm-request-timestamp": timestamp, "x-zm-signature": sign(SECRET, timestamp, REGISTRATION)}
    with pytest.raises(WebhookVerificationError) as caught:
        verify_request(SECRET, headers, REGISTRATION, now=NOW)
    assert caught.value.code is WebhookErrorCode.BAD_TIMESTAMP


def test_signed_body_that_is_not_an_event_is_malformed() -> None:
    body = b'{"hello": "world"}'
    with pytest.raises(WebhookVerificationError) as caught:
        verify_request(SECRET, _headers(body), body, now=NOW)
    assert caught.value.code is WebhookErrorCode.MALFORMED_BODY


def test_url_validation_answer_matches_the_known_vector() -> None:
    """encryptedToken = hex(HMAC_SHA256(secret_token, plainToken)); the vector was computed with
    ``printf %s qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac my_secret``."""
    assert url_validation_response("my_secret", "qgg8vlvZRS6UYooatFL8Aw") == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": "173bb8e1be0d95c1612400ce8bad162eb4f0d42c3ce6bbd551841517d54a0a36",
    }


def test_url_validation_event_is_verified_and_flagged() -> None:
    body = (
        b'{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,'
        b'"event":"endpoint.url_validation"}'
    )
    verified = verify_request(SECRET, _headers(body), body, now=NOW)
    assert verified.is_url_validation
    assert verified.event.payload.plain_token == "qgg8vlvZRS6UYooatFL8Aw"


def test_redelivery_has_the_same_dedup_key() -> None:
    """Zoom redelivers the same body with a new timestamp and signature."""
    first = verify_request(SECRET, _headers(REGISTRATION, timestamp=NOW), REGISTRATION, now=NOW)
    again = verify_request(SECRET, _headers(REGISTRATION, timestamp=NOW + 290), REGISTRATION, now=NOW + 290)
    assert first.dedup_key == again.dedup_key


def test_other_registrant_or_time_gives_another_dedup_key() -> None:
    event = verify_request(SECRET, _headers(REGISTRATION), REGISTRATION, now=NOW).event
    later = event.model_copy(update={"event_ts": (event.event_ts or 0) + 1})
    assert dedup_key(event) != dedup_key(later)
    other = json.loads(REGISTRATION)
    other["payload"]["object"]["registrant"]["id"] = "reg-2"
    body = json.dumps(other).encode()
    assert verify_request(SECRET, _headers(body), body, now=NOW).dedup_key != dedup_key(event)
