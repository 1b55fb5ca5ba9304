"""``rollcall enroll``, ``rollcall workflows …`` and ``rollcall schema``: clients of the running API.

Unlike ``rollcall contacts``, these commands never open the store: enrolling starts Temporal
workflows, which is the API's job (``POST /v1/workflows/{key}/enrollments:bulk``). They find the
API at ``--api-url`` (``ROLLCALL_API_URL``, else the one ``rollcall up`` recorded in
``.rollcall/stack.json``, else ``http://{ROLLCALL_API_HOST}:{ROLLCALL_API_PORT}``)
and authenticate with ``--api-key`` (``ROLLCALL_API_KEY``), else the key ``rollcall up`` keeps in
``.rollcall/api-key``, else the configured key (``ROLLCALL_API_KEYS``, ``ROLLCALL_API_KEYS_FILE``,
``ROLLCALL_ADMIN_API_KEYS``) with the highest role.

Exit codes of ``rollcall enroll``: 0 when no row failed (a refusal is a normal result), 1 when
some rows failed, 2 for usage and connection problems (one line, no traceback).
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml
from pydantic import ValidationError as PydanticValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.api.auth import configured_keys
from engine.config import STATE_DIR, Settings
from engine.errors import RollcallError
from engine.stack_file import read_stack

#: Rows per ``enrollments:bulk`` request (the API takes up to 10,000): at most this many, and at
#: least ``MIN_CHUNK_ROWS``, aiming at ``PROGRESS_STEPS`` requests so the bar moves along.
DEFAULT_CHUNK_ROWS = 500
MIN_CHUNK_ROWS = 50
PROGRESS_STEPS = 20
#: Bulk requests in flight at once: the next chunk is admitted while the last starts of one finish.
DEFAULT_PARALLEL_REQUESTS = 2
#: How many refusals and errors the summary lists with their CSV line numbers.
SHOWN_PROBLEMS = 5
STATUSES = ("enrolled", "already_enrolled", "refused", "error")
STATUS_LABELS = {
    "enrolled": "enrolled",
    "already_enrolled": "already enrolled",
    "refused": "refused",
    "error": "errors",
}
_SHORT_LABELS = {**STATUS_LABELS, "already_enrolled": "already"}
KNOWN_COLUMNS = ("email", "first_name", "last_name", "contact_id")
REPORT_COLUMNS = (
    "line",
    "email",
    "input_contact_id",
    "status",
    "contact_id",
    "enrollment_id",
    "workflow_id",
    "code",
    "message",
    "reason",
)
TRIGGERS = ("manual", "api")
_PROPERTY_ASSIGNMENT = re.compile(r"^([^=]+)=(.*)$", re.DOTALL)


# --- errors: each is one line and exit status 2 (engine.cli.command) --------------------------------


class UsageProblem(RollcallError):
    code = "USAGE"


class CsvProblem(RollcallError):
    code = "INVALID_CSV"


class ApiUnavailable(RollcallError):
    code = "API_UNAVAILABLE"


class ApiError(RollcallError):
    """A non-success answer of the API, with its status and stable error code."""

    code = "API_ERROR"

    def __init__(self, status: int, api_code: str, message: str, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.api_code = api_code


# --- the API ---------------------------------------------------------------------------------------


def default_api_url(settings: Settings, state_dir: Path = STATE_DIR) -> str:
    """The API of this machine's stack: the one ``rollcall up`` recorded in ``.rollcall/stack.json``
    while it runs, else ``ROLLCALL_API_HOST``/``ROLLCALL_API_PORT`` (a wildcard bind address is
    reached on loopback)."""
    stack = read_stack(state_dir)
    if stack is not None:
        return stack.api_url
    host = settings.api_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.api_port}"


def resolve_api_key(explicit: str | None, settings: Settings, state_dir: Path = STATE_DIR) -> str:
    """``--api-key``/``ROLLCALL_API_KEY``, else ``.rollcall/api-key``, else the configured key with the
    highest role (the first of those)."""
    if explicit and explicit.strip():
        return explicit.strip()
    path = state_dir / "api-key"
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except OSError:
        stored = ""
    if stored:
        return stored
    keys = configured_keys(settings)
    if keys:
        strongest = max(keys, key=lambda configured: configured.role.rank)
        return strongest.secret.get_secret_value()
    raise UsageProblem(
        "no API key: pass --api-key, set ROLLCALL_API_KEY, or start the stack with `rollcall up` "
        f"(which keeps one in {path})"
    )


def _error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        error = body["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = f"HTTP_{response.status_code}", response.text.strip()[:200] or "no body", None
    if response.status_code == 401:
        message = f"the API refused the key ({message}); pass --api-key or set ROLLCALL_API_KEY"
    return ApiError(response.status_code, code, f"{code}: {message}", details)


class ApiClient:
    """A thin synchronous client of the Rollcall API (thread-safe: httpx.Client is)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "rollcall-cli"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ApiUnavailable(
                f"cannot reach the Rollcall API at {self.base_url} ({reason}); is the stack up? "
                "(--api-url or ROLLCALL_API_URL)"
            ) from None

    def call(self, method: str, path: str, *, ok: Iterable[int] = (200,), **kwargs: Any) -> httpx.Response:
        response = self.send(method, path, **kwargs)
        if response.status_code not in tuple(ok):
            raise _error_of(response)
        return response


