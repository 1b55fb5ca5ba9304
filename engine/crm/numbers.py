"""Numbers the store holds and compares (#13.2, #13.3): finite, and integers within 64 bits.

``NaN``, ``Infinity``, ``-Infinity`` (and ``1e400``, which parses as infinity) are not JSON:
Python's parser accepts them, but SQLite's json functions then call the whole document malformed
and PostgreSQL refuses it. An integer beyond 64 bits cannot be bound as a SQL parameter (SQLite)
nor compared exactly with a stored number. Both are refused where a value enters — request
bodies, contact properties, segment filters — with the field that held it.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

NOT_FINITE = "must be a finite number (NaN, Infinity and numbers beyond ±1.8e308 are not JSON values)"
TOO_LARGE = "must be an integer between -2^63 and 2^63-1"

_T = TypeVar("_T")


def number_problem(value: Any) -> str | None:
    """Why ``value`` cannot be stored or compared, or None (non-numbers are never a problem here)."""
    if isinstance(value, float) and not math.isfinite(value):
        return NOT_FINITE
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        return TOO_LARGE
    return None


def check_number(value: _T) -> _T:
    """``value`` as is, or ValueError (pydantic turns it into a validation error naming the field)."""
    problem = number_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_numbers(value: _T) -> _T:
    """``check_number`` for a value or each item of a list."""
    for item in value if isinstance(value, list) else [value]:
        check_number(item)
    return value


#: A contact property's value: text, a number the store can hold, a boolean, or null (removes it).
PropertyValue = Annotated[str | int | float | bool | None, AfterValidator(check_number)]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


#: ``json.dumps(value, allow_nan=False)`` builds an encoder per call; a sync writes a million values.
_STRICT = json.JSONEncoder(allow_nan=False)


def json_dumps(value: Any) -> str:
    """The JSON columns' serializer: NaN and ±Infinity are not JSON (SQLite's json functions call
    such a document malformed, PostgreSQL refuses it), so they are written as null."""
    try:
        return _STRICT.encode(value)
    except ValueError:
        return _STRICT.encode(_finite(value))
