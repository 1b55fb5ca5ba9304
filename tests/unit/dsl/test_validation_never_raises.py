"""Whatever text it is given, the validator answers with a ValidationResult and never raises."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.dsl import ValidationResult, validate_text

DEFINITIONS = Path(__file__).resolve().parents[3] / "definitions"
VALID_TEXTS = [path.read_text(encoding="utf-8") for path in sorted(DEFINITIONS.glob("*.yaml"))]
VALID_DATA = [yaml.safe_load(text) for text in VALID_TEXTS]

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = st.sampled_from(
    [
        "id",
        "type",
        "steps",
        "key",
        "name",
        "enrollment",
        "triggers",
        "delay",
        "branch",
        "webhook",
        "end",
        "for",
        "until",
        "cases",
        "if",
        "then",
        "else",
        "next",
        "on_error",
        "goto",
        "webinar_id",
        "outcome_of",
        "is",
        "filters",
        "filter",
        "event",
        "where",
        "condition",
        "{{ contact.email }}",
        "{{ steps.x.y }}",
        "{{",
        "0s",
        "2d 4h",
        "123-4567-8901",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    WORDS,
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.one_of(WORDS, st.text(max_size=10)), children, max_size=5)
    ),
    max_leaves=40,
)


def check(text: str) -> ValidationResult:
    result = validate_text(text, "fuzz.yaml")
    assert isinstance(result, ValidationResult)
    assert (result.definition is None) == bool(result.errors)
    for error in result.errors:
        assert error.format().startswith("fuzz.yaml")
        assert error.path.startswith("$")
    return result


@FUZZ
@given(JSON_LIKE)
def test_random_documents(data: Any) -> None:
    check(yaml.safe_dump(data, allow_unicode=True))


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    check(text)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated_definitions(draw: st.DrawFn) -> str:
    data = copy.deepcopy(draw(st.sampled_from(VALID_DATA)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from([path for path in _paths(data) if path]))
        parent = _parent(data, path)
        kind = draw(st.sampled_from(["delete", "retype", "duplicate_step", "rename_type", "break_template"]))
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "retype":
            parent[path[-1]] = draw(JSON_LIKE)
        elif kind == "duplicate_step" and isinstance(data.get("steps"), list) and data["steps"]:
            data["steps"].insert(
                draw(st.integers(0, len(data["steps"]))), copy.deepcopy(draw(st.sampled_from(data["steps"])))
            )
        elif kind == "rename_type" and isinstance(parent, dict) and "type" in parent:
            parent["type"] = draw(WORDS)
        elif kind == "break_template" and isinstance(parent[path[-1]], str):
            parent[path[-1]] = parent[path[-1]] + draw(
                st.sampled_from(["{{", "}}", "{% if %}", "{{ x.__class__ }}", "{#"])
            )
        if not _paths(data)[1:]:
            break
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@FUZZ
@given(mutated_definitions())
def test_mutated_definitions(text: str) -> None:
    check(text)


@FUZZ
@given(st.sampled_from(VALID_TEXTS), st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=3)), max_size=4))
def test_random_byte_edits(text: str, edits: list[tuple[int, bytes]]) -> None:
    raw = bytearray(text.encode())
    for offset, replacement in edits:
        at = offset % (len(raw) + 1)
        raw[at : at + len(replacement)] = replacement
    check(raw.decode("utf-8", errors="replace"))


def test_unmutated_definitions_are_valid() -> None:
    for text in VALID_TEXTS:
        assert check(text).ok