def workflow_path(key: str, suffix: str = "") -> str:
    return f"/v1/workflows/{quote(key, safe='')}{suffix}"


# --- the CSV ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One contact to enroll: its body for the API, or why it cannot be sent."""

    line: int | None  # the CSV line the row starts on (None: given by options)
    email: str | None
    input_contact_id: str | None
    contact: dict[str, Any] | None = None
    problem: str | None = None


@dataclass
class RowResult:
    row: Row
    status: str  # enrolled | already_enrolled | refused | error
    contact_id: int | None = None
    enrollment_id: int | None = None
    workflow_id: str | None = None
    code: str | None = None
    message: str | None = None
    #: Why, where the API gives a reason (CONTACT_EXCLUDED: invalid_email, deleted_contact, …).
    reason: str | None = None

    @property
    def code_and_reason(self) -> str:
        return f"{self.code} ({self.reason})" if self.code and self.reason else self.code or ""


def _contact_body(
    line: int | None,
    email: str | None,
    contact_id: str | None,
    first_name: str | None,
    last_name: str | None,
    properties: dict[str, str],
) -> Row:
    from engine.enrollment.service import ContactIn

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


_PROPERTY_NAME_RULE = "a property name starts with a letter or _ and has only letters, digits and _ (at most 64)"


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


