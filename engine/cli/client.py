"""The client of the running API that ``rollcall enroll``, ``workflows``, ``enrollments`` and ``sync`` share.

These commands never open the store: enrolling starts Temporal workflows, which is the API's
job. They find the API at ``--api-url`` (``ROLLCALL_API_URL``, else the one ``rollcall up``
recorded in ``.rollcall/stack.json``, else ``http://{ROLLCALL_API_HOST}:{ROLLCALL_API_PORT}``)
and authenticate with ``--api-key`` (``ROLLCALL_API_KEY``), else the key ``rollcall up`` keeps in
``.rollcall/api-key``, else the configured key (``ROLLCALL_API_KEYS``, ``ROLLCALL_API_KEYS_FILE``,
``ROLLCALL_ADMIN_API_KEYS``) with the highest role.

An answer the API refuses, or no answer at all, is one line and status 2 (``engine.cli.errors``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from engine.api.auth import configured_keys
from engine.cli.errors import CliProblem, UsageProblem
from engine.cli.stack_file import read_stack
from engine.config import STATE_DIR, Settings

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


class ApiUnavailable(CliProblem):
    code = "API_UNAVAILABLE"


class ApiError(CliProblem):
    """A non-success answer of the API, with its status and stable error code (the message
    starts with that code)."""

    code = "API_ERROR"

    def __init__(self, status: int, api_code: str, message: str, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.api_code = api_code


def loopback_api_url(settings: Settings) -> str:
    """The API of ``ROLLCALL_API_HOST``/``ROLLCALL_API_PORT`` from this machine (a wildcard bind
    address is reached on loopback)."""
    host = settings.api_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.api_port}"


def default_api_url(settings: Settings, state_dir: Path = STATE_DIR) -> str:
    """The API of this machine's stack: the one ``rollcall up`` recorded in ``.rollcall/stack.json``
    while it runs, else ``loopback_api_url``."""
    stack = read_stack(state_dir)
    return stack.api_url if stack is not None else loopback_api_url(settings)


def resolve_api_key(explicit: str | None, settings: Settings, state_dir: Path = STATE_DIR) -> str:
    """``--api-key``/``ROLLCALL_API_KEY``, else ``.rollcall/api-key``, else the configured key with the
    highest role (the first of those)."""
    if explicit and explicit.strip():
        return explicit.strip()
    path = state_dir / "api-key"
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except OSError:
        stored = ""
    if stored:
        return stored
    keys = configured_keys(settings)
    if keys:
        strongest = max(keys, key=lambda configured: configured.role.rank)
        return strongest.secret.get_secret_value()
    raise UsageProblem(
        "no API key: pass --api-key, set ROLLCALL_API_KEY, or start the stack with `rollcall up` "
        f"(which keeps one in {path})"
    )


def error_of(response: httpx.Response) -> ApiError:
    """The API's error answer (``{"error": {code, message, details}}``) as an ApiError."""
    try:
        body = response.json()
        error = body["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = f"HTTP_{response.status_code}", response.text.strip()[:200] or "no body", None
    if response.status_code == 401:
        message = f"the API refused the key ({message}); pass --api-key or set ROLLCALL_API_KEY"
    return ApiError(response.status_code, code, f"{code}: {message}", details)


class ApiClient:
    """A thin synchronous client of the Rollcall API (thread-safe: httpx.Client is)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "rollcall-cli"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ApiUnavailable(
                f"cannot reach the Rollcall API at {self.base_url} ({reason}); is the stack up? "
                "(--api-url or ROLLCALL_API_URL)"
            ) from None

    def call(self, method: str, path: str, *, ok: Iterable[int] = (200,), **kwargs: Any) -> httpx.Response:
        response = self.send(method, path, **kwargs)
        if response.status_code not in tuple(ok):
            raise error_of(response)
        return response


def workflow_path(key: str, suffix: str = "") -> str:
    return f"/v1/workflows/{quote(key, safe='')}{suffix}"


def api_client(api_url: str | None, api_key: str | None, settings: Settings) -> ApiClient:
    """The client of ``--api-url`` (else ``default_api_url``) with ``--api-key`` (else ``resolve_api_key``)."""
    # httpx logs every request at INFO: noise between the progress bar and the one-line errors.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return ApiClient(api_url or default_api_url(settings), resolve_api_key(api_key, settings))
