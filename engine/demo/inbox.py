"""The demo's webhook inbox: where the example definitions' webhooks land under ``rollcall up``.

A demo machine has no CRM, e-mail service or ops channel to call, and often no internet. So that
the example definitions run to their end in the demo (not into DNS errors), ``rollcall up``
starts this inbox on loopback and points the definitions' URL secrets at it, unless they are
configured (``DEMO_SECRETS``). It records every request it receives — method, path, query,
headers (credentials masked), body — and answers 200, or the status queued for that path;
``GET /_inbox`` lists them, newest last (``?path=`` filters by prefix, ``?limit=``).

Kept in memory (the last ``capacity`` requests); never part of a production deployment.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

#: Secrets the example definitions use, and what the demo gives them when nobody configured
#: them: URLs into the inbox (``{inbox}`` is its base URL), stand-in credentials.
DEMO_SECRETS: dict[str, str] = {
    "MARKETING_HOOKS_URL": "{inbox}/hooks/marketing",
    "CRM_HOOKS_URL": "{inbox}/hooks/crm",
    "EMAIL_API_URL": "{inbox}/hooks/email",
    "OPS_ALERTS_URL": "{inbox}/hooks/ops-alerts",
    "MARKETING_HOOK_TOKEN": "demo-marketing-token",
    "CRM_HOOK_TOKEN": "demo-crm-token",
    "EMAIL_API_KEY": "demo-email-key",
}

_MASKED = {"authorization", "x-api-key", "proxy-authorization", "cookie"}


def _masked(name: str, value: str) -> str:
    if name.lower() not in _MASKED:
        return value
    scheme, _, rest = value.partition(" ")
    return f"{scheme} …" if rest else "…"


class Inbox:
    def __init__(self, capacity: int = 1000) -> None:
        self._requests: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self._statuses: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def record(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, int]:
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        with self._lock:
            entry = {
                "id": next(self._ids),
                "received_at": datetime.now(UTC).isoformat(),
                "method": method,
                "path": path,
                "query": query,
                "headers": {name: _masked(name, value) for name, value in headers.items()},
                "body": parsed,
            }
            self._requests.append(entry)
            queued = self._statuses.get(path)
            status = queued.pop(0) if queued else 200
            return int(entry["id"]), status

    def listing(self, prefix: str = "", limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            found = [entry for entry in self._requests if str(entry["path"]).startswith(prefix)]
        return found[-limit:] if limit > 0 else []

    def queue_statuses(self, path: str, statuses: Sequence[int]) -> None:
        with self._lock:
            self._statuses.setdefault(path, []).extend(statuses)


def create_inbox_app(inbox: Inbox | None = None) -> FastAPI:
    inbox = inbox or Inbox()
    app = FastAPI(title="Rollcall demo webhook inbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.inbox = inbox

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_inbox")
    async def listing(path: str = "", limit: int = 100) -> dict[str, Any]:
        requests = inbox.listing(path, max(0, min(limit, 1000)))
        return {"count": len(requests), "requests": requests}

    @app.post("/_inbox/statuses")
    async def queue(request: Request) -> JSONResponse:
        """Answer the next requests to ``path`` with these statuses (to see retries in the demo)."""
        try:
            data = await request.json()
            path, statuses = str(data["path"]), [int(s) for s in data["statuses"]]
            if not all(100 <= s <= 599 for s in statuses):
                raise ValueError("statuses are HTTP status codes")
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": {"code": "INVALID_REQUEST", "message": str(exc)}}, status_code=422)
        inbox.queue_statuses(path, statuses)
        return JSONResponse({"path": path, "queued": statuses})

    @app.api_route("/hooks/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def receive(request: Request, rest: str) -> JSONResponse:
        body = await request.body()
        headers = {name: value for name, value in request.headers.items()}
        request_id, status = inbox.record(request.method, request.url.path, request.url.query, headers, body)
        return JSONResponse({"received": request_id}, status_code=status)

    return app


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="rollcall webhook-inbox", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    # log_config=None: uvicorn's lines go through Rollcall's logging (``rollcall webhook-inbox``).
    uvicorn.run(
        create_inbox_app(),
        host="127.0.0.1",
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        log_config=None,
    )
