"""``rollcall enrollments KEY``: a workflow's enrollments in the running API, newest first (#14.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.cli.client import ApiClient, ApiKeyOption, ApiUrlOption, api_client, workflow_path
from engine.cli.config import load_settings
from engine.cli.errors import command
from engine.cli.output import short_time

#: Columns of ``rollcall enrollments`` (the API's names).
ENROLLMENT_COLUMNS = ("enrollment_id", "contact_id", "status", "current_step", "ended_reason", "trigger", "enrolled_at")


@dataclass(frozen=True)
class EnrollmentQuery:
    status: str | None = None
    current_step: str | None = None
    step: str | None = None
    outcome: str | None = None
    trigger: str | None = None
    since: str | None = None
    until: str | None = None
    email: bool = False

    def params(self) -> dict[str, str]:
        found = {
            name: value
            for name, value in (
                ("status", self.status),
                ("current_step", self.current_step),
                ("step", self.step),
                ("outcome", self.outcome),
                ("trigger", self.trigger),
                ("since", self.since),
                ("until", self.until),
            )
            if value
        }
        if self.email:
            found["include"] = "email"
        return found


def _fetch(client: ApiClient, key: str, query: EnrollmentQuery, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` enrollments, following the API's pages; and whether there are more."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(rows) < limit:
        params = {**query.params(), "limit": str(min(500, limit - len(rows)))}
        if cursor:
            params["cursor"] = cursor
        page = client.call("GET", workflow_path(key, "/enrollments"), params=params).json()
        rows += page["enrollments"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    return rows, bool(cursor)


def list_enrollments(client: ApiClient, key: str, query: EnrollmentQuery, out: Console, *, limit: int) -> int:
    """Print up to ``limit`` enrollments, newest first; returns how many."""
    rows, more = _fetch(client, key, query, limit)
    columns = [*ENROLLMENT_COLUMNS[:2], *(["email"] if query.email else []), *ENROLLMENT_COLUMNS[2:]]
    table = Table(title=f"Enrollments in {key}", title_justify="left")
    for column in columns:
        numeric = column in ("enrollment_id", "contact_id")
        wraps = column in ("ended_reason", "email")
        table.add_column(
            column.replace("_", " "),
            justify="right" if numeric else "left",
            no_wrap=not wraps,
            overflow="fold" if wraps else "ellipsis",
        )
    for row in rows:
        table.add_row(
            *(
                escape(short_time(row[c]) if c == "enrolled_at" else str(row[c] if row[c] is not None else ""))
                for c in columns
            )
        )
    out.print(table)
    out.print(f"{len(rows)} enrollment(s){' (more: raise --limit)' if more else ''}", highlight=False)
    return len(rows)


@command
def enrollments(
    key: Annotated[str, typer.Argument(help="The workflow key.")],
    status: Annotated[
        str | None, typer.Option(help="active, completed, failed or cancelled.", show_default=False)
    ] = None,
    current_step: Annotated[str | None, typer.Option(help="Enrollments at this step now.", show_default=False)] = None,
    step: Annotated[
        str | None, typer.Option(help="Enrollments that ran this step (with --outcome: with that outcome).")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option(help="An outcome code, e.g. FAILED or HOST_CANNOT_REGISTER.", show_default=False)
    ] = None,
    trigger: Annotated[str | None, typer.Option(help="api, manual, event or workflow.", show_default=False)] = None,
    since: Annotated[str | None, typer.Option(help="Enrolled at or after (ISO 8601).", show_default=False)] = None,
    until: Annotated[str | None, typer.Option(help="Enrolled before (ISO 8601).", show_default=False)] = None,
    email: Annotated[bool, typer.Option("--email", help="Show e-mails (an operator key or above).")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many, newest first.")] = 50,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """A workflow's enrollments, newest first: who is in it, where, and how each ended."""
    query = EnrollmentQuery(status, current_step, step, outcome, trigger, since, until, email)
    with api_client(api_url, api_key, load_settings()) as client:
        list_enrollments(client, key, query, Console(), limit=limit)
