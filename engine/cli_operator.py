"""The operator's view in the terminal (#14.2, #14.3): a workflow's stats with a bar per step
(``rollcall workflows show``), its enrollments (``rollcall enrollments``), and links into the
Temporal Web UI with the right list query (``rollcall ui``).

Tables fit the terminal: keys and ids are never cut (they are what one copies into the next
command); descriptions wrap instead.
"""

from __future__ import annotations

import webbrowser
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.cli_enroll import ApiClient, UsageProblem, workflow_path
from engine.cli_enroll import _short_time as short_time
from engine.config import Settings
from engine.stack_file import read_stack
from engine.temporal import RunKind, SearchAttribute

BAR_WIDTH = 20
#: Columns of ``rollcall enrollments`` (the API's names).
ENROLLMENT_COLUMNS = ("enrollment_id", "contact_id", "status", "current_step", "ended_reason", "trigger", "enrolled_at")


def bar(count: int, total: int, width: int = BAR_WIDTH) -> str:
    """``█████·····`` — ``count`` of ``total`` as a bar of ``width`` cells (at least one cell when
    anything at all is counted)."""
    if total <= 0:
        return "·" * width
    filled = round(width * count / total)
    if count > 0:
        filled = max(filled, 1)
    return "█" * filled + "·" * (width - filled)


def stats_tables(stats: dict[str, Any]) -> list[Table]:
    """The counts, then the action performance: per step reached, succeeded, failed, waiting now,
    with a bar of how many of the enrolled reached it."""
    counts = Table(title=f"Enrollments in {stats['key']} (v{stats['current_version']})", title_justify="left")
    for name in ("enrolled", "active", "completed", "failed", "cancelled"):
        counts.add_column(name, justify="right")
    counts.add_row(*(f"{stats[name]:,}" for name in ("enrolled", "active", "completed", "failed", "cancelled")))
    steps = Table(title="Steps (enrollments that reached each)", title_justify="left")
    steps.add_column("step", no_wrap=True)
    steps.add_column("type", overflow="fold")
    steps.add_column("reached", justify="right")
    steps.add_column("", no_wrap=True)
    steps.add_column("succeeded", justify="right")
    steps.add_column("failed", justify="right")
    steps.add_column("waiting", justify="right")
    steps.add_column("other outcomes", overflow="fold")
    enrolled = stats["enrolled"]
    for step in stats["steps"]:
        other = {
            code: count
            for code, count in step["outcomes"].items()
            if code not in ("COMPLETED", "DELIVERED", "REGISTERED", "FAILED")
        }
        steps.add_row(
            escape(step["step_id"]),
            escape(step["type"] or "(removed)"),
            f"{step['reached']:,}",
            bar(step["reached"], enrolled),
            f"{step['succeeded']:,}",
            f"[red]{step['failed']:,}[/red]" if step["failed"] else "0",
            f"{step['waiting']:,}",
            escape(", ".join(f"{code} {count:,}" for code, count in sorted(other.items()))),
        )
    return [counts, steps]


def show_stats(client: ApiClient, key: str, out: Console) -> None:
    stats = client.call("GET", workflow_path(key, "/stats")).json()
    for table in stats_tables(stats):
        out.print(table)


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


def list_enrollments(client: ApiClient, key: str, query: EnrollmentQuery, out: Console, *, limit: int) -> int:
    """Print up to ``limit`` enrollments, newest first (following the API's pages); returns how many."""
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
    more = " (more: raise --limit)" if cursor else ""
    out.print(f"{len(rows)} enrollment(s){more}", highlight=False)
    return len(rows)


def _cell(row: dict[str, Any], column: str) -> str:
    value = row[column]
    if column == "enrolled_at":
        return short_time(value)
    return "" if value is None else str(value)