def read_contacts_csv(path: Path) -> list[Row]:
    """Rows of a CSV with a header: email, first_name, last_name, contact_id (any case), every other
    column a contact property. Blank cells are ignored and blank lines skipped; a row without email
    and contact_id, or that the API would refuse as a request, gets a ``problem`` with its line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CsvProblem(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise CsvProblem(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CsvProblem(f"{path}: cannot read it ({exc.strerror})") from None
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvProblem(f"{path}: the file is empty; the first line must name the columns") from None
    except csv.Error as exc:
        raise CsvProblem(f"{path}:1: {exc}") from None
    names = [cell.strip() for cell in header]
    columns: list[str] = []
    for position, name in enumerate(names, start=1):
        if not name:
            raise CsvProblem(f"{path}:1: column {position} has no name")
        columns.append(name.lower() if name.lower() in KNOWN_COLUMNS else name)
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise CsvProblem(f"{path}:1: column(s) named twice: {', '.join(duplicates)}")
    if "email" not in columns and "contact_id" not in columns:
        raise CsvProblem(f"{path}:1: the header needs an email or a contact_id column (found: {', '.join(columns)})")
    _check_property_names(path, [name for name in columns if name not in KNOWN_COLUMNS])

    rows: list[Row] = []
    last_line = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise CsvProblem(f"{path}:{last_line + 1}: {exc}") from None
        line = last_line + 1
        last_line = reader.line_num
        values = [cell.strip() for cell in cells]
        if not any(values):
            continue  # a blank line, or a row of blank cells
        if len(values) > len(columns) and any(values[len(columns) :]):
            rows.append(
                Row(
                    line=line,
                    email=None,
                    input_contact_id=None,
                    problem=f"the row has {len(values)} cells but the header names {len(columns)} columns",
                )
            )
            continue
        found = {name: value for name, value in zip(columns, values, strict=False) if value}
        properties = {name: value for name, value in found.items() if name not in KNOWN_COLUMNS}
        rows.append(
            _contact_body(
                line,
                found.get("email"),
                found.get("contact_id"),
                found.get("first_name"),
                found.get("last_name"),
                properties,
            )
        )
    return rows


def single_row(
    email: str | None,
    contact_id: int | None,
    first_name: str | None,
    last_name: str | None,
    assignments: Sequence[str],
) -> Row:
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


# --- enrolling -------------------------------------------------------------------------------------


def _chunks(items: Sequence[Row], size: int) -> list[Sequence[Row]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _failed(rows: Sequence[Row], code: str, message: str) -> list[RowResult]:
    return [RowResult(row, "error", code=code, message=message) for row in rows]


def enroll_chunk(client: ApiClient, key: str, rows: Sequence[Row], trigger: str) -> list[RowResult]:
    """One ``enrollments:bulk`` request; a failed request makes every row of it an error (never fatal,
    but 401/403: the key is wrong for every chunk)."""
    body = {"contacts": [row.contact for row in rows], "trigger": trigger}
    try:
        response = client.send("POST", workflow_path(key, "/enrollments:bulk"), json=body)
    except ApiUnavailable as exc:
        return _failed(rows, exc.code, exc.message)
    if response.status_code in (401, 403):
        raise _error_of(response)
    if response.status_code != 200:
        error = _error_of(response)
        return _failed(rows, error.api_code, error.message)
    try:
        items = response.json()["results"]
        by_index = {int(item["index"]): item for item in items}
    except (ValueError, KeyError, TypeError):
        return _failed(rows, "BAD_RESPONSE", "the API's answer is not a bulk result")
    results = []
    for index, row in enumerate(rows):
        item = by_index.get(index)
        if item is None:
            results.append(RowResult(row, "error", code="BAD_RESPONSE", message="the API returned no result"))
            continue
        # ``result`` since #13.13; older APIs sent the same word as ``status``.
        status = str(item.get("result", item.get("status")))
        results.append(
            RowResult(
                row,
                status if status in STATUSES else "error",
                contact_id=item.get("contact_id"),
                enrollment_id=item.get("enrollment_id"),
                workflow_id=item.get("workflow_id"),
                code=item.get("code"),
                message=item.get("message"),
                reason=item.get("reason"),
            )
        )
    return results


def check_workflow(client: ApiClient, key: str, trigger: str) -> dict[str, Any]:
    """Before sending anything: the API answers, the key works, the workflow exists, is enabled and
    takes ``trigger`` (else every row would be refused the same way)."""
    try:
        detail: dict[str, Any] = client.call("GET", workflow_path(key)).json()
    except ApiError as exc:
        if exc.status == 404:
            raise UsageProblem(f"no workflow {key!r} (see `rollcall workflows list`)") from None
        raise
    if not detail.get("enabled", True):
        raise UsageProblem(
            f"workflow {key!r} is disabled, every contact would be refused (WORKFLOW_DISABLED); nothing was sent. "
            f"`rollcall workflows enable {key}` first"
        )
    try:
        document = yaml.safe_load(detail.get("yaml") or "")
        allowed = [str(t["type"]) for t in document["enrollment"]["triggers"]]
    except (yaml.YAMLError, KeyError, TypeError):
        allowed = []
    if allowed and trigger not in allowed:
        raise UsageProblem(
            f"workflow {key!r} does not accept {trigger!r} enrollments (its triggers: {', '.join(allowed)}); "
            "nothing was sent. Pass --trigger " + next((t for t in TRIGGERS if t in allowed), allowed[0])
        )
    return detail


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, results: Iterable[RowResult]) -> None:
        for result in results:
            self.counts[result.status] += 1

    def describe(self, *, short: bool = False) -> str:
        labels = _SHORT_LABELS if short else STATUS_LABELS
        return " · ".join(f"{labels[status]} {self.counts[status]}" for status in STATUSES)


def default_chunk_rows(rows: int) -> int:
    """500 rows per request for big files; fewer for small ones, so the progress bar moves."""
    return max(MIN_CHUNK_ROWS, min(DEFAULT_CHUNK_ROWS, -(-rows // PROGRESS_STEPS)))


def run_enrollment(
    client: ApiClient,
    key: str,
    rows: Sequence[Row],
    *,
    trigger: str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    parallel: int = DEFAULT_PARALLEL_REQUESTS,
    on_results: Callable[[list[RowResult]], None] | None = None,
) -> list[RowResult]:
    """Send the rows in chunks (``parallel`` requests in flight); one result per row, in row order."""
    results: list[RowResult] = []
    local = [RowResult(row, "error", code="INVALID_ROW", message=row.problem) for row in rows if row.problem]
    if local:
        results.extend(local)
        if on_results is not None:
            on_results(local)
    sendable = [row for row in rows if row.problem is None]
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="rollcall-enroll")
    try:
        pending: list[Future[list[RowResult]]] = [
            pool.submit(enroll_chunk, client, key, chunk, trigger) for chunk in _chunks(sendable, chunk_rows)
        ]
        for future in as_completed(pending):
            done = future.result()
            results.extend(done)
            if on_results is not None:
                on_results(done)
    finally:
        # Ctrl-C: send no further chunk and do not wait for the requests in flight.
        pool.shutdown(wait=False, cancel_futures=True)
    results.sort(key=lambda result: (result.row.line is None, result.row.line or 0))
    return results


def write_report(path: Path, results: Sequence[RowResult]) -> None:
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(REPORT_COLUMNS)
            for r in results:
                writer.writerow(
                    [
                        "" if r.row.line is None else r.row.line,
                        r.row.email or "",
                        r.row.input_contact_id or "",
                        r.status,
                        "" if r.contact_id is None else r.contact_id,
                        "" if r.enrollment_id is None else r.enrollment_id,
                        r.workflow_id or "",
                        r.code or "",
                        r.message or "",
                        r.reason or "",
                    ]
                )
    except OSError as exc:
        raise UsageProblem(f"cannot write the report {path}: {exc.strerror}") from None


def _where(result: RowResult) -> str:
    return "options" if result.row.line is None else f"line {result.row.line}"


def summary_tables(results: Sequence[RowResult], *, shown: int = SHOWN_PROBLEMS) -> list[Table]:
    """Counts per status, per refusal/error code, and the first refusals and errors with their lines."""
    tally = Tally()
    tally.add(results)
    counts = Table(title="Enrollment summary", title_justify="left")
    counts.add_column("status")
    counts.add_column("rows", justify="right")
    for status in STATUSES:
        counts.add_row(STATUS_LABELS[status], str(tally.counts[status]))
    counts.add_row("total", str(len(results)), style="bold")
    tables = [counts]

    codes = Counter((r.status, r.code_and_reason or "-") for r in results if r.status in ("refused", "error"))
    if codes:
        by_code = Table(title="Refusals and errors by code", title_justify="left")
        by_code.add_column("status")
        by_code.add_column("code")
        by_code.add_column("rows", justify="right")
        for (status, code), count in sorted(codes.items(), key=lambda item: (item[0][0], -item[1], item[0][1])):
            by_code.add_row(STATUS_LABELS[status], code, str(count))
        tables.append(by_code)

    for status, title in (("refused", "First refusals"), ("error", "First errors")):
        found = [r for r in results if r.status == status]
        if not found:
            continue
        table = Table(title=f"{title} ({min(shown, len(found))} of {len(found)})", title_justify="left")
        table.add_column("where")
        table.add_column("contact")
        table.add_column("code")
        table.add_column("message", overflow="fold")
        for r in found[:shown]:
            who = r.row.email or (f"id {r.row.input_contact_id}" if r.row.input_contact_id else "")
            table.add_row(_where(r), escape(who), r.code_and_reason, escape(r.message or ""))
        tables.append(table)
    return tables


def exit_code(results: Sequence[RowResult]) -> int:
    return 1 if any(result.status == "error" for result in results) else 0


def enroll_csv(
    client: ApiClient,
    key: str,
    csv_path: Path,
    rows: Sequence[Row],
    *,
    trigger: str,
    chunk_rows: int | None,
    parallel: int,
    report: Path | None,
    out: Console,
    err: Console,
) -> int:
    check_workflow(client, key, trigger)
    tally = Tally()
    # Narrow enough for an 80-column terminal: bar, rows done, elapsed time, counts so far.
    progress = Progress(
        BarColumn(bar_width=12),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[tally]}"),
        console=err,
        transient=False,
    )
    with progress:
        task = progress.add_task("enroll", total=len(rows), tally=tally.describe(short=True))

        def advance(done: list[RowResult]) -> None:
            tally.add(done)
            progress.update(task, advance=len(done), tally=tally.describe(short=True))

        try:
            results = run_enrollment(
                client,
                key,
                rows,
                trigger=trigger,
                chunk_rows=chunk_rows or default_chunk_rows(len(rows)),
                parallel=parallel,
                on_results=advance,
            )
        except KeyboardInterrupt:
            progress.stop()
            err.print(
                f"[red]interrupted after {sum(tally.counts.values())} of {len(rows)} rows "
                f"({tally.describe()}); the requests in flight may still enroll their contacts[/red]"
            )
            raise
    if report is not None:
        write_report(report, results)
    for table in summary_tables(results):
        out.print(table)
    out.print(
        f"{len(results)} row(s) of {csv_path} → workflow {key}: {tally.describe()}"
        + (f"; every row's result is in {report}" if report is not None else ""),
        highlight=False,
        soft_wrap=True,
    )
    return exit_code(results)


def enroll_one(client: ApiClient, key: str, row: Row, *, trigger: str, report: Path | None, out: Console) -> int:
    check_workflow(client, key, trigger)
    results = run_enrollment(client, key, [row], trigger=trigger, parallel=1)
    if report is not None:
        write_report(report, results)
    result = results[0]
    who = row.email or f"contact {row.input_contact_id}"
    if result.status == "enrolled":
        out.print(
            f"enrolled {who} (contact {result.contact_id}) in {key}: enrollment {result.enrollment_id}, "
            f"workflow {result.workflow_id}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    elif result.status == "already_enrolled":
        out.print(
            f"already enrolled: {who} (contact {result.contact_id}) is running enrollment {result.enrollment_id} "
            f"({result.workflow_id})",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    else:
        out.print(
            f"{'refused' if result.status == 'refused' else 'error'}: {who}: "
            f"{result.code_and_reason}: {result.message}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    return exit_code(results)


# --- workflows ---------------------------------------------------------------------------------------


def list_workflows(client: ApiClient, out: Console) -> None:
    """Every workflow; keys are never cut (names and sources wrap instead, #14.6)."""
    rows = client.call("GET", "/v1/workflows").json()
    table = Table(title="Workflows", title_justify="left")
    table.add_column("key", no_wrap=True, min_width=max((len(item["key"]) for item in rows), default=3))
    table.add_column("name", overflow="fold", ratio=2)
    table.add_column("business unit", overflow="fold", ratio=1)
    table.add_column("enabled", no_wrap=True)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("source", overflow="fold", ratio=2)
    table.add_column("updated", no_wrap=True)
    for item in rows:
        table.add_row(
            item["key"],
            escape(item["name"]),
            escape(item["business_unit"]),
            "yes" if item["enabled"] else "no",
            str(item["current_version"]),
            escape(item["source"]),
            _short_time(item["updated_at"]),
        )
    out.print(table)
    if not rows:
        out.print("no workflows yet: `rollcall workflows push FILE`")


def _short_time(value: Any) -> str:
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 and text[10] == "T" else text


def show_workflow(
    client: ApiClient,
    key: str,
    out: Console,
    *,
    yaml_only: bool,
    stats: Callable[[ApiClient, str, Console], None] | None = None,
) -> None:
    detail = client.call("GET", workflow_path(key)).json()
    if yaml_only:
        out.file.write(detail["yaml"])
        return
    table = Table(show_header=False, title=f"Workflow {key}", title_justify="left")
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name in ("key", "name", "business_unit", "enabled", "current_version", "source", "updated_at"):
        table.add_row(name, escape(str(detail[name])))
    out.print(table)
    if stats is not None:
        stats(client, key, out)
    revisions = Table(title="Revisions", title_justify="left")
    revisions.add_column("version", justify="right", no_wrap=True)
    revisions.add_column("content hash", overflow="fold")
    revisions.add_column("created", no_wrap=True)
    for revision in detail["revisions"]:
        revisions.add_row(str(revision["version"]), revision["content_hash"], _short_time(revision["created_at"]))
    out.print(revisions)
    out.print(f"--- current YAML (version {detail['current_version']}) ---", highlight=False, markup=False)
    out.file.write(detail["yaml"] if detail["yaml"].endswith("\n") else detail["yaml"] + "\n")


def _definition_key(path: Path, text: str) -> str | None:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(document, dict) and isinstance(document.get("key"), str):
        key: str = document["key"]
        return key
    return None


def push_workflow(client: ApiClient, path: Path, out: Console, err: Console, *, key: str | None = None) -> int:
    """PUT the file as the workflow's new revision. Validation errors print like ``rollcall validate``
    (with this file's name) and return 1."""
    from engine.dsl import ErrorCode, ValidationError, format_errors, validate_text

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageProblem(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    key = key or _definition_key(path, text)
    if key is None:
        # No key to send it to: the local validator says why (YAML syntax, no mapping, no key).
        local = validate_text(text, str(path)).errors
        if not local:
            raise UsageProblem(f"{path}: the definition has no key; pass --key")
        print(format_errors(local), flush=True)
        err.print(f"[red]{len(local)} error(s) in {escape(str(path))}; nothing was pushed[/red]")
        return 1
    response = client.send(
        "PUT", workflow_path(key), content=text.encode("utf-8"), headers={"Content-Type": "application/yaml"}
    )
    if response.status_code == 422:
        failure = _error_of(response)
        if failure.api_code == "INVALID_DEFINITION" and isinstance(failure.details, list):
            sent_as = f"{key}.yaml"
            errors = []
            for item in failure.details:
                try:
                    code = ErrorCode(item["code"])
                except (KeyError, ValueError):
                    code = ErrorCode.INVALID_VALUE
                errors.append(
                    ValidationError(
                        file=str(path) if item.get("file") in (sent_as, None) else str(item["file"]),
                        line=item.get("line"),
                        column=item.get("column"),
                        path=str(item.get("path", "$")),
                        code=code,
                        message=str(item.get("message", "")),
                    )
                )
            print(format_errors(errors), flush=True)
            err.print(f"[red]{len(errors)} error(s) in {escape(str(path))}; nothing was pushed[/red]")
            return 1
        raise failure
    if response.status_code >= 400:
        raise _error_of(response)
    saved = response.json()
    if response.status_code == 201:
        out.print(
            f"workflow {key}: version {saved['current_version']} saved from {path}", highlight=False, markup=False
        )
    else:
        out.print(f"workflow {key}: unchanged, still version {saved['current_version']}", highlight=False, markup=False)
    return 0


def set_workflow_enabled(client: ApiClient, key: str, enabled: bool, out: Console) -> None:
    saved = client.call("POST", workflow_path(key, "/enable" if enabled else "/disable")).json()
    state = "enabled" if saved["enabled"] else "disabled (running enrollments go on; new ones are refused)"
    out.print(f"workflow {key} v{saved['current_version']}: {state}", highlight=False, markup=False)


def schema_text() -> str:
    from engine.dsl.schema import render_definition_schema

    return render_definition_schema()


# --- the commands' bodies (engine/cli.py declares the options) -----------------------------------------


def api_client(api_url: str | None, api_key: str | None, settings: Settings) -> ApiClient:
    # httpx logs every request at INFO: noise between the progress bar and the one-line errors.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return ApiClient(api_url or default_api_url(settings), resolve_api_key(api_key, settings))


def enroll_command(
    *,
    key: str,
    csv_path: Path | None,
    email: str | None,
    first_name: str | None,
    last_name: str | None,
    contact_id: int | None,
    properties: Sequence[str],
    trigger: str,
    report: Path | None,
    chunk_rows: int | None,
    parallel: int,
    api_url: str | None,
    api_key: str | None,
    settings: Settings,
    out: Console,
    err: Console,
) -> int:
    if trigger not in TRIGGERS:
        raise UsageProblem(f"--trigger must be one of {', '.join(TRIGGERS)}")
    one = email is not None or contact_id is not None or first_name is not None or last_name is not None
    if csv_path is not None and (one or properties):
        raise UsageProblem("give either --csv or one contact (--email/--contact-id …), not both")
    if csv_path is None and not (email or contact_id):
        raise UsageProblem("give --csv FILE, or one contact with --email or --contact-id")
    if email is not None and contact_id is not None:
        raise UsageProblem("give --email or --contact-id, not both")
    # Read (and reject) the input before touching the API.
    rows = (
        read_contacts_csv(csv_path)
        if csv_path is not None
        else [single_row(email, contact_id, first_name, last_name, properties)]
    )
    with api_client(api_url, api_key, settings) as client:
        if csv_path is not None:
            return enroll_csv(
                client,
                key,
                csv_path,
                rows,
                trigger=trigger,
                chunk_rows=chunk_rows,
                parallel=parallel,
                report=report,
                out=out,
                err=err,
            )
        return enroll_one(client, key, rows[0], trigger=trigger, report=report, out=out)
