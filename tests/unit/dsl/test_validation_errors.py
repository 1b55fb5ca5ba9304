"""Each kind of definition error, with the exact line, column, JSON path and code it is reported at."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.dsl import ErrorCode, InvalidDefinition, ValidationError, format_errors, validate_path, validate_text

BASE = """\
key: demo
name: Demo
enrollment:
  triggers:
    - type: api
steps:
  - id: register
    type: add_contact_to_zoom_webinar
    webinar_id: "123 4567 8901"
  - id: wait
    type: delay
    for: 2d 4h
  - id: done
    type: end
"""


def where(text: str) -> list[tuple[int | None, int | None, str, ErrorCode]]:
    result = validate_text(text, "defs/demo.yaml")
    assert result.definition is None, "expected errors"
    return [(error.line, error.column, error.path, error.code) for error in result.errors]


def replace(old: str, new: str) -> str:
    assert BASE.count(old) == 1
    return BASE.replace(old, new)


def steps(body: str) -> str:
    """A definition made of BASE's header (lines 1-6) and the given steps (from line 7)."""
    return BASE.split("steps:\n")[0] + "steps:\n" + textwrap.indent(textwrap.dedent(body), "  ")


def test_the_base_definition_is_valid_and_normalises_the_webinar_id() -> None:
    result = validate_text(BASE)
    assert result.ok and result.definition is not None
    register = result.definition.step("register")
    assert register.type == "add_contact_to_zoom_webinar"
    assert register.webinar_id == "12345678901"


def test_unknown_step_type() -> None:
    assert where(replace("type: delay", "type: sleep")) == [(11, 5, "$.steps[1].type", ErrorCode.UNKNOWN_STEP_TYPE)]


def test_unknown_field() -> None:
    text = replace("    for: 2d 4h\n", "    for: 2d 4h\n    colour: red\n")
    assert where(text) == [(13, 5, "$.steps[1].colour", ErrorCode.UNKNOWN_FIELD)]


def test_missing_field_points_at_the_mapping_that_lacks_it() -> None:
    text = replace('    webinar_id: "123 4567 8901"\n', "")
    assert where(text) == [(7, 5, "$.steps[0].webinar_id", ErrorCode.MISSING_FIELD)]


def test_missing_step_type() -> None:
    text = replace("    type: end\n", "")
    assert where(text) == [(13, 5, "$.steps[2].type", ErrorCode.MISSING_FIELD)]


def test_wrong_type() -> None:
    text = replace("name: Demo", "name: [a, b]")
    errors = validate_text(text).errors
    assert [(e.line, e.column, e.path, e.code) for e in errors] == [(2, 1, "$.name", ErrorCode.WRONG_TYPE)]
    assert errors[0].message == "expected text, not a list"


def test_duplicate_step_ids() -> None:
    text = replace("  - id: wait", "  - id: register")
    result = validate_text(text, "defs/demo.yaml")
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (10, 5, "$.steps[1].id", ErrorCode.DUPLICATE_STEP_ID)
    ]
    assert format_errors(result.errors) == (
        "defs/demo.yaml:10:5: error[DUPLICATE_STEP_ID] $.steps[1].id: "
        "step id 'register' is used twice (first at line 7)"
    )


def test_next_to_a_missing_step() -> None:
    text = replace("    for: 2d 4h\n", "    for: 2d 4h\n    next: dnoe\n")
    result = validate_text(text)
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (13, 5, "$.steps[1].next", ErrorCode.UNKNOWN_STEP)
    ]
    assert result.errors[0].message == "no step has id 'dnoe'; did you mean 'done'?"


def test_on_error_goto_a_missing_step() -> None:
    text = replace(
        '    webinar_id: "123 4567 8901"\n', '    webinar_id: "123 4567 8901"\n    on_error: {goto: nowhere}\n'
    )
    assert where(text) == [(10, 16, "$.steps[0].on_error.goto", ErrorCode.UNKNOWN_STEP)]


def test_on_error_goto_written_as_a_string_explains_the_form() -> None:
    text = replace('    webinar_id: "123 4567 8901"\n', '    webinar_id: "123 4567 8901"\n    on_error: goto done\n')
    result = validate_text(text)
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (10, 5, "$.steps[0].on_error", ErrorCode.INVALID_VALUE)
    ]
    assert "on_error: {goto: <step id>}" in result.errors[0].message


