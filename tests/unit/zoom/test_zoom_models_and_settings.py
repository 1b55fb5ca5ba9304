"""Typed Zoom models, UUID path encoding, rate-limit buckets and connection settings."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.zoom.models import (
    ParticipantSession,
    RegistrantCreated,
    RegistrationQuestions,
    Webinar,
)
from engine.zoom.ratelimit import PER_SECOND_LIMITS, AccountRateLimiter, RateLabel, TokenBucket, per_second_limits
from engine.zoom.settings import ZoomConfigError, ZoomConnectionConfig, ZoomPlan, ZoomSettings, load_zoom_connections
from engine.zoom.uuids import encode_path_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (85746065432, "85746065432"),
        ("85746065432", "85746065432"),
        ("/ajXp112QmuoKj4854875==", "%252FajXp112QmuoKj4854875%253D%253D"),
        ("Zl9a//bRQKiZ+s6k1m0wTw==", "Zl9a%252F%252FbRQKiZ%252Bs6k1m0wTw%253D%253D"),
        ("Ab+Cd/EfGhIjKlMnOpQrSw==", "Ab%2BCd%2FEfGhIjKlMnOpQrSw%3D%3D"),
        ("4444AAAiAAAAAiAiAiiAii==", "4444AAAiAAAAAiAiAiiAii%3D%3D"),
    ],
)
def test_uuid_path_encoding_follows_the_documented_rule(value: str | int, expected: str) -> None:
    """Double-encode a leading "/" or "//"; "+", "/" and "=" are always percent-encoded."""
    assert encode_path_id(value) == expected


def test_alternative_hosts_are_split_on_semicolons_and_commas() -> None:
    webinar = Webinar.model_validate(
        {
            "id": 1,
            "topic": "T",
            "settings": {"approval_type": 1, "alternative_hosts": "A@x.example; b@x.example,c@x.example"},
        }
    )
    assert webinar.settings.alternative_hosts == ["a@x.example", "b@x.example", "c@x.example"]
    assert webinar.id == "1"


def test_webinar_defaults_to_no_registration_and_ignores_unknown_fields() -> None:
    webinar = Webinar.model_validate({"id": 1, "topic": "T", "brand_new_field": {"x": 1}, "settings": {}})
    assert not webinar.registration_enabled


def test_add_result_reads_registrant_id_not_id() -> None:
    """The 201 body's ``id`` is the WEBINAR id (a number or a string)."""
    for webinar_id in (85746065432, "85746065432"):
        created = RegistrantCreated.model_validate({"id": webinar_id, "registrant_id": "abc", "join_url": "u"})
        assert (created.webinar_id, created.registrant_id) == ("85746065432", "abc")


def test_add_result_without_registrant_id_is_invalid() -> None:
    with pytest.raises(ValidationError):
        RegistrantCreated.model_validate({"id": 85746065432, "join_url": "u"})


def test_guest_row_keeps_the_empty_email() -> None:
    row = ParticipantSession.model_validate({"id": "", "name": "Guest", "user_email": "", "duration": 60})
    assert (row.user_email, row.has_email) == ("", False)


def test_extra_required_fields_lists_standard_and_custom_questions() -> None:
    questions = RegistrationQuestions.model_validate(
        {
            "questions": [
                {"field_name": "last_name", "required": True},
                {"field_name": "city", "required": True},
                {"field_name": "org", "required": False},
            ],
            "custom_questions": [{"title": "Size", "type": "short", "required": True, "answers": []}],
        }
    )
    assert questions.extra_required_fields() == ["city", "Size"]


async def test_token_bucket_spaces_calls_at_the_configured_rate() -> None:
    bucket = TokenBucket(50.0, clock=time.monotonic)
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(6)))
    assert time.monotonic() - started >= 5 / 50 * 0.95


def test_plan_table_matches_the_spec() -> None:
    assert PER_SECOND_LIMITS[ZoomPlan.FREE][RateLabel.HEAVY] == 1
    assert PER_SECOND_LIMITS[ZoomPlan.PRO][RateLabel.MEDIUM] == 20
    assert PER_SECOND_LIMITS[ZoomPlan.BUSINESS][RateLabel.LIGHT] == 80
    # Resource-intensive is counted per minute: 10 (Free, Pro) or 20 (Business+).
    assert PER_SECOND_LIMITS[ZoomPlan.PRO][RateLabel.RESOURCE_INTENSIVE] * 60 == pytest.approx(10)
    assert PER_SECOND_LIMITS[ZoomPlan.BUSINESS][RateLabel.RESOURCE_INTENSIVE] * 60 == pytest.approx(20)


