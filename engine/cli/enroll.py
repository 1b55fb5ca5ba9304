"""``rollcall enroll``: contacts into a workflow through the running API — a CSV file in chunks
(``POST /v1/workflows/{key}/enrollments:bulk``) with a progress bar and a summary, or one contact.

Exit status: 0 when no row failed (a refusal is a normal result), 1 when some rows failed, 2 for
usage and connection problems (``engine.cli.errors``).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.cli.client import (
    ApiClient,
    ApiError,
    ApiKeyOption,
    ApiUnavailable,
    ApiUrlOption,
    api_client,
    error_of,
    workflow_path,
)
from engine.cli.config import load_settings
from engine.cli.enroll_rows import Row, read_contacts_csv, single_row
from engine.cli.errors import EXIT_FAILED, EXIT_OK, UsageProblem, command
from engine.cli.output import console

if TYPE_CHECKING:
    from engine.enrollment.service import BulkItemResult

#: Rows per ``enrollments:bulk`` request (the API takes up to 10,000): at most this many, and at
#: least ``MIN_CHUNK_ROWS``, aiming at ``PROGRESS_STEPS`` requests so the bar moves along.
DEFAULT_CHUNK_ROWS = 500
MIN_CHUNK_ROWS = 50
PROGRESS_STEPS = 20
#: Bulk requests in flight at once: the next chunk is admitted while the last starts of one finish.
DEFAULT_PARALLEL_REQUESTS = 2
#: How many refusals and errors the summary lists with their CSV line numbers.
SHOWN_PROBLEMS = 5
#: The API's results (``EnrollResult``), in the summary's order.
STATUSES = ("enrolled", "already_enrolled", "refused", "error")
STATUS_LABELS = {
    "enrolled": "enrolled",
    "already_enrolled": "already enrolled",
    "refused": "refused",
    "error": "errors",
}
_SHORT_LABELS = {**STATUS_LABELS, "already_enrolled": "already"}
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


@dataclass(frozen=True)
class RowResult:
    """A row and what the API did with it: its bulk item, ``item.index`` the row's place among the
    rows given to ``run_enrollment`` (rows that could not be sent are errors of code ``INVALID_ROW``)."""

    row: Row
    item: BulkItemResult

    @property
    def code_and_reason(self) -> str:
        code, reason = self.item.code, self.item.reason
        return f"{code} ({reason})" if code and reason else code or ""


# --- enrolling -------------------------------------------------------------------------------------


def _error(index: int, row: Row, code: str, message: str | None) -> RowResult:
    from engine.enrollment.service import BulkItemResult, EnrollResult  # imports Temporal: only when enrolling

    return RowResult(row, BulkItemResult(index, EnrollResult.ERROR, code=code, message=message))


def _failed(rows: Sequence[tuple[int, Row]], code: str, message: str) -> list[RowResult]:
    return [_error(index, row, code, message) for index, row in rows]


def _result_of(index: int, row: Row, item: dict[str, Any] | None) -> RowResult:
    """One item of the API's bulk answer for the row at ``index``."""
    from engine.enrollment.service import BulkItemResult, EnrollResult

    if item is None:
        return _error(index, row, "BAD_RESPONSE", "the API returned no result")
    # ``result`` since #13.13; older APIs sent the same word as ``status``.
    status = str(item.get("result", item.get("status")))
    answer = BulkItemResult(
        index,
        EnrollResult(status) if status in STATUSES else EnrollResult.ERROR,
        contact_id=item.get("contact_id"),
        enrollment_id=item.get("enrollment_id"),
        workflow_id=item.get("workflow_id"),
        code=item.get("code"),
        message=item.get("message"),
        reason=item.get("reason"),
        details=item.get("details"),
    )
    return RowResult(row, answer)


