"""OpenTelemetry traces (#17.2), off unless an OTLP endpoint is configured.

``ROLLCALL_OTLP_ENDPOINT`` (or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``) is an OTLP/HTTP
collector's base URL (``http://collector:4318``); spans go to its ``/v1/traces`` in batches. With
tracing on:

- the API's requests are spans (``opentelemetry-instrumentation-fastapi``);
- every Temporal client Rollcall connects (``engine.temporal.connect``: API, worker, CLI) carries
  the SDK's ``TracingInterceptor``, which puts the trace context into the headers of the workflows
  it starts, so a run, its child runs and their activities continue the request's trace;
- httpx requests (Zoom's API, webhook steps) are client spans of the activity that sends them;
- each log line written inside a span names its ``trace_id`` and ``span_id`` (``engine.logging``).

URLs are recorded without their query string (a webhook URL may carry a token or an e-mail there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from engine.config import Settings

log = structlog.get_logger("rollcall.tracing")

STANDARD_ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
#: Not worth a span each: probes and scrapes.
EXCLUDED_URLS = "healthz,readyz,metrics"
_URL_ATTRIBUTES = ("url.full", "http.url")


@dataclass
class _State:
    provider: TracerProvider | None = None


_state = _State()


def otlp_endpoint(settings: Settings) -> str | None:
    """The configured collector: ``ROLLCALL_OTLP_ENDPOINT``, else ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    return (settings.otlp_endpoint or os.environ.get(STANDARD_ENDPOINT_VARIABLE) or "").strip() or None


def tracing_enabled() -> bool:
    return _state.provider is not None


def tracer_provider() -> TracerProvider | None:
    return _state.provider


def configure_tracing(
    settings: Settings, service: str, *, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Turn tracing on for this process when an endpoint is configured (or, in tests, ``exporter``
    is given: spans are then exported one by one as they end). Returns the provider, or None."""
    endpoint = otlp_endpoint(settings)
    if exporter is None and endpoint is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"rollcall-{service}"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert endpoint is not None
        traces_url = endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
        log.info("tracing on", otlp_endpoint=traces_url)
    _state.provider = provider
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider, request_hook=_strip_query, async_request_hook=_strip_query_async
    )
    return provider


def shutdown_tracing() -> None:
    """Export what is left and stop (a test, or a process ending)."""
    provider, _state.provider = _state.provider, None
    if provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    provider.shutdown()


def temporal_interceptors() -> list[Any]:
    """The SDK's tracing interceptor when tracing is on (client and, through the client, worker)."""
    provider = _state.provider
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("temporalio"))]


def instrument_app(app: FastAPI) -> None:
    """Spans for the API's requests (health probes and scrapes excepted) when tracing is on."""
    provider = _state.provider
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS, server_request_hook=_strip_server_query
    )


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


def _strip_query(span: Any, request: Any) -> None:
    """httpx spans: the URL without its query string."""
    if span is None or not span.is_recording():
        return
    url = _without_query(str(getattr(request, "url", "")))
    for attribute in _URL_ATTRIBUTES:
        span.set_attribute(attribute, url)


async def _strip_query_async(span: Any, request: Any) -> None:
    _strip_query(span, request)


def _strip_server_query(span: Any, scope: dict[str, Any]) -> None:
    """API spans: no query string (``?email=…`` must not reach a collector)."""
    if span is None or not span.is_recording():
        return
    span.set_attribute("http.target", scope.get("path", ""))
    span.set_attribute("url.query", "")
    attributes = getattr(span, "attributes", None) or {}
    for attribute in _URL_ATTRIBUTES:
        if attribute in attributes:
            span.set_attribute(attribute, _without_query(str(attributes[attribute])))
