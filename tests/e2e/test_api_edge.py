"""Issue #12.6 on a real ``rollcall api`` process: nothing unauthenticated is parsed, bodies are
limited while they stream in, and the memory of the process shows it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest
from support.ports import free_port
from support.rollcall import rollcall_processes

from engine.crm.db import create_db_engine, upgrade_database

KEY = "edge-operator-key"
MB = 1024 * 1024


@dataclass
class ApiProcess:
    url: str
    port: int
    process: psutil.Process

    def rss(self) -> int:
        return int(self.process.memory_info().rss)


@pytest.fixture(scope="module")
def api_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """``rollcall api`` alone (no Temporal needed to answer these requests) on a SQLite store."""
    tmp_path = tmp_path_factory.mktemp("api-edge")
    port = free_port()
    (tmp_path / "definitions").mkdir()
    database_url = f"sqlite:///{tmp_path / 'rollcall.db'}"
    store = create_db_engine(database_url)
    upgrade_database(store)
    store.dispose()
    env = {
        "ROLLCALL_API_KEYS": f"edge-operator:operator:{KEY}",
        "ROLLCALL_API_PORT": str(port),
        "ROLLCALL_DATABASE_URL": database_url,
        "ROLLCALL_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "ROLLCALL_DEFINITIONS_DIR": str(tmp_path / "definitions"),
        "ROLLCALL_LOG_FORMAT": "json",
    }
    with rollcall_processes(["api"], env, tmp_path) as started:
        yield ApiProcess(f"http://127.0.0.1:{port}", port, psutil.Process(started["api"].pid))


def _upload(port: int, head: bytes, size: int, chunked: bool = False) -> bytes:
    """Send ``head`` then ``size`` bytes of body while reading the answer on another thread (the
    server may answer, and close, before the body is through); returns the answer's bytes."""
    answer = bytearray()

    def read(sock: socket.socket) -> None:
        while chunk := sock.recv(65536):
            answer.extend(chunk)
            if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
                return

    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        reader = threading.Thread(target=read, args=(sock,), daemon=True)
        reader.start()
        block = b"x" * MB
        try:
            sock.sendall(head)
            for _ in range(size // MB):
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before the body was through: what we want
        reader.join(timeout=60)
    return bytes(answer)


def _status_and_error(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


class PeakRss:
    """Samples the process's RSS on a thread while a request is under way."""

    def __init__(self, api: ApiProcess) -> None:
        self.api = api
        self.peak = api.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.api.rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.api.rss())


def test_a_60_mb_body_without_a_key_is_401_and_never_read(api_process: ApiProcess) -> None:
    """#12.6 acceptance: the 401 comes before the body is read; the API's memory barely moves
    (it went from 140 to 483 MB before the middleware)."""
    size = 60 * MB
    head = (
        b"POST /v1/workflows/any/enrollments:bulk HTTP/1.1\r\nHost: api\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size
    )
    before = api_process.rss()
    with PeakRss(api_process) as rss:
        answer = _upload(api_process.port, head, size)
    status, error = _status_and_error(answer)
    assert (status, error["code"]) == (401, "UNAUTHORIZED")
    assert rss.peak - before < 20 * MB, (before, rss.peak)
    assert httpx.get(f"{api_process.url}/healthz").status_code == 200


def test_a_60_mb_chunked_body_with_a_key_is_413_once_past_the_limit(api_process: ApiProcess) -> None:
    """No Content-Length to check first: the bytes are counted as they stream in (default limit 16 MiB)."""
    head = (
        b"POST /v1/contacts HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n" % KEY.encode()
    )
    status, error = _status_and_error(_upload(api_process.port, head, 60 * MB, chunked=True))
    assert (status, error["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_a_declared_oversized_body_with_a_key_is_413_before_it_is_read(api_process: ApiProcess) -> None:
    head = (
        b"POST /v1/contacts HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (KEY.encode(), 60 * MB)
    )
    before = api_process.rss()
    with PeakRss(api_process) as rss:
        status, error = _status_and_error(_upload(api_process.port, head, 60 * MB))
    assert (status, error["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert rss.peak - before < 20 * MB, (before, rss.peak)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_malformed_json_without_a_valid_key_is_401_not_422(api_process: ApiProcess, headers: dict[str, str]) -> None:
    response = httpx.post(
        f"{api_process.url}/v1/contacts",
        content=b"{not json",
        headers={"Content-Type": "application/json", **headers},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_10000_contact_bulk_request_fits_the_default_body_limit(api_process: ApiProcess) -> None:
    """The default ROLLCALL_API_MAX_BODY_BYTES takes a 10,000-contact bulk request with names and
    five properties each (about 2.8 MB): it is parsed and every item reaches the service (whose
    answer, for a workflow that does not exist, is one error per item)."""
    contacts = [
        {
            "email": f"firstname.lastname{index}@customers-company.example",
            "first_name": "Firstname",
            "last_name": "Lastname-Longer",
            "properties": {
                "webinar_id": "810 0000 0001",
                "company": "Example Industries Ltd",
                "title": "Marketing Operations Manager",
                "country": "DE",
                "lead_score": 87,
            },
        }
        for index in range(10_000)
    ]
    body = json.dumps({"contacts": contacts}).encode()
    assert len(body) > 2 * MB
    response = httpx.post(
        f"{api_process.url}/v1/workflows/no-such-workflow/enrollments:bulk",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:300]
    answer = response.json()
    assert (answer["counts"], answer["results"][-1]["code"]) == ({"error": 10_000}, "WORKFLOW_NOT_FOUND")
