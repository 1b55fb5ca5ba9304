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
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.cli_enroll import ApiClient

#: Final statuses that are not an error: a skipped webinar was skipped on purpose (its entry says why).
_OK = {"succeeded", "partial", "skipped"}
EXIT_FAILED = 1
#: ``--timeout`` reached: the command stops waiting, the sync does not stop.
EXIT_STILL_RUNNING = 3


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
            return 0
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
    return 0 if entry["status"] in _OK else EXIT_FAILED


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
