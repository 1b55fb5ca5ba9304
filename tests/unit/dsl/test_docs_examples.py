"""docs/definitions.md is the definition language's reference (#18.7): every example in it is
checked by the project's own validator, and everything the code defines is in it.

An example is a ```yaml block. Its first comment lines may say:

- ``# fragment: steps`` (a list of steps), ``# fragment: enrollment`` (the ``enrollment``
  mapping) or ``# fragment: filter`` (one segment filter): wrapped into a minimal definition
  (secrets it reads are declared);
- ``# invalid: CODE, …``: validation must refuse it with (at least) these error codes.

Any other block is a complete definition that must validate.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest

from engine.crm.segments import CONTACT_FIELDS, EVENT_FIELDS, AndFilter, Condition, EventFilter, NotFilter, Operator
from engine.dsl import ErrorCode, StepOutcomeCode, validate_text
from engine.dsl.models import (
    STEP_TYPES,
    AddContactToZoomWebinarStep,
    BranchCase,
    BranchStep,
    Definition,
    DelayStep,
    EndStep,
    EnrollmentRules,
    EnrollStep,
    EventTrigger,
    GotoOnError,
    OutcomeCondition,
    SetPropertyStep,
    StepRetry,
    WebhookStep,
    Weekday,
)
from engine.dsl.validation import CONTACT_FIELDS as TEMPLATE_CONTACT_FIELDS
from engine.dsl.validation import TEMPLATE_ROOTS
from engine.enrollment.contracts import ExitReason

DOC = Path(__file__).resolve().parents[3] / "docs" / "definitions.md"
_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SECRET = re.compile(r"secrets(?:\.|\[')([A-Za-z][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Example:
    line: int
    text: str
    fragment: str | None
    invalid: tuple[str, ...]

    def definition(self) -> str:
        """The example as a complete definition."""
        if self.fragment is None:
            return self.text
        secrets = sorted(set(_SECRET.findall(self.text)))
        header = f"key: doc-example\nname: Example at line {self.line} of docs/definitions.md\n"
        if secrets and not self.invalid:
            header += f"secrets: [{', '.join(secrets)}]\n"
        body = textwrap.indent(self.text, "  ")
        if self.fragment == "steps":
            return header + "enrollment:\n  triggers: [{type: api}]\nsteps:\n" + body
        if self.fragment == "enrollment":
            return header + "enrollment:\n" + body + "steps:\n  - {id: done, type: end}\n"
        if self.fragment == "filter":
            return (
                header
                + "enrollment:\n  triggers: [{type: api}]\n  criteria:\n"
                + textwrap.indent(self.text, "    ")
                + "steps:\n  - {id: done, type: end}\n"
            )
        raise AssertionError(f"line {self.line}: unknown fragment kind {self.fragment!r}")


def _examples() -> list[Example]:
    text = DOC.read_text(encoding="utf-8")
    examples: list[Example] = []
    for match in _BLOCK.finditer(text):
        body = match.group(1)
        fragment: str | None = None
        invalid: tuple[str, ...] = ()
        for line in body.splitlines():
            if not line.startswith("#"):
                break
            if line.startswith("# fragment:"):
                fragment = line.split(":", 1)[1].strip()
            elif line.startswith("# invalid:"):
                invalid = tuple(code.strip() for code in line.split(":", 1)[1].split(","))
        examples.append(Example(text.count("\n", 0, match.start()) + 2, body, fragment, invalid))
    return examples


EXAMPLES = _examples()
VALID = [example for example in EXAMPLES if not example.invalid]
INVALID = [example for example in EXAMPLES if example.invalid]


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _valid_text() -> str:
    """The text of every valid example, as validated."""
    return "\n".join(example.definition() for example in VALID)


def test_the_doc_has_examples_of_both_kinds() -> None:
    assert len(VALID) >= 15 and len(INVALID) >= 10


@pytest.mark.parametrize("example", VALID, ids=[f"line-{example.line}" for example in VALID])
def test_every_example_validates(example: Example) -> None:
    """#18.7: each example is a definition the validator accepts (a fragment once wrapped)."""
    result = validate_text(example.definition(), f"docs/definitions.md:{example.line}")
    assert result.ok, "\n".join(error.format() for error in result.errors)