# --- rollcall ui ----------------------------------------------------------------------------------------


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def list_query(
    key: str | None = None, *, contact: int | None = None, webinar: str | None = None, failed: bool = False
) -> str:
    """The Temporal list query for these filters (AND-ed); none: every run but the housekeeping."""
    parts: list[str] = []
    if key:
        parts.append(f"{SearchAttribute.WORKFLOW_KEY.name}={_quoted(key)}")
    if contact is not None:
        parts.append(f"{SearchAttribute.CONTACT_ID.name}={_quoted(str(contact))}")
    if webinar:
        parts.append(f"{SearchAttribute.WEBINAR_ID.name}={_quoted(webinar)}")
    if failed:
        parts.append('ExecutionStatus="Failed"')
    if not parts:
        kinds = ", ".join(_quoted(kind.value) for kind in RunKind if kind is not RunKind.HOUSEKEEPING)
        parts.append(f"{SearchAttribute.KIND.name} IN ({kinds})")
    return " AND ".join(parts)


#: What ``rollcall ui`` lists when given no filter: the saved views worth having.
_KIND = SearchAttribute.KIND.name
_ENROLLMENTS = f'{_KIND}="{RunKind.ENROLLMENT.value}"'
USEFUL_QUERIES: tuple[tuple[str, str], ...] = (
    ("everything but housekeeping", list_query()),
    ("enrollments", _ENROLLMENTS),
    ("failed enrollments", f'{_ENROLLMENTS} AND ExecutionStatus="Failed"'),
    ("enrollments running now", f'{_ENROLLMENTS} AND ExecutionStatus="Running"'),
    ("registrations to Zoom webinars", f'{_KIND}="{RunKind.REGISTRATION.value}"'),
    ("webinar syncs", f'{_KIND}="{RunKind.SYNC.value}"'),
    ("housekeeping (repair, reconciliation, system checks)", f'{_KIND}="{RunKind.HOUSEKEEPING.value}"'),
)


def ui_base_url(explicit: str | None, settings: Settings) -> str:
    """``--ui-url``, else the UI ``rollcall up`` recorded, else the embedded dev server's UI port."""
    if explicit:
        return explicit.rstrip("/")
    stack = read_stack()
    if stack is not None and stack.temporal_ui_url:
        return stack.temporal_ui_url.rstrip("/")
    return f"http://127.0.0.1:{settings.temporal_ui_port}"


def ui_url(base: str, namespace: str, query: str) -> str:
    """The Web UI's workflow list filtered by ``query`` (URL-encoded)."""
    return f"{base}/namespaces/{quote(namespace, safe='')}/workflows?{urlencode({'query': query}, quote_via=quote)}"


def ui_command(
    *,
    key: str | None,
    contact: int | None,
    webinar: str | None,
    failed: bool,
    open_browser: bool,
    ui: str | None,
    settings: Settings,
    out: Console,
) -> None:
    if webinar is not None:
        webinar = webinar.replace(" ", "").replace("-", "")
        if not webinar.isdigit():
            raise UsageProblem("--webinar takes a Zoom webinar id (digits, spaces and dashes allowed)")
    base = ui_base_url(ui, settings)
    stack = read_stack()
    namespace = stack.temporal_namespace if stack is not None else settings.temporal_namespace
    if key or contact is not None or webinar or failed:
        query = list_query(key, contact=contact, webinar=webinar, failed=failed)
        url = ui_url(base, namespace, query)
        out.print(query, highlight=False, markup=False, soft_wrap=True)
        out.print(url, highlight=False, markup=False, soft_wrap=True)
        if open_browser:
            webbrowser.open(url)
        return
    if open_browser:
        webbrowser.open(ui_url(base, namespace, USEFUL_QUERIES[0][1]))
    for title, query in USEFUL_QUERIES:
        out.print(f"{title}:", highlight=False, markup=False)
        out.print(f"  {query}", highlight=False, markup=False, soft_wrap=True)
        out.print(f"  {ui_url(base, namespace, query)}", highlight=False, markup=False, soft_wrap=True)
