"""``rollcall sync WEBINAR_ID``: "Sync now" (R-SYNC-7), followed live, ending with the run's audit entry.

The bars and the status line come from ``GET /v1/webinars/{id}/sync`` (Temporal and the store,
never Zoom): registrants and attendees read so far against the totals Zoom reported, and what the
run does now ("waiting for the transcript, next check 09:30 UTC").

Exit status: 0 the sync succeeded, was partial or was skipped on purpose (its entry says why);
1 it failed; 2 a usage or connection problem, or the API refused (e.g. ``ZOOM_UNAVAILABLE``);
3 the command stopped waiting (``--timeout``) while the sync goes on.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.cli.client import ApiClient, ApiKeyOption, ApiUrlOption, api_client
from engine.cli.config import load_settings
from engine.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_STILL_RUNNING, UsageProblem, command
from engine.dsl.webinar_ids import InvalidWebinarId, normalise_webinar_id

#: Final statuses that are not an error: a skipped webinar was skipped on purpose (its entry says why).
_OK = {"succeeded", "partial", "skipped"}


def follow_sync(
    client: ApiClient,
    webinar_id: str,
    out: Console,
    *,
    poll: float = 0.5,
    timeout: float | None = 3600,
    wait: bool = True,
    start: bool = True,
) -> int:
    """Start the webinar's sync (unless ``start`` is False: follow the one there is), then follow
    it until it ends or ``timeout`` seconds pass; returns the exit status."""
    if start:
        started = client.call("POST", f"/v1/webinars/{webinar_id}/sync", ok=(202,)).json()
        out.print(
            f"sync of webinar {webinar_id} ({started['connection']}, BU {started['business_unit'] or '?'}) → "
            f"[bold]{started['workflow_id']}[/bold]"
        )
        if not wait:
            out.print(_how_to_follow(webinar_id, started["workflow_id"], "the sync runs in the background."))
            return EXIT_OK
    state = _watch(client, webinar_id, out, poll=poll, timeout=timeout)
    if state["status"] == "running":
        waited = f"{timeout:g} s" if timeout is not None else "a while"
        out.print(
            f"[yellow]stopped waiting after {waited}: the sync goes on[/yellow] ({state['details']}).\n"
            + _how_to_follow(webinar_id, state["workflow_id"], "")
        )
        return EXIT_STILL_RUNNING
    entry = state.get("audit_entry")
    if not entry:
        out.print(f"[red]the run ended ({state['status']}) without an audit entry[/red]")
        return EXIT_FAILED
    out.print(audit_table(entry))
    return EXIT_OK if entry["status"] in _OK else EXIT_FAILED


def _how_to_follow(webinar_id: str, workflow_id: str, lead: str) -> str:
    return (
        f"{lead + ' ' if lead else ''}Follow it with `rollcall sync {webinar_id} --follow`, "
        f"GET /v1/webinars/{webinar_id}/sync, or workflow {workflow_id} in the Temporal Web UI; "
        f"`rollcall audit {webinar_id}` shows its entry once it ends."
    )


def _counted(done: int, total: int | None) -> str:
    return f"{done:,}/{total:,}" if total else f"{done:,}"


def _watch(client: ApiClient, webinar_id: str, out: Console, *, poll: float, timeout: float | None) -> dict[str, Any]:
    """Poll the sync's status until it is not running or the timeout passes; the last state."""
    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.fields[counted]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out) as bars:
        registrants = bars.add_task("registrants", total=None, counted="")
        attendees = bars.add_task("attendees", total=None, counted="")
        status = bars.add_task("", total=None, counted="")
        while True:
            state: dict[str, Any] = client.call("GET", f"/v1/webinars/{webinar_id}/sync").json()
            _show(bars, state, registrants, attendees, status)
            if state["status"] != "running" or (deadline is not None and time.monotonic() >= deadline):
                return state
            time.sleep(poll)


def _show(bars: Progress, state: dict[str, Any], registrants: TaskID, attendees: TaskID, status: TaskID) -> None:
    progress = state["progress"]
    for task, name in ((registrants, "registrants"), (attendees, "attendees")):
        done, total = int(progress.get(name) or 0), progress.get(f"{name}_total")
        bars.update(task, completed=done, total=total or None, counted=_counted(done, total))
    finished = state["status"] != "running"
    bars.update(status, description=state["details"], total=1 if finished else None, completed=int(finished))


def audit_table(entry: dict[str, Any]) -> Table:
    table = Table(title=f"audit: webinar {entry['zoom_webinar_id']} — {entry['status']} ({entry['trigger']})")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for name, value in entry.get("counts", {}).items():
        table.add_row(name, f"{value:,}")
    for warning in entry.get("warnings", []):
        items = warning.get("items") or []
        shown = ", ".join(
            " ".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict) else str(item) for item in items[:5]
        )
        more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
        table.add_row(f"[yellow]{warning['code']}[/yellow]", warning["message"] + (f": {shown}{more}" if shown else ""))
    return table


@command
def sync(
    webinar_id: Annotated[str, typer.Argument(help="The Zoom webinar id (digits).")],
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Start the sync, print its workflow id and how to follow it, exit.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Follow the webinar's current (or last) sync without starting one.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Stop waiting after SECONDS (the sync goes on; exit 3).")
    ] = 3600,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> int:
    """Sync one webinar now: follow the run live (registrants and attendees against Zoom's totals,
    what it waits for), then print its audit entry. Exit 0 when it succeeded, was partial or skipped
    on purpose; 1 when it failed; 3 when --timeout passed first (the sync goes on)."""
    try:
        digits = normalise_webinar_id(webinar_id)
    except InvalidWebinarId as exc:
        raise UsageProblem(str(exc)) from None
    if no_wait and follow:
        raise UsageProblem("--no-wait and --follow exclude each other")
    with api_client(api_url, api_key, load_settings()) as client:
        return follow_sync(client, digits, Console(), timeout=timeout, wait=not no_wait, start=not follow)
