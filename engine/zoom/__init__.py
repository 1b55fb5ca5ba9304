"""Zoom: the async API client, typed errors, webhook verification (``webhooks``) and the emulator
(``emulator``). Knows nothing of Temporal or the CRM.

The names below load on first use (PEP 562): importing ``engine.zoom.settings`` (every command
reads the settings) does not import the client, httpx and the metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy_names import lazy_names

if TYPE_CHECKING:
    from engine.zoom.client import PAGE_SIZE, Page, RegistrantRef, ZoomClient, collect
    from engine.zoom.errors import (
        FieldError,
        RateLimitType,
        ZoomApiError,
        ZoomAuthError,
        ZoomError,
        ZoomHostCannotRegister,
        ZoomNoRecording,
        ZoomNotFound,
        ZoomPageTokenExpired,
        ZoomRateLimited,
        ZoomRegistrationDisabled,
        ZoomReportTooOld,
        ZoomResponseError,
        ZoomServerError,
        ZoomTimeout,
        ZoomTokenExpired,
        ZoomTransportError,
        ZoomValidationError,
        ZoomWebinarOver,
    )
    from engine.zoom.models import (
        ZOOM_EVENTS_CREATION_SOURCE,
        ApprovalType,
        NewRegistrant,
        ParticipantSession,
        PastInstance,
        PastParticipant,
        Recording,
        RecordingFile,
        Registrant,
        RegistrantAction,
        RegistrantCreated,
        RegistrantStatus,
        RegistrationQuestions,
        Webinar,
        WebinarListType,
        WebinarSummary,
        ZoomUser,
    )
    from engine.zoom.ratelimit import AccountRateLimiter, RateLabel, RateLimiterRegistry
    from engine.zoom.settings import ZoomConnectionConfig, ZoomPlan, ZoomSettings
    from engine.zoom.uuids import encode_path_id

#: Each public name and the module of ``engine.zoom`` that defines it.
_HOMES = {
    "PAGE_SIZE": "client",
    "Page": "client",
    "RegistrantRef": "client",
    "ZoomClient": "client",
    "collect": "client",
    "FieldError": "errors",
    "RateLimitType": "errors",
    "ZoomApiError": "errors",
    "ZoomAuthError": "errors",
    "ZoomError": "errors",
    "ZoomHostCannotRegister": "errors",
    "ZoomNoRecording": "errors",
    "ZoomNotFound": "errors",
    "ZoomPageTokenExpired": "errors",
    "ZoomRateLimited": "errors",
    "ZoomRegistrationDisabled": "errors",
    "ZoomReportTooOld": "errors",
    "ZoomResponseError": "errors",
    "ZoomServerError": "errors",
    "ZoomTimeout": "errors",
    "ZoomTokenExpired": "errors",
    "ZoomTransportError": "errors",
    "ZoomValidationError": "errors",
    "ZoomWebinarOver": "errors",
    "ZOOM_EVENTS_CREATION_SOURCE": "models",
    "ApprovalType": "models",
    "NewRegistrant": "models",
    "ParticipantSession": "models",
    "PastInstance": "models",
    "PastParticipant": "models",
    "Recording": "models",
    "RecordingFile": "models",
    "Registrant": "models",
    "RegistrantAction": "models",
    "RegistrantCreated": "models",
    "RegistrantStatus": "models",
    "RegistrationQuestions": "models",
    "Webinar": "models",
    "WebinarListType": "models",
    "WebinarSummary": "models",
    "ZoomUser": "models",
    "AccountRateLimiter": "ratelimit",
    "RateLabel": "ratelimit",
    "RateLimiterRegistry": "ratelimit",
    "ZoomConnectionConfig": "settings",
    "ZoomPlan": "settings",
    "ZoomSettings": "settings",
    "encode_path_id": "uuids",
}

__all__ = [
    "PAGE_SIZE",
    "ZOOM_EVENTS_CREATION_SOURCE",
    "AccountRateLimiter",
    "ApprovalType",
    "FieldError",
    "NewRegistrant",
    "Page",
    "ParticipantSession",
    "PastInstance",
    "PastParticipant",
    "RateLabel",
    "RateLimitType",
    "RateLimiterRegistry",
    "Recording",
    "RecordingFile",
    "Registrant",
    "RegistrantAction",
    "RegistrantCreated",
    "RegistrantRef",
    "RegistrantStatus",
    "RegistrationQuestions",
    "Webinar",
    "WebinarListType",
    "WebinarSummary",
    "ZoomApiError",
    "ZoomAuthError",
    "ZoomClient",
    "ZoomConnectionConfig",
    "ZoomError",
    "ZoomHostCannotRegister",
    "ZoomNoRecording",
    "ZoomNotFound",
    "ZoomPageTokenExpired",
    "ZoomPlan",
    "ZoomRateLimited",
    "ZoomRegistrationDisabled",
    "ZoomReportTooOld",
    "ZoomResponseError",
    "ZoomServerError",
    "ZoomSettings",
    "ZoomTimeout",
    "ZoomTokenExpired",
    "ZoomTransportError",
    "ZoomUser",
    "ZoomValidationError",
    "ZoomWebinarOver",
    "collect",
    "encode_path_id",
]


__getattr__ = lazy_names(__name__, _HOMES)
