"""The definition language: pydantic models of a workflow definition (issue 5).

A definition is parsed by these models (types, required fields, ``extra="forbid"``, value
formats), then checked as a whole by ``engine.dsl.validation`` (references between steps,
loops, templates, segment filters). Only ``validate_text`` / ``validate_path`` give a
definition that passed both; build ``Definition`` directly only from their output.

Error types raised by the field validators below are the stable error codes users see.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    PlainSerializer,
    Tag,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from engine.crm.contacts import PROPERTY_NAME, ROLLUP_PROPERTIES
from engine.crm.numbers import PropertyValue
from engine.crm.segments import Condition, EventFilter, EventKind, SegmentFilter
from engine.dsl.durations import DurationError, format_duration, parse_duration
from engine.dsl.outcomes import StepOutcomeCode
from engine.dsl.templates import is_template, json_strings
from engine.dsl.webinar_ids import InvalidWebinarId, normalise_webinar_id

__all__ = [
    "FALLIBLE_STEPS",
    "MAX_STEPS",
    "AddContactToZoomWebinarStep",
    "ApiTrigger",
    "BranchCase",
    "BranchCondition",
    "BranchStep",
    "CallOutStep",
    "Definition",
    "DelayStep",
    "EndStep",
    "EnrollStep",
    "EnrollmentRules",
    "EventTrigger",
    "GotoOnError",
    "ManualTrigger",
    "OnError",
    "OutcomeCondition",
    "SegmentFilter",
    "SetPropertyStep",
    "Step",
    "StepRetry",
    "Trigger",
    "WebhookStep",
    "Weekday",
]


def fail(code: str, message: str) -> PydanticCustomError:
    """A validation failure whose pydantic error type is our stable code."""
    # The message goes through the context so braces in user input ("{{") are not a format string.
    return PydanticCustomError(code, "{message}", {"message": message})


def json_kind(value: Any) -> str:
    """How a YAML/JSON user would name the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _require_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise fail("WRONG_TYPE", f"{what}, not {json_kind(value)}")
    return value


# --- scalar types --------------------------------------------------------------------------------


def _duration(value: Any, *, allow_negative: bool) -> timedelta:
    if isinstance(value, timedelta):
        # Already parsed (a model built from another model); re-check so zero never gets in.
        value = format_duration(value)
    text = _require_text(value, "a duration is text like '2d 4h'")
    try:
        return parse_duration(text, allow_negative=allow_negative)
    except DurationError as exc:
        raise fail(exc.code, exc.message) from None


_DURATION_SCHEMA = {
    "type": "string",
    "pattern": r"^\s*\d+\s*[wdhms](\s*\d+\s*[wdhms])*\s*$",
    "description": "whole numbers with units w, d, h, m, s from largest to smallest, like '2d 4h'",
    "examples": ["30m", "2d 4h", "1w"],
}

#: A positive duration, written ``"2d 4h"``; zero is refused (docs/temporal.md, "Zero timers").
Duration = Annotated[
    timedelta,
    BeforeValidator(functools.partial(_duration, allow_negative=False)),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(_DURATION_SCHEMA),
]
#: A non-zero duration that may be negative, written ``"-1h"``: an offset before or after a date.
SignedDuration = Annotated[
    timedelta,
    BeforeValidator(functools.partial(_duration, allow_negative=True)),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({**_DURATION_SCHEMA, "pattern": r"^\s*[+-]?" + _DURATION_SCHEMA["pattern"][1:]}),
]

#: Step ids are read by templates as ``steps.<id>.<field>``, so they must be identifiers.
_STEP_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}", re.ASCII)
_WORKFLOW_KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}", re.ASCII)
_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d", re.ASCII)
#: Secret names are environment variable names (``ROLLCALL_SECRET_<NAME>``), not starting with
#: ``_`` (the sandbox hides such attributes).
SECRET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}", re.ASCII)
MAX_SECRETS = 50


def _step_id(value: Any) -> str:
    text = _require_text(value, "a step id is text")
    if not _STEP_ID.fullmatch(text):
        raise fail(
            "INVALID_VALUE",
            f"{text!r} is not a step id: use letters, digits and _ (not starting with a digit), "
            "at most 64 characters, so templates can read it as steps.<id>",
        )
    return text


