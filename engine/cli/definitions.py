"""``rollcall validate`` and ``rollcall schema``: workflow definitions on disk, no API needed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from engine.cli.errors import EXIT_FAILED, EXIT_OK, UsageProblem, command
from engine.cli.output import console


@command
def validate(path: Annotated[Path, typer.Argument(help="A definition file or a folder of them.")]) -> int:
    """Validate workflow definitions; print every error like a compiler and exit 1 if there is any."""
    from engine.dsl import format_errors, validate_path

    results = validate_path(path)
    errors = [error for result in results for error in result.errors]
    if errors:
        print(format_errors(errors))
        console.print(f"[red]{len(errors)} error(s) in {sum(1 for r in results if r.errors)} file(s)[/red]")
        return EXIT_FAILED
    console.print(f"{len(results)} definition(s) valid")
    return EXIT_OK


@command
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write it to this file.")] = None,
) -> None:
    """Print the JSON Schema of workflow definitions (for editors: validation and completion)."""
    from engine.dsl.schema import render_definition_schema

    text = render_definition_schema()
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"cannot write {output}: {exc.strerror}") from None
    console.print(f"wrote {output}", highlight=False)
