"""The shipped definitions, the JSON Schema file and the content hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.dsl import canonical_json, definition_hash, definition_json_schema, validate_path, validate_text
from engine.dsl.models import BranchStep, DelayStep, EventTrigger, OutcomeCondition, WebhookStep
from engine.dsl.schema import SCHEMA_PATH, render_definition_schema

DEFINITIONS = Path(__file__).resolve().parents[3] / "definitions"
DEFINITION_FILES = sorted(DEFINITIONS.glob("*.yaml"))


def test_the_required_examples_exist() -> None:
    names = {path.name for path in DEFINITION_FILES}
    assert {"webinar-invite.yaml", "nurture-after-webinar.yaml", "vip-follow-up.yaml"} <= names


@pytest.mark.parametrize("path", DEFINITION_FILES, ids=lambda path: path.name)
def test_every_shipped_definition_validates(path: Path) -> None:
    (result,) = validate_path(path)
    assert result.errors == ()
    assert result.definition is not None


def test_the_definitions_folder_validates_as_a_whole() -> None:
    results = validate_path(DEFINITIONS)
    assert len(results) == len(DEFINITION_FILES)
    assert [error.format() for result in results for error in result.errors] == []


def test_webinar_invite_waits_for_the_end_of_the_webinar_and_branches_on_attendance() -> None:
    (result,) = validate_path(DEFINITIONS / "webinar-invite.yaml")
    definition = result.definition_or_raise()
    register = definition.step("register")
    assert register.type == "add_contact_to_zoom_webinar"
    assert register.webinar_id == "{{ contact.properties.webinar_id }}"
    wait = definition.step("wait_for_webinar_end")
    assert isinstance(wait, DelayStep)
    assert wait.until == "{{ steps.register.webinar_end_time }}"
    assert wait.offset is not None and wait.offset.total_seconds() == 3600
    attended = definition.step("check_attendance")
    assert isinstance(attended, BranchStep)
    assert attended.cases[0].then == "send_thanks" and attended.else_ == "send_recording"
    registered = definition.step("check_registration")
    assert isinstance(registered, BranchStep) and isinstance(registered.cases[0].if_, OutcomeCondition)
    assert {definition.step("send_thanks").type, definition.step("send_recording").type} == {"webhook"}


def test_event_trigger_is_an_r_seg_1_event_filter() -> None:
    (result,) = validate_path(DEFINITIONS / "nurture-after-webinar.yaml")
    trigger = result.definition_or_raise().enrollment.triggers[0]
    assert isinstance(trigger, EventTrigger)
    assert trigger.as_filter().model_dump(mode="json") == {
        "type": "event",
        "event": "webinar_attendance",
        "where": [
            {"type": "condition", "field": "webinar_id", "op": "eq", "value": "81000000001"},
            {"type": "condition", "field": "duration_percent", "op": "gte", "value": 50},
        ],
    }


def test_the_shipped_schema_file_is_up_to_date() -> None:
    # Regenerate with: python -c 'from engine.dsl.schema import write_definition_schema as w; w()'
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_definition_schema()


def test_the_schema_describes_every_step_type_and_forbids_unknown_fields() -> None:
    schema = definition_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    step_types = {
        definition["properties"]["type"]["const"]
        for definition in schema["$defs"].values()
        if definition.get("properties", {}).get("type", {}).get("const") and definition["title"].endswith("Step")
    }
    assert step_types == {
        "add_contact_to_zoom_webinar",
        "delay",
        "branch",
        "set_property",
        "webhook",
        "enroll",
        "end",
    }
    assert schema["$defs"]["DelayStep"]["properties"]["for"]["anyOf"][0]["pattern"]
    json.dumps(schema)


def test_hash_ignores_formatting_but_not_meaning() -> None:
    (result,) = validate_path(DEFINITIONS / "vip-follow-up.yaml")
    definition = result.definition_or_raise()
    text = (DEFINITIONS / "vip-follow-up.yaml").read_text()
    reformatted = validate_text("# a comment\n" + text.replace("for: 2d 12h", "for: '60h'")).definition_or_raise()
    changed = validate_text(text.replace("for: 2d 12h", "for: 3d")).definition_or_raise()
    assert definition_hash(reformatted) == definition_hash(definition)
    assert definition_hash(changed) != definition_hash(definition)
    assert len(definition_hash(definition)) == 64


def test_a_definition_survives_a_json_round_trip() -> None:
    (result,) = validate_path(DEFINITIONS / "webinar-invite.yaml")
    definition = result.definition_or_raise()
    again = validate_text(json.dumps(definition.model_dump(mode="json", by_alias=True))).definition_or_raise()
    assert again == definition
    assert isinstance(again.step("send_thanks"), WebhookStep)


SMALL = """
key: small
name: Small
enrollment: {triggers: [{type: api}]}
steps:
  - {id: wait, type: delay, for: 1d}
  - {id: route, type: branch, cases: [{if: {outcome_of: wait, is: COMPLETED}, then: hook}]}
  - {id: hook, type: webhook, url: "https://hooks.example.com/x"}
"""


def test_fields_added_later_stay_out_of_the_hash_while_at_their_default() -> None:
    """``secrets`` (#12.2), ``save_response`` (#12.3) and ``on_error`` of delays and branches
    (#13.5) are left out of the canonical form unless used, so a definition written before them
    keeps its hash (its revision) — and a frozen revision in a running enrollment still parses."""
    plain = validate_text(SMALL).definition_or_raise()
    data = json.loads(canonical_json(plain))
    assert "secrets" not in data
    assert "on_error" not in data["steps"][0] and "on_error" not in data["steps"][1]
    assert "save_response" not in data["steps"][2] and data["steps"][2]["on_error"] == "fail"
    used = SMALL.replace("name: Small\n", "name: Small\nsecrets: [TOKEN]\n").replace(
        'url: "https://hooks.example.com/x"}', 'url: "https://hooks.example.com/x", save_response: true}'
    )
    used = used.replace("for: 1d}", "for: 1d, on_error: continue}")
    declared = validate_text(used).definition_or_raise()
    data = json.loads(canonical_json(declared))
    assert data["secrets"] == ["TOKEN"]
    assert data["steps"][0]["on_error"] == "continue" and data["steps"][2]["save_response"] is True
    assert definition_hash(declared) != definition_hash(plain)
