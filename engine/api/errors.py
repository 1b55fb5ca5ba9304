"""Every error the API answers with is JSON ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.crm.sqlite_transactions import is_database_locked
from engine.errors import RollcallError

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message, "details": details}},
        headers=headers,
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors():
        # The "body"/"query" prefix tells where; the rest is the field path the client sent.
        details.append(
            {
                "location": str(error["loc"][0]) if error["loc"] else None,
                "field": ".".join(str(part) for part in error["loc"][1:]),
                "message": error["msg"],
                "type": error["type"],
            }
        )
    return details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RollcallError)
    async def _rollcall_error(_request: Request, exc: RollcallError) -> JSONResponse:
        return error_response(exc.http_status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        fields = ", ".join(d["field"] or d["location"] or "?" for d in details)
        return error_response(422, "VALIDATION_ERROR", f"invalid request: {fields}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").lower()
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _database_error(request: Request, exc: OperationalError) -> JSONResponse:
        if is_database_locked(exc):
            # SQLite's write lock stayed taken past the busy timeout (a very long writer elsewhere).
            log.warning("database busy", path=request.url.path, method=request.method)
            return error_response(
                503, "DATABASE_BUSY", "the database is busy; retry shortly", headers={"Retry-After": "1"}
            )
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: log its type and stack (frames, never locals, headers or body;
        # engine/logging.py redacts the text), answer without one.
        log.exception("unhandled error", error_type=type(exc).__name__, path=request.url.path, method=request.method)
        return error_response(500, "INTERNAL_ERROR", "internal error; see the server log")
