"""What commands print besides their results: the error line, on the terminal or as a JSON log line.

Tables fit the terminal: keys and ids are never cut (they are what one copies into the next
command); descriptions wrap instead.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from engine.config import LogFormat
from engine.logging import configure_logging, is_configured, json_mode, redact_text

#: Progress, summaries' notes and errors: stderr, so stdout holds only the results.
console = Console(stderr=True)


def print_error(message: str) -> None:
    """One line: red on the console, one JSON log line in JSON mode (``rollcall up``'s children)."""
    if json_mode():
        import structlog

        if not is_configured():  # the settings themselves failed
            command_name = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "cli"
            configure_logging(LogFormat.JSON, process=command_name)
        structlog.get_logger("rollcall").error(message)
    else:
        console.print(f"[red]{escape(redact_text(message))}[/red]", soft_wrap=True, highlight=False)


def short_time(value: Any) -> str:
    """``2024-05-01T09:30:12.345+00:00`` → ``2024-05-01 09:30`` (anything else as it is)."""
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 and text[10] == "T" else text