def _workflow_key(value: Any) -> str:
    text = _require_text(value, "a workflow key is text")
    if len(text) > 100 or not _WORKFLOW_KEY.fullmatch(text):
        raise fail(
            "INVALID_VALUE",
            f"{text!r} is not a workflow key: use lowercase letters and digits separated by single dashes, "
            "like 'webinar-invite'",
        )
    return text


StepId = Annotated[str, BeforeValidator(_step_id), WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z_]\w*$"})]
WorkflowKey = Annotated[
    str,
    BeforeValidator(_workflow_key),
    WithJsonSchema({"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 100}),
]


def _secret_name(value: Any) -> str:
    text = _require_text(value, "a secret name is text")
    if not SECRET_NAME.fullmatch(text):
        raise fail(
            "INVALID_VALUE",
            f"{text!r} is not a secret name: use letters, digits and _ (starting with a letter), "
            "as in the environment variable ROLLCALL_SECRET_<NAME>",
        )
    return text


SecretName = Annotated[
    str,
    BeforeValidator(_secret_name),
    WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_]*$", "maxLength": 100}),
]


def _is_default_on_error(value: Any) -> bool:
    return bool(value == "fail")


def _webinar_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _require_text(value, "a webinar id is digits or a template like '{{ contact.properties.webinar_id }}'")
    if is_template(text):
        # A contact token (R-ADD-2): normalised when rendered, at run time.
        return text
    try:
        return normalise_webinar_id(text)
    except InvalidWebinarId as exc:
        raise fail("INVALID_WEBINAR_ID", str(exc)) from None


WebinarId = Annotated[
    str,
    BeforeValidator(_webinar_id),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "integer"}],
            "description": "a Zoom webinar id (spaces and dashes are removed) or a template",
            "examples": ["812 3456 7890", "{{ contact.properties.webinar_id }}"],
        }
    ),
]


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _time_zone(value: Any) -> str:
    text = _require_text(value, "a time zone is text like 'Europe/Paris'")
    # Membership, not ZoneInfo(text): ZoneInfo opens files named by user input ("../…").
    if text not in _time_zones():
        raise fail("INVALID_TIMEZONE", f"{text!r} is not an IANA time zone (like 'Europe/Paris' or 'UTC')")
    return text


TimeZoneName = Annotated[str, BeforeValidator(_time_zone), WithJsonSchema({"type": "string", "examples": ["UTC"]})]


def _clock_time(value: Any) -> str:
    text = _require_text(value, "a time of day is text like '09:00'")
    if not _CLOCK_TIME.fullmatch(text):
        raise fail("INVALID_VALUE", f"{text!r} is not a time of day; write HH:MM on 24 hours, like '09:00'")
    return text