def enroll_chunk(client: ApiClient, key: str, rows: Sequence[tuple[int, Row]], trigger: str) -> list[RowResult]:
    """One ``enrollments:bulk`` request for the rows (with their indexes); a failed request makes
    every row of it an error (never fatal, but 401/403: the key is wrong for every chunk)."""
    body = {"contacts": [row.contact for _, row in rows], "trigger": trigger}
    try:
        response = client.send("POST", workflow_path(key, "/enrollments:bulk"), json=body)
    except ApiUnavailable as exc:
        return _failed(rows, exc.code, exc.message)
    if response.status_code in (401, 403):
        raise error_of(response)
    if response.status_code != 200:
        error = error_of(response)
        return _failed(rows, error.api_code, error.message)
    try:
        items = response.json()["results"]
        by_index = {int(item["index"]): item for item in items}
    except (ValueError, KeyError, TypeError):
        return _failed(rows, "BAD_RESPONSE", "the API's answer is not a bulk result")
    return [_result_of(index, row, by_index.get(position)) for position, (index, row) in enumerate(rows)]


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
            self.counts[result.item.status] += 1

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

    def collect(done: list[RowResult]) -> None:
        results.extend(done)
        if on_results is not None:
            on_results(done)

    # The answers' model comes with Temporal's SDK: imported here, before the requests' threads use it.
    from engine.enrollment.service import BulkItemResult, EnrollResult

    unsendable = [
        RowResult(row, BulkItemResult(index, EnrollResult.ERROR, code="INVALID_ROW", message=row.problem))
        for index, row in enumerate(rows)
        if row.problem
    ]
    if unsendable:
        collect(unsendable)
    sendable = [(index, row) for index, row in enumerate(rows) if row.problem is None]
    chunks = [sendable[start : start + chunk_rows] for start in range(0, len(sendable), chunk_rows)]
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="rollcall-enroll")
    try:
        pending: list[Future[list[RowResult]]] = [
            pool.submit(enroll_chunk, client, key, chunk, trigger) for chunk in chunks
        ]
        for future in as_completed(pending):
            collect(future.result())
    finally:
        # Ctrl-C: send no further chunk and do not wait for the requests in flight.
        pool.shutdown(wait=False, cancel_futures=True)
    results.sort(key=lambda result: result.item.index)
    return results


# --- the summary -----------------------------------------------------------------------------------


def write_report(path: Path, results: Sequence[RowResult]) -> None:
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(REPORT_COLUMNS)
            for r in results:
                item = r.item
                writer.writerow(
                    [
                        "" if r.row.line is None else r.row.line,
                        r.row.email or "",
                        r.row.input_contact_id or "",
                        item.status,
                        "" if item.contact_id is None else item.contact_id,
                        "" if item.enrollment_id is None else item.enrollment_id,
                        item.workflow_id or "",
                        item.code or "",
                        item.message or "",
                        item.reason or "",
                    ]
                )
    except OSError as exc:
        raise UsageProblem(f"cannot write the report {path}: {exc.strerror}") from None


def _where(result: RowResult) -> str:
    return "options" if result.row.line is None else f"line {result.row.line}"


def _counts_table(results: Sequence[RowResult]) -> Table:
    tally = Tally()
    tally.add(results)
    counts = Table(title="Enrollment summary", title_justify="left")
    counts.add_column("status")
    counts.add_column("rows", justify="right")
    for status in STATUSES:
        counts.add_row(STATUS_LABELS[status], str(tally.counts[status]))
    counts.add_row("total", str(len(results)), style="bold")
    return counts


def _codes_table(results: Sequence[RowResult]) -> Table | None:
    problems = ("refused", "error")
    codes = Counter((str(r.item.status), r.code_and_reason or "-") for r in results if r.item.status in problems)
    if not codes:
        return None
    by_code = Table(title="Refusals and errors by code", title_justify="left")
    by_code.add_column("status")
    by_code.add_column("code")
    by_code.add_column("rows", justify="right")
    for (status, code), count in sorted(codes.items(), key=lambda item: (item[0][0], -item[1], item[0][1])):
        by_code.add_row(STATUS_LABELS[status], code, str(count))
    return by_code


def _first_problems_table(results: Sequence[RowResult], status: str, title: str, shown: int) -> Table | None:
    found = [r for r in results if r.item.status == status]
    if not found:
        return None
    table = Table(title=f"{title} ({min(shown, len(found))} of {len(found)})", title_justify="left")
    table.add_column("where")
    table.add_column("contact")
    table.add_column("code")
    table.add_column("message", overflow="fold")
    for r in found[:shown]:
        who = r.row.email or (f"id {r.row.input_contact_id}" if r.row.input_contact_id else "")
        table.add_row(_where(r), escape(who), r.code_and_reason, escape(r.item.message or ""))
    return table


def summary_tables(results: Sequence[RowResult], *, shown: int = SHOWN_PROBLEMS) -> list[Table]:
    """Counts per status, per refusal/error code, and the first refusals and errors with their lines."""
    tables = [
        _counts_table(results),
        _codes_table(results),
        _first_problems_table(results, "refused", "First refusals", shown),
        _first_problems_table(results, "error", "First errors", shown),
    ]
    return [table for table in tables if table is not None]


def exit_code(results: Sequence[RowResult]) -> int:
    return EXIT_FAILED if any(result.item.status == "error" for result in results) else EXIT_OK


# --- a CSV file, or one contact ------------------------------------------------------------------------


