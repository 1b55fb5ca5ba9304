"""``rollcall`` sub-commands for the CRM store: contacts, sync settings, the audit log, migrations.

They talk to the store directly (``ROLLCALL_DATABASE_URL``) through the repositories, so they
work without the API or Temporal running. The CLI is an operator's tool: it acts as an admin
(it may turn global sync on, R-SET-1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from engine.config import get_settings
from engine.crm import contacts as contact_repo
from engine.crm import sync_settings as settings_repo
from engine.crm.audit import list_audit_entries
from engine.crm.db import create_db_engine
from engine.crm.segments import parse_filter, search_contacts
from engine.crm.tables import Contact
from engine.errors import RollcallError

console = Console()
contacts_app = typer.Typer(help="Contacts in the CRM store.", no_args_is_help=True, pretty_exceptions_show_locals=False)
settings_app = typer.Typer(
    help="Sync settings: what is synced, from whom, and what is excluded.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

_SETTINGS_LISTS = {
    name for name, info in settings_repo.SyncSettingsValues.model_fields.items() if "list" in str(info.annotation)
}


@contextmanager
def _store() -> Iterator[Session]:
    """A session on the configured store; a RollcallError becomes a one-line message and exit code 1."""
    engine = create_db_engine(get_settings().database_url)
    try:
        with Session(engine) as session:
            yield session
    except RollcallError as exc:
        console.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _contacts_table(contacts: list[Contact], title: str) -> Table:
    table = Table(title=title)
    # Ids and e-mails are never cut (one copies them into the next command); names wrap.
    for column in ("id", "email", "name", "registrations", "attendances", "avg %"):
        table.add_column(
            column,
            justify="right" if column in ("id", "registrations", "attendances", "avg %") else "left",
            no_wrap=column != "name",
            overflow="fold" if column == "name" else "ellipsis",
        )
    for c in contacts:
        average = c.zoom_webinar_attendance_average_duration
        table.add_row(
            str(c.id),
            c.email,
            " ".join(part for part in (c.first_name, c.last_name) if part),
            str(c.zoom_webinar_registration_count),
            str(c.zoom_webinar_attendance_count),
            "" if average is None else f"{average:.1f}",
        )
    return table


def _print_page(contacts: list[Contact], next_cursor: str | None, title: str) -> None:
    console.print(_contacts_table(contacts, title))
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}")


@contacts_app.command("list")
def list_contacts(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
) -> None:
    """List contacts in id order."""
    with _store() as session:
        page = search_contacts(session, None, cursor=cursor, limit=limit)
        _print_page(page.contacts, page.next_cursor, "Contacts")


@contacts_app.command("search")
def search(
    filter_json: Annotated[
        str, typer.Argument(metavar="FILTER", help="a segment filter as JSON (engine.crm.segments)")
    ],
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Contacts matching a segment filter."""
    try:
        node = parse_filter(filter_json)
    except ValidationError as exc:
        console.print(f"[red]VALIDATION_ERROR[/red]: {exc}")
        raise typer.Exit(2) from None
    with _store() as session:
        page = search_contacts(session, node, cursor=cursor, limit=limit)
        _print_page(page.contacts, page.next_cursor, "Matching contacts")


@contacts_app.command("show")
def show(contact_id: int) -> None:
    """One contact with its properties, secondary emails and rollups."""
    with _store() as session:
        contact = contact_repo.get_contact(session, contact_id)
        table = Table(title=f"Contact {contact_id}", show_header=False)
        for name, value in contact.model_dump().items():
            table.add_row(name, json.dumps(value) if isinstance(value, dict) else str(value))
        table.add_row("secondary_emails", ", ".join(contact_repo.secondary_emails_of(session, contact_id)))
        table.add_row("business_unit_ids", ", ".join(map(str, contact_repo.business_units_of(session, contact_id))))
        console.print(table)


@contacts_app.command("create")
def create(
    email: str,
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a contact (refused for an existing or deleted contact's email)."""
    with _store() as session:
        contact = contact_repo.create_contact(session, email=email, first_name=first_name, last_name=last_name)
        session.commit()
        console.print(f"created contact {contact.id} <{contact.email}>")


@contacts_app.command("delete")
def delete(contact_id: int) -> None:
    """Delete a contact; its email is tombstoned so no sync recreates it."""
    with _store() as session:
        email = contact_repo.delete_contact(session, contact_id)
        session.commit()
        console.print(f"deleted contact {contact_id} <{email}>; the sync will not recreate it")


@contacts_app.command("restore")
def restore(email: str) -> None:
    """Bring back a deleted contact's email as a new contact."""
    with _store() as session:
        contact = contact_repo.restore_contact(session, email=email)
        session.commit()
        console.print(f"restored <{contact.email}> as contact {contact.id}")


def _print_settings(values: settings_repo.SyncSettingsValues) -> None:
    table = Table(title="Sync settings")
    table.add_column("setting")
    table.add_column("value")
    for name, value in values.model_dump(mode="json").items():
        table.add_row(name, ", ".join(value) if isinstance(value, list) else str(value))
    console.print(table)


@settings_app.command("show")
def show_settings() -> None:
    with _store() as session:
        _print_settings(settings_repo.settings_values(settings_repo.get_sync_settings(session)))


@settings_app.command("set")
def set_setting(
    name: Annotated[str, typer.Argument(help="a setting name, e.g. sync_enabled or contact_exclusion_domains")],
    value: Annotated[str, typer.Argument(help="true/false, a scope, or a comma-separated list")],
) -> None:
    """Change one setting. Lists are given comma separated (an empty string clears them)."""
    with _store() as session:
        current = settings_repo.settings_values(settings_repo.get_sync_settings(session)).model_dump(mode="json")
        if name not in current:
            console.print(f"[red]UNKNOWN_SETTING[/red]: {name!r}; settings: {', '.join(current)}")
            raise typer.Exit(2)
        parsed: Any = [item.strip() for item in value.split(",") if item.strip()] if name in _SETTINGS_LISTS else value
        try:
            values = settings_repo.SyncSettingsValues.model_validate(current | {name: parsed})
        except ValidationError as exc:
            console.print(f"[red]VALIDATION_ERROR[/red]: {exc.errors()[0]['msg']}")
            raise typer.Exit(2) from None
        saved = settings_repo.put_sync_settings(session, values, admin=True)
        session.commit()
        session.refresh(saved)
        _print_settings(settings_repo.settings_values(saved))


def audit_command(
    webinar_id: Annotated[str, typer.Argument(help="the Zoom webinar id")],
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    cursor: Annotated[str | None, typer.Option()] = None,
) -> None:
    """The audit log of a webinar's syncs, newest first."""
    with _store() as session:
        page = list_audit_entries(session, webinar_id.replace(" ", "").replace("-", ""), cursor=cursor, limit=limit)
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
        console.print(table)
        if page.next_cursor:
            console.print(f"more: --cursor {page.next_cursor}")
