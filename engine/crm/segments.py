"""Segments (R-SEG-1): a JSON filter language over contacts, compiled to one SQL query.

A filter is a tree of nodes, each tagged by ``type``:

- ``{"type": "and" | "or", "filters": [<node>, …]}`` — all / any of the children;
- ``{"type": "not", "filter": <node>}`` — negation;
- ``{"type": "condition", "field": <contact field>, "op": <operator>, "value": …}`` — a comparison
  on the contact. Fields: ``email``, ``first_name``, ``last_name``, ``created_at``, the four
  rollups ``zoom_webinar_attendance_average_duration``, ``zoom_webinar_joinlink``,
  ``zoom_webinar_registration_count``, ``zoom_webinar_attendance_count``, and any custom
  property as ``properties.<name>``;
- ``{"type": "event", "event": <kind>, "where": [<condition>, …]}`` — the contact has at least one
  event of that kind matching every condition (an empty ``where`` means "any"):

  ====================== ==========================================================================
  ``webinar_attendance``  ``duration_seconds``, ``duration_percent``, ``webinar_id``, ``webinar_name``
  ``webinar_registration`` ``webinar_id``, ``webinar_name`` (cancelled registrations do not count)
  ``recording_available`` ``topic``, ``start_time``, ``recording_url``
  ====================== ==========================================================================

Operators: ``eq``, ``neq``, ``gt``, ``gte``, ``lt``, ``lte`` (numbers and dates), ``contains``,
``not_contains``, ``starts_with`` (text), ``in``, ``not_in`` (a list value), ``is_set``,
``is_not_set`` (no value). Text comparisons ignore case. Negative operators (``neq``,
``not_contains``, ``not_in``) also match contacts that have no value. Dates are ISO 8601 strings
(a date without an offset is UTC). A property is compared by the JSON type of the filter's value:
a string matches string properties, a number numeric ones, a boolean boolean ones. Numbers are
finite and integers fit 64 bits (``engine.crm.numbers``): anything else is refused when the
filter is parsed, never sent to the database.

Example — pro-plan contacts who stayed at least half of webinar 81234567890 and never
registered to a webinar named like "onboarding"::

    {"type": "and", "filters": [
      {"type": "condition", "field": "properties.plan", "op": "eq", "value": "pro"},
      {"type": "event", "event": "webinar_attendance", "where": [
        {"type": "condition", "field": "webinar_id", "op": "eq", "value": "81234567890"},
        {"type": "condition", "field": "duration_percent", "op": "gte", "value": 50}]},
      {"type": "not", "filter": {"type": "event", "event": "webinar_registration", "where": [
        {"type": "condition", "field": "webinar_name", "op": "contains", "value": "onboarding"}]}}
    ]}

``search_contacts`` runs a filter as one query, keyset-paginated on contact id with an opaque
cursor; ``contact_matches`` evaluates it for one contact (workflow branch conditions);
``validate_filter`` checks fields, operators and values without a database (definition loading).
An unknown field raises ``UnknownFilterField`` whose details list the allowed fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from sqlalchemy.orm import Session

from engine.crm.contacts import PROPERTY_NAME
from engine.crm.errors import InvalidCursor, InvalidFilter, UnknownFilterField
from engine.crm.numbers import INT64_MAX, check_numbers
from engine.crm.tables import (
    Contact,
    MarketingEvent,
    Participation,
    ParticipationState,
    Recording,
    TimelineEvent,
    TimelineEventKind,
    table_of,
)

CONTACTS = table_of(Contact)
PARTICIPATIONS = table_of(Participation)
EVENTS = table_of(MarketingEvent)
RECORDINGS = table_of(Recording)
TIMELINE = table_of(TimelineEvent)

PROPERTY_PREFIX = "properties."
MAX_PAGE_SIZE = 500


class Operator(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    IN = "in"
    NOT_IN = "not_in"
    IS_SET = "is_set"
    IS_NOT_SET = "is_not_set"


class EventKind(StrEnum):
    WEBINAR_ATTENDANCE = "webinar_attendance"
    WEBINAR_REGISTRATION = "webinar_registration"
    RECORDING_AVAILABLE = "recording_available"


Scalar = str | int | float | bool


def _no_nul(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; refuse it when parsing rather than fail in the database.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


FieldName = Annotated[str, AfterValidator(_no_nul)]
_STRICT = ConfigDict(extra="forbid")


class Condition(BaseModel):
    """A comparison of one field with a value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"type": "condition", "field": "email", "op": "contains", "value": "@acme.com"}]
        },
    )

    type: Literal["condition"] = "condition"
    field: FieldName = Field(
        min_length=1, max_length=100, description="a contact field, properties.<name>, or an event field"
    )
    op: Operator
    value: Scalar | list[Annotated[Scalar, AfterValidator(_no_nul)]] | None = None

    @field_validator("value")
    @classmethod
    def _value_has_no_nul(cls, value: Scalar | list[Scalar] | None) -> Scalar | list[Scalar] | None:
        return _no_nul(value) if isinstance(value, str) else value

    @field_validator("value")
    @classmethod
    def _value_is_comparable(cls, value: Scalar | list[Scalar] | None) -> Scalar | list[Scalar] | None:
        # #13.2/#13.3: NaN, ±Infinity and integers beyond 64 bits cannot be bound or compared.
        return check_numbers(value)


