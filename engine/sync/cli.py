"""``rollcall sync WEBINAR_ID``: "Sync now" (R-SYNC-7), followed live, ending with the audit entry."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.cli_enroll import ApiClient

#: Final statuses that are not an error: a skipped webinar was skipped on purpose (its entry says why).
_OK = {"succeeded", "partial", "skipped"}


def follow_sync(client: ApiClient, webinar_id: str, out: Console, *, poll: float = 0.5, timeout: float = 3600) -> int:
    started = client.call("POST", f"/v1/webinars/{webinar_id}/sync", ok=(202,)).json()
    out.print(
        f"sync of webinar {webinar_id} ({started['connection']}, BU {started['business_unit'] or '?'}) → "
        f"[bold]{started['workflow_id']}[/bold]"
    )
    state: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)
        while time.monotonic() < deadline:
            state = client.call("GET", f"/v1/webinars/{webinar_id}/sync").json()
            shown = state.get("progress") or {}
            progress.update(
                task,
                description=str(shown.get("phase", state["status"])),
                completed=int(shown.get("done") or 0),
                total=shown.get("total"),
            )
            if state["status"] != "running":
                break
            time.sleep(poll)
    entries = client.call("GET", f"/v1/webinars/{webinar_id}/audit", params={"limit": 1}).json()["entries"]
    if not entries:
        out.print(f"[red]the run ended ({state.get('status')}) without an audit entry[/red]")
        return 1
    entry = entries[0]
    out.print(audit_table(entry))
    return 0 if entry["status"] in _OK else 1


def audit_table(entry: dict[str, Any]) -> Table:
    table = Table(title=f"audit: webinar {entry['zoom_webinar_id']} — {entry['status']} ({entry['trigger']})")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for name, value in sorted(entry.get("counts", {}).items()):
        table.add_row(name, f"{value:,}")
    for warning in entry.get("warnings", []):
        items = warning.get("items") or []
        shown = ", ".join(
            " ".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict) else str(item) for item in items[:5]
        )
        more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
        table.add_row(f"[yellow]{warning['code']}[/yellow]", warning["message"] + (f": {shown}{more}" if shown else ""))
    return table
