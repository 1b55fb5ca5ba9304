"""YAML → plain JSON-like data, remembering where every key and value starts in the text.

PyYAML's composer gives nodes with start marks; converting the nodes ourselves (instead of
``yaml.safe_load``) lets validation point each error at a line and column, and refuse what a
JSON document cannot hold: duplicate keys (``safe_load`` silently keeps the last), tags such as
``!!python/object``, recursive aliases and alias bombs.

Scalars follow the YAML 1.2 core schema, not PyYAML's 1.1 one: ``on``/``yes``/``no`` stay text
(a weekday list must not turn into booleans), ``1:20`` is not sexagesimal 80, and unquoted
dates stay text (``until: 2026-03-01T10:00:00Z`` is validated as a date-time string).

A tab where YAML wants spaces is reported, replaced and the file parsed again (#13.9): a stray
tab must not hide every other error of the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.dsl.errors import DocumentPath, ErrorCode

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MAP, SEQ = (_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq"))

#: Guards against alias bombs ("billion laughs") and stack exhaustion; real definitions are far
#: below both.
MAX_NODES = 50_000
MAX_DEPTH = 64


class _CoreSchemaLoader(yaml.SafeLoader):
    pass


# A fresh table: add_implicit_resolver would otherwise extend a copy of SafeLoader's 1.1 rules.
_CoreSchemaLoader.yaml_implicit_resolvers = {}


for _tag, _pattern, _first in (
    (NULL, r"^(?:~|null|Null|NULL|)$", "~nN"),
    (BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (FLOAT, r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$", "-+0123456789."),
):
    _CoreSchemaLoader.add_implicit_resolver(_tag, re.compile(_pattern), [*_first, ""] if _tag == NULL else list(_first))


@dataclass(frozen=True)
class Position:
    line: int
    column: int


@dataclass(frozen=True)
class LoadProblem:
    code: ErrorCode
    message: str
    path: DocumentPath
    position: Position


@dataclass
class LoadedDocument:
    """The data of one YAML document and where each part of it starts."""

    data: Any
    key_positions: dict[DocumentPath, Position] = field(default_factory=dict)
    value_positions: dict[DocumentPath, Position] = field(default_factory=dict)

    def position(self, path: DocumentPath) -> Position:
        """Where ``path`` starts: its key for a mapping entry, else its value; the nearest
        existing parent for a path that is not in the document (a missing field)."""
        current = path
        while True:
            found = self.key_positions.get(current) or self.value_positions.get(current)
            if found is not None:
                return found
            if not current:
                return Position(1, 1)
            current = current[:-1]


class _Abort(Exception):
    """The document cannot be converted at all (too big, too deep, recursive)."""

    def __init__(self, problem: LoadProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _Converter:
    def __init__(self, position: Callable[[yaml.Mark], Position]) -> None:
        self.position = position
        self.document = LoadedDocument(data=None)
        self.problems: list[LoadProblem] = []
        self.nodes = 0
        self.open_nodes: set[int] = set()

    def problem(self, code: ErrorCode, message: str, path: DocumentPath, mark: yaml.Mark) -> None:
        self.problems.append(LoadProblem(code, message, path, self.position(mark)))

    def convert(self, node: yaml.Node, path: DocumentPath) -> Any:
        self.nodes += 1
        here = self.position(node.start_mark)
        if self.nodes > MAX_NODES:
            raise _Abort(
                LoadProblem(
                    ErrorCode.UNSUPPORTED_YAML, f"the document expands to more than {MAX_NODES} values", path, here
                )
            )
        if len(path) > MAX_DEPTH:
            raise _Abort(LoadProblem(ErrorCode.UNSUPPORTED_YAML, f"nested more than {MAX_DEPTH} levels", path, here))
        if id(node) in self.open_nodes:
            raise _Abort(
                LoadProblem(ErrorCode.UNSUPPORTED_YAML, "an alias refers to a value that contains it", path, here)
            )
        self.document.value_positions.setdefault(path, here)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        self.open_nodes.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != SEQ:
                    self.problem(ErrorCode.UNSUPPORTED_YAML, f"unsupported tag {node.tag!r}", path, node.start_mark)
                return [self.convert(item, (*path, index)) for index, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                if node.tag != MAP:
                    self.problem(ErrorCode.UNSUPPORTED_YAML, f"unsupported tag {node.tag!r}", path, node.start_mark)
                return self.mapping(node, path)
            raise _Abort(LoadProblem(ErrorCode.UNSUPPORTED_YAML, "unknown YAML node", path, here))
        finally:
            self.open_nodes.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: DocumentPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(ErrorCode.UNSUPPORTED_YAML, "a key must be plain text", path, key_node.start_mark)
                continue
            # Keys are text, as in JSON: `200:` is the key "200".
            key = key_node.value
            key_path = (*path, key)
            if key in result:
                first = self.document.key_positions[key_path]
                self.problem(
                    ErrorCode.DUPLICATE_KEY,
                    f"key {key!r} is given twice (first at line {first.line})",
                    key_path,
                    key_node.start_mark,
                )
                continue
            self.document.key_positions[key_path] = self.position(key_node.start_mark)
            result[key] = self.convert(value_node, key_path)
        return result

    def scalar(self, node: yaml.ScalarNode, path: DocumentPath) -> Any:
        text = node.value
        try:
            if node.tag == STR:
                return text
            if node.tag == NULL:
                return None
            if node.tag == BOOL and text.lower() in ("true", "false"):
                return text.lower() == "true"
            if node.tag == INT:
                body = text.lstrip("+-")
                sign = -1 if text.startswith("-") else 1
                if body.startswith("0o"):
                    return sign * int(body[2:], 8)
                if body.startswith("0x"):
                    return sign * int(body[2:], 16)
                return sign * int(body, 10)
            if node.tag == FLOAT:
                number = float(text)
                if not math.isfinite(number):
                    raise ValueError("out of range")
                return number
        except ValueError:
            self.problem(
                ErrorCode.INVALID_VALUE,
                f"{text[:40]!r} is not a valid {node.tag.removeprefix(_TAG)}",
                path,
                node.start_mark,
            )
            return None
        self.problem(ErrorCode.UNSUPPORTED_YAML, f"unsupported tag {node.tag!r}", path, node.start_mark)
        return None


#: How many tabs are repaired (and reported) before the rest of the file is given up on.
MAX_TAB_REPAIRS = 50
#: Repairing tabs costs parses of the text: all the repairs of one file together parse at most a
#: few times the file (a large file with many tabs must not hold the API for minutes).
_REPAIR_PARSES = 4
_REPAIR_ALLOWANCE = 200_000
#: Widths tried for a repaired tab, first that lets the file parse past that line wins: a tab
#: usually stands for one indentation step of 2 or 4 spaces.
_TAB_WIDTHS = (2, 4, 8, 1)


@dataclass
class _TabRepairs:
    """Tabs replaced by spaces in the text that is parsed, so that positions in the repaired text
    can be mapped back to the user's text (columns after a tab shift by its width minus one)."""

    replaced: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # line → [(column, width)]

    def add(self, line: int, column: int, width: int) -> None:
        self.replaced.setdefault(line, []).append((column, width))

    def original(self, mark: yaml.Mark) -> Position:
        column = mark.column
        shift = 0
        for start, width in sorted(self.replaced.get(mark.line, ())):
            if column >= start + width:
                shift += width - 1
            elif column > start:
                shift += column - start
        return Position(mark.line + 1, column - shift + 1)


