"""Sandboxed, strict, render-once templates."""

from __future__ import annotations

from typing import Any

import pytest

from engine.crm.segments import AndFilter, Condition, EventFilter, EventKind, Operator
from engine.dsl import TemplateRenderError, render, render_json
from engine.dsl.templates import references, render_filter

CONTEXT: dict[str, Any] = {
    "contact": {
        "id": 7,
        "email": "ada@example.com",
        "first_name": "{{ secrets.API_KEY }}",
        "last_name": "Lovelace",
        "properties": {"webinar_id": "81000000001", "plan": "pro"},
    },
    "steps": {"register": {"webinar_end_time": "2026-03-01T11:00:00Z"}},
    "secrets": {"API_KEY": "s3cr3t"},
    "enrollment": {"id": "enroll:webinar-invite:7"},
}


def test_renders_contact_step_secret_and_enrollment_values() -> None:
    assert render("{{ contact.properties.webinar_id }}", CONTEXT) == "81000000001"
    assert render("{{ steps.register.webinar_end_time }}", CONTEXT) == "2026-03-01T11:00:00Z"
    assert render("Bearer {{ secrets.API_KEY }}", CONTEXT) == "Bearer s3cr3t"
    assert render("{{ enrollment.id }}", CONTEXT) == "enroll:webinar-invite:7"


def test_a_rendered_value_is_never_rendered_again() -> None:
    # The contact's first name is itself template text: it comes out as is, the secret stays hidden.
    assert render("Hi {{ contact.first_name }}", CONTEXT) == "Hi {{ secrets.API_KEY }}"
    body = render_json({"name": "{{ contact.first_name }}", "list": ["{{ contact.last_name }}", 3]}, CONTEXT)
    assert body == {"name": "{{ secrets.API_KEY }}", "list": ["Lovelace", 3]}


def test_render_json_keeps_keys_and_non_text_values() -> None:
    assert render_json({"{{ contact.email }}": None, "n": 1.5, "ok": True}, CONTEXT) == {
        "{{ contact.email }}": None,
        "n": 1.5,
        "ok": True,
    }


@pytest.mark.parametrize(
    "template",
    ["{{ contact.nickname }}", "{{ contact.properties.missing }}", "{{ unknown }}", "{{ steps.other.x }}"],
)
def test_undefined_variables_fail_with_the_template_named(template: str) -> None:
    with pytest.raises(TemplateRenderError) as raised:
        render(template, CONTEXT)
    assert raised.value.code == "TEMPLATE_RENDER_ERROR"
    assert template in raised.value.message
    assert "undefined" in raised.value.message or "no attribute" in raised.value.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ contact.__class__ }}",
        "{{ contact.email.__class__.__mro__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ contact.properties.update({'plan': 'free'}) }}",
        "{{ contact.email.format.__globals__ }}",
        "{{ 'x' * 1000000 }}",
        "{{ 10 ** 100000 }}",
        "{{ range(10) }}",
        "{{ lipsum() }}",
    ],
)
def test_the_sandbox_refuses_unsafe_expressions(template: str) -> None:
    with pytest.raises(TemplateRenderError):
        render(template, CONTEXT)
    assert CONTEXT["contact"]["properties"]["plan"] == "pro"


def test_expression_errors_are_render_errors() -> None:
    with pytest.raises(TemplateRenderError):
        render("{{ 1 / 0 }}", CONTEXT)


def test_references_list_the_variables_a_template_reads() -> None:
    found = references(
        "{{ contact.properties.webinar_id }}{{ steps['register'].end | default(x) }}"
        "{% for item in contact.properties.tags %}{{ item.name }}{% endfor %}"
    )
    assert found == [
        ("contact", "properties", "webinar_id"),
        ("steps", "register", "end"),
        ("x",),
        ("contact", "properties", "tags"),
    ]


def test_filter_values_are_rendered_once_per_enrollment() -> None:
    node = AndFilter(
        filters=[
            EventFilter(
                event=EventKind.WEBINAR_ATTENDANCE,
                where=[
                    Condition(field="webinar_id", op=Operator.EQ, value="{{ contact.properties.webinar_id }}"),
                    Condition(field="duration_percent", op=Operator.GTE, value=50),
                ],
            )
        ]
    )
    rendered = render_filter(node, CONTEXT)
    assert rendered.model_dump(mode="json")["filters"][0]["where"] == [
        {"type": "condition", "field": "webinar_id", "op": "eq", "value": "81000000001"},
        {"type": "condition", "field": "duration_percent", "op": "gte", "value": 50},
    ]
    first = node.filters[0]
    assert isinstance(first, EventFilter)
    assert first.where[0].value == "{{ contact.properties.webinar_id }}"
