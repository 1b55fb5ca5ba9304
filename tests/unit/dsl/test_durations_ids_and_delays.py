"""Durations, R-ADD-2 webinar ids, and when a delay step ends."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.dsl import DurationError, InvalidWebinarId, format_duration, normalise_webinar_id, parse_duration
from engine.dsl.delays import delay_deadline, remaining
from engine.dsl.models import DelayStep


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d 4h", timedelta(days=2, hours=4)),
        ("30m", timedelta(minutes=30)),
        ("1w", timedelta(weeks=1)),
        ("90s", timedelta(seconds=90)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        (" 0d 1s ", timedelta(seconds=1)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize(
    ("text", "code", "hint"),
    [
        ("0s", "ZERO_DELAY", "zero"),
        ("0d 0h", "ZERO_DELAY", "zero"),
        ("-1h", "ZERO_DELAY", "negative"),
        ("", "INVALID_DURATION", "like '2d 4h'"),
        ("2 days", "INVALID_DURATION", "unknown unit 'days'"),
        ("1.5h", "INVALID_DURATION", "whole numbers"),
        ("4h 2d", "INVALID_DURATION", "largest to smallest"),
        ("1h 1h", "INVALID_DURATION", "largest to smallest"),
        ("9999999999999999w", "INVALID_DURATION", "maximum"),
        ("٣h", "INVALID_DURATION", "whole numbers"),
    ],
)
def test_bad_durations_explain_themselves(text: str, code: str, hint: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert raised.value.code == code
    assert hint in raised.value.message


def test_offsets_may_be_negative() -> None:
    assert parse_duration("-1d 2h", allow_negative=True) == -timedelta(days=1, hours=2)
    assert format_duration(-timedelta(days=1, hours=2)) == "-1d 2h"


@pytest.mark.parametrize("text", ["123 4567 8901", "123-4567-8901", "12345678901", " 123 - 4567 - 8901 "])
def test_webinar_ids_are_normalised(text: str) -> None:
    assert normalise_webinar_id(text) == "12345678901"


@pytest.mark.parametrize(
    "text", ["", "12345", "123.4567.8901", "abc45678901", "1234567890123", "١٢٣٤٥٦٧٨٩٠١", "123456789\u200b"]
)
def test_anything_else_is_not_a_webinar_id(text: str) -> None:
    with pytest.raises(InvalidWebinarId):
        normalise_webinar_id(text)


#: Every character Python counts as white space: tab, newline, NBSP, the Unicode spaces, …
UNICODE_WHITE_SPACE = [character for character in map(chr, range(sys.maxunicode + 1)) if character.isspace()]
white_space = st.text(st.sampled_from(UNICODE_WHITE_SPACE), max_size=4)


@given(before=white_space, between=white_space, after=white_space)
def test_unicode_white_space_around_and_inside_a_webinar_id_is_removed(before: str, between: str, after: str) -> None:
    """#13.10 (R-ADD-2): a leading tab, a trailing newline or a non-breaking space pasted with an
    otherwise valid id is not an INVALID_WEBINAR_ID."""
    assert normalise_webinar_id(f"{before}123{between}4567-8901{after}") == "12345678901"


def test_the_white_space_of_the_issue_is_among_the_generated_characters() -> None:
    assert {"\t", "\n", "\u00a0", "\u3000", "\u2009"} <= set(UNICODE_WHITE_SPACE)


def delay(**fields: object) -> DelayStep:
    return DelayStep.model_validate({"id": "wait", "type": "delay", **fields})


STARTED = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)  # a Friday, 18:00 in Paris


def test_delay_for_a_duration() -> None:
    assert delay_deadline(delay(**{"for": "2d 4h"}), STARTED) == datetime(2026, 3, 8, 21, 0, tzinfo=UTC)


def test_delay_until_a_rendered_date_plus_offset() -> None:
    step = delay(until="{{ steps.register.webinar_end_time }}", offset="1h")
    assert delay_deadline(step, STARTED, "2026-03-10T15:30:00Z") == datetime(2026, 3, 10, 16, 30, tzinfo=UTC)


def test_naive_until_is_read_in_the_time_zone() -> None:
    step = delay(until="2026-03-10T09:00:00", timezone="Europe/Paris")
    assert delay_deadline(step, STARTED) == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def test_at_time_on_weekdays_moves_to_the_next_allowed_morning() -> None:
    step = delay(**{"for": "1h"}, at_time="09:00", on_days=["mon", "tue"], timezone="Europe/Paris")
    # Friday 19:00 Paris → Monday 09:00 Paris (08:00 UTC, before the switch to summer time).
    assert delay_deadline(step, STARTED) == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)


def test_a_deadline_in_the_past_starts_no_timer() -> None:
    step = delay(until="2026-01-01T00:00:00Z")
    deadline = delay_deadline(step, STARTED)
    assert remaining(deadline, STARTED) is None
    assert remaining(STARTED + timedelta(seconds=1), STARTED) == timedelta(seconds=1)