ClockTime = Annotated[
    str, BeforeValidator(_clock_time), WithJsonSchema({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"})
]


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 date-time (``Z`` allowed); ValueError otherwise. Naive values are read in the delay's time zone."""
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


def _until(value: Any) -> str:
    text = _require_text(value, "'until' is an ISO date-time or a template")
    if not is_template(text):
        try:
            parse_datetime(text)
        except ValueError:
            raise fail(
                "INVALID_DATETIME",
                f"{text!r} is not an ISO 8601 date-time (like '2026-03-01T10:00:00Z') nor a template",
            ) from None
    return text


def _header_name(value: Any) -> str:
    text = _require_text(value, "a header name is text")
    if not _HEADER_NAME.fullmatch(text):
        raise fail("INVALID_VALUE", f"{text!r} is not an HTTP header name")
    return text


def _property_name(value: Any) -> str:
    text = _require_text(value, "a property name is text")
    if not PROPERTY_NAME.match(text):
        raise fail(
            "INVALID_VALUE",
            f"{text!r} is not a property name: start with a letter or _, then letters, digits and _",
        )
    if text in ROLLUP_PROPERTIES:
        # R-PROP-1…4: rollups are recomputed from participations, never set by hand.
        raise fail("INVALID_VALUE", f"{text!r} is a Zoom rollup computed by Rollcall; it cannot be set")
    return text


def _outcome_codes(value: Any) -> list[StepOutcomeCode]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise fail("INVALID_VALUE", "'is' needs at least one outcome code")
    codes: list[StepOutcomeCode] = []
    for item in items:
        text = _require_text(item, "an outcome code is text like 'REGISTERED'")
        if text not in StepOutcomeCode.__members__:
            raise fail(
                "UNKNOWN_OUTCOME_CODE",
                f"{text!r} is not an outcome code; known codes: {', '.join(StepOutcomeCode)}",
            )
        codes.append(StepOutcomeCode(text))
    return codes


# --- steps -----------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepRetry(_Model):
    """How a step that calls out is retried on transient failures (R-ADD-6); Temporal runs the retries."""

    max_attempts: int = Field(default=5, ge=1, le=100)
    initial_interval: Duration = timedelta(seconds=1)
    backoff: float = Field(default=2.0, ge=1.0, le=10.0)
    maximum_interval: Duration = timedelta(minutes=5)
    maximum_duration: Duration | None = Field(default=None, description="give up after this long, whatever the count")


class GotoOnError(_Model):
    goto: StepId


def _on_error_kind(value: Any) -> str:
    return "goto" if isinstance(value, dict | GotoOnError) else "action"


def _on_error_action(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("goto"):
        raise fail("INVALID_VALUE", f"write a jump on error as 'on_error: {{goto: <step id>}}', not {value!r}")
    return value


#: ``fail`` ends the enrollment as failed, ``continue`` goes on with the next step (outcome
#: FAILED), ``{goto: <step id>}`` jumps (outcome FAILED).
OnError = Annotated[
    Annotated[Literal["fail", "continue"], BeforeValidator(_on_error_action), Tag("action")]
    | Annotated[GotoOnError, Tag("goto")],
    Discriminator(_on_error_kind),
]


class _Step(_Model):
    id: StepId


class _SequentialStep(_Step):
    next: StepId | None = Field(default=None, description="the step to run after this one (default: the next one)")


class CallOutStep(_SequentialStep):
    """A step that calls another system: retried by policy, then handled by ``on_error``."""

    retry: StepRetry = StepRetry()
    on_error: OnError = "fail"


class AddContactToZoomWebinarStep(CallOutStep):
    """R-ADD-1…8: register the enrolled contact to one Zoom webinar."""

    type: Literal["add_contact_to_zoom_webinar"]
    webinar_id: WebinarId


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class DelayStep(_SequentialStep):
    """Wait ``for`` a duration or ``until`` a date-time (plus ``offset``), then on to the next
    ``at_time`` on one of ``on_days``.

    A delay whose moment has already passed does not wait at all (no zero timer is ever started).
    """

    type: Literal["delay"]
    for_: Duration | None = Field(default=None, alias="for")
    until: Annotated[str, BeforeValidator(_until)] | None = Field(
        default=None,
        description="an ISO 8601 date-time, or a template such as '{{ steps.register.webinar_end_time }}'",
    )
    offset: SignedDuration | None = Field(default=None, description="added to 'until': '1h' after, '-1d' before")
    at_time: ClockTime | None = None
    on_days: list[Weekday] | None = Field(default=None, min_length=1)
    timezone: TimeZoneName | None = Field(default=None, description="for at_time, on_days and naive 'until' (UTC)")
    #: An ``until`` that cannot be rendered or read is a step failure (#13.5). Left out of the
    #: canonical form while "fail", so definitions written before it keep their hash.
    on_error: OnError = Field(default="fail", exclude_if=_is_default_on_error)


class OutcomeCondition(_Model):
    """True when step ``outcome_of`` ended with one of the codes in ``is``."""

    outcome_of: StepId
    is_: Annotated[list[StepOutcomeCode], BeforeValidator(_outcome_codes)] = Field(alias="is")


def _condition_kind(value: Any) -> str:
    if isinstance(value, OutcomeCondition) or (isinstance(value, dict) and "outcome_of" in value):
        return "outcome"
    return "segment"


#: A branch condition: a step's outcome, or an R-SEG-1 segment filter the contact must match now.
BranchCondition = Annotated[
    Annotated[OutcomeCondition, Tag("outcome")] | Annotated[SegmentFilter, Tag("segment")],
    Discriminator(_condition_kind),
]


class BranchCase(_Model):
    if_: BranchCondition = Field(alias="if")
    then: StepId


class BranchStep(_Step):
    """The first case whose condition holds decides the next step; otherwise ``else`` (default: the next step)."""

    type: Literal["branch"]
    cases: list[BranchCase] = Field(min_length=1, max_length=50)
    else_: StepId | None = Field(default=None, alias="else")
    #: A condition whose template cannot be rendered is a step failure (#13.5); see DelayStep.
    on_error: OnError = Field(default="fail", exclude_if=_is_default_on_error)


class SetPropertyStep(CallOutStep):
    """Set a custom property of the contact; text values are templates."""

    type: Literal["set_property"]
    property: Annotated[str, BeforeValidator(_property_name)]
    #: #13.2: a number the store can hold (``.nan``, ``.inf`` and huge integers are refused here).
    value: PropertyValue


class WebhookStep(CallOutStep):
    """Call an HTTP endpoint. Credentials come from ``{{ secrets.NAME }}`` only, never written inline.

    Redirects are not followed; the destination must pass the egress policy
    (``ROLLCALL_WEBHOOK_ALLOW``).
    """

    type: Literal["webhook"]
    url: str = Field(min_length=1, max_length=2000)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[Annotated[str, BeforeValidator(_header_name)], str] = Field(default_factory=dict)
    body: JsonValue = None
    timeout: Duration = timedelta(seconds=30)
    save_response: bool = Field(
        default=False,
        # Left out of the canonical form while false, so definitions written before it keep their hash.
        exclude_if=lambda save: not save,
        description="keep a JSON answer (up to 4 KiB) as the step's output: steps.<id>.response",
    )

    def templates(self) -> Iterator[str]:
        """The texts rendered for each request: the URL, the header values, the strings of the body."""
        yield self.url
        yield from self.headers.values()
        yield from json_strings(self.body)


class EnrollStep(CallOutStep):
    """Enroll the contact into another workflow (which applies its own criteria and suppression)."""

    type: Literal["enroll"]
    workflow: WorkflowKey


class EndStep(_Step):
    """The enrollment ends here."""

    type: Literal["end"]


MAX_STEPS = 500
#: Steps that can fail and say with ``on_error`` what happens then.
FALLIBLE_STEPS = (CallOutStep, DelayStep, BranchStep)
Step = Annotated[
    AddContactToZoomWebinarStep | DelayStep | BranchStep | SetPropertyStep | WebhookStep | EnrollStep | EndStep,
    Field(discriminator="type"),
]
STEP_TYPES: tuple[str, ...] = (
    "add_contact_to_zoom_webinar",
    "delay",
    "branch",
    "set_property",
    "webhook",
    "enroll",
    "end",
)


# --- enrollment --------------------------------------------------------------------------------------


class ApiTrigger(_Model):
    """Contacts are enrolled by a call to the HTTP API."""

    type: Literal["api"]


class ManualTrigger(_Model):
    """A user enrolls contacts from the CLI or the UI."""

    type: Literal["manual"]


class EventTrigger(_Model):
    """A Zoom event enrolls the contact it is about (R-SEG-1 event filter): e.g. attended webinar X for ≥ 50%."""

    type: Literal["event"]
    event: EventKind
    where: list[Condition] = Field(default_factory=list, max_length=20)

    def as_filter(self) -> EventFilter:
        """The same test as a segment filter (to find contacts who already had such an event)."""
        return EventFilter(event=self.event, where=self.where)


Trigger = Annotated[ApiTrigger | ManualTrigger | EventTrigger, Field(discriminator="type")]


class EnrollmentRules(_Model):
    """Who enters the workflow, who is kept out, and when a contact leaves early."""

    triggers: list[Trigger] = Field(min_length=1, max_length=20)
    criteria: SegmentFilter | None = Field(default=None, description="a contact must match it to be enrolled")
    suppression: SegmentFilter | None = Field(
        default=None, description="a matching contact is not enrolled, and leaves when it starts to match"
    )
    goal: SegmentFilter | None = Field(default=None, description="a contact leaves the workflow once it matches")
    re_enrollment: bool = Field(default=False, description="may a contact enroll again after finishing")


class Definition(_Model):
    """A workflow definition: who enrolls, and the steps each enrollment runs in order."""

    model_config = ConfigDict(title="Rollcall workflow definition")

    key: WorkflowKey
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    business_unit: str = Field(default="Account", min_length=1, max_length=200)
    enabled: bool = True
    secrets: list[SecretName] = Field(
        default_factory=list,
        max_length=MAX_SECRETS,
        # Left out of the canonical form while empty, so definitions written before it keep their hash.
        exclude_if=lambda names: not names,
        description="the secrets the webhook steps may read, as {{ secrets.NAME }}; no other is readable",
    )
    enrollment: EnrollmentRules
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    def step(self, step_id: str) -> Step:
        """The step with id ``step_id``; KeyError when there is none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
