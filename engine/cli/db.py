"""``rollcall db upgrade``: the store's migrations."""

from __future__ import annotations

import typer

from engine.cli.config import load_settings
from engine.cli.errors import command
from engine.cli.output import console

db_app = typer.Typer(help="The CRM store's database.", no_args_is_help=True, pretty_exceptions_show_locals=False)


@db_app.command("upgrade")
@command
def db_upgrade() -> None:
    """Apply the CRM store's migrations."""
    from engine.crm.db import create_db_engine, current_revision, upgrade_database

    db_engine = create_db_engine(load_settings().database_url)
    upgrade_database(db_engine)
    console.print(f"database at revision {current_revision(db_engine)}")
