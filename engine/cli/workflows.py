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


#: Step types as the stats table names them (the full names would crowd an 80-column terminal).
_SHORT_TYPES = {"add_contact_to_zoom_webinar": "webinar", "set_property": "property"}
_SHOWN_CODES = ("COMPLETED", "DELIVERED", "REGISTERED", "FAILED")
#: Columns of the steps table besides the step ids and the bar: type, 4 counts, borders.
_FIXED_WIDTH = 8 + 4 * 9 + 8 * 3 + 2


def stats_tables(stats: dict[str, Any], width: int = 120) -> list[Table | str]:
    """The counts, then the action performance: per step reached (with a bar: the share of all
    enrolled), succeeded, failed and waiting now; then the other outcomes per step, in words."""
    counts = Table(title=f"Enrollments in {stats['key']} (v{stats['current_version']})", title_justify="left")
    names = ("enrolled", "active", "completed", "failed", "cancelled")
    for name in names:
        counts.add_column(name, justify="right", no_wrap=True)
    counts.add_row(*(f"{stats[name]:,}" for name in names))
    longest = max((len(step["step_id"]) for step in stats["steps"]), default=4)
    bar_width = max(5, min(BAR_WIDTH, width - _FIXED_WIDTH - longest))
    steps = Table(title="Steps: how many enrollments reached each", title_justify="left")
    steps.add_column("step", no_wrap=True)
    steps.add_column("type", no_wrap=True)
    for name in ("reached", "", "ok", "failed", "waiting"):
        steps.add_column(name, justify="right" if name else "left", no_wrap=True)
    enrolled = stats["enrolled"]
    others: list[str] = []
    for step in stats["steps"]:
        kind = step["type"] or "(removed)"
        steps.add_row(
            escape(step["step_id"]),
            escape(_SHORT_TYPES.get(kind, kind)),
            f"{step['reached']:,}",
            bar(step["reached"], enrolled, bar_width),
            f"{step['succeeded']:,}",
            f"[red]{step['failed']:,}[/red]" if step["failed"] else "0",
            f"{step['waiting']:,}",
        )
        other = sorted((code, count) for code, count in step["outcomes"].items() if code not in _SHOWN_CODES)
        if other:
            others.append(f"  {step['step_id']}: " + ", ".join(f"{code} {count:,}" for code, count in other))
    return [counts, steps, *(["other outcomes:", *others] if others else [])]


def show_stats(client: ApiClient, key: str, out: Console) -> None:
    stats = client.call("GET", workflow_path(key, "/stats")).json()
    for part in stats_tables(stats, out.width):
        if isinstance(part, str):
            out.print(escape(part), highlight=False)
        else:
            out.print(part)


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