def _compose(text: str) -> yaml.Node | None:
    # The reader checks the characters as soon as the loader is built.
    loader = _CoreSchemaLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _offending_tab(exc: yaml.MarkedYAMLError, text: str) -> yaml.Mark | None:
    mark = exc.problem_mark
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return mark
    return None


def _failure_line(text: str) -> int | None:
    """The 0-based line of the first YAML error in ``text``; None when it parses."""
    try:
        _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return mark.line if mark is not None else 0
    except (yaml.YAMLError, RecursionError):
        return 0
    return None


def _repair_tab(text: str, mark: yaml.Mark) -> tuple[str, int, int]:
    """``text`` with the tab at ``mark`` replaced by spaces, their number, and how many characters
    were parsed to choose it.

    Takes the first width with which the file parses past the tab's line (judged on the text up to
    the line after it, so a repair costs parses of that prefix, not of the whole file).
    """
    end = text.find("\n", text.find("\n", mark.index) + 1)
    prefix_end = len(text) if end < 0 else end + 1
    parsed = 0
    for width in _TAB_WIDTHS:
        candidate = text[: mark.index] + " " * width + text[mark.index + 1 : prefix_end]
        parsed += len(candidate)
        failed = _failure_line(candidate)
        if failed is None or failed > mark.line + 1:
            break
    else:
        width = _TAB_WIDTHS[0]
    return text[: mark.index] + " " * width + text[mark.index + 1 :], width, parsed


