"""Where the local stack is (#14.6): ``rollcall up`` records its URLs in ``.rollcall/stack.json``
(0600) once the API answers, and removes the file when it stops; CLI commands read it when no
``--api-url``/``ROLLCALL_API_URL`` is given, so a stack started on another port is found without
being told. A file left by an ``up`` that is no longer running (killed) is ignored."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.config import STATE_DIR

STACK_FILE = "stack.json"


@dataclass(frozen=True)
class StackInfo:
    api_url: str
    temporal_address: str
    temporal_namespace: str
    #: None when Temporal is not the embedded dev server (``ROLLCALL_TEMPORAL_ADDRESS`` set).
    temporal_ui_url: str | None = None
    #: The ``rollcall up`` process that wrote the file.
    pid: int = 0


def stack_file(state_dir: Path = STATE_DIR) -> Path:
    return state_dir / STACK_FILE


def record_stack(info: StackInfo, state_dir: Path = STATE_DIR) -> Path:
    """Write the file, readable by its owner only (it names no secret, but says what runs where)."""
    path = stack_file(state_dir)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        json.dump(asdict(info), file, indent=2)
        file.write("\n")
    temporary.chmod(0o600)
    temporary.replace(path)
    return path


def forget_stack(state_dir: Path = STATE_DIR, *, pid: int | None = None) -> None:
    """Remove the file (only if ``pid`` wrote it, when given): the stack has stopped."""
    path = stack_file(state_dir)
    found = read_stack(state_dir, alive_only=False)
    if found is not None and pid is not None and found.pid != pid:
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


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
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if alive_only and not _alive(info.pid):
        return None
    return info