class EventFilter(BaseModel):
    """The contact has at least one event of ``event`` matching every condition of ``where``."""

    model_config = _STRICT

    type: Literal["event"] = "event"
    event: EventKind
    where: list[Condition] = Field(default_factory=list, max_length=20)


class AndFilter(BaseModel):
    model_config = _STRICT

    type: Literal["and"] = "and"
    filters: list[SegmentFilter] = Field(min_length=1, max_length=50)


class OrFilter(BaseModel):
    model_config = _STRICT

    type: Literal["or"] = "or"
    filters: list[SegmentFilter] = Field(min_length=1, max_length=50)


class NotFilter(BaseModel):
    model_config = _STRICT

    type: Literal["not"] = "not"
    filter: SegmentFilter


#: The filter language: a discriminated union on ``type`` (also what workflow definitions embed).
SegmentFilter = Annotated[AndFilter | OrFilter | NotFilter | Condition | EventFilter, Field(discriminator="type")]

for _model in (AndFilter, OrFilter, NotFilter):
    _model.model_rebuild()

#: Parses and describes (JSON schema) a segment filter; workflow definitions embed the same type.
FILTER_ADAPTER: TypeAdapter[AndFilter | OrFilter | NotFilter | Condition | EventFilter] = TypeAdapter(SegmentFilter)


def parse_filter(data: str | bytes | dict[str, Any]) -> SegmentFilter:
    """A filter from JSON text or a decoded JSON object; raises pydantic's ValidationError."""
    if isinstance(data, dict):
        return FILTER_ADAPTER.validate_python(data)
    return FILTER_ADAPTER.validate_json(data)


# --- fields ------------------------------------------------------------------------------------


class FieldKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATETIME = "datetime"


_OPERATORS: dict[FieldKind, frozenset[Operator]] = {
    FieldKind.TEXT: frozenset(
        {
            Operator.EQ,
            Operator.NEQ,
            Operator.CONTAINS,
            Operator.NOT_CONTAINS,
            Operator.STARTS_WITH,
            Operator.IN,
            Operator.NOT_IN,
            Operator.IS_SET,
            Operator.IS_NOT_SET,
        }
    ),
    FieldKind.NUMBER: frozenset(
        {
            Operator.EQ,
            Operator.NEQ,
            Operator.GT,
            Operator.GTE,
            Operator.LT,
            Operator.LTE,
            Operator.IN,
            Operator.NOT_IN,
            Operator.IS_SET,
            Operator.IS_NOT_SET,
        }
    ),
    FieldKind.DATETIME: frozenset(
        {
            Operator.EQ,
            Operator.NEQ,
            Operator.GT,
            Operator.GTE,
            Operator.LT,
            Operator.LTE,
            Operator.IS_SET,
            Operator.IS_NOT_SET,
        }
    ),
}


