"""Traces (#17.2): one bulk enrollment request is one trace — the API's request span, the runs it
starts, their activities and the webhook calls those make — recorded by OpenTelemetry's in-memory
exporter through the same wiring the API and the worker use (``engine.tracing``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import Engine
from support.http import allow_entry
from temporalio.client import Client

from engine.api.app import create_app
from engine.config import Settings
from engine.enrollment.contracts import WORKFLOW_TYPE
from engine.logging import _add_trace_context
from engine.tracing import configure_tracing, shutdown_tracing, temporal_interceptors, tracing_enabled
from worker import build_worker

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions, WebhookReceiver

API_KEY = "tracing-tests-key"

DEFINITION = """
key: "{key}"
name: Traced
enrollment:
  triggers: [{type: api}]
steps:
  - id: notify
    type: webhook
    url: "RECEIVER/hook?email={{ contact.email }}"
    body: {enrollment: "{{ enrollment.id }}"}
  - id: done
    type: end
"""


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = configure_tracing(Settings(_env_file=None), "test", exporter=spans)
    assert provider is not None
    try:
        yield spans
    finally:
        shutdown_tracing()


def test_tracing_is_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """#17.2: no OTLP endpoint (neither ROLLCALL_OTLP_ENDPOINT nor OTEL_EXPORTER_OTLP_ENDPOINT): no tracing."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert configure_tracing(Settings(_env_file=None), "test") is None
    assert not tracing_enabled() and temporal_interceptors() == []


# long: one request, then the one trace it made checked span by span
async def test_one_bulk_request_is_one_trace_with_its_runs_activities_and_webhooks(
    exporter: InMemorySpanExporter,
    temporal_client: Client,
    db_engine: Engine,
    database_url: str,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    definitions: Definitions,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    """#17.2 acceptance: API request → runs → activities → webhook calls share one trace id; span
    URLs keep no query string (the e-mail in this webhook URL's query never reaches a collector)."""
    key = definitions.key("traced")
    definitions.put("traced", DEFINITION.replace("RECEIVER", receiver.url))
    # Clients as the API and the worker connect them (engine.temporal.connect adds the interceptor).
    config = temporal_client.config()
    config["interceptors"] = temporal_interceptors()
    traced = Client(**config)
    settings = Settings(
        _env_file=None,
        api_keys=[f"tracer:operator:{API_KEY}"],
        database_url=database_url,
        temporal_task_queue=task_queue,
        definitions_dir=None,
        webhook_allow=[allow_entry(receiver.url)],
    )
    worker = build_worker(traced, db_engine, task_queue=task_queue, executor=activity_executor, settings=settings)
    app = create_app(settings, db_engine=db_engine, temporal_client=traced)
    emails = [f"traced-{n}@customers.example" for n in range(3)]
    async with (
        worker,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://rollcall.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=60,
        ) as api,
    ):
        answer = await api.post(
            f"/v1/workflows/{key}/enrollments:bulk", json={"contacts": [{"email": e} for e in emails]}
        )
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["result"] for r in results] == ["enrolled"] * 3
        handles = [traced.get_workflow_handle(r["workflow_id"]) for r in results]
        await asyncio.wait_for(asyncio.gather(*(handle.result() for handle in handles)), timeout=60)
        assert len(receiver.paths()) == 3

    spans: list[ReadableSpan] = list(exporter.get_finished_spans())
    [request] = [s for s in spans if s.kind is SpanKind.SERVER and "enrollments:bulk" in s.name]
    assert request.context is not None
    trace_id = request.context.trace_id
    in_trace = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    names = [s.name for s in in_trace]
    assert names.count(f"StartWorkflow:{WORKFLOW_TYPE}") == 3, names
    assert names.count(f"RunWorkflow:{WORKFLOW_TYPE}") == 3, names
    assert names.count("RunActivity:call_webhook") == 3, names
    assert names.count("RunActivity:finish") == 3, names
    # The webhook calls are client spans of the activities that send them.
    calls = [s for s in in_trace if s.kind is SpanKind.CLIENT and s.name == "POST"]
    activities = {s.context.span_id for s in in_trace if s.name == "RunActivity:call_webhook" and s.context}
    assert len(calls) == 3 and all(s.parent is not None and s.parent.span_id in activities for s in calls), calls
    # No other trace holds a run of this request (one request, one trace).
    assert not [s for s in spans if s.name.startswith("RunActivity:") and s.context and s.context.trace_id != trace_id]
    for span in in_trace:
        for value in (span.attributes or {}).values():
            assert "@" not in str(value) and "?" not in str(value), (span.name, span.attributes)


def test_a_log_line_inside_a_span_names_its_trace(exporter: InMemorySpanExporter) -> None:
    """#17.2: the logging processor adds the current span's trace and span ids; outside a span, none."""
    from engine.tracing import tracer_provider

    provider = tracer_provider()
    assert provider is not None
    assert "trace_id" not in _add_trace_context(None, "info", {})
    with provider.get_tracer("test").start_as_current_span("work") as span:
        context = span.get_span_context()
        fields = _add_trace_context(None, "info", {"event": "step outcome"})
    assert fields["trace_id"] == format(context.trace_id, "032x")
    assert fields["span_id"] == format(context.span_id, "016x")
