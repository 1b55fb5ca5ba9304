"""The ``rollcall`` command."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from engine.config import LogFormat, Settings, describe_settings_error, get_settings
from engine.crm.cli import audit_command, contacts_app, settings_app
from engine.errors import ConfigurationError, InvalidInput, RollcallError
from engine.logging import configure_logging, is_configured, json_mode, redact_text, register_secret_values
from engine.tracing import configure_tracing

app = typer.Typer(
    name="rollcall",
    help="Rollcall: durable Zoom webinar workflows on Temporal.",
    no_args_is_help=True,
    # Never Rich tracebacks with local variables (they held keys and secrets): plain ones, logged.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="The CRM store's database.", no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(db_app, name="db")
app.add_typer(contacts_app, name="contacts")
app.add_typer(settings_app, name="settings")
app.command("audit")(audit_command)

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def _exit(code: int) -> NoReturn:
    # The Temporal SDK can abort during interpreter finalisation (docs/temporal.md, "SDK exit"):
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
            _print_error(f"rollcall: {exc.message}")
            _exit(2)
        except KeyboardInterrupt:
            _exit(130)
        _exit(0)

    return wrapper  # type: ignore[return-value]


def _print_error(message: str) -> None:
    """One line: red on the console, one JSON log line in JSON mode (``rollcall up``'s children)."""
    if json_mode():
        import structlog

        if not is_configured():  # the settings themselves failed
            command_name = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "cli"
            configure_logging(LogFormat.JSON, process=command_name)
        structlog.get_logger("rollcall").error(message)
    else:
        console.print(f"[red]{escape(redact_text(message))}[/red]", soft_wrap=True, highlight=False)


def _settings(process: str = "cli") -> Settings:
    """The settings; logging configured for ``process`` (the name its log lines carry), told every
    secret value it knows so no log line shows one."""
    from engine.known_secrets import configured_secret_values

    try:
        settings = get_settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_settings_error(exc)) from None
    configure_logging(settings.log_format, settings.log_level, process=process)
    register_secret_values(configured_secret_values(settings))
    return settings


@app.command()
@command
def up(
    reset_zoom_emulator: Annotated[
        bool, typer.Option(help="Start the demo Zoom emulator from its seed (forget .rollcall/zoom-emulator.json).")
    ] = False,
) -> None:
    """Start the whole stack: Temporal dev server (unless ROLLCALL_TEMPORAL_ADDRESS is set), worker and API."""
    from engine.stack import run_stack

    _exit(run_stack(_settings("up"), console, reset_zoom_emulator=reset_zoom_emulator))


@app.command()
@command
def worker() -> None:
    """Run a worker on Rollcall's task queue until SIGINT/SIGTERM."""
    from engine.api.auth import load_keyring
    from engine.crm.db import check_database, create_db_engine
    from worker import run_worker

    settings = _settings("worker")
    configure_tracing(settings, "worker")
    load_keyring(settings)  # #12.7: a key configuration that cannot work stops every server process alike
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

    settings = _settings("api")
    configure_tracing(settings, "api")
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

    _settings("zoom-emulator")  # uvicorn and httpx lines go through Rollcall's logging (redacted, JSON in JSON mode)
    options = ["--port", str(port), "--log-level", log_level]
    options += ["--seed", str(seed)] if seed else []
    options += ["--state-file", str(state_file)] if state_file else []
    options += ["--reset"] if reset else []
    options += ["--speed", str(speed)] if speed is not None else []
    serve(options, own_logging=False)


@app.command("webhook-inbox")
@command
def webhook_inbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8766,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
) -> None:
    """Serve the demo's webhook inbox: records the requests webhook steps send (GET /_inbox lists them)."""
    from engine.demo.inbox import main as serve

    _settings("webhook-inbox")
    serve(["--port", str(port), "--log-level", log_level])


@db_app.command("upgrade")
@command
def db_upgrade() -> None:
    """Apply the CRM store's migrations."""
    from engine.crm.db import create_db_engine, current_revision, upgrade_database

    db_engine = create_db_engine(_settings().database_url)
    upgrade_database(db_engine)
    console.print(f"database at revision {current_revision(db_engine)}")


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