@pytest.mark.parametrize(
    ("header", "label"),
    [("Light", RateLabel.LIGHT), ("heavy", RateLabel.HEAVY), (" Resource-intensive", RateLabel.RESOURCE_INTENSIVE)],
)
def test_the_429s_category_header_names_a_rate_label(header: str, label: RateLabel) -> None:
    assert RateLabel.from_header(header) is label


@pytest.mark.parametrize("header", [None, "", "Extreme"])
def test_an_unknown_category_names_none(header: str | None) -> None:
    assert RateLabel.from_header(header) is None


def test_a_connection_s_rate_limits_replace_its_plan_s_where_given() -> None:
    entry = {"name": "main", "account_id": "A", "client_id": "C", "client_secret": "s", "plan": "pro"}
    connection = ZoomConnectionConfig.model_validate({**entry, "rate_limits": {"light": 12, "heavy": 2.5}})
    limits = per_second_limits(connection.plan, connection.rate_limits)
    assert limits == {**PER_SECOND_LIMITS[ZoomPlan.PRO], RateLabel.LIGHT: 12, RateLabel.HEAVY: 2.5}
    assert per_second_limits(ZoomPlan.PRO, None) == PER_SECOND_LIMITS[ZoomPlan.PRO]


@pytest.mark.parametrize("rate_limits", [{"light": 0}, {"light": -1}, {"light": "inf"}, {"Light": 5}, {"extreme": 5}])
def test_impossible_rate_limits_are_refused_without_echoing_the_configuration(
    monkeypatch: pytest.MonkeyPatch, rate_limits: dict[str, object]
) -> None:
    entry = {"name": "main", "account_id": "A", "client_id": "C", "client_secret": "s3cr3t", "rate_limits": rate_limits}
    monkeypatch.setenv("ROLLCALL_ZOOM_CONNECTIONS", json.dumps([entry]))
    with pytest.raises(ZoomConfigError) as refused:
        load_zoom_connections()
    assert "rate_limits" in str(refused.value) and "s3cr3t" not in str(refused.value)


async def test_a_backoff_holds_the_category_back_and_not_the_others() -> None:
    limiter = AccountRateLimiter(ZoomPlan.BUSINESS)
    await limiter.back_off(RateLabel.LIGHT, 0.5)
    started = time.monotonic()
    await limiter.acquire(RateLabel.MEDIUM)
    assert time.monotonic() - started < 0.2
    await limiter.acquire(RateLabel.LIGHT)
    assert time.monotonic() - started >= 0.45


def test_connections_come_from_a_yaml_secrets_file(tmp_path: Path) -> None:
    path = tmp_path / "zoom.yaml"
    path.write_text(
        "connections:\n  - {name: main, account_id: A1, client_id: C1, client_secret: s3cr3t, plan: free}\n"
    )
    connections = ZoomSettings(connections_file=path).load_connections()
    main = connections["main"]
    assert (main.account_id, main.plan, main.client_secret.get_secret_value()) == ("A1", ZoomPlan.FREE, "s3cr3t")
    assert main.api_base_url == "https://api.zoom.us/v2" and main.oauth_base_url == "https://zoom.us"
    assert "s3cr3t" not in repr(main) and "s3cr3t" not in str(connections)


def test_connections_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ROLLCALL_ZOOM_CONNECTIONS",
        json.dumps([{"name": "emea", "account_id": "A2", "client_id": "C2", "client_secret": "x"}]),
    )
    assert list(ZoomSettings().load_connections()) == ["emea"]


def test_duplicate_connection_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "zoom.json"
    entry = {"name": "main", "account_id": "A", "client_id": "C", "client_secret": "s"}
    path.write_text(json.dumps({"connections": [entry]}))
    with pytest.raises(ZoomConfigError):
        ZoomSettings(connections=[ZoomConnectionConfig.model_validate(entry)], connections_file=path).load_connections()
