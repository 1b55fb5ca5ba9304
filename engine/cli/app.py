"""The ``rollcall`` command: every sub-command, in the order ``rollcall --help`` lists them.

Each command lives in the module named after it (``engine/cli/__init__.py`` lists them); all of
them follow one exit-code policy (``engine.cli.errors``).
"""

from __future__ import annotations

import typer

from engine.cli.audit import audit
from engine.cli.contacts import contacts_app
from engine.cli.db import db_app
from engine.cli.definitions import schema, validate
from engine.cli.enroll import enroll
from engine.cli.enrollments import enrollments
from engine.cli.servers import api, up, webhook_inbox, worker, zoom_emulator
from engine.cli.sync import sync
from engine.cli.sync_settings import settings_app
from engine.cli.ui import ui
from engine.cli.workflows import workflows_app

app = typer.Typer(
    name="rollcall",
    help="Rollcall: durable Zoom webinar workflows on Temporal.",
    no_args_is_help=True,
    # Never Rich tracebacks with local variables (they held keys and secrets): plain ones, logged.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_app, name="db")
app.add_typer(contacts_app, name="contacts")
app.add_typer(settings_app, name="settings")
app.command("audit")(audit)
app.command("up")(up)
app.command("worker")(worker)
app.command("api")(api)
app.command("zoom-emulator")(zoom_emulator)
app.command("webhook-inbox")(webhook_inbox)
app.command("validate")(validate)
app.command("enroll")(enroll)
app.command("schema")(schema)
app.add_typer(workflows_app, name="workflows")
app.command("enrollments")(enrollments)
app.command("ui")(ui)
app.command("sync")(sync)


def main() -> None:
    app()