def test_branch_targets_and_outcome_steps_must_exist() -> None:
    text = steps(
        """\
        - id: check
          type: branch
          cases:
            - if: {outcome_of: ghost, is: COMPLETED}
              then: gone
          else: missing
        - id: done
          type: end
        """
    )
    assert where(text) == [
        (10, 14, "$.steps[0].cases[0].if.outcome_of", ErrorCode.UNKNOWN_STEP),
        (11, 9, "$.steps[0].cases[0].then", ErrorCode.UNKNOWN_STEP),
        (12, 5, "$.steps[0].else", ErrorCode.UNKNOWN_STEP),
    ]


def test_loop_without_a_delay() -> None:
    text = steps(
        """\
        - id: register
          type: add_contact_to_zoom_webinar
          webinar_id: "81000000001"
          on_error: continue
        - id: retry_until_registered
          type: branch
          cases:
            - if: {outcome_of: register, is: FAILED}
              then: register
        """
    )
    result = validate_text(text)
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (15, 9, "$.steps[1].cases[0].then", ErrorCode.LOOP_WITHOUT_DELAY)
    ]
    assert "'register', 'retry_until_registered'" in result.errors[0].message


def test_a_step_jumping_to_itself_is_a_loop() -> None:
    text = replace("    type: end\n", "    type: set_property\n    property: x\n    value: 1\n    next: done\n")
    assert where(text) == [(17, 5, "$.steps[2].next", ErrorCode.LOOP_WITHOUT_DELAY)]


def test_a_loop_through_a_delay_is_allowed() -> None:
    text = steps(
        """\
        - id: register
          type: add_contact_to_zoom_webinar
          webinar_id: "81000000001"
          on_error: continue
        - id: retry_until_registered
          type: branch
          cases:
            - if: {outcome_of: register, is: [FAILED, DAILY_LIMIT_REACHED]}
              then: wait
          else: done
        - id: wait
          type: delay
          for: 1d
          next: register
        - id: done
          type: end
        """
    )
    assert validate_text(text).ok


def test_template_that_does_not_parse() -> None:
    text = replace('webinar_id: "123 4567 8901"', 'webinar_id: "{{ contact.properties.webinar_id "')
    result = validate_text(text)
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (9, 5, "$.steps[0].webinar_id", ErrorCode.TEMPLATE_SYNTAX)
    ]


def test_template_with_an_unknown_filter_does_not_compile() -> None:
    text = replace('webinar_id: "123 4567 8901"', 'webinar_id: "{{ contact.properties.webinar_id | shout }}"')
    assert where(text) == [(9, 5, "$.steps[0].webinar_id", ErrorCode.TEMPLATE_SYNTAX)]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ contact.nickname }}", "contact has no field 'nickname'"),
        ("{{ steps.done.status }}", "step 'done' does not come before this step"),
        ("{{ steps.nope.status }}", "no step has id 'nope'"),
        ("{{ steps[contact.first_name].status }}", "name a step literally"),
        ("{{ webinar.id }}", "unknown variable 'webinar'"),
        ("{{ range(3) }}", "unknown variable 'range'"),
    ],
)
def test_template_naming_an_unknown_variable(template: str, message: str) -> None:
    text = replace('webinar_id: "123 4567 8901"', f'webinar_id: "{template}"')
    result = validate_text(text)
    first = result.errors[0]
    assert (first.line, first.column, first.path, first.code) == (
        9,
        5,
        "$.steps[0].webinar_id",
        ErrorCode.UNKNOWN_TEMPLATE_VARIABLE,
    )
    assert message in result.errors[0].message


def test_templates_may_read_earlier_steps_and_bind_their_own_names() -> None:
    text = replace(
        "    for: 2d 4h\n",
        '    until: "{% set end = steps.register.webinar_end_time %}{{ end }}"\n    offset: -30m\n',
    )
    assert validate_text(text).ok


@pytest.mark.parametrize("duration", ["0s", "0d 0h", "-1h"])
def test_zero_or_negative_delay(duration: str) -> None:
    result = validate_text(replace("for: 2d 4h", f"for: {duration}"))
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (12, 5, "$.steps[1].for", ErrorCode.ZERO_DELAY)
    ]