@dataclass(frozen=True)
class _Field:
    kind: FieldKind
    column: sa.ColumnElement[Any]
    #: Stored lowercased already (normalised emails): compare without lower() so the index serves.
    stored_lowercase: bool = False


CONTACT_FIELDS: dict[str, _Field] = {
    "email": _Field(FieldKind.TEXT, CONTACTS.c.email, stored_lowercase=True),
    "first_name": _Field(FieldKind.TEXT, CONTACTS.c.first_name),
    "last_name": _Field(FieldKind.TEXT, CONTACTS.c.last_name),
    "created_at": _Field(FieldKind.DATETIME, CONTACTS.c.created_at),
    "zoom_webinar_attendance_average_duration": _Field(
        FieldKind.NUMBER, CONTACTS.c.zoom_webinar_attendance_average_duration
    ),
    "zoom_webinar_joinlink": _Field(FieldKind.TEXT, CONTACTS.c.zoom_webinar_joinlink),
    "zoom_webinar_registration_count": _Field(FieldKind.NUMBER, CONTACTS.c.zoom_webinar_registration_count),
    "zoom_webinar_attendance_count": _Field(FieldKind.NUMBER, CONTACTS.c.zoom_webinar_attendance_count),
}

_P = PARTICIPATIONS.alias("seg_p")
_E = EVENTS.alias("seg_e")
_T = TIMELINE.alias("seg_t")
_R = RECORDINGS.alias("seg_r")

EVENT_FIELDS: dict[EventKind, dict[str, _Field]] = {
    EventKind.WEBINAR_ATTENDANCE: {
        "duration_seconds": _Field(FieldKind.NUMBER, _P.c.attendance_seconds),
        "duration_percent": _Field(FieldKind.NUMBER, _P.c.attendance_percent),
        "webinar_id": _Field(FieldKind.TEXT, _E.c.zoom_webinar_id),
        "webinar_name": _Field(FieldKind.TEXT, _E.c.topic),
    },
    EventKind.WEBINAR_REGISTRATION: {
        "webinar_id": _Field(FieldKind.TEXT, _E.c.zoom_webinar_id),
        "webinar_name": _Field(FieldKind.TEXT, _E.c.topic),
    },
    EventKind.RECORDING_AVAILABLE: {
        "topic": _Field(FieldKind.TEXT, _R.c.topic),
        "start_time": _Field(FieldKind.DATETIME, _R.c.start_time),
        "recording_url": _Field(FieldKind.TEXT, _R.c.play_url),
    },
}


def allowed_contact_fields() -> list[str]:
    return [*CONTACT_FIELDS, f"{PROPERTY_PREFIX}<name>"]


# --- compilation ------------------------------------------------------------------------------


def _fail(path: str, message: str) -> InvalidFilter:
    return InvalidFilter(f"{path}: {message}", details={"path": path})


def _as_datetime(value: Scalar, path: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise _fail(path, f"{value!r} is not an ISO 8601 date or datetime") from None
            parsed = datetime(day.year, day.month, day.day)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise _fail(path, f"{value!r} is not an ISO 8601 date or datetime")


def _coerce(kind: FieldKind, value: Scalar, path: str) -> Any:
    if kind is FieldKind.TEXT:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _fail(path, f"{value!r} is not text")
        return str(value)
    if kind is FieldKind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, f"{value!r} is not a number")
        return value
    return _as_datetime(value, path)


