"""The segment filter model (R-SEG-1) without a database: parsing, JSON schema, validation errors, cursors."""

from typing import Any

import pytest
from pydantic import ValidationError

from engine.crm.errors import InvalidCursor, InvalidFilter, UnknownFilterField
from engine.crm.segments import (
    FILTER_ADAPTER,
    AndFilter,
    Condition,
    EventFilter,
    NotFilter,
    decode_cursor,
    encode_cursor,
    parse_filter,
    validate_filter,
)

EXAMPLE = """{"type": "and", "filters": [
  {"type": "condition", "field": "properties.plan", "op": "eq", "value": "pro"},
  {"type": "event", "event": "webinar_attendance", "where": [
    {"type": "condition", "field": "webinar_id", "op": "eq", "value": "81234567890"},
    {"type": "condition", "field": "duration_percent", "op": "gte", "value": 50}]},
  {"type": "not", "filter": {"type": "event", "event": "webinar_registration", "where": [
    {"type": "condition", "field": "webinar_name", "op": "contains", "value": "onboarding"}]}}
]}"""


def test_documented_example_parses_into_the_discriminated_models() -> None:
    node = parse_filter(EXAMPLE)
    assert isinstance(node, AndFilter)
    assert [type(child) for child in node.filters] == [Condition, EventFilter, NotFilter]
    validate_filter(node)


def test_json_schema_uses_the_type_discriminator() -> None:
    schema = FILTER_ADAPTER.json_schema()
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == {"and", "or", "not", "condition", "event"}


@pytest.mark.parametrize(
    "data",
    [
        {"type": "condition", "field": "email", "op": "like", "value": "x"},
        {"type": "event", "event": "zoom_meeting"},
        {"type": "and", "filters": []},
        {"type": "condition", "field": "email", "op": "eq", "value": "x", "extra": 1},
        {"field": "email", "op": "eq", "value": "x"},
        {"type": "condition", "field": "email", "op": "eq", "value": "nul\x00"},
    ],
)
def test_malformed_filter_is_a_validation_error(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_filter(data)


def test_unknown_field_names_its_path_and_the_allowed_fields() -> None:
    node = parse_filter(
        {
            "type": "or",
            "filters": [
                {"type": "condition", "field": "email", "op": "is_set"},
                {"type": "condition", "field": "colour", "op": "eq", "value": "red"},
            ],
        }
    )
    with pytest.raises(UnknownFilterField) as raised:
        validate_filter(node)
    assert raised.value.details["path"] == "filter.filters.1.field"
    assert raised.value.http_status == 422


@pytest.mark.parametrize(
    "data",
    [
        {"type": "condition", "field": "email", "op": "gt", "value": "a"},
        {"type": "condition", "field": "created_at", "op": "gte", "value": "last tuesday"},
        {"type": "condition", "field": "zoom_webinar_attendance_count", "op": "eq", "value": "two"},
        {"type": "condition", "field": "email", "op": "in", "value": "a@b.com"},
        {"type": "condition", "field": "email", "op": "eq"},
        {"type": "condition", "field": "properties.vip", "op": "gt", "value": True},
    ],
)
def test_operator_or_value_unfit_for_the_field_is_invalid_filter(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidFilter) as raised:
        validate_filter(parse_filter(data))
    assert raised.value.code == "INVALID_FILTER"


def test_cursor_round_trips_and_is_bound_to_its_filter() -> None:
    node = parse_filter({"type": "condition", "field": "email", "op": "is_set"})
    assert decode_cursor(encode_cursor(42, node), node) == 42
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor(42, node), None)
    for garbage in ["", "%%%", "eyJ9", "eyJhZnRlciI6ICJ4In0"]:
        with pytest.raises(InvalidCursor):
            decode_cursor(garbage, node)
