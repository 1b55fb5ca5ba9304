"""Liveness and readiness: no authentication (the Zoom webhook route is authenticated by Zoom's signature)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from engine.api.deps import TemporalGateway
from engine.crm.db import check_database
from engine.errors import ConfigurationError
from engine.failpoints import failpoint

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive: always ``{"status": "ok"}`` (no key, no dependency checked)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is unreachable"}})
async def readyz(request: Request) -> JSONResponse:
    """Whether the database and the Temporal server can be reached: 200 ``{"ready": true, "checks"}``,
    or 503 with the failing check and its reason (no key)."""
    failpoint("api.readyz")  # tests: an unexpected error in a request (a 500), on purpose
    checks: dict[str, Any] = {}
    engine: Engine = request.app.state.db_engine
    try:
        await asyncio.to_thread(check_database, engine)
        checks["database"] = {"ok": True}
    except ConfigurationError as exc:
        checks["database"] = {"ok": False, "reason": exc.message}
    gateway: TemporalGateway = request.app.state.temporal
    try:
        client = await gateway.client()
        await asyncio.wait_for(client.service_client.check_health(), timeout=5)
        checks["temporal"] = {"ok": True}
    except (ConfigurationError, RuntimeError, TimeoutError) as exc:
        checks["temporal"] = {"ok": False, "reason": getattr(exc, "message", str(exc)) or type(exc).__name__}
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, "checks": checks})
