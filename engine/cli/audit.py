"""``rollcall audit WEBINAR_ID``: the audit log of a webinar's syncs, from the store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from engine.cli.errors import UsageProblem, command
from engine.cli.store import store_session
from engine.dsl.webinar_ids import InvalidWebinarId, normalise_webinar_id


@command
def audit(
    webinar_id: Annotated[str, typer.Argument(help="the Zoom webinar id")],
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    cursor: Annotated[str | None, typer.Option()] = None,
) -> None:
    """The audit log of a webinar's syncs, newest first."""
    from engine.crm.audit import list_audit_entries

    try:
        webinar = normalise_webinar_id(webinar_id)
    except InvalidWebinarId as exc:
        raise UsageProblem(str(exc)) from None
    out = Console()
    with store_session() as session:
        page = list_audit_entries(session, webinar, cursor=cursor, limit=limit)
        table = Table(title=f"Audit of webinar {webinar_id}")
        for column in ("started", "trigger", "status", "counts", "warnings"):
            table.add_column(column, no_wrap=column in ("started", "trigger", "status"), overflow="fold")
        for entry in page.entries:
            warnings = "\n".join(
                f"{w['code']}: {w['message']}" + (f" ({len(w.get('items', []))} items)" if w.get("items") else "")
                for w in entry.warnings
            )
            counts = ", ".join(f"{k}={v}" for k, v in entry.counts.items())
            table.add_row(entry.started_at.isoformat(timespec="seconds"), entry.trigger, entry.status, counts, warnings)
        out.print(table)
        if page.next_cursor:
            out.print(f"more: --cursor {page.next_cursor}")