def test_garbage_duration_says_how_to_write_one() -> None:
    result = validate_text(replace("for: 2d 4h", "for: two days"))
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (12, 5, "$.steps[1].for", ErrorCode.INVALID_DURATION)
    ]
    assert "like '2d 4h'" in result.errors[0].message


@pytest.mark.parametrize("webinar_id", ['"123 4567 89O1"', '"12345"', "abc", '"81000000001; drop"'])
def test_literal_webinar_id_that_is_not_digits(webinar_id: str) -> None:
    text = replace('webinar_id: "123 4567 8901"', f"webinar_id: {webinar_id}")
    assert where(text) == [(9, 5, "$.steps[0].webinar_id", ErrorCode.INVALID_WEBINAR_ID)]


def test_unquoted_numeric_webinar_id_is_accepted() -> None:
    result = validate_text(replace('webinar_id: "123 4567 8901"', "webinar_id: 81000000001"))
    assert result.definition is not None
    assert result.definition.step("register").model_dump()["webinar_id"] == "81000000001"


def test_yaml_syntax_error_has_line_and_column() -> None:
    text = replace("    for: 2d 4h\n", "    for: [2d 4h\n")
    errors = validate_text(text).errors
    assert [(e.line, e.column, e.path, e.code) for e in errors] == [(13, 7, "$", ErrorCode.YAML_SYNTAX)]
    assert errors[0].message == (
        "expected ',' or ']', but got ':' (while parsing a flow sequence that started at line 12, column 10)"
    )


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "", "# only a comment\n"])
def test_document_that_is_not_a_mapping(text: str) -> None:
    assert where(text) == [(1, 1, "$", ErrorCode.NOT_A_MAPPING)]


def test_duplicate_yaml_keys() -> None:
    text = replace("    for: 2d 4h\n", "    for: 2d 4h\n    for: 1h\n")
    result = validate_text(text)
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (13, 5, "$.steps[1].for", ErrorCode.DUPLICATE_KEY)
    ]
    assert result.errors[0].message == "key 'for' is given twice (first at line 12)"


def test_unsupported_yaml_tag() -> None:
    text = replace("name: Demo", "name: !!python/object:os.system echo")
    assert where(text) == [(2, 7, "$.name", ErrorCode.UNSUPPORTED_YAML)]


def test_unknown_and_impossible_outcome_codes() -> None:
    text = steps(
        """\
        - id: wait
          type: delay
          for: 1h
        - id: typo
          type: branch
          cases:
            - if: {outcome_of: wait, is: REGISTERD}
              then: done
        - id: impossible
          type: branch
          cases:
            - if: {outcome_of: wait, is: [COMPLETED, DELIVERED]}
              then: done
        - id: done
          type: end
        """
    )
    result = validate_text(text)
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (13, 32, "$.steps[1].cases[0].if.is", ErrorCode.UNKNOWN_OUTCOME_CODE),
        (18, 32, "$.steps[2].cases[0].if.is", ErrorCode.OUTCOME_NOT_PRODUCED),
    ]
    assert result.errors[1].message == (
        "a delay step never ends with DELIVERED; it ends with one of: COMPLETED, FAILED, SKIPPED"
    )


def declaring(names: str, body: str) -> str:
    """``steps(body)`` with ``secrets: [names]`` added after the name (line 3; the steps start at 8)."""
    return steps(body).replace("name: Demo\n", f"name: Demo\nsecrets: [{names}]\n")


def test_secrets_only_by_reference_and_only_in_webhooks() -> None:
    text = declaring(
        "API_KEY",
        """\
        - id: hook
          type: webhook
          url: https://hooks.example.com/x?token=abc123
          headers:
            Authorization: Bearer abc123
            X-Trace: "{{ enrollment.id }}"
          body:
            password: hunter2
            api_key: "{{ secrets.API_KEY }}"
        - id: leak
          type: set_property
          property: token
          value: "{{ secrets.API_KEY }}"
        """,
    )
    assert where(text) == [
        (10, 5, "$.steps[0].url", ErrorCode.INLINE_SECRET),
        (12, 7, "$.steps[0].headers.Authorization", ErrorCode.INLINE_SECRET),
        (15, 7, "$.steps[0].body.password", ErrorCode.INLINE_SECRET),
        (20, 5, "$.steps[1].value", ErrorCode.SECRET_NOT_ALLOWED),
    ]


