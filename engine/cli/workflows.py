"""``rollcall workflows list|show|push|enable|disable``: workflow definitions in the running API.

``show`` is the operator's view of a workflow (#14.2): its enrollments by status and, per step,
how many reached it (with a bar), succeeded, failed and wait there now; then its revisions and
its current YAML. ``push`` prints validation errors like ``rollcall validate`` and exits 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.cli.client import ApiClient, ApiError, ApiKeyOption, ApiUrlOption, api_client, error_of, workflow_path
from engine.cli.config import load_settings
from engine.cli.errors import EXIT_FAILED, EXIT_OK, UsageProblem, command
from engine.cli.output import console, short_time

if TYPE_CHECKING:
    from engine.dsl import ValidationError

workflows_app = typer.Typer(
    help="Workflow definitions in the running API.", no_args_is_help=True, pretty_exceptions_show_locals=False
)

BAR_WIDTH = 20
#: Step types as the stats table names them (the full names would crowd an 80-column terminal).
_SHORT_TYPES = {"add_contact_to_zoom_webinar": "webinar", "set_property": "property"}
_SHOWN_CODES = ("COMPLETED", "DELIVERED", "REGISTERED", "FAILED")
#: Columns of the steps table besides the step ids and the bar: type, 4 counts, borders.
_FIXED_WIDTH = 8 + 4 * 9 + 8 * 3 + 2


# --- rollcall workflows list ------------------------------------------------------------------------


def list_workflows(client: ApiClient, out: Console) -> None:
    """Every workflow; keys are never cut (names and sources wrap instead, #14.6)."""
    rows = client.call("GET", "/v1/workflows").json()
    table = Table(title="Workflows", title_justify="left")
    table.add_column("key", no_wrap=True, min_width=max((len(item["key"]) for item in rows), default=3))
    table.add_column("name", overflow="fold", ratio=2)
    table.add_column("business unit", overflow="fold", ratio=1)
    table.add_column("enabled", no_wrap=True)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("source", overflow="fold", ratio=2)
    table.add_column("updated", no_wrap=True)
    for item in rows:
        table.add_row(
            item["key"],
            escape(item["name"]),
            escape(item["business_unit"]),
            "yes" if item["enabled"] else "no",
            str(item["current_version"]),
            escape(item["source"]),
            short_time(item["updated_at"]),
        )
    out.print(table)
    if not rows:
        out.print("no workflows yet: `rollcall workflows push FILE`")


@workflows_app.command("list")
@command
def workflows_list(api_url: ApiUrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Every workflow with its current version and state."""
    with api_client(api_url, api_key, load_settings()) as client:
        list_workflows(client, Console())


# --- rollcall workflows show ------------------------------------------------------------------------


def bar(count: int, total: int, width: int = BAR_WIDTH) -> str:
    """``█████·····`` — ``count`` of ``total`` as a bar of ``width`` cells (at least one cell when
    anything at all is counted)."""
    if total <= 0:
        return "·" * width
    filled = round(width * count / total)
    if count > 0:
        filled = max(filled, 1)
    return "█" * filled + "·" * (width - filled)


def stats_tables(stats: dict[str, Any], width: int = 120) -> list[Table | str]:
    """The counts, then the action performance: per step reached (with a bar: the share of all
    enrolled), succeeded, failed and waiting now; then the other outcomes per step, in words."""
    counts = Table(title=f"Enrollments in {stats['key']} (v{stats['current_version']})", title_justify="left")
    names = ("enrolled", "active", "completed", "failed", "cancelled")
    for name in names:
        counts.add_column(name, justify="right", no_wrap=True)
    counts.add_row(*(f"{stats[name]:,}" for name in names))
    longest = max((len(step["step_id"]) for step in stats["steps"]), default=4)
    bar_width = max(5, min(BAR_WIDTH, width - _FIXED_WIDTH - longest))
    steps = Table(title="Steps: how many enrollments reached each", title_justify="left")
    steps.add_column("step", no_wrap=True)
    steps.add_column("type", no_wrap=True)
    for name in ("reached", "", "ok", "failed", "waiting"):
        steps.add_column(name, justify="right" if name else "left", no_wrap=True)
    enrolled = stats["enrolled"]
    others: list[str] = []
    for step in stats["steps"]:
        kind = step["type"] or "(removed)"
        steps.add_row(
            escape(step["step_id"]),
            escape(_SHORT_TYPES.get(kind, kind)),
            f"{step['reached']:,}",
            bar(step["reached"], enrolled, bar_width),
            f"{step['succeeded']:,}",
            f"[red]{step['failed']:,}[/red]" if step["failed"] else "0",
            f"{step['waiting']:,}",
        )
        other = sorted((code, count) for code, count in step["outcomes"].items() if code not in _SHOWN_CODES)
        if other:
            others.append(f"  {step['step_id']}: " + ", ".join(f"{code} {count:,}" for code, count in other))
    return [counts, steps, *(["other outcomes:", *others] if others else [])]


def show_stats(client: ApiClient, key: str, out: Console) -> None:
    stats = client.call("GET", workflow_path(key, "/stats")).json()
    for part in stats_tables(stats, out.width):
        if isinstance(part, str):
            out.print(escape(part), highlight=False)
        else:
            out.print(part)


def show_workflow(client: ApiClient, key: str, out: Console, *, yaml_only: bool) -> None:
    detail = client.call("GET", workflow_path(key)).json()
    if yaml_only:
        out.file.write(detail["yaml"])
        return
    table = Table(show_header=False, title=f"Workflow {key}", title_justify="left")
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name in ("key", "name", "business_unit", "enabled", "current_version", "source", "updated_at"):
        table.add_row(name, escape(str(detail[name])))
    out.print(table)
    show_stats(client, key, out)
    revisions = Table(title="Revisions", title_justify="left")
    revisions.add_column("version", justify="right", no_wrap=True)
    revisions.add_column("content hash", overflow="fold")
    revisions.add_column("created", no_wrap=True)
    for revision in detail["revisions"]:
        revisions.add_row(str(revision["version"]), revision["content_hash"], short_time(revision["created_at"]))
    out.print(revisions)
    out.print(f"--- current YAML (version {detail['current_version']}) ---", highlight=False, markup=False)
    out.file.write(detail["yaml"] if detail["yaml"].endswith("\n") else detail["yaml"] + "\n")


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
    with api_client(api_url, api_key, load_settings()) as client:
        show_workflow(client, key, Console(), yaml_only=yaml_only)


# --- rollcall workflows push ------------------------------------------------------------------------


def _definition_key(text: str) -> str | None:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(document, dict) and isinstance(document.get("key"), str):
        key: str = document["key"]
        return key
    return None


def _read_definition(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageProblem(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"{path}: cannot read it as UTF-8 text ({exc})") from None


def _print_invalid(errors: Sequence[ValidationError], path: Path, err: Console) -> int:
    """The errors as ``rollcall validate`` prints them; status 1."""
    from engine.dsl import format_errors

    print(format_errors(errors), flush=True)
    err.print(f"[red]{len(errors)} error(s) in {escape(str(path))}; nothing was pushed[/red]")
    return EXIT_FAILED


def _refused_definition(failure: ApiError, path: Path, key: str) -> list[ValidationError] | None:
    """The validation errors of the API's ``INVALID_DEFINITION`` answer, naming the pushed file;
    None for any other refusal."""
    from engine.dsl import ErrorCode, ValidationError

    if failure.api_code != "INVALID_DEFINITION" or not isinstance(failure.details, list):
        return None
    sent_as = f"{key}.yaml"
    errors = []
    for item in failure.details:
        try:
            code = ErrorCode(item["code"])
        except (KeyError, ValueError):
            code = ErrorCode.INVALID_VALUE
        errors.append(
            ValidationError(
                file=str(path) if item.get("file") in (sent_as, None) else str(item["file"]),
                line=item.get("line"),
                column=item.get("column"),
                path=str(item.get("path", "$")),
                code=code,
                message=str(item.get("message", "")),
            )
        )
    return errors


def push_workflow(client: ApiClient, path: Path, out: Console, err: Console, *, key: str | None = None) -> int:
    """PUT the file as the workflow's new revision. Validation errors print like ``rollcall validate``
    (with this file's name) and return 1."""
    from engine.dsl import validate_text

    text = _read_definition(path)
    key = key or _definition_key(text)
    if key is None:
        # No key to send it to: the local validator says why (YAML syntax, no mapping, no key).
        local = validate_text(text, str(path)).errors
        if not local:
            raise UsageProblem(f"{path}: the definition has no key; pass --key")
        return _print_invalid(local, path, err)
    response = client.send(
        "PUT", workflow_path(key), content=text.encode("utf-8"), headers={"Content-Type": "application/yaml"}
    )
    if response.status_code >= 400:
        failure = error_of(response)
        errors = _refused_definition(failure, path, key) if response.status_code == 422 else None
        if errors is None:
            raise failure
        return _print_invalid(errors, path, err)
    saved = response.json()
    if response.status_code == 201:
        out.print(
            f"workflow {key}: version {saved['current_version']} saved from {path}", highlight=False, markup=False
        )
    else:
        out.print(f"workflow {key}: unchanged, still version {saved['current_version']}", highlight=False, markup=False)
    return EXIT_OK


@workflows_app.command("push")
@command
def workflows_push(
    file: Annotated[Path, typer.Argument(help="A definition YAML file.")],
    key: Annotated[str | None, typer.Option(help="The workflow key (default: the file's `key:`).")] = None,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> int:
    """Save a definition as the workflow's new revision (unchanged content keeps its version);
    validation errors print like `rollcall validate` and exit 1."""
    with api_client(api_url, api_key, load_settings()) as client:
        return push_workflow(client, file, Console(), console, key=key)


# --- rollcall workflows enable|disable ------------------------------------------------------------------


def set_workflow_enabled(client: ApiClient, key: str, enabled: bool, out: Console) -> None:
    saved = client.call("POST", workflow_path(key, "/enable" if enabled else "/disable")).json()
    state = "enabled" if saved["enabled"] else "disabled (running enrollments go on; new ones are refused)"
    out.print(f"workflow {key} v{saved['current_version']}: {state}", highlight=False, markup=False)


@workflows_app.command("enable")
@command
def workflows_enable(
    key: Annotated[str, typer.Argument(help="The workflow key.")],
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Accept new enrollments again."""
    with api_client(api_url, api_key, load_settings()) as client:
        set_workflow_enabled(client, key, True, Console())


@workflows_app.command("disable")
@command
def workflows_disable(
    key: Annotated[str, typer.Argument(help="The workflow key.")],
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Refuse new enrollments (WORKFLOW_DISABLED); running ones go on."""
    with api_client(api_url, api_key, load_settings()) as client:
        set_workflow_enabled(client, key, False, Console())