# --- clients of the running API: enroll, workflows, schema (logic in engine/cli_enroll.py) ----------

ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="ROLLCALL_API_URL",
        help="The Rollcall API (default: the stack `rollcall up` runs, from .rollcall/stack.json; "
        "else http://ROLLCALL_API_HOST:ROLLCALL_API_PORT).",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="ROLLCALL_API_KEY",
        show_default=False,
        help="Bearer key (default: .rollcall/api-key, else the first configured key).",
    ),
]


@app.command()
@command
def enroll(
    key: Annotated[str, typer.Argument(help="The workflow definition key.")],
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="CSV with a header: email, first_name, last_name, contact_id; other columns become properties.",
        ),
    ] = None,
    email: Annotated[str | None, typer.Option(help="One contact by email (created or updated).")] = None,
    first_name: Annotated[str | None, typer.Option(help="The contact's first name.")] = None,
    last_name: Annotated[str | None, typer.Option(help="The contact's last name.")] = None,
    contact_id: Annotated[int | None, typer.Option(min=1, help="One existing contact by id.")] = None,
    properties: Annotated[
        list[str] | None, typer.Option("--property", help="NAME=VALUE property of the one contact (repeatable).")
    ] = None,
    trigger: Annotated[
        str, typer.Option(help="How the enrollment is recorded: manual (a person, the default) or api.")
    ] = "manual",
    report: Annotated[Path | None, typer.Option(help="Write every row's result to this CSV file.")] = None,
    chunk_size: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="Rows per bulk request (default: up to 500).")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, max=8, help="Bulk requests in flight at once.")] = 2,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Enroll contacts into a workflow through the running API: a CSV file with a progress bar and a
    summary, or one contact. Exit 0 when no row failed (refusals are results), 1 when some rows
    failed, 2 for usage or connection problems."""
    from engine.cli_enroll import enroll_command

    _exit(
        enroll_command(
            key=key,
            csv_path=csv_file,
            email=email,
            first_name=first_name,
            last_name=last_name,
            contact_id=contact_id,
            properties=properties or [],
            trigger=trigger,
            report=report,
            chunk_rows=chunk_size,
            parallel=parallel,
            api_url=api_url,
            api_key=api_key,
            settings=_settings(),
            out=Console(soft_wrap=False),
            err=console,
        )
    )


@app.command()
@command
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write it to this file.")] = None,
) -> None:
    """Print the JSON Schema of workflow definitions (for editors: validation and completion)."""
    from engine.cli_enroll import schema_text

    text = schema_text()
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RollcallError(f"cannot write {output}: {exc.strerror}") from None
    console.print(f"wrote {output}", highlight=False)


workflows_app = typer.Typer(
    help="Workflow definitions in the running API.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
app.add_typer(workflows_app, name="workflows")


@workflows_app.command("list")
@command
def workflows_list(api_url: ApiUrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Every workflow with its current version and state."""
    from engine.cli_enroll import api_client, list_workflows

    with api_client(api_url, api_key, _settings()) as client:
        list_workflows(client, Console())