@pytest.mark.parametrize(
    ("template", "code"),
    [
        ("{{ secrets.items()|list|urlencode }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets.values()|join }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets.keys()|list }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets.get('TOKEN') }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets[contact.properties.name] }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets[0] }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets|list }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets|tojson }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets }}", ErrorCode.SECRET_ACCESS),
        ("{% for name in secrets %}{{ name }}{% endfor %}", ErrorCode.SECRET_ACCESS),
        ("{% set all = secrets %}{{ all.TOKEN }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets|attr('items') }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets.__class__ }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets._TOKEN }}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets.items() }}{% set secrets = 1 %}", ErrorCode.SECRET_ACCESS),
        ("{{ secrets.OTHER }}", ErrorCode.UNDECLARED_SECRET),
        ("{{ secrets['OTHER'] }}", ErrorCode.UNDECLARED_SECRET),
    ],
)
def test_only_a_declared_secret_by_its_literal_name_is_readable(template: str, code: ErrorCode) -> None:
    """#12.2: a definition reads ``secrets.NAME`` with NAME declared, nothing else of ``secrets``."""
    text = declaring(
        "TOKEN",
        f"""\
        - id: hook
          type: webhook
          url: https://hooks.example.com/x
          headers:
            X-Token: "{template}"
        """,
    )
    assert where(text) == [(12, 7, "$.steps[0].headers['X-Token']", code)]


@pytest.mark.parametrize("template", ["{{ secrets.TOKEN }}", "{{ secrets['TOKEN'] }}", "{{ secrets.TOKEN|upper }}"])
def test_a_declared_secret_read_by_name_is_valid(template: str) -> None:
    text = declaring(
        "TOKEN",
        f"""\
        - id: hook
          type: webhook
          url: "https://hooks.example.com/x"
          headers:
            Authorization: "Bearer {template}"
        """,
    )
    result = validate_text(text)
    assert result.errors == ()
    assert result.definition is not None and result.definition.secrets == ["TOKEN"]


def test_secrets_are_refused_wherever_their_value_would_be_stored() -> None:
    """#12.2: property values, delay dates, webinar ids, branch and enrollment filter values —
    everything but a webhook's url, headers and body — would store the value."""
    text = declaring(
        "TOKEN",
        """\
        - id: register
          type: add_contact_to_zoom_webinar
          webinar_id: "{{ secrets.TOKEN }}"
        - id: wait
          type: delay
          until: "{{ secrets.TOKEN }}"
        - id: route
          type: branch
          cases:
            - if: {type: condition, field: properties.x, op: eq, value: "{{ secrets.TOKEN }}"}
              then: keep
        - id: keep
          type: set_property
          property: x
          value: "{{ secrets.TOKEN }}"
        """,
    ).replace(
        "    - type: api\n",
        "    - type: api\n  goal: {type: condition, field: email, op: eq, value: '{{ secrets.TOKEN }}'}\n",
    )
    assert [(line, path, code) for line, _, path, code in where(text)] == [
        (7, "$.enrollment.goal.value", ErrorCode.SECRET_NOT_ALLOWED),
        (11, "$.steps[0].webinar_id", ErrorCode.SECRET_NOT_ALLOWED),
        (14, "$.steps[1].until", ErrorCode.SECRET_NOT_ALLOWED),
        (18, "$.steps[2].cases[0].if.value", ErrorCode.SECRET_NOT_ALLOWED),
        (23, "$.steps[3].value", ErrorCode.SECRET_NOT_ALLOWED),
    ]


def test_declared_secret_names_are_checked() -> None:
    text = declaring("TOKEN, TOKEN, bad-name, __class__", "- id: done\n  type: end\n")
    assert where(text) == [
        (3, 18, "$.secrets[1]", ErrorCode.INVALID_VALUE),
        (3, 25, "$.secrets[2]", ErrorCode.INVALID_VALUE),
        (3, 35, "$.secrets[3]", ErrorCode.INVALID_VALUE),
    ]


