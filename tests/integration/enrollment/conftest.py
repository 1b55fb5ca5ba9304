"""Fixtures of the interpreter tests: a real worker on the dev server, the API app on it, a
definition loader with per-test workflow keys, and a real HTTP endpoint that receives webhooks."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from support.http import allow_entry
from temporalio.client import Client
from temporalio.worker import Worker

from engine.api.app import create_app
from engine.config import Settings
from engine.enrollment.definitions import put_definition_text
from engine.enrollment.service import EnrollmentService
from worker import build_worker

API_KEY = "enrollment-tests-key"
API_KEY_NAME = "enrollment-tests"
HOOK_TOKEN = "s3cret-token"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class WebhookReceiver:
    """A real HTTP server on loopback: records requests, answers with queued statuses (then 200);
    under ``/echo`` its JSON answer repeats the request's path and Authorization header."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    #: Added to the answers under ``/echo``.
    echo: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        with self.lock:
            return [request.path for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    state: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            target = state["receiver"]
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with target.lock:
                target.requests.append(Received(self.command, self.path, dict(self.headers.items()), body))
                status = target.statuses.pop(0) if target.statuses else 200
            answer: dict[str, Any] = {"ok": status < 300}
            if self.path.startswith("/echo"):  # says back what it got, as a careless receiver might
                answer.update(path=self.path, authorization=self.headers.get("authorization"), **target.echo)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = WebhookReceiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Definitions:
    """Saves definitions under a key unique to the test (workflow ids are shared by the dev server)."""

    db_engine: Engine
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def key(self, name: str) -> str:
        return f"{name}-{self.suffix}"

    def put(self, name: str, yaml_text: str) -> int:
        """Save ``yaml_text`` (its ``key: {key}`` placeholder filled) as workflow ``name``; returns the version."""
        key = self.key(name)
        text = yaml_text.replace("{key}", key).replace("{suffix}", self.suffix)
        with Session(self.db_engine) as session:
            saved = put_definition_text(session, key, text, source="test")
            session.commit()
            return saved.revision.version


@pytest.fixture
def definitions(db_engine: Engine) -> Definitions:
    return Definitions(db_engine)


@pytest.fixture
async def worker(
    temporal_client: Client,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    tmp_path: Path,
    receiver: WebhookReceiver,
) -> AsyncIterator[Worker]:
    """The production worker; its webhooks may reach the test's receiver on loopback (#12.3)."""
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"HOOK_TOKEN: {HOOK_TOKEN}\n")
    settings = Settings(
        secrets_file=secrets,
        database_url="sqlite://",
        webhook_allow=[allow_entry(receiver.url)],
        api_keys=[API_KEY],
    )
    running = build_worker(
        temporal_client, db_engine, task_queue=task_queue, executor=activity_executor, settings=settings
    )
    async with running:
        yield running


@pytest.fixture
def service(temporal_client: Client, db_engine: Engine, task_queue: str) -> EnrollmentService:
    return EnrollmentService(db_engine, temporal_client, task_queue=task_queue, concurrency=16)


@pytest.fixture
async def api(
    temporal_client: Client, db_engine: Engine, database_url: str, task_queue: str, worker: Worker
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        # Pushing and disabling definitions needs an editor key (#12.1).
        api_keys=[f"{API_KEY_NAME}:editor:{API_KEY}"],
        database_url=database_url,
        temporal_task_queue=task_queue,
        definitions_dir=None,
    )
    app = create_app(settings, db_engine=db_engine, temporal_client=temporal_client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://rollcall.test",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    ) as client:
        yield client
