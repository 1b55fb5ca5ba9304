"""Validate definitions: every error at once, each with file, line, column, JSON path and code.

Three passes, all run whatever the earlier ones found, so a user fixes a file in one go:

1. YAML → data with positions (``engine.dsl.loader``);
2. the pydantic models (types, required and unknown fields, value formats);
3. the definition as a whole, on every part that parsed: step references, loops without a
   delay, templates and the variables they read, secrets, and R-SEG-1 filters.

Secrets (#12.2): a definition declares the secrets it uses (``secrets: [NAME, …]``) and reads
them only as ``secrets.NAME`` with a declared name, only in webhook urls, headers and bodies
(anywhere else the value would be stored: properties, outputs, history). Any other use of
``secrets`` — ``secrets.items()``, ``secrets[name]``, ``secrets|list``, ``secrets`` on its own —
is refused.

``validate_text`` and ``validate_path`` never raise for a bad definition: they return results.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pydantic
from jinja2 import TemplateError

from engine.crm.errors import InvalidFilter, UnknownFilterField
from engine.crm.segments import AndFilter, Condition, EventFilter, NotFilter, OrFilter, SegmentFilter, validate_filter
from engine.dsl.errors import DocumentPath, ErrorCode, InvalidDefinition, ValidationError, json_path
from engine.dsl.loader import LoadedDocument, load_document
from engine.dsl.models import (
    FALLIBLE_STEPS,
    MAX_STEPS,
    STEP_TYPES,
    AddContactToZoomWebinarStep,
    BranchStep,
    CallOutStep,
    Definition,
    DelayStep,
    EndStep,
    EnrollStep,
    EventTrigger,
    GotoOnError,
    OutcomeCondition,
    SetPropertyStep,
    Step,
    Trigger,
    WebhookStep,
    json_kind,
)
from engine.dsl.outcomes import OUTCOMES_BY_STEP_TYPE
from engine.dsl.templates import ENVIRONMENT, ReferencePart, is_template, references

DEFINITION_SUFFIXES = (".yaml", ".yml")
#: A frozen copy of the definition travels in each enrollment's workflow input, where Temporal
#: warns above 512 KiB per payload (docs/temporal.md, "Payload size").
MAX_DEFINITION_CHARS = 256 * 1024
CONTACT_FIELDS = ("email", "first_name", "last_name", "id", "properties", "zoom_webinar_joinlink")
TEMPLATE_ROOTS = ("contact", "steps", "secrets", "enrollment")

_STEP: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(Step)
_TRIGGER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(Trigger)
_FILTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(SegmentFilter)

#: Header, query and body field names that carry credentials: their values must come from
#: ``{{ secrets.NAME }}`` so the secret is not stored in the definition, its revisions and the
#: workflow history. Compared without case, dashes and underscores.
SECRET_NAMES = frozenset(
    {
        "authorization",
        "proxyauthorization",
        "apikey",
        "xapikey",
        "apisecret",
        "xapisecret",
        "token",
        "accesstoken",
        "authtoken",
        "xauthtoken",
        "refreshtoken",
        "sessiontoken",
        "secret",
        "clientsecret",
        "password",
        "passwd",
        "privatekey",
        "cookie",
        "signature",
    }
)


def _is_secret_name(name: str) -> bool:
    return re.sub(r"[-_\s]", "", name).lower() in SECRET_NAMES


@dataclass(frozen=True)
class ValidationResult:
    """Either a valid ``definition`` (and no errors) or the ``errors`` (and no definition)."""

    file: str
    definition: Definition | None
    errors: tuple[ValidationError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def definition_or_raise(self) -> Definition:
        """The definition; InvalidDefinition (HTTP 422, details = the error dicts) when it did not validate."""
        if self.definition is None or self.errors:
            raise InvalidDefinition.from_errors(self.errors)
        return self.definition


# --- pass 2: pydantic errors → our errors ---------------------------------------------------------


def _resolve(data: Any, loc: Sequence[Any], missing: bool) -> DocumentPath:
    """The document path of a pydantic ``loc``.

    A ``loc`` also holds the tags of unions (``("steps", 2, "delay", "for")``) and type names
    (``"str"``). They cannot be told from field names by looking at them (the segment filter tag
    ``event`` is also a field), so follow the data: the reading that descends furthest wins.
    """
    if not loc:
        return ()
    head, rest = loc[0], loc[1:]
    best = _resolve(data, rest, missing)
    if isinstance(data, dict) and isinstance(head, str):
        if head in data:
            descended = (head, *_resolve(data[head], rest, missing))
            if len(descended) > len(best):
                best = descended
        elif missing and not rest:
            best = (head,)
    elif isinstance(data, list) and isinstance(head, int) and 0 <= head < len(data):
        descended = (head, *_resolve(data[head], rest, missing))
        if len(descended) > len(best):
            best = descended
    return best


_CUSTOM_CODES = frozenset(ErrorCode)
#: What a value of the wrong type should have been, by pydantic error type (without _type/_parsing).
_EXPECTED = {
    "model_attributes": "a mapping",
    "model": "a mapping",
    "dict": "a mapping",
    "list": "a list",
    "string": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
}


def _from_pydantic(detail: Mapping[str, Any], data: Any) -> tuple[DocumentPath, ErrorCode, str]:
    kind = str(detail["type"])
    path = _resolve(data, detail["loc"], missing=kind == "missing")
    message = str(detail["msg"])
    if kind in _CUSTOM_CODES:
        return path, ErrorCode(kind), message
    if kind == "missing":
        return path, ErrorCode.MISSING_FIELD, f"missing required field {path[-1]!r}" if path else message
    if kind == "extra_forbidden":
        return path, ErrorCode.UNKNOWN_FIELD, f"unknown field {path[-1]!r}" if path else message
    if kind == "union_tag_not_found":
        return (*path, "type"), ErrorCode.MISSING_FIELD, "missing required field 'type'"
    if kind == "union_tag_invalid":
        context = detail.get("ctx", {})
        tag = context.get("tag")
        if len(path) == 2 and path[0] == "steps":
            return (
                (*path, "type"),
                ErrorCode.UNKNOWN_STEP_TYPE,
                f"unknown step type {tag!r}; step types are: {', '.join(STEP_TYPES)}",
            )
        return (
            (*path, "type"),
            ErrorCode.INVALID_VALUE,
            f"unknown type {tag!r}; expected one of: {context.get('expected_tags')}",
        )
    if kind.endswith(("_type", "_parsing")):
        expected = _EXPECTED.get(kind.removesuffix("_type").removesuffix("_parsing"))
        got = json_kind(detail.get("input"))
        return path, ErrorCode.WRONG_TYPE, f"expected {expected}, not {got}" if expected else f"{message}, not {got}"
    if kind == "literal_error" and path and path[-1] == "on_error":
        return path, ErrorCode.INVALID_VALUE, "expected 'fail', 'continue' or {goto: <step id>}"
    return path, ErrorCode.INVALID_VALUE, message


def _parse(adapter: pydantic.TypeAdapter[Any], data: Any) -> Any:
    """The parsed part, or None when it has errors (those are reported by the whole-definition pass)."""
    try:
        return adapter.validate_python(data)
    except pydantic.ValidationError:
        return None


# --- pass 3: the definition as a whole ---------------------------------------------------------------


@dataclass(frozen=True)
class _Edge:
    source: int
    target: int
    path: DocumentPath


class _Checker:
    def __init__(self, document: LoadedDocument) -> None:
        self.data: dict[str, Any] = document.data
        self.problems: list[tuple[DocumentPath, ErrorCode, str]] = []
        raw_steps = self.data.get("steps")
        # Too many steps is reported by the models; checking them one by one would only be slow.
        fits = isinstance(raw_steps, list) and len(raw_steps) <= MAX_STEPS
        self.raw_steps: list[Any] = raw_steps if isinstance(raw_steps, list) and fits else []
        self.steps: list[Step | None] = [_parse(_STEP, raw) for raw in self.raw_steps]
        self.ids: list[str | None] = [
            raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
            for raw in self.raw_steps
        ]
        self.index: dict[str, int] = {}
        for position, step_id in enumerate(self.ids):
            if step_id is not None:
                self.index.setdefault(step_id, position)
        declared = self.data.get("secrets")
        self.secret_names: list[str] = (
            [name for name in declared if isinstance(name, str)] if isinstance(declared, list) else []
        )
        self.document = document

    def add(self, path: DocumentPath, code: ErrorCode, message: str) -> None:
        self.problems.append((path, code, message))

    def run(self) -> None:
        self.check_secret_names()
        self.check_step_ids()
        for position, step in enumerate(self.steps):
            if step is not None:
                self.check_step(position, step)
        self.check_loops()
        self.check_enrollment()

    def check_secret_names(self) -> None:
        seen: set[str] = set()
        for number, name in enumerate(self.secret_names):
            if name in seen:
                self.add(("secrets", number), ErrorCode.INVALID_VALUE, f"secret {name!r} is declared twice")
            seen.add(name)

    # steps

    def check_step_ids(self) -> None:
        for position, step_id in enumerate(self.ids):
            first = self.index.get(step_id) if step_id is not None else None
            if first is not None and first != position:
                line = self.document.position(("steps", first, "id")).line
                self.add(
                    ("steps", position, "id"),
                    ErrorCode.DUPLICATE_STEP_ID,
                    f"step id {step_id!r} is used twice (first at line {line})",
                )

    def check_target(self, target: str, path: DocumentPath) -> None:
        if target not in self.index:
            close = difflib.get_close_matches(target, list(self.index), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.add(path, ErrorCode.UNKNOWN_STEP, f"no step has id {target!r}{hint}")

    def check_step(self, position: int, step: Step) -> None:
        base: DocumentPath = ("steps", position)
        if isinstance(step, DelayStep | CallOutStep) and step.next is not None:
            self.check_target(step.next, (*base, "next"))
        if isinstance(step, FALLIBLE_STEPS) and isinstance(step.on_error, GotoOnError):
            self.check_target(step.on_error.goto, (*base, "on_error", "goto"))
        if isinstance(step, CallOutStep) and step.retry.maximum_interval < step.retry.initial_interval:
            self.add(
                (*base, "retry", "maximum_interval"),
                ErrorCode.INVALID_VALUE,
                "maximum_interval is shorter than initial_interval",
            )
        if isinstance(step, AddContactToZoomWebinarStep) and is_template(step.webinar_id):
            self.check_template(step.webinar_id, (*base, "webinar_id"), position, secrets_allowed=False)
        elif isinstance(step, DelayStep):
            self.check_delay(step, base, position)
        elif isinstance(step, BranchStep):
            self.check_branch(step, base, position)
        elif isinstance(step, SetPropertyStep) and isinstance(step.value, str):
            self.check_template(step.value, (*base, "value"), position, secrets_allowed=False)
        elif isinstance(step, WebhookStep):
            self.check_webhook(step, base, position)

    def check_delay(self, step: DelayStep, base: DocumentPath, position: int) -> None:
        if step.for_ is not None and step.until is not None:
            self.add((*base, "until"), ErrorCode.INVALID_VALUE, "give either 'for' or 'until', not both")
        if step.offset is not None and step.until is None:
            self.add((*base, "offset"), ErrorCode.INVALID_VALUE, "'offset' shifts 'until'; it needs 'until'")
        if step.for_ is None and step.until is None and step.at_time is None and step.on_days is None:
            self.add(base, ErrorCode.MISSING_FIELD, "a delay needs 'for', 'until', 'at_time' or 'on_days'")
        if step.on_days is not None and len(set(step.on_days)) != len(step.on_days):
            self.add((*base, "on_days"), ErrorCode.INVALID_VALUE, "a day is listed twice")
        if step.until is not None and is_template(step.until):
            self.check_template(step.until, (*base, "until"), position, secrets_allowed=False)

    def check_branch(self, step: BranchStep, base: DocumentPath, position: int) -> None:
        for number, case in enumerate(step.cases):
            case_path: DocumentPath = (*base, "cases", number)
            self.check_target(case.then, (*case_path, "then"))
            condition = case.if_
            if isinstance(condition, OutcomeCondition):
                self.check_outcome(condition, (*case_path, "if"))
            else:
                self.check_filter(condition, (*case_path, "if"), position)
        if step.else_ is not None:
            self.check_target(step.else_, (*base, "else"))

    def check_outcome(self, condition: OutcomeCondition, path: DocumentPath) -> None:
        self.check_target(condition.outcome_of, (*path, "outcome_of"))
        target = self.index.get(condition.outcome_of)
        raw = self.raw_steps[target] if target is not None else None
        step_type = raw.get("type") if isinstance(raw, dict) else None
        possible = OUTCOMES_BY_STEP_TYPE.get(step_type) if isinstance(step_type, str) else None
        if possible is None:
            return
        for code in condition.is_:
            if code not in possible:
                self.add(
                    (*path, "is"),
                    ErrorCode.OUTCOME_NOT_PRODUCED,
                    f"a {step_type} step never ends with {code.value}; it ends with one of: "
                    f"{', '.join(sorted(possible))}",
                )

    def check_webhook(self, step: WebhookStep, base: DocumentPath, position: int) -> None:
        self.check_template(step.url, (*base, "url"), position, secrets_allowed=True)
        try:
            parts = urlsplit(step.url)
            password = parts.password
        except ValueError as exc:
            # urlsplit rejects some malformed URLs (an unclosed IPv6 bracket, a bad port) by raising.
            self.add((*base, "url"), ErrorCode.INVALID_VALUE, f"{step.url!r} is not a valid URL: {exc}")
            return
        if not is_template(step.url):
            if parts.scheme not in ("http", "https") or not parts.netloc:
                self.add((*base, "url"), ErrorCode.INVALID_VALUE, f"{step.url!r} is not an http(s) URL")
            elif password is not None:
                self.add((*base, "url"), ErrorCode.INLINE_SECRET, "the URL holds a password; use {{ secrets.NAME }}")
        for name, value in parse_qsl(parts.query):
            if _is_secret_name(name) and "secrets." not in value:
                self.add(
                    (*base, "url"),
                    ErrorCode.INLINE_SECRET,
                    f"query parameter {name!r} holds a credential; write it as {{{{ secrets.NAME }}}}",
                )
        for name, value in step.headers.items():
            path: DocumentPath = (*base, "headers", name)
            self.check_template(value, path, position, secrets_allowed=True)
            if _is_secret_name(name) and not self.reads_secret(value):
                self.add(
                    path, ErrorCode.INLINE_SECRET, f"header {name!r} must take its value from {{{{ secrets.NAME }}}}"
                )
        if step.body is not None and step.method == "GET":
            self.add((*base, "body"), ErrorCode.INVALID_VALUE, "a GET request has no body")
        for path, key, text in _strings((*base, "body"), None, step.body):
            self.check_template(text, path, position, secrets_allowed=True)
            if key is not None and _is_secret_name(key) and not self.reads_secret(text):
                self.add(path, ErrorCode.INLINE_SECRET, f"{key!r} must take its value from {{{{ secrets.NAME }}}}")

    def reads_secret(self, text: str) -> bool:
        try:
            return any(reference[0] == "secrets" for reference in references(text))
        except TemplateError:
            return True  # reported as TEMPLATE_SYNTAX already

    # templates

    def check_template(self, source: str, path: DocumentPath, position: int, *, secrets_allowed: bool) -> None:
        try:
            # Compiling (not just parsing) also finds unknown filters and tests.
            ENVIRONMENT.from_string(source)
            found = references(source)
        except TemplateError as exc:
            self.add(path, ErrorCode.TEMPLATE_SYNTAX, f"the template does not parse: {exc}")
            return
        except RecursionError:
            self.add(path, ErrorCode.TEMPLATE_SYNTAX, "the template is nested too deeply")
            return
        earlier = {step_id for step_id in self.ids[:position] if step_id is not None}
        declared = set(self.secret_names) if secrets_allowed else None
        for reference in dict.fromkeys(found):
            problem = _reference_problem(reference, earlier, set(self.index), declared)
            if problem is not None:
                self.add(path, *problem)

    # loops

    def edges(self) -> Iterator[_Edge]:
        for position, step in enumerate(self.steps):
            if step is None or isinstance(step, EndStep):
                continue
            base: DocumentPath = ("steps", position)
            jumps: list[tuple[str | None, DocumentPath]] = []
            if isinstance(step, BranchStep):
                jumps = [(case.then, (*base, "cases", number, "then")) for number, case in enumerate(step.cases)]
                jumps.append((step.else_, (*base, "else")))
            else:
                jumps.append((step.next, (*base, "next")))
            if isinstance(step, FALLIBLE_STEPS) and isinstance(step.on_error, GotoOnError):
                jumps.append((step.on_error.goto, (*base, "on_error", "goto")))
            falls_through = (isinstance(step, BranchStep) and step.else_ is None) or (
                not isinstance(step, BranchStep) and step.next is None
            )
            if falls_through and position + 1 < len(self.steps):
                yield _Edge(position, position + 1, base)
            for target, path in jumps:
                if target is not None and target in self.index:
                    yield _Edge(position, self.index[target], path)

    def check_loops(self) -> None:
        # A delay step breaks a loop: every turn then waits on a durable timer. Without one, a loop
        # spins through the history limit in seconds.
        waits = {position for position, step in enumerate(self.steps) if isinstance(step, DelayStep)}
        edges = [edge for edge in self.edges() if edge.source not in waits and edge.target not in waits]
        successors: dict[int, set[int]] = {}
        for edge in edges:
            successors.setdefault(edge.source, set()).add(edge.target)
        reach = {node: _reachable(node, successors) for node in successors}
        reported: set[frozenset[int]] = set()
        for edge in edges:
            # Every loop has an edge going back up the list (or to itself): report the loop there.
            if edge.target > edge.source or edge.source not in reach.get(edge.target, set()):
                continue
            loop = frozenset(
                {edge.target} | {node for node in reach[edge.target] if edge.target in reach.get(node, set())}
            )
            if loop in reported:
                continue
            reported.add(loop)
            members = [repr(self.ids[node]) for node in sorted(loop)]
            names = ", ".join(members[:10]) + (f" and {len(members) - 10} more" if len(members) > 10 else "")
            self.add(
                edge.path,
                ErrorCode.LOOP_WITHOUT_DELAY,
                f"steps {names} form a loop without a delay step; add a delay step to the loop",
            )

    # enrollment

    def check_enrollment(self) -> None:
        enrollment = self.data.get("enrollment")
        if not isinstance(enrollment, dict):
            return
        for name in ("criteria", "suppression", "goal"):
            raw = enrollment.get(name)
            parsed = _parse(_FILTER, raw) if raw is not None else None
            if parsed is not None:
                self.check_filter(parsed, ("enrollment", name), 0)
        triggers = enrollment.get("triggers")
        for number, raw in enumerate(triggers if isinstance(triggers, list) else []):
            trigger = _parse(_TRIGGER, raw)
            if isinstance(trigger, EventTrigger):
                self.check_filter(trigger.as_filter(), ("enrollment", "triggers", number), None)

    def check_filter(self, node: SegmentFilter, path: DocumentPath, position: int | None) -> None:
        """Check fields and operators; text values may be templates where ``position`` (of the
        step, 0 for the enrollment rules, None for event triggers which read only the event) allows."""
        for value_path, text in _filter_texts(node, path):
            if position is None:
                if is_template(text):
                    self.add(value_path, ErrorCode.INVALID_VALUE, "an event trigger compares with literal values only")
            else:
                self.check_template(text, value_path, position, secrets_allowed=False)
        try:
            validate_filter(node)
        except UnknownFilterField as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            allowed = ", ".join(details.get("allowed", []))
            where = (*path, *_filter_path(details.get("path", "")))
            self.add(
                where,
                ErrorCode.UNKNOWN_FILTER_FIELD,
                f"unknown filter field {details.get('field')!r}; allowed: {allowed}",
            )
        except InvalidFilter as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            where = (*path, *_filter_path(details.get("path", "")))
            self.add(where, ErrorCode.INVALID_FILTER, re.sub(r"^filter[\w.]*: ", "", exc.message))


def _filter_texts(node: SegmentFilter, path: DocumentPath) -> Iterator[tuple[DocumentPath, str]]:
    """Every text value of the conditions of a filter, with its path."""
    if isinstance(node, AndFilter | OrFilter):
        for number, child in enumerate(node.filters):
            yield from _filter_texts(child, (*path, "filters", number))
    elif isinstance(node, NotFilter):
        yield from _filter_texts(node.filter, (*path, "filter"))
    elif isinstance(node, EventFilter):
        for number, condition in enumerate(node.where):
            yield from _condition_texts(condition, (*path, "where", number))
    else:
        yield from _condition_texts(node, path)


def _condition_texts(condition: Condition, path: DocumentPath) -> Iterator[tuple[DocumentPath, str]]:
    if isinstance(condition.value, str):
        yield (*path, "value"), condition.value
    elif isinstance(condition.value, list):
        for number, item in enumerate(condition.value):
            if isinstance(item, str):
                yield (*path, "value", number), item


def _filter_path(internal: str) -> DocumentPath:
    """``filter.filters.0.where.1.field`` (engine.crm.segments' paths) → ``("filters", 0, "where", 1, "field")``."""
    parts = internal.split(".")[1:]
    return tuple(int(part) if part.isdigit() else part for part in parts)


def _reachable(start: int, successors: Mapping[int, set[int]]) -> set[int]:
    seen: set[int] = set()
    pending = list(successors.get(start, ()))
    while pending:
        node = pending.pop()
        if node not in seen:
            seen.add(node)
            pending.extend(successors.get(node, ()))
    return seen


def _strings(path: DocumentPath, key: str | None, value: Any) -> Iterator[tuple[DocumentPath, str | None, str]]:
    """Every string of a JSON value, with its path and the mapping key it is the value of."""
    if isinstance(value, str):
        yield path, key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _strings((*path, name), name, item)
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from _strings((*path, number), key, item)


def _reference_problem(
    reference: tuple[ReferencePart, ...], earlier: set[str], all_ids: set[str], secrets: set[str] | None
) -> tuple[ErrorCode, str] | None:
    """What is wrong with one variable a template reads; ``secrets`` are the declared secret names
    where secrets may be read, None where they may not."""
    root = reference[0]
    second = reference[1] if len(reference) > 1 else None
    if root == "contact":
        if second is None and len(reference) == 1:
            return None
        if second not in CONTACT_FIELDS:
            return (
                ErrorCode.UNKNOWN_TEMPLATE_VARIABLE,
                f"contact has no field {second!r}; use contact.email, first_name, last_name, id, zoom_webinar_joinlink "
                "or properties.<name>",
            )
        return None
    if root == "steps":
        if not isinstance(second, str):
            return ErrorCode.UNKNOWN_TEMPLATE_VARIABLE, "name a step literally: steps.<step id>.<field>"
        if second not in all_ids:
            return ErrorCode.UNKNOWN_TEMPLATE_VARIABLE, f"no step has id {second!r}"
        if second not in earlier:
            return (
                ErrorCode.UNKNOWN_TEMPLATE_VARIABLE,
                f"step {second!r} does not come before this step, so its result is not available here",
            )
        return None
    if root == "secrets":
        return _secret_problem(second, secrets)
    if root == "enrollment":
        return None
    return (
        ErrorCode.UNKNOWN_TEMPLATE_VARIABLE,
        f"unknown variable {root!r}; templates can read {', '.join(TEMPLATE_ROOTS)}",
    )


#: What a template might try on ``secrets`` to read more than one declared secret.
_MAPPING_METHODS = frozenset({"items", "values", "keys", "get", "copy", "pop", "popitem", "setdefault", "update"})


def _secret_problem(name: ReferencePart, declared: set[str] | None) -> tuple[ErrorCode, str] | None:
    """``secrets`` may only be read as ``secrets.NAME`` (or ``secrets['NAME']``), NAME declared."""
    if declared is None:
        return (
            ErrorCode.SECRET_NOT_ALLOWED,
            "secrets can be used in webhook urls, headers and bodies only (elsewhere they would be stored)",
        )
    if not isinstance(name, str) or name in _MAPPING_METHODS or name.startswith("_"):
        return (
            ErrorCode.SECRET_ACCESS,
            "read a secret by its name only, as {{ secrets.NAME }}; secrets cannot be listed, iterated, "
            "looked up by a computed name or used on their own",
        )
    if name not in declared:
        return (
            ErrorCode.UNDECLARED_SECRET,
            f"secret {name!r} is not declared; list it under 'secrets:' at the top of the definition",
        )
    return None


# --- entry points ----------------------------------------------------------------------------------


def _error(
    file: str, document: LoadedDocument | None, path: DocumentPath, code: ErrorCode, message: str
) -> ValidationError:
    position = document.position(path) if document is not None else None
    return ValidationError(
        file=file,
        line=position.line if position else None,
        column=position.column if position else None,
        path=json_path(path),
        code=code,
        message=message,
    )


def _sorted(errors: Iterable[ValidationError]) -> tuple[ValidationError, ...]:
    unique = dict.fromkeys(errors)
    return tuple(sorted(unique, key=lambda error: (error.file, error.line or 0, error.column or 0)))


def _validate(text: str, file: str) -> tuple[ValidationResult, LoadedDocument | None]:
    if len(text) > MAX_DEFINITION_CHARS:
        message = f"the definition is longer than {MAX_DEFINITION_CHARS} characters"
        too_long = ValidationError(file, 1, 1, "$", ErrorCode.UNSUPPORTED_YAML, message)
        return ValidationResult(file, None, (too_long,)), None
    document, problems = load_document(text)
    errors = [
        ValidationError(
            file, problem.position.line, problem.position.column, json_path(problem.path), problem.code, problem.message
        )
        for problem in problems
    ]
    if document is None:
        return ValidationResult(file, None, _sorted(errors)), None
    # One error per place from the models: a value that fails every member of a union would
    # otherwise be reported once per member.
    taken = {json_path(problem.path) for problem in problems}
    definition: Definition | None = None
    try:
        definition = Definition.model_validate(document.data)
    except pydantic.ValidationError as exc:
        for detail in exc.errors():
            path, code, message = _from_pydantic(detail, document.data)
            if json_path(path) not in taken:
                taken.add(json_path(path))
                errors.append(_error(file, document, path, code, message))
    checker = _Checker(document)
    checker.run()
    errors.extend(_error(file, document, path, code, message) for path, code, message in checker.problems)
    if errors:
        return ValidationResult(file, None, _sorted(errors)), document
    return ValidationResult(file, definition, ()), document


def validate_text(text: str, file: str = "<definition>") -> ValidationResult:
    """Validate one definition written in YAML (or JSON); ``file`` names it in the errors."""
    return _validate(text, file)[0]


def validate_path(path: str | Path) -> list[ValidationResult]:
    """Validate a definition file, or every ``*.yaml``/``*.yml`` file of a folder (not recursive).

    For a folder the definitions are also checked together: workflow keys are unique and every
    ``enroll`` step names a workflow of the folder.
    """
    target = Path(path)
    files = sorted(p for p in target.iterdir() if p.suffix in DEFINITION_SUFFIXES) if target.is_dir() else [target]
    checked: list[tuple[ValidationResult, LoadedDocument | None]] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            error = ValidationError(
                str(file), None, None, "$", ErrorCode.FILE_NOT_READABLE, f"cannot read the file: {exc}"
            )
            checked.append((ValidationResult(str(file), None, (error,)), None))
            continue
        checked.append(_validate(text, str(file)))
    if not target.is_dir():
        return [result for result, _ in checked]
    return _check_folder(checked)


def _check_folder(checked: list[tuple[ValidationResult, LoadedDocument | None]]) -> list[ValidationResult]:
    owners: dict[str, str] = {}
    for result, _ in checked:
        if result.definition is not None:
            owners.setdefault(result.definition.key, result.file)
    results: list[ValidationResult] = []
    for result, document in checked:
        definition = result.definition
        if definition is None:
            results.append(result)
            continue
        errors: list[ValidationError] = []
        if owners[definition.key] != result.file:
            errors.append(
                _error(
                    result.file,
                    document,
                    ("key",),
                    ErrorCode.DUPLICATE_WORKFLOW_KEY,
                    f"workflow key {definition.key!r} is already used by {owners[definition.key]}",
                )
            )
        for position, step in enumerate(definition.steps):
            if isinstance(step, EnrollStep) and step.workflow not in owners:
                errors.append(
                    _error(
                        result.file,
                        document,
                        ("steps", position, "workflow"),
                        ErrorCode.UNKNOWN_WORKFLOW,
                        f"no definition in this folder has key {step.workflow!r}",
                    )
                )
        results.append(ValidationResult(result.file, None, _sorted(errors)) if errors else result)
    return results