@workflows_app.command("show")
@command
def workflows_show(
    key: Annotated[str, typer.Argument(help="The workflow key.")],
    yaml_only: Annotated[bool, typer.Option("--yaml", help="Print only the current YAML.")] = False,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """A workflow's state, its enrollments and action performance (per step: reached, succeeded,
    failed, waiting now, with a bar), its revisions and its current YAML."""
    from engine.cli_enroll import api_client, show_workflow
    from engine.cli_operator import show_stats

    with api_client(api_url, api_key, _settings()) as client:
        show_workflow(client, key, Console(), yaml_only=yaml_only, stats=show_stats)


@app.command()
@command
def enrollments(
    key: Annotated[str, typer.Argument(help="The workflow key.")],
    status: Annotated[
        str | None, typer.Option(help="active, completed, failed or cancelled.", show_default=False)
    ] = None,
    current_step: Annotated[str | None, typer.Option(help="Enrollments at this step now.", show_default=False)] = None,
    step: Annotated[
        str | None, typer.Option(help="Enrollments that ran this step (with --outcome: with that outcome).")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option(help="An outcome code, e.g. FAILED or HOST_CANNOT_REGISTER.", show_default=False)
    ] = None,
    trigger: Annotated[str | None, typer.Option(help="api, manual, event or workflow.", show_default=False)] = None,
    since: Annotated[str | None, typer.Option(help="Enrolled at or after (ISO 8601).", show_default=False)] = None,
    until: Annotated[str | None, typer.Option(help="Enrolled before (ISO 8601).", show_default=False)] = None,
    email: Annotated[bool, typer.Option("--email", help="Show e-mails (an operator key or above).")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many, newest first.")] = 50,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """A workflow's enrollments, newest first: who is in it, where, and how each ended."""
    from engine.cli_enroll import api_client
    from engine.cli_operator import EnrollmentQuery, list_enrollments

    query = EnrollmentQuery(status, current_step, step, outcome, trigger, since, until, email)
    with api_client(api_url, api_key, _settings()) as client:
        list_enrollments(client, key, query, Console(), limit=limit)


@app.command()
@command
def ui(
    key: Annotated[str | None, typer.Argument(help="A workflow key: its enrollments.", show_default=False)] = None,
    contact: Annotated[int | None, typer.Option(help="A contact id: its runs.", show_default=False)] = None,
    webinar: Annotated[str | None, typer.Option(help="A Zoom webinar id: its runs.", show_default=False)] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only the failed runs.")] = False,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the URL in a browser.")] = False,
    ui_url: Annotated[
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
    from engine.cli_operator import ui_command

    ui_command(
        key=key,
        contact=contact,
        webinar=webinar,
        failed=failed,
        open_browser=open_browser,
        ui=ui_url,
        settings=_settings(),
        out=Console(),
    )


@workflows_app.command("push")
@command
def workflows_push(
    file: Annotated[Path, typer.Argument(help="A definition YAML file.")],
    key: Annotated[str | None, typer.Option(help="The workflow key (default: the file's `key:`).")] = None,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Save a definition as the workflow's new revision (unchanged content keeps its version);
    validation errors print like `rollcall validate` and exit 1."""
    from engine.cli_enroll import api_client, push_workflow

    with api_client(api_url, api_key, _settings()) as client:
        code = push_workflow(client, file, Console(), console, key=key)
    _exit(code)


@workflows_app.command("enable")
@command
def workflows_enable(
    key: Annotated[str, typer.Argument(help="The workflow key.")],
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Accept new enrollments again."""
    from engine.cli_enroll import api_client, set_workflow_enabled

    with api_client(api_url, api_key, _settings()) as client:
        set_workflow_enabled(client, key, True, Console())


@workflows_app.command("disable")
@command
def workflows_disable(
    key: Annotated[str, typer.Argument(help="The workflow key.")],
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Refuse new enrollments (WORKFLOW_DISABLED); running ones go on."""
    from engine.cli_enroll import api_client, set_workflow_enabled

    with api_client(api_url, api_key, _settings()) as client:
        set_workflow_enabled(client, key, False, Console())


@app.command()
@command
def sync(
    webinar_id: Annotated[str, typer.Argument(help="The Zoom webinar id (digits).")],
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Start the sync, print its workflow id and how to follow it, exit.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Follow the webinar's current (or last) sync without starting one.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Stop waiting after SECONDS (the sync goes on; exit 3).")
    ] = 3600,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Sync one webinar now: follow the run live (registrants and attendees against Zoom's totals,
    what it waits for), then print its audit entry. Exit 0 when it succeeded, was partial or skipped
    on purpose; 1 when it failed; 3 when --timeout passed first (the sync goes on)."""
    from engine.cli_enroll import api_client
    from engine.sync.cli import follow_sync

    digits = webinar_id.replace(" ", "").replace("-", "")
    if not digits.isdigit():
        raise InvalidInput(f"{webinar_id!r} is not a Zoom webinar id (digits, spaces and dashes allowed)")
    if no_wait and follow:
        raise InvalidInput("--no-wait and --follow exclude each other")
    with api_client(api_url, api_key, _settings()) as client:
        _exit(follow_sync(client, digits, Console(), timeout=timeout, wait=not no_wait, start=not follow))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