def test_a_tab_is_reported_and_the_other_errors_of_the_file_too() -> None:
    """#13.9: a tab-indented line, a duplicate key and an unknown step type, all in one run."""
    text = replace("name: Demo\n", "name: Demo\nname: Again\n").replace("    for: 2d 4h\n", "\tfor: 2d 4h\n")
    text = text.replace("    type: end\n", "    type: teleport\n")
    result = validate_text(text, "defs/demo.yaml")
    assert [(e.line, e.column, e.path, e.code) for e in result.errors] == [
        (3, 1, "$.name", ErrorCode.DUPLICATE_KEY),
        (13, 1, "$", ErrorCode.YAML_TAB),
        (15, 5, "$.steps[2].type", ErrorCode.UNKNOWN_STEP_TYPE),
    ]
    assert result.errors[1].format().startswith("defs/demo.yaml:13:1: error[YAML_TAB] $: a tab character")


def test_tabs_between_tokens_are_reported_where_they_are() -> None:
    text = replace("    for: 2d 4h\n", "    for:\t2d 4h\n").replace("  - id: done\n", "\t- id: done\n")
    assert where(text) == [(12, 9, "$", ErrorCode.YAML_TAB), (13, 1, "$", ErrorCode.YAML_TAB)]


def test_a_tab_in_a_block_text_is_content_not_an_error() -> None:
    text = replace("name: Demo\n", "name: Demo\ndescription: |\n  first\n  \tindented with a tab\n")
    result = validate_text(text)
    assert result.errors == ()
    assert result.definition is not None and result.definition.description == "first\n\tindented with a tab\n"


def test_delay_fields_are_checked() -> None:
    text = replace(
        "    for: 2d 4h\n",
        '    for: 2d 4h\n    until: "2026-02-30T10:00:00"\n    at_time: "25:00"\n    timezone: Europe/Pariss\n',
    )
    assert where(text) == [
        (13, 5, "$.steps[1].until", ErrorCode.INVALID_DATETIME),
        (14, 5, "$.steps[1].at_time", ErrorCode.INVALID_VALUE),
        (15, 5, "$.steps[1].timezone", ErrorCode.INVALID_TIMEZONE),
    ]


def test_delay_needs_exactly_one_of_for_and_until() -> None:
    both = replace("    for: 2d 4h\n", "    for: 2d 4h\n    until: 2026-03-01T10:00:00Z\n")
    assert where(both) == [(13, 5, "$.steps[1].until", ErrorCode.INVALID_VALUE)]
    neither = replace("    for: 2d 4h\n", "")
    assert where(neither) == [(10, 5, "$.steps[1]", ErrorCode.MISSING_FIELD)]


def test_segment_filters_are_checked_by_the_crm_filter_language() -> None:
    text = replace(
        "    - type: api\n",
        "    - type: event\n"
        "      event: webinar_attendance\n"
        "      where:\n"
        "        - {field: duration_pct, op: gte, value: 50}\n"
        "  criteria: {type: condition, field: email, op: gt, value: a}\n"
        "  suppression: {type: condition, field: properties.plan, op: eq, value: {nested: 1}}\n",
    )
    assert where(text) == [
        (8, 12, "$.enrollment.triggers[0].where[0].field", ErrorCode.UNKNOWN_FILTER_FIELD),
        (9, 45, "$.enrollment.criteria.op", ErrorCode.INVALID_FILTER),
        (10, 66, "$.enrollment.suppression.value", ErrorCode.WRONG_TYPE),
    ]


def test_every_error_is_reported_at_once() -> None:
    text = """\
key: Not A Slug
name: Demo
enrollment:
  triggers: []
steps:
  - id: a
    type: delay
    for: 0s
  - id: a
    type: teleport
  - id: c
    type: webhook
    url: "{{ contact.nope }}"
    next: zzz
"""
    assert where(text) == [
        (1, 1, "$.key", ErrorCode.INVALID_VALUE),
        (4, 3, "$.enrollment.triggers", ErrorCode.INVALID_VALUE),
        (8, 5, "$.steps[0].for", ErrorCode.ZERO_DELAY),
        (9, 5, "$.steps[1].id", ErrorCode.DUPLICATE_STEP_ID),
        (10, 5, "$.steps[1].type", ErrorCode.UNKNOWN_STEP_TYPE),
        (13, 5, "$.steps[2].url", ErrorCode.UNKNOWN_TEMPLATE_VARIABLE),
        (14, 5, "$.steps[2].next", ErrorCode.UNKNOWN_STEP),
    ]


