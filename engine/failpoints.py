"""Failpoints: named places where a test makes Rollcall fail on purpose (crash and compensation tests).

Off by default and close to free: ``failpoint(name)`` returns after one truth test of an empty
dict when nothing is armed. Two ways to arm one:

- in the process running the code (an in-process test worker): ``arm(name, action)``;
  ``disarm_all()`` resets;
- in another process (``rollcall worker`` started by a test): the environment variable
  ``ROLLCALL_FAILPOINTS="name=action[*times][,name=action…]"``, read once at import.

Actions:

- ``kill``: SIGKILL the current process on the spot (no cleanup, no flushing: a crash);
- ``error``: raise ``FailpointError`` marked transient (the caller retries it);
- ``permanent-error``: raise ``FailpointError`` marked permanent (the caller must not retry it).

``*times`` (e.g. ``error*2``) fires that many times, then the failpoint disarms itself; without it
the failpoint fires every time. Failpoints in use (grep ``failpoint(`` for the list):

- ``zoom_registration.after_add_registrant``: Zoom accepted the registration, the activity has not
  returned it yet (nothing is in the CRM store);
- ``zoom_registration.before_commit``: the registration's CRM effects are written, not committed.
- ``enrollment.after_admission``: enrollments are admitted (committed in the store), their runs
  not started yet (what a crash of the API in the middle of a request leaves).
- ``api.readyz``: ``GET /readyz`` raises before its checks (an unexpected error answered 500, to
  show what the logs keep of one).
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from enum import StrEnum

ENV_VARIABLE = "ROLLCALL_FAILPOINTS"


class FailpointAction(StrEnum):
    KILL = "kill"
    ERROR = "error"
    PERMANENT_ERROR = "permanent-error"


class FailpointError(Exception):
    """Raised by an armed ``error`` or ``permanent-error`` failpoint."""

    def __init__(self, name: str, *, permanent: bool) -> None:
        kind = "permanent" if permanent else "transient"
        super().__init__(f"failpoint {name!r} fired ({kind} failure injected on purpose)")
        self.name = name
        self.permanent = permanent


@dataclass
class _Armed:
    action: FailpointAction
    remaining: int | None


_armed: dict[str, _Armed] = {}
_lock = threading.Lock()


def parse_spec(spec: str) -> dict[str, tuple[FailpointAction, int | None]]:
    """``"a=kill,b=error*2"`` → ``{"a": (KILL, None), "b": (ERROR, 2)}``; ValueError when malformed."""
    parsed: dict[str, tuple[FailpointAction, int | None]] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, action_text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{ENV_VARIABLE}: {item!r} is not name=action")
        action_text, star, times_text = action_text.partition("*")
        try:
            action = FailpointAction(action_text.strip())
        except ValueError:
            choices = ", ".join(a.value for a in FailpointAction)
            raise ValueError(f"{ENV_VARIABLE}: unknown action {action_text!r} (one of {choices})") from None
        times = int(times_text) if star else None
        if times is not None and times < 1:
            raise ValueError(f"{ENV_VARIABLE}: {item!r} must fire at least once")
        parsed[name.strip()] = (action, times)
    return parsed


def arm(name: str, action: FailpointAction | str, *, times: int | None = None) -> None:
    with _lock:
        _armed[name] = _Armed(FailpointAction(action), times)


def disarm_all() -> None:
    with _lock:
        _armed.clear()


def failpoint(name: str) -> None:
    """Do what the failpoint ``name`` is armed to do; nothing (and nearly no work) when it is not."""
    if not _armed:
        return
    with _lock:
        entry = _armed.get(name)
        if entry is None:
            return
        if entry.remaining is not None:
            entry.remaining -= 1
            if entry.remaining <= 0:
                del _armed[name]
        action = entry.action
    if action is FailpointAction.KILL:
        os.kill(os.getpid(), signal.SIGKILL)
    raise FailpointError(name, permanent=action is FailpointAction.PERMANENT_ERROR)


def _load_environment() -> None:
    spec = os.environ.get(ENV_VARIABLE, "")
    for name, (action, times) in parse_spec(spec).items():
        arm(name, action, times=times)


_load_environment()
