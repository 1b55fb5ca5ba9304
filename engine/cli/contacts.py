"""``rollcall contacts list|search|show|create|delete|restore``: contacts in the store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from engine.cli.errors import command
from engine.cli.store import describe_invalid, store_session
from engine.errors import InvalidInput

if TYPE_CHECKING:  # the store's modules load when a command runs, not with the CLI
    from engine.crm.tables import Contact

contacts_app = typer.Typer(help="Contacts in the CRM store.", no_args_is_help=True, pretty_exceptions_show_locals=False)
out = Console()


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
    out.print(_contacts_table(contacts, title))
    if next_cursor:
        out.print(f"more: --cursor {next_cursor}")


@contacts_app.command("list")
@command
def list_contacts(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
) -> None:
    """List contacts in id order."""
    from engine.crm.segments import search_contacts

    with store_session() as session:
        page = search_contacts(session, None, cursor=cursor, limit=limit)
        _print_page(page.contacts, page.next_cursor, "Contacts")


@contacts_app.command("search")
@command
def search(
    filter_json: Annotated[
        str, typer.Argument(metavar="FILTER", help="a segment filter as JSON (engine.crm.segments)")
    ],
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Contacts matching a segment filter."""
    from engine.crm.segments import parse_filter, search_contacts

    try:
        node = parse_filter(filter_json)
    except ValidationError as exc:
        raise InvalidInput(f"the filter is not valid: {describe_invalid(exc)}") from None
    with store_session() as session:
        page = search_contacts(session, node, cursor=cursor, limit=limit)
        _print_page(page.contacts, page.next_cursor, "Matching contacts")


@contacts_app.command("show")
@command
def show(contact_id: int) -> None:
    """One contact with its properties, secondary emails and rollups."""
    from engine.crm import contacts as contact_repo

    with store_session() as session:
        contact = contact_repo.get_contact(session, contact_id)
        table = Table(title=f"Contact {contact_id}", show_header=False)
        for name, value in contact.model_dump().items():
            table.add_row(name, json.dumps(value) if isinstance(value, dict) else str(value))
        table.add_row("secondary_emails", ", ".join(contact_repo.secondary_emails_of(session, contact_id)))
        table.add_row("business_unit_ids", ", ".join(map(str, contact_repo.business_units_of(session, contact_id))))
        out.print(table)


@contacts_app.command("create")
@command
def create(
    email: str,
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a contact (refused for an existing or deleted contact's email)."""
    from engine.crm import contacts as contact_repo

    with store_session() as session:
        contact = contact_repo.create_contact(session, email=email, first_name=first_name, last_name=last_name)
        session.commit()
        out.print(f"created contact {contact.id} <{contact.email}>")


@contacts_app.command("delete")
@command
def delete(contact_id: int) -> None:
    """Delete a contact; its email is tombstoned so no sync recreates it."""
    from engine.crm import contacts as contact_repo

    with store_session() as session:
        email = contact_repo.delete_contact(session, contact_id)
        session.commit()
        out.print(f"deleted contact {contact_id} <{email}>; the sync will not recreate it")


@contacts_app.command("restore")
@command
def restore(email: str) -> None:
    """Bring back a deleted contact's email as a new contact."""
    from engine.crm import contacts as contact_repo

    with store_session() as session:
        contact = contact_repo.restore_contact(session, email=email)
        session.commit()
        out.print(f"restored <{contact.email}> as contact {contact.id}")
