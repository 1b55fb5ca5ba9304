"""``rollcall settings show|set``: the sync settings in the store (what is synced, from whom, what is excluded)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from engine.cli.errors import command
from engine.cli.store import describe_invalid, store_session
from engine.errors import InvalidInput

if TYPE_CHECKING:  # the store's modules load when a command runs, not with the CLI
    from engine.crm import sync_settings as settings_repo

settings_app = typer.Typer(
    help="Sync settings: what is synced, from whom, and what is excluded.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
out = Console()


def _settings_lists() -> set[str]:
    """The settings that hold lists (given comma separated)."""
    from engine.crm.sync_settings import SyncSettingsValues

    return {name for name, info in SyncSettingsValues.model_fields.items() if "list" in str(info.annotation)}


class UnknownSetting(InvalidInput):
    code = "UNKNOWN_SETTING"


def _print_settings(values: settings_repo.SyncSettingsValues) -> None:
    table = Table(title="Sync settings")
    table.add_column("setting")
    table.add_column("value")
    for name, value in values.model_dump(mode="json").items():
        table.add_row(name, ", ".join(value) if isinstance(value, list) else str(value))
    out.print(table)


@settings_app.command("show")
@command
def show_settings() -> None:
    from engine.crm import sync_settings as settings_repo

    with store_session() as session:
        _print_settings(settings_repo.settings_values(settings_repo.get_sync_settings(session)))


@settings_app.command("set")
@command
def set_setting(
    name: Annotated[str, typer.Argument(help="a setting name, e.g. sync_enabled or contact_exclusion_domains")],
    value: Annotated[str, typer.Argument(help="true/false, a scope, or a comma-separated list")],
) -> None:
    """Change one setting. Lists are given comma separated (an empty string clears them)."""
    from engine.crm import sync_settings as settings_repo

    with store_session() as session:
        current = settings_repo.settings_values(settings_repo.get_sync_settings(session)).model_dump(mode="json")
        if name not in current:
            raise UnknownSetting(f"{name!r}; settings: {', '.join(current)}")
        listed = name in _settings_lists()
        parsed: Any = [item.strip() for item in value.split(",") if item.strip()] if listed else value
        try:
            values = settings_repo.SyncSettingsValues.model_validate(current | {name: parsed})
        except ValidationError as exc:
            raise InvalidInput(describe_invalid(exc)) from None
        saved = settings_repo.put_sync_settings(session, values, admin=True)
        session.commit()
        session.refresh(saved)
        _print_settings(settings_repo.settings_values(saved))
