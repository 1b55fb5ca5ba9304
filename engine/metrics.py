"""Rollcall's own Prometheus metrics (#17.1), and the worker's metrics port.

Every metric is defined here, in ``prometheus_client``'s default registry, and counted where the
work happens: the API (requests, enrollments admitted or refused, Zoom's webhooks), activities
and the store code they call (step outcomes, registrations, Zoom calls, rate-limit waits, syncs).
Never in workflow code: a workflow replays, a count there would be counted again.

Labels are low-cardinality only: route templates, codes, outcomes, workflow keys, step types,
connection names, templated Zoom endpoints. Never a contact, webinar or enrollment id, never an
e-mail.

The worker serves one port (``ROLLCALL_WORKER_METRICS_PORT``) with Rollcall's metrics followed by
the Temporal SDK's: the SDK's runtime exposes its Prometheus endpoint on a private loopback port,
and the worker's endpoint appends what it answers (``serve_worker_metrics``), so one scrape target
has both. The API serves ``GET /metrics`` (``engine.api.routers.metrics``).
"""

from __future__ import annotations

import re
import threading
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from sqlalchemy import event
from sqlalchemy.orm import Session

log = structlog.get_logger("rollcall.metrics")

# --- the API -------------------------------------------------------------------------------------

API_REQUESTS = Counter(
    "rollcall_api_requests",
    "API requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
API_REQUEST_SECONDS = Histogram(
    "rollcall_api_request_duration_seconds",
    "Time to answer an API request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# --- enrollments and their steps -----------------------------------------------------------------

ENROLLMENTS_ADMITTED = Counter(
    "rollcall_enrollments_admitted",
    "Enrollments admitted (a run started, or the existing one answered), by workflow key and result.",
    ["workflow", "result"],
)
ENROLLMENTS_REFUSED = Counter(
    "rollcall_enrollments_refused",
    "Enrollments refused or failed, by workflow key and error code.",
    ["workflow", "code"],
)
STEP_OUTCOMES = Counter(
    "rollcall_step_outcomes",
    "Step outcomes recorded in the store (once each), by workflow key, step type and outcome code.",
    ["workflow", "step_type", "code"],
)

WEBHOOK_CALLS = Counter(
    "rollcall_webhook_calls",
    "Requests sent by webhook steps, by workflow key and answer (the HTTP status, or WEBHOOK_TIMEOUT, "
    "WEBHOOK_UNREACHABLE, EGRESS_DENIED).",
    ["workflow", "status"],
)

# --- Zoom ----------------------------------------------------------------------------------------

REGISTRATIONS = Counter(
    "rollcall_registrations",
    "add_contact_to_zoom_webinar registrations, by outcome (registered, repeat, refused, store_refused) "
    "and the refusal's code (empty unless refused).",
    ["outcome", "code"],
)
ZOOM_CALLS = Counter(
    "rollcall_zoom_calls",
    "HTTP calls to Zoom, by connection name, method, templated endpoint and status "
    "(the HTTP status, or timeout / transport_error).",
    ["connection", "method", "endpoint", "status"],
)
ZOOM_RATE_LIMIT_WAITS = Counter(
    "rollcall_zoom_rate_limit_waits",
    "Times a Zoom call waited for Rollcall's own per-account rate limiter, by rate label.",
    ["label"],
)
ZOOM_RATE_LIMIT_WAIT_SECONDS = Counter(
    "rollcall_zoom_rate_limit_wait_seconds",
    "Seconds Zoom calls spent waiting for the per-account rate limiter, by rate label.",
    ["label"],
)

# --- syncs ---------------------------------------------------------------------------------------

SYNC_RUNS = Counter("rollcall_sync_runs", "Webinar sync runs finished, by result (the audit status).", ["result"])
SYNC_SECONDS = Histogram(
    "rollcall_sync_duration_seconds",
    "Duration of finished webinar sync runs, by result.",
    ["result"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200),
)
SYNC_ROWS_WRITTEN = Histogram(
    "rollcall_sync_rows_written",
    "Registrant and attendee rows a finished sync wrote.",
    buckets=(0, 1, 10, 100, 1_000, 10_000, 100_000),
)
SYNC_WRITES = Counter(
    "rollcall_sync_writes",
    "What finished syncs wrote, by kind (registrants, attendees, contacts_created, timeline_events, "
    "recording_files, transcripts).",
    ["kind"],
)
#: Audit counts of a sync that are writes, and their ``kind`` label.
SYNC_WRITE_KINDS = {
    "registrants_written": "registrants",
    "attendees_written": "attendees",
    "contacts_created": "contacts_created",
    "timeline_events": "timeline_events",
    "recording_files": "recording_files",
    "transcripts": "transcripts",
}

# --- Zoom's webhooks -----------------------------------------------------------------------------

WEBHOOKS_RECEIVED = Counter(
    "rollcall_zoom_webhooks_received",
    "Zoom webhook deliveries accepted, by connection, event and result (recorded, duplicate, url_validation).",
    ["connection", "event", "result"],
)
WEBHOOKS_REFUSED = Counter(
    "rollcall_zoom_webhooks_refused",
    "Zoom webhook deliveries refused, by reason (the error code answered).",
    ["reason"],
)


# --- helpers -------------------------------------------------------------------------------------

#: Zoom path segments followed by an id (or an encoded UUID): ``/webinars/{id}/registrants``.
_ID_AFTER = frozenset({"users", "webinars", "past_webinars", "meetings", "recordings"})


def zoom_endpoint(path: str) -> str:
    """A Zoom API path as a template, ids replaced: ``/v2/webinars/81000000001/registrants`` →
    ``/webinars/{id}/registrants`` (the ``/v2`` prefix of the base URL dropped)."""
    segments = [s for s in path.split("/") if s]
    if segments and re.fullmatch(r"v\d+", segments[0]):
        segments = segments[1:]
    out: list[str] = []
    for index, segment in enumerate(segments):
        after_collection = index > 0 and segments[index - 1] in _ID_AFTER and segment not in _ID_AFTER
        out.append("{id}" if after_collection or segment.isdigit() else segment)
    return "/" + "/".join(out)


_PENDING = "rollcall_metrics_pending"


def after_commit(session: Session, count: Callable[[], None]) -> None:
    """Count once ``session`` commits (a rolled back transaction, retried by its activity, counts
    nothing, so the retry does not count twice)."""
    session.info.setdefault(_PENDING, []).append(count)


@event.listens_for(Session, "after_commit")
def _apply_pending(session: Session) -> None:
    for count in session.info.pop(_PENDING, []):
        try:
            count()
        except Exception:  # a metric must never fail the work it counts
            log.exception("a metric could not be counted")


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def count_sync_finished(result: str, seconds: float, counts: Mapping[str, int]) -> None:
    SYNC_RUNS.labels(result).inc()
    SYNC_SECONDS.labels(result).observe(max(seconds, 0.0))
    SYNC_ROWS_WRITTEN.observe(int(counts.get("registrants_written", 0)) + int(counts.get("attendees_written", 0)))
    for name, kind in SYNC_WRITE_KINDS.items():
        SYNC_WRITES.labels(kind).inc(int(counts.get(name, 0)))


def rollcall_metrics_text() -> bytes:
    return generate_latest(REGISTRY)


# --- the worker's port ---------------------------------------------------------------------------


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
            return body
    except OSError as exc:
        log.warning("the Temporal SDK's metrics could not be read", error=type(exc).__name__)
        return b""


def _handler(extra_url: str | None) -> type[BaseHTTPRequestHandler]:
    class MetricsHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = rollcall_metrics_text()
            if extra_url:
                sdk = _fetch(extra_url)
                body = body + (b"" if body.endswith(b"\n") or not body else b"\n") + sdk
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not log lines
            return

    return MetricsHandler


@contextmanager
def serve_worker_metrics(host: str, port: int, *, sdk_metrics_url: str | None) -> Iterator[ThreadingHTTPServer | None]:
    """Serve Rollcall's metrics and then the SDK's (read from ``sdk_metrics_url``) on ``host:port``
    until the block ends. A port that cannot be bound is logged and skipped: metrics never stop a worker."""
    try:
        server = ThreadingHTTPServer((host, port), _handler(sdk_metrics_url))
    except OSError as exc:
        log.error("worker metrics not served: the port cannot be bound", host=host, port=port, error=str(exc))
        yield None
        return
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    log.info("worker metrics served", url=f"http://{host}:{server.server_address[1]}/metrics")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