@pytest.mark.parametrize("example", INVALID, ids=[f"line-{example.line}" for example in INVALID])
def test_every_refused_example_is_refused_with_its_codes(example: Example) -> None:
    result = validate_text(example.definition(), f"docs/definitions.md:{example.line}")
    assert not result.ok
    reported = {error.code.value for error in result.errors}
    assert set(example.invalid) <= reported, f"expected {example.invalid}, got:\n" + "\n".join(
        error.format() for error in result.errors
    )


def test_every_step_type_has_a_section_and_a_valid_example() -> None:
    doc, examples = _doc(), _valid_text()
    for step_type in STEP_TYPES:
        assert f"### `{step_type}`" in doc, step_type
        assert re.search(rf"type: {step_type}\b", examples), f"no valid example of a {step_type} step"


def test_every_outcome_code_is_explained_and_used_in_a_valid_example() -> None:
    doc, examples = _doc(), _valid_text()
    for code in StepOutcomeCode:
        assert f"| `{code.value}` |" in doc, f"{code.value} has no row in the outcome table"
        assert re.search(rf"\b{code.value}\b", examples), f"no valid example tests {code.value}"


def test_every_validation_error_code_is_explained() -> None:
    doc = _doc()
    for code in ErrorCode:
        assert f"| `{code.value}` |" in doc, f"{code.value} has no row in the validation errors table"
    shown = {code for example in INVALID for code in example.invalid}
    assert shown <= {code.value for code in ErrorCode}


def _field_names(model: type[pydantic.BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


@pytest.mark.parametrize(
    "model",
    [
        Definition,
        EnrollmentRules,
        EventTrigger,
        StepRetry,
        GotoOnError,
        AddContactToZoomWebinarStep,
        DelayStep,
        BranchStep,
        BranchCase,
        OutcomeCondition,
        SetPropertyStep,
        WebhookStep,
        EnrollStep,
        EndStep,
        Condition,
        EventFilter,
        AndFilter,
        NotFilter,
    ],
    ids=lambda model: model.__name__,
)
def test_every_field_of_the_models_is_documented(model: type[pydantic.BaseModel]) -> None:
    doc = _doc()
    for name in _field_names(model):
        assert f"`{name}`" in doc, f"{model.__name__}.{name} is not in docs/definitions.md"


def test_every_template_variable_and_filter_vocabulary_is_documented() -> None:
    doc = _doc()
    for root in TEMPLATE_ROOTS:
        assert f"`{root}." in doc, root
    for field in TEMPLATE_CONTACT_FIELDS:
        assert f"`contact.{field}" in doc, field
    enrollment_variables = _enrollment_variables()
    for name in enrollment_variables:
        assert f"`enrollment.{name}`" in doc, name
    for field in CONTACT_FIELDS:
        assert f"`{field}`" in doc, field
    for kind, fields in EVENT_FIELDS.items():
        assert f"`{kind.value}`" in doc, kind
        for field in fields:
            assert f"`{field}`" in doc, field
    for operator in Operator:
        assert f"`{operator.value}`" in doc, operator
    for day in Weekday:
        assert f"`{day.value}`" in doc, day
    for reason in ExitReason:
        assert f"| `{reason.value}` |" in doc, reason


def _enrollment_variables() -> list[str]:
    """The keys of ``enrollment`` in a real template context."""
    from datetime import UTC, datetime

    from engine.crm.tables import Contact
    from engine.enrollment.context import template_context
    from engine.enrollment.contracts import StepContext

    now = datetime(2026, 1, 1, tzinfo=UTC)
    ctx = StepContext(
        enrollment_id=1,
        contact_id=2,
        definition_key="doc-example",
        version=1,
        trigger="api",
        enrolled_at=now,
        sequence=0,
        now=now,
        step_index=0,
        step_count=1,
    )
    context: dict[str, Any] = template_context(Contact(id=2, email="a@example.com", properties={}), ctx)
    assert set(context["contact"]) == set(TEMPLATE_CONTACT_FIELDS)
    return list(context["enrollment"])
