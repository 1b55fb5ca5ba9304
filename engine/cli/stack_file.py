"""Where the local stack is (#14.6): ``rollcall up`` records its URLs in ``.rollcall/stack.json``
(0600) once the API answers, and removes the file when it stops; CLI commands read it when no
``--api-url``/``ROLLCALL_API_URL`` is given, so a stack started on another port is found without
being told. A file left by an ``up`` that is no longer running (killed) is ignored.

The same addresses go to ``.rollcall/stack.env`` as shell variables (``API``, ``TEMPORAL_UI``,
``ZOOM``, ``INBOX``) for people: the README walk-through starts with ``. .rollcall/stack.env``."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.config import STATE_DIR

STACK_FILE = "stack.json"
STACK_ENV_FILE = "stack.env"


@dataclass(frozen=True)
class StackInfo:
    api_url: str
    temporal_address: str
    temporal_namespace: str
    #: None when Temporal is not the embedded dev server (``ROLLCALL_TEMPORAL_ADDRESS`` set).
    temporal_ui_url: str | None = None
    #: The ``rollcall up`` process that wrote the file.
    pid: int = 0
    #: The built-in Zoom emulator and the demo webhook inbox, when ``up`` started them.
    zoom_url: str | None = None
    inbox_url: str | None = None

    def shell_variables(self) -> dict[str, str]:
        named = {
            "API": self.api_url,
            "TEMPORAL_UI": self.temporal_ui_url,
            "ZOOM": self.zoom_url,
            "INBOX": self.inbox_url,
        }
        return {name: value for name, value in named.items() if value}


def stack_file(state_dir: Path = STATE_DIR) -> Path:
    return state_dir / STACK_FILE


def stack_env_file(state_dir: Path = STATE_DIR) -> Path:
    return state_dir / STACK_ENV_FILE


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by its owner only (it names no secret, but says what
    runs where)."""
    temporary = path.with_suffix(".tmp")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(text)
    temporary.chmod(0o600)
    temporary.replace(path)


def record_stack(info: StackInfo, state_dir: Path = STATE_DIR) -> Path:
    """Write ``stack.json`` and ``stack.env``; returns the first."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(stack_file(state_dir), json.dumps(asdict(info), indent=2) + "\n")
    lines = ["# Written by `rollcall up`: the addresses of this stack (`. .rollcall/stack.env`)."]
    lines += [f"{name}={value}" for name, value in info.shell_variables().items()]  # URLs: no quoting needed
    _write_private(stack_env_file(state_dir), "\n".join(lines) + "\n")
    return stack_file(state_dir)


def forget_stack(state_dir: Path = STATE_DIR, *, pid: int | None = None) -> None:
    """Remove the file (only if ``pid`` wrote it, when given): the stack has stopped."""
    path = stack_file(state_dir)
    found = read_stack(state_dir, alive_only=False)
    if found is not None and pid is not None and found.pid != pid:
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    stack_env_file(state_dir).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def read_stack(state_dir: Path = STATE_DIR, *, alive_only: bool = True) -> StackInfo | None:
    """The running stack's URLs, or None (no file, not ours to read, or its ``up`` has gone)."""
    try:
        data = json.loads(stack_file(state_dir).read_text(encoding="utf-8"))
        info = StackInfo(
            api_url=str(data["api_url"]),
            temporal_address=str(data["temporal_address"]),
            temporal_namespace=str(data["temporal_namespace"]),
            temporal_ui_url=str(data["temporal_ui_url"]) if data.get("temporal_ui_url") else None,
            pid=int(data.get("pid") or 0),
            zoom_url=str(data["zoom_url"]) if data.get("zoom_url") else None,
            inbox_url=str(data["inbox_url"]) if data.get("inbox_url") else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if alive_only and not _alive(info.pid):
        return None
    return info