def _compare(field: _Field, column: sa.ColumnElement[Any], condition: Condition, path: str) -> sa.ColumnElement[bool]:
    op = condition.op
    if op not in _OPERATORS[field.kind]:
        allowed = sorted(_OPERATORS[field.kind])
        raise InvalidFilter(
            f"{path}: operator {op.value!r} does not apply to {field.kind.value} field {condition.field!r}",
            details={"path": f"{path}.op", "allowed_operators": allowed},
        )
    if op is Operator.IS_SET:
        return column.is_not(None)
    if op is Operator.IS_NOT_SET:
        return column.is_(None)
    value_path = f"{path}.value"
    if condition.value is None:
        raise _fail(value_path, f"operator {op.value!r} needs a value")
    lowered = field.kind is FieldKind.TEXT and not field.stored_lowercase
    target = sa.func.lower(column) if lowered else column

    def fit(value: Scalar) -> Any:
        coerced = _coerce(field.kind, value, value_path)
        if field.kind is FieldKind.TEXT:
            return coerced.lower()
        if field.kind is FieldKind.NUMBER:
            # #13.3: bound as a 64-bit integer (or a float), not as the column's type: PostgreSQL
            # would cast 2^63-1 to an INTEGER column's type and fail instead of comparing.
            return sa.literal(coerced, sa.BigInteger() if isinstance(coerced, int) else sa.Float())
        return coerced

    if op in (Operator.IN, Operator.NOT_IN):
        if not isinstance(condition.value, list) or not condition.value:
            raise _fail(value_path, f"operator {op.value!r} needs a non-empty list")
        matched = target.in_([fit(item) for item in condition.value])
        return matched if op is Operator.IN else sa.or_(column.is_(None), sa.not_(matched))
    if isinstance(condition.value, list):
        raise _fail(value_path, f"operator {op.value!r} needs a single value, not a list")
    value = fit(condition.value)
    positive: dict[Operator, Callable[[], sa.ColumnElement[bool]]] = {
        Operator.EQ: lambda: target == value,
        Operator.NEQ: lambda: target == value,
        Operator.GT: lambda: target > value,
        Operator.GTE: lambda: target >= value,
        Operator.LT: lambda: target < value,
        Operator.LTE: lambda: target <= value,
        Operator.CONTAINS: lambda: target.contains(value, autoescape=True),
        Operator.NOT_CONTAINS: lambda: target.contains(value, autoescape=True),
        Operator.STARTS_WITH: lambda: target.startswith(value, autoescape=True),
    }
    clause = positive[op]()
    if op in (Operator.NEQ, Operator.NOT_CONTAINS):
        return sa.or_(column.is_(None), sa.not_(clause))
    return clause


class _PropertyTypes:
    """How each backend reads one JSON property: its JSON type and its value as SQL."""

    def __init__(self, dialect: str, name: str) -> None:
        props = CONTACTS.c.properties
        if dialect == "sqlite":
            path = f"$.{name}"
            # #13.2: SQLite's json functions raise "malformed JSON" — failing the whole query — on
            # a document that is not JSON (a NaN written before such values were refused): such
            # a contact's properties read as unset instead.
            valid = sa.func.json_valid(props) == 1
            self.json_type: sa.ColumnElement[Any] = sa.case((valid, sa.func.json_type(props, path)))
            self.is_text: sa.ColumnElement[bool] = self.json_type == "text"
            self.is_number: sa.ColumnElement[bool] = self.json_type.in_(["integer", "real"])
            self.is_bool: sa.ColumnElement[bool] = self.json_type.in_(["true", "false"])
            self.text: sa.ColumnElement[Any] = sa.case((valid, sa.func.json_extract(props, path)))
            self.bool_text: sa.ColumnElement[Any] = self.json_type
        else:
            self.json_type = sa.func.json_typeof(props.op("->")(name))
            self.is_text = self.json_type == "string"
            self.is_number = self.json_type == "number"
            self.is_bool = self.json_type == "boolean"
            self.text = props.op("->>")(name)
            self.bool_text = self.text