def _enroll_with_progress(
    client: ApiClient, key: str, rows: Sequence[Row], *, trigger: str, chunk_rows: int, parallel: int, err: Console
) -> list[RowResult]:
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
            return run_enrollment(
                client, key, rows, trigger=trigger, chunk_rows=chunk_rows, parallel=parallel, on_results=advance
            )
        except KeyboardInterrupt:
            progress.stop()
            err.print(
                f"[red]interrupted after {sum(tally.counts.values())} of {len(rows)} rows "
                f"({tally.describe()}); the requests in flight may still enroll their contacts[/red]"
            )
            raise


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
    chunk = chunk_rows or default_chunk_rows(len(rows))
    results = _enroll_with_progress(client, key, rows, trigger=trigger, chunk_rows=chunk, parallel=parallel, err=err)
    if report is not None:
        write_report(report, results)
    for table in summary_tables(results):
        out.print(table)
    tally = Tally()
    tally.add(results)
    out.print(
        f"{len(results)} row(s) of {csv_path} → workflow {key}: {tally.describe()}"
        + (f"; every row's result is in {report}" if report is not None else ""),
        highlight=False,
        soft_wrap=True,
    )
    return exit_code(results)


def _one_result_line(who: str, key: str, result: RowResult) -> str:
    item = result.item
    if item.status == "enrolled":
        return (
            f"enrolled {who} (contact {item.contact_id}) in {key}: enrollment {item.enrollment_id}, "
            f"workflow {item.workflow_id}"
        )
    if item.status == "already_enrolled":
        return (
            f"already enrolled: {who} (contact {item.contact_id}) is running enrollment {item.enrollment_id} "
            f"({item.workflow_id})"
        )
    return f"{'refused' if item.status == 'refused' else 'error'}: {who}: {result.code_and_reason}: {item.message}"


def enroll_one(client: ApiClient, key: str, row: Row, *, trigger: str, report: Path | None, out: Console) -> int:
    check_workflow(client, key, trigger)
    results = run_enrollment(client, key, [row], trigger=trigger, parallel=1)
    if report is not None:
        write_report(report, results)
    who = row.email or f"contact {row.input_contact_id}"
    out.print(_one_result_line(who, key, results[0]), highlight=False, soft_wrap=True, markup=False)
    return exit_code(results)


def _rows_to_enroll(
    csv_path: Path | None,
    email: str | None,
    first_name: str | None,
    last_name: str | None,
    contact_id: int | None,
    properties: Sequence[str],
    trigger: str,
) -> list[Row]:
    """The options checked and the input read (and rejected) before the API is called."""
    if trigger not in TRIGGERS:
        raise UsageProblem(f"--trigger must be one of {', '.join(TRIGGERS)}")
    one = email is not None or contact_id is not None or first_name is not None or last_name is not None
    if csv_path is not None and (one or properties):
        raise UsageProblem("give either --csv or one contact (--email/--contact-id …), not both")
    if csv_path is None and not (email or contact_id):
        raise UsageProblem("give --csv FILE, or one contact with --email or --contact-id")
    if email is not None and contact_id is not None:
        raise UsageProblem("give --email or --contact-id, not both")
    if csv_path is not None:
        return read_contacts_csv(csv_path)
    return [single_row(email, contact_id, first_name, last_name, properties)]


@command
def enroll(
    key: Annotated[str, typer.Argument(help="The workflow definition key.")],
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="CSV with a header: email, first_name, last_name, contact_id; other columns become properties.",
        ),
    ] = None,
    email: Annotated[str | None, typer.Option(help="One contact by email (created or updated).")] = None,
    first_name: Annotated[str | None, typer.Option(help="The contact's first name.")] = None,
    last_name: Annotated[str | None, typer.Option(help="The contact's last name.")] = None,
    contact_id: Annotated[int | None, typer.Option(min=1, help="One existing contact by id.")] = None,
    properties: Annotated[
        list[str] | None, typer.Option("--property", help="NAME=VALUE property of the one contact (repeatable).")
    ] = None,
    trigger: Annotated[
        str, typer.Option(help="How the enrollment is recorded: manual (a person, the default) or api.")
    ] = "manual",
    report: Annotated[Path | None, typer.Option(help="Write every row's result to this CSV file.")] = None,
    chunk_size: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="Rows per bulk request (default: up to 500).")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, max=8, help="Bulk requests in flight at once.")] = 2,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> int:
    """Enroll contacts into a workflow through the running API: a CSV file with a progress bar and a
    summary, or one contact. Exit 0 when no row failed (refusals are results), 1 when some rows
    failed, 2 for usage or connection problems."""
    settings = load_settings()
    rows = _rows_to_enroll(csv_file, email, first_name, last_name, contact_id, properties or [], trigger)
    out = Console(soft_wrap=False)
    with api_client(api_url, api_key, settings) as client:
        if csv_file is None:
            return enroll_one(client, key, rows[0], trigger=trigger, report=report, out=out)
        return enroll_csv(
            client,
            key,
            csv_file,
            rows,
            trigger=trigger,
            chunk_rows=chunk_size,
            parallel=parallel,
            report=report,
            out=out,
            err=console,
        )
