"""The contacts ``rollcall enroll`` sends: the rows of a CSV file, or one contact given by options.

Everything is read, and what the API would refuse as a request rejected, before the API is
called: a file it cannot use is one line and status 2; a row it cannot send is an error of that
row, with its line number.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from engine.cli.errors import CliProblem, UsageProblem

KNOWN_COLUMNS = ("email", "first_name", "last_name", "contact_id")
_PROPERTY_ASSIGNMENT = re.compile(r"^([^=]+)=(.*)$", re.DOTALL)
_PROPERTY_NAME_RULE = "a property name starts with a letter or _ and has only letters, digits and _ (at most 64)"


class CsvProblem(CliProblem):
    code = "INVALID_CSV"


@dataclass
class Row:
    """One contact to enroll: its body for the API, or why it cannot be sent."""

    line: int | None  # the CSV line the row starts on (None: given by options)
    email: str | None
    input_contact_id: str | None
    contact: dict[str, Any] | None = None
    problem: str | None = None


def _contact_body(
    line: int | None,
    email: str | None,
    contact_id: str | None,
    first_name: str | None,
    last_name: str | None,
    properties: dict[str, str],
) -> Row:
    from engine.enrollment.admission import ContactIn  # the API's own request model (imports the store)

    row = Row(line=line, email=email, input_contact_id=contact_id)
    if email is None and contact_id is None:
        row.problem = "the row has neither email nor contact_id"
        return row
    body: dict[str, Any] = {}
    if contact_id is not None:
        try:
            body["contact_id"] = int(contact_id)
        except ValueError:
            row.problem = f"contact_id {contact_id!r} is not a whole number"
            return row
    else:
        # With both, the id decides who is enrolled: the API takes one identity per contact.
        body["email"] = email
    if first_name is not None:
        body["first_name"] = first_name
    if last_name is not None:
        body["last_name"] = last_name
    if properties:
        body["properties"] = properties
    try:
        ContactIn.model_validate(body)
    except PydanticValidationError as exc:
        row.problem = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'row'}: {error['msg']}" for error in exc.errors()
        )
        return row
    row.contact = body
    return row


def _property_name_problems(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(names that are not property names, names of rollups nobody may set)."""
    from engine.crm.contacts import PROPERTY_NAME, ROLLUP_PROPERTIES

    return (
        [name for name in names if not PROPERTY_NAME.match(name)],
        [name for name in names if name in ROLLUP_PROPERTIES],
    )


def _check_property_names(path: Path, names: Sequence[str]) -> None:
    bad, derived = _property_name_problems(names)
    if bad:
        raise CsvProblem(
            f"{path}:1: column(s) "
            + ", ".join(repr(name) for name in bad)
            + f" cannot be contact properties: {_PROPERTY_NAME_RULE}; the known columns are "
            + ", ".join(KNOWN_COLUMNS)
        )
    if derived:
        raise CsvProblem(
            f"{path}:1: column(s) "
            + ", ".join(derived)
            + " are rollups derived from webinar participations and cannot be set"
        )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CsvProblem(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise CsvProblem(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CsvProblem(f"{path}: cannot read it ({exc.strerror})") from None


def _columns(path: Path, reader: Iterator[list[str]]) -> list[str]:
    """The header's column names: the known ones in lower case, each named once, one of them
    email or contact_id, every other one a property name."""
    try:
        header = next(reader)
    except StopIteration:
        raise CsvProblem(f"{path}: the file is empty; the first line must name the columns") from None
    except csv.Error as exc:
        raise CsvProblem(f"{path}:1: {exc}") from None
    columns: list[str] = []
    for position, name in enumerate((cell.strip() for cell in header), start=1):
        if not name:
            raise CsvProblem(f"{path}:1: column {position} has no name")
        columns.append(name.lower() if name.lower() in KNOWN_COLUMNS else name)
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise CsvProblem(f"{path}:1: column(s) named twice: {', '.join(duplicates)}")
    if "email" not in columns and "contact_id" not in columns:
        raise CsvProblem(f"{path}:1: the header needs an email or a contact_id column (found: {', '.join(columns)})")
    _check_property_names(path, [name for name in columns if name not in KNOWN_COLUMNS])
    return columns


def _row(line: int, values: list[str], columns: list[str]) -> Row:
    if len(values) > len(columns) and any(values[len(columns) :]):
        problem = f"the row has {len(values)} cells but the header names {len(columns)} columns"
        return Row(line=line, email=None, input_contact_id=None, problem=problem)
    found = {name: value for name, value in zip(columns, values, strict=False) if value}
    properties = {name: value for name, value in found.items() if name not in KNOWN_COLUMNS}
    return _contact_body(
        line, found.get("email"), found.get("contact_id"), found.get("first_name"), found.get("last_name"), properties
    )


def read_contacts_csv(path: Path) -> list[Row]:
    """Rows of a CSV with a header: email, first_name, last_name, contact_id (any case), every other
    column a contact property. Blank cells are ignored and blank lines skipped; a row without email
    and contact_id, or that the API would refuse as a request, gets a ``problem`` with its line."""
    reader = csv.reader(_read_text(path).splitlines(keepends=True))
    columns = _columns(path, reader)
    rows: list[Row] = []
    last_line = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            raise CsvProblem(f"{path}:{last_line + 1}: {exc}") from None
        line, last_line = last_line + 1, reader.line_num
        values = [cell.strip() for cell in cells]
        if any(values):  # else a blank line, or a row of blank cells
            rows.append(_row(line, values, columns))


def single_row(
    email: str | None,
    contact_id: int | None,
    first_name: str | None,
    last_name: str | None,
    assignments: Sequence[str],
) -> Row:
    """The one contact of ``--email``/``--contact-id`` with ``--property NAME=VALUE``s; anything the
    API would refuse is a usage problem."""
    properties: dict[str, str] = {}
    for assignment in assignments:
        match = _PROPERTY_ASSIGNMENT.match(assignment)
        if match is None:
            raise UsageProblem(f"--property {assignment!r}: write NAME=VALUE")
        properties[match.group(1).strip()] = match.group(2)
    bad, derived = _property_name_problems(list(properties))
    if bad:
        raise UsageProblem(f"--property {bad[0]!r}: {_PROPERTY_NAME_RULE}")
    if derived:
        raise UsageProblem(f"--property {derived[0]}: a rollup derived from webinar participations cannot be set")
    row = _contact_body(None, email, None if contact_id is None else str(contact_id), first_name, last_name, properties)
    if row.problem is not None:
        raise UsageProblem(row.problem)
    return row