def _property_condition(dialect: str, name: str, condition: Condition, path: str) -> sa.ColumnElement[bool]:
    types = _PropertyTypes(dialect, name)
    if condition.op in (Operator.IS_SET, Operator.IS_NOT_SET):
        present = sa.and_(types.json_type.is_not(None), types.json_type != "null")
        return present if condition.op is Operator.IS_SET else sa.not_(sa.func.coalesce(present, False))
    sample = condition.value[0] if isinstance(condition.value, list) and condition.value else condition.value
    # CASE, not AND: PostgreSQL may evaluate a CAST before the type check that guards it.
    if isinstance(sample, bool):
        if condition.op not in (Operator.EQ, Operator.NEQ) or isinstance(condition.value, list):
            raise _fail(f"{path}.op", "a boolean property can only be compared with eq or neq")
        typed = sa.case((types.is_bool, types.bool_text))
        wanted = "true" if sample else "false"
        return typed == wanted if condition.op is Operator.EQ else sa.or_(typed.is_(None), typed != wanted)
    if isinstance(sample, int | float):
        number = sa.case((types.is_number, sa.cast(types.text, sa.Float)))
        return _compare(_Field(FieldKind.NUMBER, number), number, condition, path)
    text = sa.case((types.is_text, types.text))
    return _compare(_Field(FieldKind.TEXT, text), text, condition, path)


def _contact_condition(dialect: str, condition: Condition, path: str) -> sa.ColumnElement[bool]:
    if condition.field.startswith(PROPERTY_PREFIX):
        name = condition.field[len(PROPERTY_PREFIX) :]
        if PROPERTY_NAME.match(name):
            return _property_condition(dialect, name, condition, path)
    field = CONTACT_FIELDS.get(condition.field)
    if field is None:
        raise _unknown_field(condition.field, f"{path}.field", allowed_contact_fields())
    return _compare(field, field.column, condition, path)


def _unknown_field(name: str, path: str, allowed: Sequence[str]) -> UnknownFilterField:
    return UnknownFilterField(
        f"unknown filter field {name!r} at {path}; allowed fields: {', '.join(allowed)}",
        details={"field": name, "path": path, "allowed": list(allowed)},
    )


def _event_exists(event: EventFilter, path: str) -> sa.ColumnElement[bool]:
    fields = EVENT_FIELDS[event.event]
    clauses: list[sa.ColumnElement[bool]] = []
    for index, condition in enumerate(event.where):
        condition_path = f"{path}.where.{index}"
        field = fields.get(condition.field)
        if field is None:
            raise _unknown_field(condition.field, f"{condition_path}.field", list(fields))
        clauses.append(_compare(field, field.column, condition, condition_path))
    if event.event is EventKind.RECORDING_AVAILABLE:
        query = (
            sa.select(_T.c.id)
            .select_from(_T.join(_R, _R.c.id == _T.c.recording_id))
            .where(_T.c.contact_id == CONTACTS.c.id, _T.c.kind == TimelineEventKind.RECORDING_AVAILABLE.value)
        )
    else:
        query = (
            sa.select(_P.c.id)
            .select_from(_P.join(_E, _E.c.id == _P.c.marketing_event_id))
            .where(_P.c.contact_id == CONTACTS.c.id)
        )
        if event.event is EventKind.WEBINAR_ATTENDANCE:
            query = query.where(_P.c.attended)
        else:
            query = query.where(_P.c.registered_at.is_not(None), _P.c.state != ParticipationState.CANCELLED.value)
    return sa.exists(query.where(*clauses).correlate(CONTACTS))


def compile_filter(node: SegmentFilter, dialect: str, path: str = "filter") -> sa.ColumnElement[bool]:
    """The WHERE clause on ``contacts`` for ``node``; raises UnknownFilterField or InvalidFilter."""
    if isinstance(node, AndFilter):
        return sa.and_(*(compile_filter(child, dialect, f"{path}.filters.{i}") for i, child in enumerate(node.filters)))
    if isinstance(node, OrFilter):
        return sa.or_(*(compile_filter(child, dialect, f"{path}.filters.{i}") for i, child in enumerate(node.filters)))
    if isinstance(node, NotFilter):
        # NOT of a NULL comparison is NULL; coalesce so "not" means "does not match".
        return sa.not_(sa.func.coalesce(compile_filter(node.filter, dialect, f"{path}.filter"), False))
    if isinstance(node, EventFilter):
        return _event_exists(node, path)
    return _contact_condition(dialect, node, path)


