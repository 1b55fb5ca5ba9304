"""Traces (#17.2) on the real stack: ``rollcall up`` with ``ROLLCALL_OTLP_ENDPOINT`` pointing at an
OTLP/HTTP collector stand-in on loopback. One bulk enrollment request is one trace across the API
and worker processes (request, runs, activities, webhook calls), and every log line the stack
wrote about those enrollments inside a span names that trace."""

from __future__ import annotations

import gzip
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.http import allow_entry, serve
from support.rollcall import RollcallUp, up_env
from support.waiting import wait_until

from engine.enrollment.contracts import WORKFLOW_TYPE

SERVER, CLIENT = 2, 3  # OTLP's SpanKind numbers


@dataclass
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    attributes: dict[str, str]


@dataclass
class Collector:
    url: str = ""
    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def traces(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        found = []
        for resource_spans in export.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), ""
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: str(a.value.string_value or a.value.int_value) for a in span.attributes}
                    found.append(
                        Span(
                            service,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.name,
                            span.kind,
                            attributes,
                        )
                    )
        with self.lock:
            self.spans.extend(found)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    def snapshot(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


@pytest.fixture
def collector() -> Iterator[Collector]:
    state = Collector()
    with serve(Starlette(routes=[Route("/v1/traces", state.traces, methods=["POST"])]), name="otlp") as url:
        state.url = url
        yield state


@pytest.fixture
def receiver() -> Iterator[str]:
    async def hook(request: Request) -> Response:
        await request.body()
        return JSONResponse({"ok": True})

    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), name="trace-receiver") as url:
        yield url


DEFINITION = """
key: traced-demo
name: Traced demo
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


@pytest.mark.timeout(240)
# long: one stack and one bulk request, then the one trace it made checked span by span
def test_one_bulk_request_is_one_trace_across_the_api_and_the_worker(
    tmp_path: Path, collector: Collector, receiver: str
) -> None:
    """#17.2 acceptance, over real OTLP/HTTP: the request span (api), its runs and activities and
    their webhook calls (worker) share one trace id; the step-outcome log lines carry it."""
    key = "trace-admin-" + uuid.uuid4().hex
    env = up_env()
    env.update(
        {
            "ROLLCALL_LOG_FORMAT": "json",
            "ROLLCALL_API_KEYS": f"ops:admin:{key}",
            "ROLLCALL_WEBHOOK_ALLOW": allow_entry(receiver),
            "ROLLCALL_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # export every 0.2 s instead of 5 s
            "ROLLCALL_SYNC_RECONCILE_MINUTES": "0",
            "ROLLCALL_ENROLLMENT_REPAIR_MINUTES": "0",
        }
    )
    api = f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}"
    admin = {"Authorization": f"Bearer {key}"}
    up = RollcallUp(tmp_path, env)
    try:
        up.wait_for(re.compile("Rollcall is up"), timeout=120)
        banner = up.json_banner()
        assert banner["otlp_endpoint"] == collector.url
        with httpx.Client(base_url=api, timeout=30, headers=admin) as client:
            saved = client.put(
                "/v1/workflows/traced-demo",
                content=DEFINITION.replace("RECEIVER", receiver),
                headers={"Content-Type": "application/yaml"},
            )
            assert saved.status_code in (200, 201), saved.text
            emails = [f"traced-{n}@customers.example" for n in range(3)]
            bulk = client.post(
                "/v1/workflows/traced-demo/enrollments:bulk", json={"contacts": [{"email": e} for e in emails]}
            )
            assert bulk.status_code == 200, bulk.text
            results = bulk.json()["results"]

            def enrollment(contact: int) -> Any:
                return client.get(f"/v1/workflows/traced-demo/enrollments/{contact}").json()

            for item in results:
                wait_until(
                    partial(enrollment, item["contact_id"]),
                    lambda detail: detail["status"] != "active",
                    "the enrollments to end",
                )
        spans = wait_until(
            collector.snapshot,
            lambda spans: sum(s.name == "RunActivity:finish" for s in spans) >= 3,
            "the worker's spans to be exported",
            within=30,
        )
    finally:
        returncode, output = up.stop()
    assert returncode == 0, output[-3000:]

    [request] = [s for s in spans if s.kind == SERVER and "enrollments:bulk" in s.name]
    assert request.service == "rollcall-api"
    in_trace = [s for s in spans if s.trace_id == request.trace_id]
    by_service = {(s.service, s.name) for s in in_trace}
    assert ("rollcall-api", f"StartWorkflow:{WORKFLOW_TYPE}") in by_service, sorted(by_service)
    assert ("rollcall-worker", f"RunWorkflow:{WORKFLOW_TYPE}") in by_service, sorted(by_service)
    names = [s.name for s in in_trace]
    assert names.count("RunActivity:call_webhook") == 3 and names.count("RunActivity:finish") == 3, names
    activity_ids = {s.span_id for s in in_trace if s.name == "RunActivity:call_webhook"}
    calls = [s for s in in_trace if s.kind == CLIENT and s.parent_id in activity_ids]
    assert len(calls) == 3, [(s.name, s.attributes) for s in in_trace if s.kind == CLIENT]
    assert all("?" not in value and "@" not in value for s in calls for value in s.attributes.values())

    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    workflow_ids = {item["workflow_id"] for item in results}
    outcomes = [r for r in records if r.get("event") == "step outcome" and r.get("workflow_id") in workflow_ids]
    assert len(outcomes) >= 6, outcomes  # notify and done, for each of the three
    assert {r.get("trace_id") for r in outcomes} == {request.trace_id}, outcomes
