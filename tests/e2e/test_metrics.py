"""Metrics (#17.1) on the real stack: ``rollcall up`` runs a scripted demo — a bulk enrollment with
refusals, registrations in the Zoom emulator, webhook steps to a loopback receiver, Zoom's webhooks
(signed by the emulator, and refused ones), a sync — then ``GET /metrics`` on the API, the worker's
metrics port and the Temporal dev server's are scraped and parsed with ``prometheus_client``'s
parser, and each named metric must have moved by what the demo did (read back from the API's
answers and the store, not from the code under test)."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.http import allow_entry, serve
from support.rollcall import RollcallUp, up_env
from support.waiting import wait_until

from engine.enrollment.contracts import WORKFLOW_TYPE as ENROLLMENT_WORKFLOW_TYPE

REGISTER_WEBINAR = "81000000001"  # starts in 4 minutes, automatic approval, last name required
SYNC_WEBINAR = "81000000007"  # past, 50 registrants, 30 attendees, recording deleted
WORKFLOW = "metrics-demo"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _definition(receiver: str) -> str:
    return f"""
key: {WORKFLOW}
name: Metrics demo
enrollment:
  triggers: [{{type: api}}]
  criteria: {{type: condition, field: properties.webinar_id, op: is_set}}
steps:
  - id: register
    type: add_contact_to_zoom_webinar
    webinar_id: "{{{{ contact.properties.webinar_id }}}}"
    on_error: continue
  - id: hook
    type: webhook
    url: "{receiver}/hook"
    body: {{enrollment: "{{{{ enrollment.id }}}}"}}
  - id: rejected
    type: webhook
    url: "{receiver}/reject"
    body: {{enrollment: "{{{{ enrollment.id }}}}"}}
    on_error: continue
  - id: done
    type: end