def validate_filter(node: SegmentFilter) -> None:
    """Check fields, operators and values without a database; raise the error a search would."""
    for dialect in ("sqlite", "postgresql"):
        compile_filter(node, dialect)


# --- queries ------------------------------------------------------------------------------------


def _filter_fingerprint(node: SegmentFilter | None) -> str:
    canonical = "" if node is None else json.dumps(_dump(node), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _dump(node: SegmentFilter) -> Any:
    return node.model_dump(mode="json")


def encode_cursor(after_id: int, node: SegmentFilter | None) -> str:
    payload = json.dumps({"after": after_id, "filter": _filter_fingerprint(node)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, node: SegmentFilter | None) -> int:
    """The last contact id of the previous page; InvalidCursor when garbled or made for another filter."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = payload["after"]
        fingerprint = payload["filter"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this API returned", details={"field": "cursor"}) from None
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= INT64_MAX:
        raise InvalidCursor("cursor is not one this API returned", details={"field": "cursor"})
    if fingerprint != _filter_fingerprint(node):
        raise InvalidCursor("cursor was returned for another filter", details={"field": "cursor"})
    return after


@dataclass(frozen=True)
class SegmentPage:
    contacts: list[Contact]
    next_cursor: str | None


def _dialect(session: Session) -> str:
    return session.connection().dialect.name


def search_contacts(
    session: Session, node: SegmentFilter | None, *, cursor: str | None = None, limit: int = 100
) -> SegmentPage:
    """One page of the contacts matching ``node`` (all contacts when None), in id order."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    after = decode_cursor(cursor, node) if cursor else 0
    query = sa.select(Contact).where(CONTACTS.c.id > after).order_by(CONTACTS.c.id).limit(limit + 1)
    if node is not None:
        query = query.where(compile_filter(node, _dialect(session)))
    contacts = list(session.scalars(query))
    next_cursor = None
    if len(contacts) > limit:
        contacts = contacts[:limit]
        assert contacts[-1].id is not None
        next_cursor = encode_cursor(contacts[-1].id, node)
    return SegmentPage(contacts=contacts, next_cursor=next_cursor)


#: ``contact_matches``' statements by (dialect, filter as JSON), the most recently used kept.
_MEMBERSHIP: OrderedDict[tuple[str, str], sa.Select[Any]] = OrderedDict()
_MEMBERSHIP_SIZE = 256
_MEMBERSHIP_LOCK = threading.Lock()


def contact_matches(session: Session, node: SegmentFilter, contact_id: int) -> bool:
    """Whether contact ``contact_id`` is in the segment (a workflow branch condition); False if it does not exist.

    The statement of a filter is built once and kept (``_MEMBERSHIP``): an enrollment checks its
    definition's goal and suppression before each step, the same filter for every contact unless
    it has templates (#16.1: compiling it again each time was a tenth of a registration's store work).
    """
    dialect = _dialect(session)
    key = (dialect, node.model_dump_json())
    with _MEMBERSHIP_LOCK:
        query = _MEMBERSHIP.get(key)
        if query is not None:
            _MEMBERSHIP.move_to_end(key)
    if query is None:
        condition = compile_filter(node, dialect)
        member = sa.bindparam("member_contact_id", type_=sa.Integer())
        query = sa.select(sa.exists(sa.select(CONTACTS.c.id).where(CONTACTS.c.id == member, condition)))
        with _MEMBERSHIP_LOCK:
            _MEMBERSHIP[key] = query
            while len(_MEMBERSHIP) > _MEMBERSHIP_SIZE:
                _MEMBERSHIP.popitem(last=False)
    return bool(session.connection().execute(query, {"member_contact_id": contact_id}).scalar())
