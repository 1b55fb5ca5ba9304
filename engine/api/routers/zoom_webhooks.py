"""``POST /v1/zoom/webhooks/{connection}``: Zoom's webhook deliveries for one configured connection.

Zoom cannot send Rollcall's bearer key, so ``engine.api.access.ROUTE_ROLES`` lists this route as
public: it is authenticated by the request's signature (``x-zm-signature`` over the raw body with the
connection's ``webhook_secret_token``, ``x-zm-request-timestamp`` within 300 s; see
``engine.zoom.webhooks``). The answers:

- unknown connection, or one without a ``webhook_secret_token``: 404 ``ZOOM_CONNECTION_NOT_FOUND``
  (the answer does not repeat the name it was sent);
- signature or timestamp missing, stale or wrong: 401 with the verification error's stable code
  (``MISSING_SIGNATURE``, ``MISSING_TIMESTAMP``, ``BAD_TIMESTAMP``, ``STALE_TIMESTAMP``,
  ``BAD_SIGNATURE``); a correctly signed body that is not a Zoom event: 400 ``MALFORMED_BODY``;
  a body over 1 MiB: 413 ``PAYLOAD_TOO_LARGE`` (``AccessMiddleware``, while the body streams in,
  before this route runs). None of these writes anything;
- ``endpoint.url_validation``: 200 ``{"plainToken", "encryptedToken"}`` as Zoom requires, nothing written;
- any other event: recorded in ``zoom_webhook_events`` (once per de-duplication key; a redelivery
  only counts up ``deliveries``), then 200 ``{"status": "recorded" | "duplicate", "event", "id"}``.

Hook for the webinar sync (issue #7): ``app.state.webhook_dispatch`` is ``None`` by default. Set it
to an async callable ``(connection_name, event_row) -> None`` and it is awaited after a **new**
event is recorded (never for a duplicate), before the 200 goes out. Zoom wants an answer within 3 s,
so it should only hand the work on (e.g. start or signal a Temporal workflow) and set the row's
``processed_at`` once that is done. An exception it raises is logged and the delivery still answers
200 (the row is stored, with ``processed_at`` still empty, for a sweep to pick up): a 5xx would
only make Zoom redeliver an event that is already recorded.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from engine.api.errors import error_response
from engine.crm.tables import ZoomWebhookEvent
from engine.crm.webhook_events import record_webhook_event
from engine.errors import NotFound, RollcallError
from engine.metrics import WEBHOOKS_RECEIVED, WEBHOOKS_REFUSED
from engine.zoom.settings import ZoomConnectionConfig
from engine.zoom.webhooks import (
    VerifiedEvent,
    WebhookErrorCode,
    WebhookVerificationError,
    url_validation_response,
    verify_request,
)

log = structlog.get_logger(__name__)

#: Zoom's events are a few KiB; anything far larger is not one and is refused before verification
#: (``engine.api.access.ROUTE_BODY_LIMITS``).
MAX_BODY_BYTES = 1 << 20

#: ``app.state.webhook_dispatch``: called with the connection name and the newly recorded row.
WebhookDispatch = Callable[[str, ZoomWebhookEvent], Awaitable[None]]

router = APIRouter(prefix="/zoom/webhooks", tags=["zoom webhooks"])

ConnectionName = Annotated[str, Path(max_length=200, description="the name of a configured Zoom connection")]


class ZoomWebhookConnectionNotFound(NotFound):
    code = "ZOOM_CONNECTION_NOT_FOUND"


class MalformedWebhook(RollcallError):
    code = WebhookErrorCode.MALFORMED_BODY.value
    http_status = 400


class WebhookRecorded(BaseModel):
    status: Literal["recorded", "duplicate"]
    event: str
    id: int


def _error_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {}}}


def _record(
    engine: Engine, connection: str, verified: VerifiedEvent, document: dict[str, Any]
) -> tuple[ZoomWebhookEvent, bool]:
    with Session(engine, expire_on_commit=False) as session:
        row, duplicate = record_webhook_event(session, connection, verified, payload=document)
        session.commit()
        return row, duplicate


@router.post(
    "/{connection}",
    summary="Receive a Zoom webhook (signature-authenticated, no API key)",
    responses={
        200: {"description": "recorded, duplicate, or the URL-validation answer", "model": WebhookRecorded},
        400: _error_doc("correctly signed, but not a Zoom event (MALFORMED_BODY)"),
        401: _error_doc("signature or timestamp missing, stale or wrong (the code says which)"),
        404: _error_doc("no such connection, or it has no webhook secret token (ZOOM_CONNECTION_NOT_FOUND)"),
        413: _error_doc("body over 1 MiB (PAYLOAD_TOO_LARGE)"),
    },
)
async def receive_zoom_webhook(connection: ConnectionName, request: Request) -> JSONResponse:
    """Zoom's webhook deliveries for one configured connection, authenticated by Zoom's signature
    (``x-zm-signature`` over the raw body with the connection's secret token, and
    ``x-zm-request-timestamp`` within 300 s) instead of an API key. ``endpoint.url_validation`` is
    answered as Zoom requires; any other event is recorded once (a redelivery counts as duplicate)."""
    connections: dict[str, ZoomConnectionConfig] = request.app.state.zoom_connections
    config = connections.get(connection)
    if config is None or config.webhook_secret_token is None:
        # Anyone can call this route: the answer does not repeat what they sent (nor does a label).
        WEBHOOKS_REFUSED.labels(ZoomWebhookConnectionNotFound.code).inc()
        raise ZoomWebhookConnectionNotFound("no Zoom connection with a webhook secret token has this name")
    secret = config.webhook_secret_token.get_secret_value()
    raw = await request.body()
    try:
        verified = verify_request(secret, request.headers, raw)
    except WebhookVerificationError as exc:
        WEBHOOKS_REFUSED.labels(exc.code.value).inc()
        if exc.code is WebhookErrorCode.MALFORMED_BODY:
            raise MalformedWebhook(exc.message, details={"connection": connection}) from None
        log.warning("zoom webhook rejected", connection=connection, code=exc.code.value)
        return error_response(401, exc.code.value, exc.message, {"connection": connection})

    if verified.is_url_validation:
        plain_token = verified.event.payload.plain_token
        if not plain_token:
            WEBHOOKS_REFUSED.labels(WebhookErrorCode.MALFORMED_BODY.value).inc()
            raise MalformedWebhook("endpoint.url_validation without payload.plainToken")
        WEBHOOKS_RECEIVED.labels(connection, "endpoint.url_validation", "url_validation").inc()
        return JSONResponse(url_validation_response(secret, plain_token))

    # verify_request parsed the body as a Zoom event, so it is a JSON object; keep it as sent.
    document: dict[str, Any] = json.loads(raw)
    row, duplicate = await run_in_threadpool(_record, request.app.state.db_engine, connection, verified, document)
    assert row.id is not None
    log.info(
        "zoom webhook recorded",
        connection=connection,
        zoom_event=row.event,
        event_id=row.id,
        duplicate=duplicate,
        deliveries=row.deliveries,
    )
    WEBHOOKS_RECEIVED.labels(connection, row.event, "duplicate" if duplicate else "recorded").inc()
    dispatch: WebhookDispatch | None = getattr(request.app.state, "webhook_dispatch", None)
    if dispatch is not None and not duplicate:
        try:
            await dispatch(connection, row)
        except Exception:
            log.exception("webhook_dispatch failed; the event stays recorded", connection=connection, event_id=row.id)
    answer = WebhookRecorded(status="duplicate" if duplicate else "recorded", event=row.event, id=row.id)
    return JSONResponse(answer.model_dump())
