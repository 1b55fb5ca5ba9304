"""The ``rollcall`` command."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from engine.config import Settings, get_settings
from engine.crm.cli import audit_command, contacts_app, settings_app
from engine.errors import RollcallError
from engine.logging import configure_logging

app = typer.Typer(
    name="rollcall",
    help="Rollcall: durable Zoom webinar workflows on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The CRM store's database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(contacts_app, name="contacts")
app.add_typer(settings_app, name="settings")
app.command("audit")(audit_command)

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def _exit(code: int) -> NoReturn:
    # The Temporal SDK can abort during interpreter finalisation (temporal-notes, pitfall 1):
    # flush and leave without running finalisers.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def command(func: F) -> F:
    """Run a command; a RollcallError becomes one red line and exit status 2, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except RollcallError as exc:
            console.print(f"[red]rollcall: {exc.message}[/red]", soft_wrap=True, highlight=False)
            _exit(2)
        except KeyboardInterrupt:
            _exit(130)
        _exit(0)

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


@app.command()
@command
def up() -> None:
    """Start the whole stack: Temporal dev server (unless ROLLCALL_TEMPORAL_ADDRESS is set), worker and API."""
    from engine.stack import run_stack

    _exit(run_stack(_settings(), console))


@app.command()
@command
def worker() -> None:
    """Run a worker on Rollcall's task queue until SIGINT/SIGTERM."""
    from engine.crm.db import check_database, create_db_engine
    from worker import run_worker

    settings = _settings()
    db_engine = create_db_engine(settings.database_url)
    check_database(db_engine)
    asyncio.run(run_worker(settings, db_engine))


@app.command()
@command
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default ROLLCALL_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ROLLCALL_API_PORT).")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from engine.api.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
        access_log=False,
    )


@app.command("zoom-emulator")
@command
def zoom_emulator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    seed: Annotated[Path | None, typer.Option(help="YAML or JSON seed file (default: the demo seed).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level (`rollcall up` uses warning).")] = "info",
) -> None:
    """Serve Rollcall's loopback Zoom emulator (OAuth + REST API + admin API)."""
    from engine.zoom.emulator.__main__ import main as serve

    _settings()
    level = logging.getLevelName(log_level.upper())
    if isinstance(level, int):
        # The webhook emitter's httpx logs one line per delivery; quiet it with uvicorn.
        logging.getLogger("httpx").setLevel(level)
    serve(["--port", str(port), *(["--seed", str(seed)] if seed else []), "--log-level", log_level])


@db_app.command("upgrade")
@command
def db_upgrade() -> None:
    """Apply the CRM store's migrations."""
    from engine.crm.db import create_db_engine, current_revision, upgrade_database

    db_engine = create_db_engine(_settings().database_url)
    upgrade_database(db_engine)
    console.print(f"database at revision {current_revision(db_engine)}")


def _not_built(what: str, issue: int) -> NoReturn:
    console.print(f"[red]rollcall: {what} is not built yet (issue #{issue}); nothing was done.[/red]")
    _exit(3)


@app.command()
def validate(path: Annotated[Path, typer.Argument(help="A definition file or a folder of them.")]) -> None:
    """Validate workflow definitions; print every error like a compiler and exit 1 if there is any."""
    from engine.dsl import format_errors, validate_path

    results = validate_path(path)
    errors = [error for result in results for error in result.errors]
    if errors:
        print(format_errors(errors))
        console.print(f"[red]{len(errors)} error(s) in {sum(1 for r in results if r.errors)} file(s)[/red]")
        _exit(1)
    console.print(f"{len(results)} definition(s) valid")
    _exit(0)


@app.command()
def enroll(key: Annotated[str, typer.Argument(help="The workflow definition key.")]) -> None:
    """Enroll contacts into a workflow (not built yet)."""
    _not_built("`rollcall enroll`", 5)


@app.command()
def sync(webinar_id: Annotated[str, typer.Argument(help="The Zoom webinar id.")]) -> None:
    """Sync one webinar now (not built yet)."""
    _not_built("`rollcall sync`", 7)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
