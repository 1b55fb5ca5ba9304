"""The workflow definition language (issue 5): models, validation, templates, schema and hashing.

Knows nothing of Temporal: the interpreter in ``workflows/`` reads the models defined here.

The names below load on first use (PEP 562), so importing one light module of the package (e.g.
``engine.dsl.webinar_ids`` for a CLI command) does not import Jinja2 and every model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy_names import lazy_names

if TYPE_CHECKING:
    from engine.dsl.durations import DurationError, format_duration, parse_duration
    from engine.dsl.errors import ErrorCode, InvalidDefinition, ValidationError, format_errors
    from engine.dsl.hashing import canonical_json, definition_hash
    from engine.dsl.models import Definition, Step
    from engine.dsl.outcomes import OUTCOMES_BY_STEP_TYPE, StepOutcomeCode
    from engine.dsl.schema import definition_json_schema
    from engine.dsl.templates import TemplateRenderError, render, render_json
    from engine.dsl.validation import ValidationResult, validate_path, validate_text
    from engine.dsl.webinar_ids import InvalidWebinarId, normalise_webinar_id

#: Each public name and the module that defines it.
_HOMES = {
    "DurationError": "durations",
    "format_duration": "durations",
    "parse_duration": "durations",
    "ErrorCode": "errors",
    "InvalidDefinition": "errors",
    "ValidationError": "errors",
    "format_errors": "errors",
    "canonical_json": "hashing",
    "definition_hash": "hashing",
    "Definition": "models",
    "Step": "models",
    "OUTCOMES_BY_STEP_TYPE": "outcomes",
    "StepOutcomeCode": "outcomes",
    "definition_json_schema": "schema",
    "TemplateRenderError": "templates",
    "render": "templates",
    "render_json": "templates",
    "ValidationResult": "validation",
    "validate_path": "validation",
    "validate_text": "validation",
    "InvalidWebinarId": "webinar_ids",
    "normalise_webinar_id": "webinar_ids",
}

__all__ = [
    "OUTCOMES_BY_STEP_TYPE",
    "Definition",
    "DurationError",
    "ErrorCode",
    "InvalidDefinition",
    "InvalidWebinarId",
    "Step",
    "StepOutcomeCode",
    "TemplateRenderError",
    "ValidationError",
    "ValidationResult",
    "canonical_json",
    "definition_hash",
    "definition_json_schema",
    "format_duration",
    "format_errors",
    "normalise_webinar_id",
    "parse_duration",
    "render",
    "render_json",
    "validate_path",
    "validate_text",
]


__getattr__ = lazy_names(__name__, _HOMES)