"""


STEP_TYPES = {"register": "add_contact_to_zoom_webinar", "hook": "webhook", "rejected": "webhook", "done": "end"}


def _receiver_app() -> Starlette:
    async def hook(request: Request) -> Response:
        await request.body()
        return JSONResponse({"ok": True})

    async def reject(request: Request) -> Response:
        await request.body()
        return JSONResponse({"ok": False}, status_code=400)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/reject", reject, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[str]:
    with serve(_receiver_app(), name="metrics-receiver") as url:
        yield url


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (found, pairs), value in samples.items() if found == name and wanted <= pairs)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


def _rows(database: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(query).fetchall()


@pytest.mark.timeout(240)
# long: one scripted demo on one stack, then every named metric checked against what the demo did
def test_metrics_move_by_what_a_scripted_demo_did(tmp_path: Path, receiver: str) -> None:
    """#17.1 acceptance: every named metric of the API and the worker moved by the expected amount;
    the three endpoints parse; labels carry no id and no e-mail."""
    key = "metrics-admin-" + uuid.uuid4().hex
    viewer = "metrics-viewer-" + uuid.uuid4().hex
    env = up_env()
    env.update(
        {
            "ROLLCALL_LOG_FORMAT": "json",
            "ROLLCALL_API_KEYS": f"ops:admin:{key},scraper:viewer:{viewer}",
            "ROLLCALL_WEBHOOK_ALLOW": allow_entry(receiver),
            "ROLLCALL_SYNC_RECONCILE_MINUTES": "0",
            "ROLLCALL_ENROLLMENT_REPAIR_MINUTES": "0",
        }
    )
    api = f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}"
    worker_url = f"http://127.0.0.1:{env['ROLLCALL_WORKER_METRICS_PORT']}/metrics"
    temporal_url = f"http://127.0.0.1:{env['ROLLCALL_TEMPORAL_METRICS_PORT']}/metrics"
    database = tmp_path / ".rollcall" / "rollcall.db"
    up = RollcallUp(tmp_path, env)
    try:
        up.wait_for(re.compile("Rollcall is up"), timeout=120)
        banner = up.json_banner()
        assert banner["metrics_urls"] == {"api": f"{api}/metrics", "worker": worker_url, "temporal": temporal_url}
        admin = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=api, timeout=30) as client:

            def api_metrics() -> Samples:
                answer = client.get("/metrics", headers={"Authorization": f"Bearer {viewer}"})
                assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
                return parse(answer.text)

            def worker_metrics() -> Samples:
                answer = httpx.get(worker_url, timeout=10)
                assert answer.status_code == 200
                return parse(answer.text)

            # A viewer key is the least that reads the API's metrics (ROLLCALL_METRICS_PUBLIC is off).
            assert client.get("/metrics").status_code == 401
            api_before, worker_before = api_metrics(), worker_metrics()

            saved = client.put(
                f"/v1/workflows/{WORKFLOW}",
                content=_definition(receiver),
                headers={**admin, "Content-Type": "application/yaml"},
            )
            assert saved.status_code in (200, 201), saved.text
            people = [
                {
                    "email": "metrics-a@customers.example",
                    "first_name": "Ann",
                    "last_name": "A",
                    "properties": {"webinar_id": REGISTER_WEBINAR},
                },
                {
                    "email": "metrics-b@customers.example",
                    "first_name": "Ben",
                    "last_name": "B",
                    "properties": {"webinar_id": REGISTER_WEBINAR},
                },
                {"email": "metrics-c@customers.example"},  # no webinar_id: CRITERIA_NOT_MET
            ]
            bulk = client.post(f"/v1/workflows/{WORKFLOW}/enrollments:bulk", json={"contacts": people}, headers=admin)
            assert bulk.status_code == 200, bulk.text
            items = bulk.json()["results"]
            assert [item["result"] for item in items] == ["enrolled", "enrolled", "refused"], items
            again = client.post(f"/v1/workflows/{WORKFLOW}/enrollments", json=people[0], headers=admin)
            assert again.status_code == 200 and again.json()["result"] == "already_enrolled", again.text
            unknown = client.post("/v1/workflows/no-such-workflow/enrollments", json=people[0], headers=admin)
            assert unknown.status_code == 404, unknown.text
            # Zoom's webhooks that are refused: an unknown connection, an unsigned delivery.
            nowhere = client.post("/v1/zoom/webhooks/no-such-connection", json={"event": "x"})
            assert nowhere.status_code == 404
            unsigned = client.post("/v1/zoom/webhooks/demo-account", json={"event": "webinar.started"})
            assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "MISSING_SIGNATURE"

            contacts = [item["contact_id"] for item in items[:2]]

            def enrollment(contact: int) -> Any:
                return client.get(f"/v1/workflows/{WORKFLOW}/enrollments/{contact}", headers=admin).json()

            histories = [
                wait_until(
                    partial(enrollment, contact), lambda detail: detail["status"] != "active", "the enrollments to end"
                )["history"]
                for contact in contacts
            ]
            outcomes = Counter((STEP_TYPES[entry["step_id"]], entry["outcome"]) for h in histories for entry in h)
            assert outcomes[("add_contact_to_zoom_webinar", "REGISTERED")] == 2, histories
            assert outcomes[("webhook", "DELIVERED")] == 2, histories
            # The emulator's webinar.registration_created webhooks are recorded, and the syncs they
            # ask for (sync settings off: skipped) have finished.
            wait_until(
                lambda: _rows(database, "SELECT count(*), count(processed_at) FROM zoom_webhook_events")[0],
                lambda counts: counts == (2, 2),
                "the emulator's two registration webhooks",
            )
            wait_until(
                lambda: _rows(database, "SELECT count(*) FROM audit_entries WHERE finished_at IS NULL")[0][0],
                lambda unfinished: unfinished == 0,
                "the webhook-triggered syncs to finish",
            )

            # A sync of a past webinar (sync on first, R-SET-1).
            settings = client.get("/v1/sync-settings", headers=admin).json()
            assert client.put("/v1/sync-settings", json={**settings, "sync_enabled": True}, headers=admin).is_success
            assert client.post(f"/v1/webinars/{SYNC_WEBINAR}/sync", headers=admin).status_code == 202
            wait_until(
                lambda: _rows(
                    database,
                    f"SELECT count(*) FROM audit_entries WHERE zoom_webinar_id = '{SYNC_WEBINAR}' "
                    "AND finished_at IS NOT NULL",
                )[0][0],
                lambda finished: finished == 1,
                "the sync to finish",
            )
            api_after = api_metrics()
            worker_text = httpx.get(worker_url, timeout=10).text
            finished = "SELECT status, counts FROM audit_entries WHERE finished_at IS NOT NULL"
            # Scraped together with the store, until both agree (a sync may finish in between).
            worker_after, entries = wait_until(
                lambda: (worker_metrics(), _rows(database, finished)),
                lambda pair: total(pair[0], "rollcall_sync_runs_total") == len(pair[1]),
                "the worker to count every finished sync",
                within=10,
            )
        temporal = httpx.get(temporal_url, timeout=10)
    finally:
        returncode, output = up.stop()
    assert returncode == 0, output[-3000:]

    # --- the API's metrics ---
    a0, a1 = api_before, api_after
    assert delta(a0, a1, "rollcall_enrollments_admitted_total", workflow=WORKFLOW, result="enrolled") == 2
    assert delta(a0, a1, "rollcall_enrollments_admitted_total", workflow=WORKFLOW, result="already_enrolled") == 1
    refusal = items[2]["code"]
    assert delta(a0, a1, "rollcall_enrollments_refused_total", workflow=WORKFLOW, code=refusal) == 1
    assert delta(a0, a1, "rollcall_enrollments_refused_total", workflow="(unknown)", code="WORKFLOW_NOT_FOUND") == 1
    assert delta(a0, a1, "rollcall_enrollments_refused_total") == 2
    bulk_route = {"method": "POST", "route": "/v1/workflows/{key}/enrollments:bulk"}
    assert delta(a0, a1, "rollcall_api_requests_total", **bulk_route, status="200") == 1
    assert delta(a0, a1, "rollcall_api_request_duration_seconds_count", **bulk_route) == 1
    assert delta(a0, a1, "rollcall_api_request_duration_seconds_sum", **bulk_route) > 0
    single = {"method": "POST", "route": "/v1/workflows/{key}/enrollments"}
    assert delta(a0, a1, "rollcall_api_requests_total", **single, status="200") == 1
    assert delta(a0, a1, "rollcall_api_requests_total", **single, status="404") == 1
    # The 401 of the keyless scrape came before the first scrape; each scrape counts itself.
    assert total(a1, "rollcall_api_requests_total", method="GET", route="/metrics", status="401") == 1
    assert delta(a0, a1, "rollcall_api_requests_total", method="GET", route="/metrics", status="200") == 1
    assert delta(a0, a1, "rollcall_zoom_webhooks_refused_total", reason="ZOOM_CONNECTION_NOT_FOUND") == 1
    assert delta(a0, a1, "rollcall_zoom_webhooks_refused_total", reason="MISSING_SIGNATURE") == 1
    recorded = {"connection": "demo-account", "event": "webinar.registration_created", "result": "recorded"}
    assert delta(a0, a1, "rollcall_zoom_webhooks_received_total", **recorded) == 2
    # `up` subscribed one endpoint per demo connection: Zoom's URL validation, once each.
    for connection in ("demo-account", "demo-emea"):
        validation = {"connection": connection, "result": "url_validation"}
        assert total(a1, "rollcall_zoom_webhooks_received_total", **validation) == 1

    # --- the worker's metrics: Rollcall's ---
    w0, w1 = worker_before, worker_after
    for (step_type, code), count in outcomes.items():
        found = delta(w0, w1, "rollcall_step_outcomes_total", workflow=WORKFLOW, step_type=step_type, code=code)
        assert found == count, (step_type, code, found, count)
    assert delta(w0, w1, "rollcall_step_outcomes_total") == sum(outcomes.values())
    assert delta(w0, w1, "rollcall_registrations_total", outcome="registered") == 2
    assert delta(w0, w1, "rollcall_registrations_total") == 2
    assert delta(w0, w1, "rollcall_webhook_calls_total", workflow=WORKFLOW, status="200") == 2
    assert delta(w0, w1, "rollcall_webhook_calls_total", workflow=WORKFLOW, status="400") == 2
    add = {"connection": "demo-account", "method": "POST", "endpoint": "/webinars/{id}/registrants"}
    assert delta(w0, w1, "rollcall_zoom_calls_total", **add, status="201") == 2
    assert delta(w0, w1, "rollcall_zoom_calls_total", connection="demo-account", method="GET") > 0
    # Sync runs by result, their durations and what they wrote: as the audit entries say.
    by_result = Counter(status for status, _ in entries)
    assert by_result["succeeded"] + by_result["partial"] >= 1, entries
    for result, count in by_result.items():
        assert total(w1, "rollcall_sync_runs_total", result=result) == count
        assert total(w1, "rollcall_sync_duration_seconds_count", result=result) == count
    counts = [json.loads(raw) for _, raw in entries]
    written = sum(c.get("registrants_written", 0) + c.get("attendees_written", 0) for c in counts)
    assert written > 0
    assert total(w1, "rollcall_sync_rows_written_sum") == written
    assert total(w1, "rollcall_sync_rows_written_count") == len(entries)
    assert total(w1, "rollcall_sync_writes_total", kind="attendees") == sum(
        c.get("attendees_written", 0) for c in counts
    )
    # Rate-limit waits: declared here; the demo's business plan leaves room, so no wait is promised
    # (tests/unit/foundation/test_metrics.py makes the limiter wait and counts it).
    assert "# TYPE rollcall_zoom_rate_limit_waits_total counter" in worker_text

    # --- the worker's port also serves the Temporal SDK's metrics ---
    enrollment_runs = delta(w0, w1, "temporal_workflow_completed_total", workflow_type=ENROLLMENT_WORKFLOW_TYPE)
    assert enrollment_runs == 2
    webhook_tasks = delta(w0, w1, "temporal_activity_execution_latency_count", activity_type="call_webhook")
    assert webhook_tasks >= 2

    # --- the Temporal dev server's port ---
    assert temporal.status_code == 200
    assert any(name.startswith(("service_", "persistence_", "temporal")) for name, _ in parse(temporal.text))

    # Low-cardinality labels: no id of a webinar, contact or enrollment, no e-mail.
    for name, pairs in [*a1, *w1]:
        if name.startswith("rollcall_"):
            for label, value in pairs:
                if label == "le":  # a histogram bucket's bound
                    continue
                assert "@" not in value and not re.search(r"\d{5,}", value), (name, label, value)
