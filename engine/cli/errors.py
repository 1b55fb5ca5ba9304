"""The one exit-code policy of every ``rollcall`` command (README, "Commands"):

- ``0`` done;
- ``1`` the command ran and what it did failed: definitions that are not valid (``validate``,
  ``workflows push``), rows that failed (``enroll``; a refusal is a result, not a failure), a sync
  that failed (``sync``);
- ``2`` a usage, input, configuration or connection problem, or a refusal of the API or the store:
  one line on stderr (``rollcall: …``), never a traceback;
- ``3`` ``sync --timeout`` stopped waiting (the sync goes on);
- ``130`` interrupted (Ctrl-C).

Every command runs under ``command``: a ``RollcallError`` becomes that one line (``error_line``)
and status 2, and the process leaves through ``finish``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

from engine.cli.output import print_error
from engine.errors import ConfigurationError, RollcallError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
#: ``--timeout`` reached: the command stops waiting, the sync does not stop.
EXIT_STILL_RUNNING = 3
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


class CliProblem(RollcallError):
    """A problem of the command line itself (its usage, its input, reaching the API): the message
    says it all, so the line shows no code."""


class UsageProblem(CliProblem):
    code = "USAGE"


def error_line(exc: RollcallError) -> str:
    """The one line of an error: ``rollcall: message``; what the store refused keeps its stable
    code in front (``rollcall: CONTACT_NOT_FOUND: …``), for scripts."""
    if isinstance(exc, CliProblem | ConfigurationError):
        return f"rollcall: {exc.message}"
    return f"rollcall: {exc.code}: {exc.message}"


def finish(status: int) -> NoReturn:
    """Leave with ``status``. The Temporal SDK can abort during interpreter finalisation
    (docs/temporal.md, "SDK exit"): flush and leave without running finalisers."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def command(func: F) -> F:
    """Run a command and leave with the status it returns (None: 0); a RollcallError becomes one
    line and status 2, Ctrl-C status 130 — never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            status = func(*args, **kwargs)
        except RollcallError as exc:
            print_error(error_line(exc))
            finish(EXIT_USAGE)
        except KeyboardInterrupt:
            finish(EXIT_INTERRUPTED)
        finish(EXIT_OK if status is None else int(status))

    return wrapper  # type: ignore[return-value]
