"""The error types Rollcall raises for anything a user can cause.

Every error carries a stable ``code`` (the contract with API clients and scripts), a human
message, optional structured ``details`` and the HTTP status the API answers with.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RollcallError(Exception):
    code: ClassVar[str] = "ROLLCALL_ERROR"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFound(RollcallError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(RollcallError):
    code = "CONFLICT"
    http_status = 409


class InvalidInput(RollcallError):
    code = "VALIDATION_ERROR"
    http_status = 422


class ConfigurationError(RollcallError):
    """The deployment's configuration cannot work (bad database URL, unreachable Temporal)."""

    code = "CONFIGURATION_ERROR"
    http_status = 503
