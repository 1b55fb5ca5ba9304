"""The FastAPI application: health checks, docs and Zoom's webhooks open, everything else behind a
bearer API key whose role the route allows (``engine.api.access``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine
from temporalio.client import Client

from engine.api.access import AccessMiddleware, CodecCors, check_route_table, roles_of, route_table
from engine.api.auth import Keyring, load_keyring
from engine.api.contract import document_contract, install_docs
from engine.api.deps import TemporalGateway
from engine.api.errors import install_error_handlers
from engine.api.observability import RequestMetricsMiddleware
from engine.api.routers import (
    account_users,
    api_keys,
    audit,
    business_units,
    codec,
    contacts,
    health,
    metrics,
    sync_settings,
    system,
    transcripts,
    webinars,
    workflows,
    zoom_connections,
    zoom_webhooks,
)
from engine.codec import EncryptionCodec
from engine.codec import configured_keys as configured_payload_keys
from engine.config import Settings
from engine.crm.db import create_db_engine
from engine.crm.zoom_rate_budgets import StoreRateBudgets
from engine.enrollment.definitions import load_definitions_dir
from engine.enrollment.service import EnrollmentService
from engine.errors import ConfigurationError
from engine.sync.service import SyncService
from engine.tracing import instrument_app
from engine.zoom.pool import ZoomClientPool
from engine.zoom.settings import ZoomConfigError, ZoomSettings, load_zoom_connections

log = structlog.get_logger("rollcall.api")

#: Routers mounted under /v1; each one owns one resource.
V1_ROUTERS: list[APIRouter] = [
    system.router,
    contacts.router,
    account_users.router,
    business_units.router,
    zoom_connections.router,
    sync_settings.router,
    audit.router,
    workflows.router,
    webinars.router,
    transcripts.router,
    api_keys.router,
    # Zoom cannot send our bearer key: ROUTE_ROLES lists this route as public, and it is
    # authenticated by Zoom's signature over the raw body (and the connection's secret token).
    zoom_webhooks.router,
]


def create_app(
    settings: Settings,
    *,
    db_engine: Engine | None = None,
    temporal_client: Client | None = None,
    zoom_settings: ZoomSettings | None = None,
) -> FastAPI:
    """Build the API. Tests pass their own engine, client and Zoom settings; the entry points pass none."""
    try:
        # Loaded once per app: the webhook route looks connections (and their secret tokens) up here.
        zoom_connections_by_name = load_zoom_connections(zoom_settings)
    except ZoomConfigError as exc:
        raise ConfigurationError(str(exc)) from None
    keyring = load_keyring(settings)
    # Payload keys are read (and a bad one refused, in one line) when the API starts (#17.4).
    payload_keys = configured_payload_keys(settings)
    engine = db_engine or create_db_engine(settings.database_url)
    app = FastAPI(
        title="Rollcall API",
        version="0.1.0",
        description="Enroll contacts into workflows, sync Zoom webinars, and read the CRM store.",
        lifespan=_lifespan(settings, engine, owns_engine=db_engine is None),
        # Served from the fastapi-offline package by install_docs: no CDN (#14.5).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keyring = keyring
    app.state.codec = EncryptionCodec(payload_keys) if payload_keys else None
    app.state.db_engine = engine
    app.state.temporal = TemporalGateway(settings, temporal_client)
    app.state.enrollments = EnrollmentService(
        engine,
        app.state.temporal.client,
        task_queue=settings.temporal_task_queue,
        concurrency=settings.enrollment_concurrency,
    )
    app.state.zoom_connections = zoom_connections_by_name
    #: Issue #7's hook: an async ``(connection_name, event_row) -> None`` awaited after a new Zoom
    #: webhook event is recorded (see engine/api/routers/zoom_webhooks.py). None: only record.
    # The API's Zoom calls (sync status, webhooks) take their turns with the workers' (#16.2).
    app.state.zoom_pool = ZoomClientPool(
        zoom_settings, connections=zoom_connections_by_name, budgets=StoreRateBudgets(engine)
    )
    app.state.sync = SyncService(
        engine, app.state.zoom_pool, app.state.temporal.client, task_queue=settings.temporal_task_queue
    )
    app.state.webhook_dispatch = app.state.sync.dispatch_webhook
    _install_routes(app, settings, keyring)
    return app


def _lifespan(
    settings: Settings, engine: Engine, *, owns_engine: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """At start, load the definitions directory (if set); at stop, dispose of an engine the app made."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.definitions_dir is not None:
            # Definitions as versioned data: each changed file becomes a new revision. A store
            # that is not ready yet must not stop the API (/readyz reports it).
            try:
                await asyncio.to_thread(load_definitions_dir, engine, settings.definitions_dir)
            except Exception as exc:
                log.error("definitions not loaded", error=str(exc))
        yield
        if owns_engine:
            engine.dispose()

    return lifespan


def _install_routes(app: FastAPI, settings: Settings, keyring: Keyring) -> None:
    """Error handlers, docs, routes and the middleware that guards them, and the OpenAPI contract."""
    install_error_handlers(app)
    install_docs(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(codec.router)
    for router in V1_ROUTERS:
        app.include_router(router, prefix="/v1")
    # Every route's role comes from the one table; a route missing from it stops the app here.
    check_route_table(app)
    table = route_table(settings.api_max_body_bytes, metrics_public=settings.metrics_public)
    app.add_middleware(AccessMiddleware, table=table, keyring=keyring)
    # The Web UI's origin may call the codec routes from a browser (preflights answered here,
    # before the key check they carry no key for); no other route answers CORS.
    app.add_middleware(CodecCors, origins=settings.codec_cors_origins)
    # Added last, so outermost: refusals of the access check are counted too (#17.1).
    app.add_middleware(RequestMetricsMiddleware, table=table)
    document_contract(app, roles_of(metrics_public=settings.metrics_public))
    instrument_app(app)  # #17.2: request spans, when tracing is on
