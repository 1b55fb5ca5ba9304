"""The processes that run until stopped: ``rollcall up`` (the whole stack), ``worker``, ``api``,
``zoom-emulator`` and ``webhook-inbox``. Each imports its server only when it runs, so that
``rollcall --help`` and the quick commands start fast."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from engine.cli.config import load_settings
from engine.cli.errors import command
from engine.cli.output import console
from engine.tracing import configure_tracing


@command
def up(
    reset_zoom_emulator: Annotated[
        bool, typer.Option(help="Start the demo Zoom emulator from its seed (forget .rollcall/zoom-emulator.json).")
    ] = False,
) -> int:
    """Start the whole stack: Temporal dev server (unless ROLLCALL_TEMPORAL_ADDRESS is set), worker and API."""
    from engine.cli.up import run_stack

    return run_stack(load_settings("up"), console, reset_zoom_emulator=reset_zoom_emulator)


@command
def worker() -> None:
    """Run a worker on Rollcall's task queue until SIGINT/SIGTERM."""
    from engine.api.auth import load_keyring

    # A configuration that cannot work is reported before the worker's modules load (a second).
    settings = load_settings("worker")
    load_keyring(settings)  # #12.7: a key configuration that cannot work stops every server process alike
    configure_tracing(settings, "worker")

    from engine.crm.db import check_database, create_db_engine
    from worker import run_worker

    db_engine = create_db_engine(
        settings.database_url, pool_size=settings.database_pool_size, max_overflow=settings.database_max_overflow
    )
    check_database(db_engine)
    asyncio.run(run_worker(settings, db_engine))


@command
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default ROLLCALL_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ROLLCALL_API_PORT).")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    from engine.api.auth import load_keyring

    settings = load_settings("api")  # a configuration that cannot work is reported before the API loads
    load_keyring(settings)
    configure_tracing(settings, "api")

    import uvicorn

    from engine.api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
        access_log=False,
    )


@command
def zoom_emulator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    seed: Annotated[Path | None, typer.Option(help="YAML or JSON seed file (default: the demo seed).")] = None,
    state_file: Annotated[
        Path | None, typer.Option(help="Keep the emulator's state in this JSON file across restarts.")
    ] = None,
    reset: Annotated[bool, typer.Option(help="Start from the seed even if the state file exists.")] = False,
    speed: Annotated[
        float | None, typer.Option(help="Emulator seconds per real second (60: an hour-long webinar in a minute).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level (`rollcall up` uses warning).")] = "info",
) -> None:
    """Serve Rollcall's loopback Zoom emulator (OAuth + REST API + admin API); it runs its webinars
    on its clock and sends Zoom's webhooks to the subscribed endpoints."""
    from zoom_emulator.__main__ import main as serve

    # uvicorn and httpx lines go through Rollcall's logging (redacted, JSON in JSON mode).
    load_settings("zoom-emulator")
    options = ["--port", str(port), "--log-level", log_level]
    options += ["--seed", str(seed)] if seed else []
    options += ["--state-file", str(state_file)] if state_file else []
    options += ["--reset"] if reset else []
    options += ["--speed", str(speed)] if speed is not None else []
    serve(options, own_logging=False)


@command
def webhook_inbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8766,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
) -> None:
    """Serve the demo's webhook inbox: records the requests webhook steps send (GET /_inbox lists them)."""
    from engine.demo.inbox import main as serve

    load_settings("webhook-inbox")
    serve(["--port", str(port), "--log-level", log_level])
