"""``rollcall ui``: links into the Temporal Web UI with the right list query (#14.3)."""

from __future__ import annotations

import webbrowser
from typing import Annotated
from urllib.parse import quote, urlencode

import typer
from rich.console import Console

from engine.cli.config import load_settings
from engine.cli.errors import UsageProblem, command
from engine.cli.stack_file import read_stack
from engine.config import Settings
from engine.dsl.webinar_ids import InvalidWebinarId, normalise_webinar_id


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def list_query(
    key: str | None = None, *, contact: int | None = None, webinar: str | None = None, failed: bool = False
) -> str:
    """The Temporal list query for these filters (AND-ed); none: every run but the housekeeping."""
    from engine.temporal import RunKind, SearchAttribute  # Temporal's SDK: only when run

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


def useful_queries() -> tuple[tuple[str, str], ...]:
    """What ``rollcall ui`` lists when given no filter: the saved views worth having."""
    from engine.temporal import RunKind, SearchAttribute

    kind = SearchAttribute.KIND.name
    enrollments = f'{kind}="{RunKind.ENROLLMENT.value}"'
    return (
        ("everything but housekeeping", list_query()),
        ("enrollments", enrollments),
        ("failed enrollments", f'{enrollments} AND ExecutionStatus="Failed"'),
        ("enrollments running now", f'{enrollments} AND ExecutionStatus="Running"'),
        ("registrations to Zoom webinars", f'{kind}="{RunKind.REGISTRATION.value}"'),
        ("webinar syncs", f'{kind}="{RunKind.SYNC.value}"'),
        ("housekeeping (repair, reconciliation, system checks)", f'{kind}="{RunKind.HOUSEKEEPING.value}"'),
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


def _print_links(base: str, namespace: str, queries: tuple[tuple[str, str], ...], out: Console) -> None:
    for title, query in queries:
        out.print(f"{title}:", highlight=False, markup=False)
        out.print(f"  {query}", highlight=False, markup=False, soft_wrap=True)
        out.print(f"  {ui_url(base, namespace, query)}", highlight=False, markup=False, soft_wrap=True)


@command
def ui(
    key: Annotated[str | None, typer.Argument(help="A workflow key: its enrollments.", show_default=False)] = None,
    contact: Annotated[int | None, typer.Option(help="A contact id: its runs.", show_default=False)] = None,
    webinar: Annotated[str | None, typer.Option(help="A Zoom webinar id: its runs.", show_default=False)] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only the failed runs.")] = False,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the URL in a browser.")] = False,
    ui_url_option: Annotated[
        str | None,
        typer.Option(
            "--ui-url",
            envvar="ROLLCALL_TEMPORAL_UI_URL",
            help="The Temporal Web UI (default: the one `rollcall up` runs).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Temporal Web UI links with the right list query: a workflow's runs, a contact's, a webinar's,
    the failed ones (filters combine); with none, the useful saved views."""
    settings = load_settings()
    if webinar is not None:
        try:
            webinar = normalise_webinar_id(webinar)
        except InvalidWebinarId as exc:
            raise UsageProblem(f"--webinar: {exc}") from None
    base = ui_base_url(ui_url_option, settings)
    stack = read_stack()
    namespace = stack.temporal_namespace if stack is not None else settings.temporal_namespace
    out = Console()
    if not (key or contact is not None or webinar or failed):
        if open_browser:
            webbrowser.open(ui_url(base, namespace, list_query()))
        _print_links(base, namespace, useful_queries(), out)
        return
    query = list_query(key, contact=contact, webinar=webinar, failed=failed)
    url = ui_url(base, namespace, query)
    out.print(query, highlight=False, markup=False, soft_wrap=True)
    out.print(url, highlight=False, markup=False, soft_wrap=True)
    if open_browser:
        webbrowser.open(url)
