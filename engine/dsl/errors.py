"""Validation errors of definitions: every problem at once, each with where it is and a stable code.

The same list is printed by ``rollcall validate`` (``format_errors``, one compiler-like line per
error) and returned by the API's 422 (``ValidationError.to_dict``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from engine.errors import InvalidInput

#: A location in the parsed document: mapping keys and list indexes from the root.
DocumentPath = tuple[str | int, ...]


class ErrorCode(StrEnum):
    # the YAML document
    YAML_SYNTAX = "YAML_SYNTAX"
    YAML_TAB = "YAML_TAB"
    NOT_A_MAPPING = "NOT_A_MAPPING"
    DUPLICATE_KEY = "DUPLICATE_KEY"
    UNSUPPORTED_YAML = "UNSUPPORTED_YAML"
    # the API: the definition's key is not the one in the URL
    KEY_MISMATCH = "KEY_MISMATCH"
    FILE_NOT_READABLE = "FILE_NOT_READABLE"
    # shape of the definition
    UNKNOWN_STEP_TYPE = "UNKNOWN_STEP_TYPE"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    MISSING_FIELD = "MISSING_FIELD"
    WRONG_TYPE = "WRONG_TYPE"
    INVALID_VALUE = "INVALID_VALUE"
    INVALID_DURATION = "INVALID_DURATION"
    ZERO_DELAY = "ZERO_DELAY"
    INVALID_DATETIME = "INVALID_DATETIME"
    INVALID_TIMEZONE = "INVALID_TIMEZONE"
    INVALID_WEBINAR_ID = "INVALID_WEBINAR_ID"
    UNKNOWN_OUTCOME_CODE = "UNKNOWN_OUTCOME_CODE"
    # the definition as a whole
    DUPLICATE_STEP_ID = "DUPLICATE_STEP_ID"
    UNKNOWN_STEP = "UNKNOWN_STEP"
    LOOP_WITHOUT_DELAY = "LOOP_WITHOUT_DELAY"
    OUTCOME_NOT_PRODUCED = "OUTCOME_NOT_PRODUCED"
    TEMPLATE_SYNTAX = "TEMPLATE_SYNTAX"
    UNKNOWN_TEMPLATE_VARIABLE = "UNKNOWN_TEMPLATE_VARIABLE"
    SECRET_NOT_ALLOWED = "SECRET_NOT_ALLOWED"
    UNDECLARED_SECRET = "UNDECLARED_SECRET"
    SECRET_ACCESS = "SECRET_ACCESS"
    INLINE_SECRET = "INLINE_SECRET"
    # R-SEG-1 filters (the codes of engine.crm.errors)
    UNKNOWN_FILTER_FIELD = "UNKNOWN_FILTER_FIELD"
    INVALID_FILTER = "INVALID_FILTER"
    # across the files of a folder
    DUPLICATE_WORKFLOW_KEY = "DUPLICATE_WORKFLOW_KEY"
    UNKNOWN_WORKFLOW = "UNKNOWN_WORKFLOW"


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def json_path(path: DocumentPath) -> str:
    """``("steps", 2, "for")`` → ``$.steps[2].for``; keys that are not identifiers are quoted."""
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{part!r}]")
    return "".join(parts)


@dataclass(frozen=True)
class ValidationError:
    """One problem of a definition. ``line`` and ``column`` count from 1; None when unknown."""

    file: str
    line: int | None
    column: int | None
    path: str
    code: ErrorCode
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "code": self.code.value,
            "message": self.message,
        }

    def format(self) -> str:
        """``definitions/x.yaml:12:5: error[DUPLICATE_STEP_ID] $.steps[3].id: step id 'wait' is used twice``."""
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.column}"
        return f"{where}: error[{self.code.value}] {self.path}: {self.message}"


def format_errors(errors: Iterable[ValidationError]) -> str:
    """One line per error, in the order given (validation sorts them by file and position)."""
    return "\n".join(error.format() for error in errors)


class InvalidDefinition(InvalidInput):
    """A definition did not validate; ``details`` is the list of ``ValidationError.to_dict()``."""

    code = "INVALID_DEFINITION"

    @classmethod
    def from_errors(cls, errors: Sequence[ValidationError]) -> InvalidDefinition:
        first = errors[0].format() if errors else "invalid definition"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return cls(first + more, details=[error.to_dict() for error in errors])