def test_error_dicts_and_the_422_exception() -> None:
    result = validate_text(replace("for: 2d 4h", "for: 0s"), "defs/demo.yaml")
    assert result.errors[0].to_dict() == {
        "file": "defs/demo.yaml",
        "line": 12,
        "column": 5,
        "path": "$.steps[1].for",
        "code": "ZERO_DELAY",
        "message": "'0s' is zero; a duration must be longer than zero",
    }
    with pytest.raises(InvalidDefinition) as raised:
        result.definition_or_raise()
    assert raised.value.code == "INVALID_DEFINITION"
    assert raised.value.http_status == 422
    assert raised.value.details == [result.errors[0].to_dict()]


def test_folder_checks_keys_and_enroll_targets_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE)
    (tmp_path / "b.yaml").write_text(replace("    type: end\n", "    type: enroll\n    workflow: no-such-workflow\n"))
    (tmp_path / "notes.txt").write_text("ignored")
    results = validate_path(tmp_path)
    assert [Path(result.file).name for result in results] == ["a.yaml", "b.yaml"]
    assert results[0].ok
    assert [(e.line, e.column, e.path, e.code) for e in results[1].errors] == [
        (1, 1, "$.key", ErrorCode.DUPLICATE_WORKFLOW_KEY),
        (15, 5, "$.steps[2].workflow", ErrorCode.UNKNOWN_WORKFLOW),
    ]


def test_unreadable_file_is_an_error_not_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    (result,) = validate_path(path)
    assert [(e.line, e.path, e.code) for e in result.errors] == [(None, "$", ErrorCode.FILE_NOT_READABLE)]
    assert isinstance(result.errors[0], ValidationError)
    assert result.errors[0].format().startswith(f"{path}: error[FILE_NOT_READABLE] $: cannot read the file")


def test_branch_filter_values_may_be_templates_of_earlier_data_only() -> None:
    text = steps(
        """\
        - id: check
          type: branch
          cases:
            - if:
                type: event
                event: webinar_attendance
                where:
                  - {type: condition, field: webinar_id, op: eq, value: "{{ contact.properties.webinar_id }}"}
                  - {type: condition, field: webinar_name, op: eq, value: "{{ steps.done.name }}"}
              then: done
        - id: done
          type: end
        """
    )
    assert where(text) == [(15, 62, "$.steps[0].cases[0].if.where[1].value", ErrorCode.UNKNOWN_TEMPLATE_VARIABLE)]


def test_webhook_url_that_urlsplit_rejects_is_a_validation_error() -> None:
    """Found by the byte-edit fuzzer: an unclosed IPv6 bracket made urlsplit raise."""
    text = (
        "key: hook\nname: Hook\nenrollment:\n  triggers:\n    - type: api\nsteps:\n"
        "  - id: ping\n    type: webhook\n    url: https://[hooks.example.com/x\n"
    )
    result = validate_text(text, "hook.yaml")
    assert [(e.line, e.path, e.code) for e in result.errors] == [(9, "$.steps[0].url", "INVALID_VALUE")]


def test_a_file_full_of_tabs_is_repaired_only_so_far() -> None:
    """#13.9: repairs cost parses; a file with a tab on every step stops at a bounded amount of
    work and says that the rest was not checked."""
    body = "".join(f"  - id: s{number}\n    type: delay\n\tfor: 1d\n" for number in range(300))
    text = "key: x\nname: X\nenrollment: {triggers: [{type: api}]}\nsteps:\n" + body
    errors = validate_text(text).errors
    assert {error.code for error in errors} == {ErrorCode.YAML_TAB}
    assert [error.line for error in errors[:3]] == [7, 10, 13]
    assert len(errors) <= 50 and errors[-1].message.endswith("too many tabs: the rest of the file was not checked")