def _syntax_problem(exc: yaml.MarkedYAMLError, repairs: _TabRepairs) -> LoadProblem:
    mark = exc.problem_mark or exc.context_mark
    position = repairs.original(mark) if mark is not None else Position(1, 1)
    message = exc.problem or "invalid YAML"
    if exc.context and exc.context_mark is not None:
        started = repairs.original(exc.context_mark)
        message += f" ({exc.context} that started at line {started.line}, column {started.column})"
    return LoadProblem(ErrorCode.YAML_SYNTAX, message, (), position)


def _tab_problem(position: Position, *, repaired: bool) -> LoadProblem:
    then = (
        "the rest of the file was checked with spaces in its place"
        if repaired
        else "too many tabs: the rest of the file was not checked"
    )
    return LoadProblem(
        ErrorCode.YAML_TAB,
        f"a tab character where YAML allows only spaces (indentation and between tokens); {then}",
        (),
        position,
    )


def _compose_repairing_tabs(text: str) -> tuple[yaml.Node | None, list[LoadProblem], _TabRepairs]:
    """Compose ``text``; each tab PyYAML refuses is reported (#13.9) and replaced by spaces, and
    the file is parsed again, so the other errors of the file are found in the same run."""
    problems: list[LoadProblem] = []
    repairs = _TabRepairs()
    allowance = _REPAIR_PARSES * len(text) + _REPAIR_ALLOWANCE
    while True:
        try:
            return _compose(text), problems, repairs
        except yaml.MarkedYAMLError as exc:
            allowance -= len(text)
            tab = _offending_tab(exc, text)
            if tab is None:
                problems.append(_syntax_problem(exc, repairs))
                return None, problems, repairs
            if len(problems) >= MAX_TAB_REPAIRS or allowance <= 0:
                problems.append(_tab_problem(repairs.original(tab), repaired=False))
                return None, problems, repairs
            problems.append(_tab_problem(repairs.original(tab), repaired=True))
            text, width, parsed = _repair_tab(text, tab)
            allowance -= parsed
            repairs.add(tab.line, tab.column, width)


def load_document(text: str) -> tuple[LoadedDocument | None, list[LoadProblem]]:
    """The document in ``text`` with positions, and the problems found; None when nothing usable was read."""
    try:
        root, problems, repairs = _compose_repairing_tabs(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        message = f"character #x{ord(character):04x} is not allowed in YAML: {exc.reason}"
        return None, [LoadProblem(ErrorCode.YAML_SYNTAX, message, (), Position(line, column))]
    except yaml.YAMLError as exc:
        return None, [LoadProblem(ErrorCode.YAML_SYNTAX, str(exc), (), Position(1, 1))]
    except RecursionError:
        # PyYAML composes nested collections recursively: thousands of levels exhaust the stack.
        return None, [LoadProblem(ErrorCode.UNSUPPORTED_YAML, "the document is nested too deeply", (), Position(1, 1))]
    if root is None:
        if problems:
            return None, problems
        return None, [
            LoadProblem(
                ErrorCode.NOT_A_MAPPING,
                "the document is empty; a definition is a mapping with key, name, enrollment and steps",
                (),
                Position(1, 1),
            )
        ]
    converter = _Converter(repairs.original)
    try:
        converter.document.data = converter.convert(root, ())
    except _Abort as exc:
        return None, [*problems, *converter.problems, exc.problem]
    if not isinstance(converter.document.data, dict):
        return None, [
            *problems,
            LoadProblem(
                ErrorCode.NOT_A_MAPPING,
                "a definition is a mapping with key, name, enrollment and steps, not a single value or a list",
                (),
                repairs.original(root.start_mark),
            ),
        ]
    return converter.document, [*problems, *converter.problems]
