"""The workflow definition language (issue 5): models, validation, templates, schema and hashing.

Knows nothing of Temporal: the interpreter in ``workflows/`` reads the models defined here.
"""

from engine.dsl.durations import DurationError, format_duration, parse_duration
from engine.dsl.errors import ErrorCode, InvalidDefinition, ValidationError, format_errors
from engine.dsl.hashing import canonical_json, definition_hash
from engine.dsl.models import Definition, Step
from engine.dsl.outcomes import OUTCOMES_BY_STEP_TYPE, StepOutcomeCode
from engine.dsl.schema import definition_json_schema
from engine.dsl.templates import TemplateRenderError, render, render_json
from engine.dsl.validation import ValidationResult, validate_path, validate_text
from engine.dsl.webinar_ids import InvalidWebinarId, normalise_webinar_id

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
